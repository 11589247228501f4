//! [proptest](mod@proptest) strategies for your own property tests (cargo feature
//! `proptest`): how a byte stream may be cut into reads ([`chunkings`]), and which chaos a
//! proxy may apply ([`toxic_specs`], for [`ChaosProxy`](crate::proxy::ChaosProxy)).
//!
//! ```toml
//! [dev-dependencies]
//! stickler = { version = "0.1", features = ["proptest"] }
//! ```
//!
//! ```
//! use proptest::prelude::*;
//! use proptest::test_runner::TestRunner;
//! use stickler::strategies::{chunkings, chunks};
//!
//! // A decoder of u16be-length-prefixed messages must not care how its input was cut.
//! fn decode(reads: &[&[u8]]) -> Vec<Vec<u8>> {
//!     let (mut buf, mut out) = (Vec::new(), Vec::new());
//!     for r in reads {
//!         buf.extend_from_slice(r);
//!         while buf.len() >= 2 && buf.len() >= 2 + u16::from_be_bytes([buf[0], buf[1]]) as usize {
//!             let n = 2 + u16::from_be_bytes([buf[0], buf[1]]) as usize;
//!             out.push(buf[2..n].to_vec());
//!             buf.drain(..n);
//!         }
//!     }
//!     out
//! }
//! let wire = b"\x00\x03abc\x00\x00\x00\x01z";
//! TestRunner::default()
//!     .run(&chunkings(wire.len()), |lens| {
//!         let want = vec![b"abc".to_vec(), vec![], b"z".to_vec()];
//!         prop_assert_eq!(decode(&chunks(wire, &lens)), want);
//!         Ok(())
//!     })
//!     .unwrap();
//! ```

use std::time::Duration;

use proptest::prelude::*;

use crate::chaos::Side;
use crate::proxy::toxic::{ToxicKind, ToxicSpec};

/// Most pieces a chunking has: a stream longer than this is cut at most `MAX_PIECES - 1`
/// times (a chunking's size never grows with the stream's).
pub const MAX_PIECES: usize = 256;

/// Most toxics [`toxic_specs`] draws.
pub const MAX_TOXICS: usize = 3;

/// Ways to cut a stream of `len` bytes into reads: piece lengths, each at least 1, summing to
/// `len` (an empty list for `len` 0). Draws the whole stream at once, every byte alone (when
/// `len` is at most [`MAX_PIECES`]), and cuts at random points; shrinks towards fewer cuts.
///
/// ```
/// use proptest::test_runner::TestRunner;
/// use stickler::strategies::chunkings;
/// TestRunner::default()
///     .run(&chunkings(100), |lens| {
///         assert_eq!(lens.iter().sum::<usize>(), 100);
///         assert!(lens.iter().all(|&n| n >= 1));
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn chunkings(len: usize) -> impl Strategy<Value = Vec<usize>> {
    let whole = Just(if len == 0 { Vec::new() } else { vec![len] });
    let bytewise = Just(if len <= MAX_PIECES {
        vec![1; len]
    } else {
        vec![len]
    });
    // Cut points in 1..len; fewer when len is small (0 cuts when len < 2).
    let most = len.saturating_sub(1).min(MAX_PIECES - 1);
    let cuts = proptest::collection::vec(1..len.max(2), 0..=most).prop_map(move |mut at| {
        at.retain(|&c| c < len);
        at.sort_unstable();
        at.dedup();
        let mut lens = Vec::with_capacity(at.len() + 1);
        let mut prev = 0;
        for c in at.into_iter().chain((len > 0).then_some(len)) {
            lens.push(c - prev);
            prev = c;
        }
        lens
    });
    prop_oneof![1 => whole, 1 => bytewise, 8 => cuts]
}

/// `data` cut as `lens` says: the pieces, in order. Lengths past the end are cut short, and
/// bytes past the lengths' sum form a last piece, so no byte is lost or repeated.
///
/// ```
/// use stickler::strategies::chunks;
/// assert_eq!(chunks(b"abcdef", &[1, 2, 3]), [&b"a"[..], b"bc", b"def"]);
/// assert_eq!(chunks(b"abc", &[1]), [&b"a"[..], b"bc"]);
/// ```
pub fn chunks<'a>(data: &'a [u8], lens: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(lens.len() + 1);
    let mut rest = data;
    for &n in lens {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        if !piece.is_empty() {
            out.push(piece);
        }
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Up), Just(Side::Down), Just(Side::Both)]
}

fn micros(max: u64) -> impl Strategy<Value = Duration> {
    (0..=max).prop_map(Duration::from_micros)
}

/// One toxic that changes how a stream is cut or timed, never what it carries: a `split`
/// (pieces of 1..=64 bytes, up to 1 ms apart), a `coalesce` (up to 5 ms, at most 1..=4096
/// bytes held) or a `latency` (up to 5 ms, jitter up to 1 ms), on `up`, `down` or `both`.
/// Valid by construction; named by its default (`split_down`, ...).
///
/// ```
/// use proptest::test_runner::TestRunner;
/// use stickler::strategies::toxic_spec;
/// TestRunner::default()
///     .run(&toxic_spec(), |t| {
///         assert!(t.validate().is_ok() && t.kind.shapes());
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn toxic_spec() -> impl Strategy<Value = ToxicSpec> {
    let split =
        (1usize..=16, 0usize..=48, micros(1_000)).prop_map(|(min, extra, gap)| ToxicKind::Split {
            min,
            max: min + extra,
            gap,
        });
    let coalesce = (micros(5_000), 1usize..=4096)
        .prop_map(|(window, max)| ToxicKind::Coalesce { window, max });
    let latency = (micros(5_000), micros(1_000))
        .prop_map(|(latency, jitter)| ToxicKind::Latency { latency, jitter });
    let kind = prop_oneof![3 => split, 2 => coalesce, 1 => latency];
    (side(), kind).prop_map(|(side, kind)| ToxicSpec::new(side, kind))
}

/// Lists of 0..=[`MAX_TOXICS`] toxics of [`toxic_spec`], named apart (`split_down`,
/// `split_down_1`, ...) so that a [`ChaosProxy`](crate::proxy::ChaosProxy) takes them all.
/// Any such list only moves piece boundaries and times: a correct peer's conversation through
/// the proxy is the same as without it.
///
/// ```
/// use proptest::test_runner::TestRunner;
/// use stickler::proxy::ChaosProxy;
/// use stickler::strategies::toxic_specs;
/// TestRunner::default()
///     .run(&toxic_specs(), |toxics| {
///         let n = toxics.len();
///         let b = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).toxics(toxics).unwrap();
///         assert!(n <= 3);
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn toxic_specs() -> impl Strategy<Value = Vec<ToxicSpec>> {
    proptest::collection::vec(toxic_spec(), 0..=MAX_TOXICS).prop_map(|mut list| {
        for i in 0..list.len() {
            let base = list[i].name.clone();
            let mut name = base.clone();
            let mut k = 1;
            while list[..i].iter().any(|t| t.name == name) {
                name = format!("{base}_{k}");
                k += 1;
            }
            list[i].name = name;
        }
        list
    })
}
