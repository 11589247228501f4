//! Properties every decoder must keep, checked on one input: the fuzz target and the regression
//! tests call [`run`], so a crash the fuzzer finds replays here byte for byte, forever.
//!
//! ```text
//! input[0] < 0x80 → raw:        [decoder][k][k piece lengths][payload]
//!                   decoder = input[0] % 11, an index into RAW_DECODERS; it runs over the
//!                   payload whole and cut by the piece lengths (see `cut`), and when the
//!                   payload is at most ONE_BYTE_MAX bytes also in 1-byte pieces; the outcomes
//!                   (items, then the error) must be identical; naive must not panic
//! 0x80 ≤ input[0] < 0xc0 → round trip: [mode][framing][cut][count][(len: u16 le, bytes)…][piece lengths…]
//!                   messages → encode → cut → decode must give the messages back, and a
//!                   prefix of the stream must give a prefix of them and then `Truncated`
//! 0xc0 ≤ input[0] < 0xe0 → spec raw: [mode][description][k][k piece lengths][payload]
//!                   a fuzzer-chosen description (see below) must print and parse back to
//!                   itself, and its SpecCodec must give one outcome over the payload as the
//!                   raw check cuts it
//! input[0] ≥ 0xe0 → spec round trip: [mode][description][cut][count][(len: u16 le, bytes)…][piece lengths…]
//!                   as the round trip, through the description's SpecCodec; an item the
//!                   encoder refuses (shorter than the offset, over max, not fitting the
//!                   field, holding the delimiter) is left out
//!
//! description: [max: 2 bytes][form][...]  max = 8 MiB when the top bit of the first byte is
//!                   set, else the other 15 bits (big-endian); form % 3 = 0 length:
//!                   [type % 13][offset % 8][adjust: i8]; 1 varint: [offset % 8];
//!                   2 delimiter: [n % 4 + 1][n bytes]
//! ```
//!
//! The fuzzer chooses the reads: the piece lengths are cycled for at most [`MAX_PIECES`]
//! pieces, then the rest of the stream is one read, so an execution makes a bounded number of
//! decode calls whatever the input's length (the fuzzer's speed is its coverage). The 1-byte
//! pass, one decode call per byte, runs only on short payloads here; [`every_decoder`] runs it
//! over any length (the regression tests do, on every golden fixture and on generated streams).
//!
//! One decoder per input (rather than all of them every time) keeps an execution short and lets
//! the fuzzer's coverage feedback settle on one decoder's states; [`every_decoder`] runs them all
//! over one input.
//!
//! The ready reply decoder reads its digits from one read, so it is checked with the digits as
//! the first piece (what the handshake delivers), for one exchange. Upload body pieces depend on
//! the reads by design: they are compared concatenated.
//!
//! ```
//! // The `struct i32 le` decoder (0) on a frame "hi", read in pieces of 3 bytes.
//! let input = [0, 1, 3, 2, 0, 0, 0, b'h', b'i'];
//! stickler::codec::property::run(&input).unwrap();
//! // Every decoder on the same bytes.
//! stickler::codec::property::every_decoder(&input[3..], &[3]).unwrap();
//! ```

mod round_trip;
mod spec;

use std::fmt;

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};
use tokio_util::codec::{Decoder, Encoder};

use super::framed::{FramedCodec, HeaderKind};
use super::json::{md5_hex, JsonCodec, JsonFrame, SizeKey};
use super::length::{ByteOrder, LengthCodec, LengthField, Width};
use super::naive::NaiveCodec;
use super::ready::{encode_length, ReadyItem, ReadyReplyDecoder, TokenDecoder};
use super::spec::{FrameSpec, LengthHeader, LengthType, SpecCodec};
use super::upload::{UploadDecoder, UploadHeader, UploadItem};
use super::{decode_chunks, CodecError, Decoded, DEFAULT_MAX_FRAME_LENGTH};
use round_trip::round_trip;
use spec::{fuzz_spec, spec_raw, spec_round_trip};

/// A property that did not hold: which decoder, and what differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub decoder: &'static str,
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.decoder, self.detail)
    }
}

impl std::error::Error for Failure {}

/// Checks one input (layout in the module doc). `Ok` when every property held.
pub fn run(input: &[u8]) -> Result<(), Failure> {
    match input.split_first() {
        None => Ok(()),
        Some((&mode, rest)) if mode < 0x80 => {
            let (lens, payload) = lens_and_payload(rest);
            let which = usize::from(mode) % RAW_DECODERS.len();
            raw(Some(which), payload, lens, Reads::Fuzz)
        }
        Some((&mode, rest)) if mode < 0xc0 => round_trip(rest),
        Some((&mode, rest)) => {
            let mut cur = Cursor(rest);
            let spec = fuzz_spec(&mut cur);
            let printed = spec.to_string();
            if printed.parse::<FrameSpec>().as_ref() != Ok(&spec) {
                return Err(fail(
                    "spec",
                    format!("{spec:?} prints as {printed:?}, which parses differently"),
                ));
            }
            let checked = if mode < 0xe0 {
                let (lens, payload) = lens_and_payload(cur.0);
                spec_raw(&spec, payload, lens, Reads::Fuzz)
            } else {
                spec_round_trip(&spec, cur)
            };
            checked.map_err(|f| Failure {
                detail: format!("{printed}: {}", f.detail),
                ..f
            })
        }
    }
}

/// `[k][k piece lengths][payload]`.
fn lens_and_payload(rest: &[u8]) -> (&[u8], &[u8]) {
    let (k, rest) = rest
        .split_first()
        .map_or((0, rest), |(k, r)| (usize::from(*k), r));
    rest.split_at(k.min(rest.len()))
}

/// The four `struct` variants, by name.
pub const STRUCT_FIELDS: [(&str, LengthField); 4] = [
    ("struct i32 le", LengthField::I32_LE),
    (
        "struct i32 be",
        LengthField {
            width: Width::Four,
            order: ByteOrder::Big,
        },
    ),
    (
        "struct i64 le",
        LengthField {
            width: Width::Eight,
            order: ByteOrder::Little,
        },
    ),
    (
        "struct i64 be",
        LengthField {
            width: Width::Eight,
            order: ByteOrder::Big,
        },
    ),
];

/// Most pieces [`cut`] makes of a stream before the rest is one more: the fuzz check's decode
/// calls per pass stay bounded however long the input.
pub const MAX_PIECES: usize = 16;

/// Longest payload the fuzz check also reads 1 byte at a time (one decode call per byte).
pub const ONE_BYTE_MAX: usize = 32;

/// The reads the fuzz check chooses: pieces of the given lengths, cycling through them (0 counts
/// as 1), at most [`MAX_PIECES`] of them, then the rest as one piece; no lengths means one piece.
///
/// ```
/// use stickler::codec::property::cut;
/// let reads = cut(b"abcdefgh", &[1, 2]);
/// assert_eq!(reads, [&b"a"[..], b"bc", b"d", b"ef", b"g", b"h"]);
/// let long = [0u8; 100];
/// assert_eq!(cut(&long, &[1]).len(), 17); // 16 bytes one by one, then the other 84 at once
/// ```
pub fn cut<'a>(payload: &'a [u8], lens: &[u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::with_capacity(MAX_PIECES.min(payload.len()) + 1);
    let mut rest = payload;
    for &len in lens.iter().cycle().take(MAX_PIECES) {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(usize::from(len.max(1)).min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// Which reads a payload is compared over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// The fuzz check: whole, [`cut`] by the piece lengths, and 1 byte at a time when the
    /// payload is at most [`ONE_BYTE_MAX`] bytes.
    Fuzz,
    /// [`every_decoder`]: whole, [`split_by`] the piece lengths (no bound), and 1 byte at a time.
    Every,
}

/// One payload's splittings under [`Reads`]: whole, by the piece lengths, and (maybe) by bytes.
struct Splits<'a> {
    whole: [&'a [u8]; 1],
    chosen: Vec<&'a [u8]>,
    ones: Vec<&'a [u8]>,
}

impl<'a> Splits<'a> {
    fn new(payload: &'a [u8], lens: &[u8], reads: Reads) -> Self {
        let (chosen, ones) = match reads {
            Reads::Fuzz => (cut(payload, lens), payload.len() <= ONE_BYTE_MAX),
            Reads::Every => (split_by(payload, lens), true),
        };
        let ones = if ones && payload.len() > 1 {
            payload.chunks(1).collect()
        } else {
            Vec::new()
        };
        Splits {
            whole: [payload],
            chosen,
            ones,
        }
    }

    /// The splittings to compare, whole first.
    fn all(&self) -> Vec<&[&'a [u8]]> {
        let mut all: Vec<&[&[u8]]> = vec![&self.whole, &self.chosen];
        if !self.ones.is_empty() {
            all.push(&self.ones);
        }
        all
    }
}

/// Splits `payload` into pieces of the given lengths, cycling through them (0 counts as 1);
/// no lengths means one piece. Unbounded: the tests' splitting ([`cut`] is the fuzz check's).
pub fn split_by<'a>(payload: &'a [u8], lens: &[u8]) -> Vec<&'a [u8]> {
    if lens.is_empty() {
        return vec![payload];
    }
    let mut pieces = Vec::with_capacity(payload.len() / 8 + 1);
    let mut rest = payload;
    for &len in lens.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(usize::from(len.max(1)).min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Runs `make()`'s decoder over each splitting (each a list of reads) and requires the same
/// outcome, after `norm`, from all of them.
pub fn same_over<D, T>(
    name: &'static str,
    splits: &[&[&[u8]]],
    make: impl Fn() -> D,
    norm: impl Fn(Decoded<D::Item, CodecError>) -> Decoded<T, CodecError>,
) -> Result<(), Failure>
where
    D: Decoder<Error = CodecError>,
    T: PartialEq + fmt::Debug,
{
    let first = norm(decode_chunks(&mut make(), splits[0].iter().copied()));
    for (i, split) in splits.iter().enumerate().skip(1) {
        let other = norm(decode_chunks(&mut make(), split.iter().copied()));
        if other != first {
            return Err(Failure {
                decoder: name,
                detail: format!("splitting #{i} gave {other:?}, the whole input gave {first:?}"),
            });
        }
    }
    Ok(())
}

/// The identity normalisation, for decoders whose items do not depend on the reads.
pub fn same<T>(d: Decoded<T, CodecError>) -> Decoded<T, CodecError> {
    d
}

/// Upload body pieces depend on the reads; their concatenation must not.
pub fn join_upload(d: Decoded<UploadItem, CodecError>) -> Decoded<UploadItem, CodecError> {
    let mut items: Vec<UploadItem> = Vec::with_capacity(d.items.len());
    for item in d.items {
        match (items.last_mut(), item) {
            (Some(UploadItem::Chunk(acc)), UploadItem::Chunk(piece)) => {
                acc.extend_from_slice(&piece)
            }
            (_, item) => items.push(item),
        }
    }
    Decoded {
        items,
        error: d.error,
    }
}

/// One `ready` exchange as the client sees it: `digits` as one read, then `body` pieces; the
/// items up to the body, then the error if the exchange did not complete.
pub fn ready_exchange<'a>(
    digits: &'a [u8],
    body: impl IntoIterator<Item = &'a [u8]>,
) -> Decoded<ReadyItem, CodecError> {
    let mut dec = ReadyReplyDecoder::default();
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let reads = std::iter::once(digits).chain(body);
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(item)) => {
                    let done = matches!(item, ReadyItem::Body(_));
                    items.push(item);
                    if done {
                        return Decoded { items, error: None };
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return Decoded {
                        items,
                        error: Some(e),
                    }
                }
            }
        }
    }
    let error = dec.decode_eof(&mut buf).err();
    Decoded { items, error }
}

/// The decoders of the raw check, in selector order (see [`run`]).
pub const RAW_DECODERS: [&str; 11] = [
    "struct i32 le",
    "struct i32 be",
    "struct i64 le",
    "struct i64 be",
    "json",
    "framed struct",
    "framed json",
    "upload",
    "token",
    "ready reply",
    "naive",
];

/// Every decoder over `payload` whole, in 1-byte pieces and in pieces of `lens` (cycled over
/// the whole payload): one outcome per decoder, whatever the splitting (naive: no panic).
pub fn every_decoder(payload: &[u8], lens: &[u8]) -> Result<(), Failure> {
    raw(None, payload, lens, Reads::Every)
}

/// Raw check of decoder `which` (an index into [`RAW_DECODERS`]), or of all of them.
fn raw(which: Option<usize>, payload: &[u8], lens: &[u8], reads: Reads) -> Result<(), Failure> {
    if which == Some(9) {
        return ready_split_check(payload, lens, reads);
    }
    let on = |i: usize| which.is_none_or(|w| w == i);
    let split = Splits::new(payload, lens, reads);
    let splits = split.all();

    for (i, (name, field)) in STRUCT_FIELDS.into_iter().enumerate() {
        if on(i) {
            let codec = || LengthCodec::builder().field(field).new_codec();
            same_over(name, &splits, codec, same)?;
        }
    }
    if on(4) {
        same_over("json", &splits, JsonCodec::default, same)?;
    }
    if on(5) {
        let codec = || FramedCodec::new(HeaderKind::Struct);
        same_over("framed struct", &splits, codec, same)?;
    }
    if on(6) {
        let codec = || FramedCodec::new(HeaderKind::Json);
        same_over("framed json", &splits, codec, same)?;
    }
    if on(7) {
        same_over("upload", &splits, UploadDecoder::default, join_upload)?;
    }
    if on(8) {
        same_over("token", &splits, TokenDecoder::default, same)?;
    }
    if on(9) {
        ready_split_check(payload, lens, reads)?;
    }
    if on(10) {
        // Naive depends on the reads by design: it only has to survive them. Its 1-byte pass
        // is left out (one item per byte is all it does; chosen pieces of 1 cover it).
        for split in [&split.whole[..], &split.chosen] {
            let _ = decode_chunks(&mut NaiveCodec::default(), split.iter().copied());
        }
    }
    Ok(())
}

/// The digits as the first piece (its length is the first piece length), the rest as the body,
/// split whole, by the remaining lengths and (as `reads` says) in 1-byte pieces: one outcome.
fn ready_split_check(payload: &[u8], lens: &[u8], reads: Reads) -> Result<(), Failure> {
    let d = usize::from(lens.first().copied().unwrap_or(1).max(1)).min(payload.len());
    let (digits, body) = payload.split_at(d);
    let split = Splits::new(body, lens.get(1..).unwrap_or_default(), reads);
    let mut splits = split.all().into_iter();
    let first = ready_exchange(digits, splits.next().unwrap_or_default().iter().copied());
    for (i, other) in splits.enumerate() {
        let other = ready_exchange(digits, other.iter().copied());
        if other != first {
            return Err(fail(
                "ready reply",
                format!(
                    "body splitting #{} gave {other:?}, whole gave {first:?}",
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

/// Reads the round-trip input: bytes until exhausted, then zeros.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    /// `len` bytes of message content: from the input while it lasts, then a counting pattern.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let take = len.min(self.0.len());
        let (head, rest) = self.0.split_at(take);
        self.0 = rest;
        let mut out = head.to_vec();
        out.extend((take..len).map(|i| i as u8));
        out
    }
}

fn fail(decoder: &'static str, detail: String) -> Failure {
    Failure { decoder, detail }
}

fn encode_all<I, E: Encoder<I, Error = CodecError>>(
    name: &'static str,
    mut encoder: E,
    items: impl IntoIterator<Item = I>,
) -> Result<BytesMut, Failure> {
    let mut dst = BytesMut::new();
    for item in items {
        encoder
            .encode(item, &mut dst)
            .map_err(|e| fail(name, format!("encoding: {e}")))?;
    }
    Ok(dst)
}

fn compare<T: PartialEq + fmt::Debug>(
    name: &'static str,
    expected: Decoded<T, CodecError>,
    got: Decoded<T, CodecError>,
) -> Result<(), Failure> {
    if got == expected {
        Ok(())
    } else {
        Err(fail(
            name,
            format!("decoded {got:?}, expected {expected:?}"),
        ))
    }
}

/// Decodes `stream` [`cut`] by `lens` and requires `expected`; then decodes the prefix chosen by
/// `at` (cut the same way) and requires a prefix of `expected` followed by `Truncated` (none at a
/// frame boundary).
fn expect<D, T>(
    name: &'static str,
    make: impl Fn() -> D,
    stream: &[u8],
    lens: &[u8],
    at: u8,
    expected: Vec<T>,
    (norm, partial): Norm<D::Item, T>,
) -> Result<(), Failure>
where
    D: Decoder<Error = CodecError>,
    T: PartialEq + fmt::Debug,
{
    let got = norm(decode_chunks(&mut make(), cut(stream, lens)));
    if got.error.is_some() || got.items != expected {
        let expected = Decoded {
            items: expected,
            error: None,
        };
        return compare(name, expected, got).map_err(|f| Failure {
            detail: format!("{} (stream of {} bytes)", f.detail, stream.len()),
            ..f
        });
    }
    let end = stream.len() * usize::from(at) / 256;
    let prefix = norm(decode_chunks(&mut make(), cut(&stream[..end], lens)));
    let ok_items = prefix.items.len() <= expected.len()
        && expected
            .iter()
            .zip(&prefix.items)
            .all(|(a, b)| a == b || partial(a, b));
    let ok_error = match &prefix.error {
        None => true,
        Some(CodecError::Truncated { have, need, .. }) => have < need,
        Some(_) => false,
    };
    if ok_items && ok_error {
        Ok(())
    } else {
        Err(fail(
            name,
            format!("prefix of {end}/{} bytes gave {prefix:?}", stream.len()),
        ))
    }
}

/// How a decoder's outcome is compared: a normalisation, and which item of a cut stream may be
/// a prefix of the whole stream's (an upload's last body piece).
type Norm<I, T> = (
    fn(Decoded<I, CodecError>) -> Decoded<T, CodecError>,
    fn(&T, &T) -> bool,
);

fn exact<T>(_: &T, _: &T) -> bool {
    false
}

fn partial_chunk(whole: &UploadItem, cut: &UploadItem) -> bool {
    matches!((whole, cut), (UploadItem::Chunk(w), UploadItem::Chunk(c)) if w.starts_with(c))
}
