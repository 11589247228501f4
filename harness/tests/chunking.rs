//! Chunking independence: however TCP splits an encoded stream into reads (1-byte reads
//! included), every framing that claims it decodes exactly the messages that were sent; and a
//! stream that ends early yields a prefix of them and then `Truncated`, never a wrong message.
//! `naive` and `ready`'s digits are the exceptions the harness exists to show: tested here too.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Value};
use stickler::codec::framed::{FramedCodec, HeaderKind};
use stickler::codec::json::{md5_hex, JsonCodec, JsonFrame, SizeKey};
use stickler::codec::length::{LengthCodec, LengthField};
use stickler::codec::naive::NaiveCodec;
use stickler::codec::property::{join_upload, split_by, STRUCT_FIELDS};
use stickler::codec::ready::{encode_length, ReadyItem, ReadyReplyDecoder, TokenDecoder};
use stickler::codec::upload::{UploadDecoder, UploadHeader, UploadItem};
use stickler::codec::{decode_chunks, CodecError, Decoded};
use tokio_util::codec::{Decoder, Encoder};

/// Cases per property: enough to hit the edges, small enough for a debug run on 2 cores.
const CASES: u32 = 128;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

fn messages(max_len: usize, max_count: usize) -> impl Strategy<Value = Vec<Bytes>> {
    vec(
        vec(any::<u8>(), 0..=max_len).prop_map(Bytes::from),
        0..=max_count,
    )
}

/// Read sizes: all 1-byte reads, small reads, or any sizes up to 255.
fn read_sizes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(vec![1u8]), vec(1u8..=16, 1..8), vec(any::<u8>(), 1..4),]
}

/// Splits `stream` by `lens`, checking that the pieces are the stream.
fn reads<'a>(stream: &'a [u8], lens: &[u8]) -> Vec<&'a [u8]> {
    let pieces = split_by(stream, lens);
    assert_eq!(pieces.concat(), stream);
    pieces
}

fn encode<I, E: Encoder<I, Error = CodecError>>(
    mut enc: E,
    items: impl IntoIterator<Item = I>,
) -> (BytesMut, Vec<usize>) {
    let mut out = BytesMut::new();
    let mut ends = Vec::new();
    for item in items {
        enc.encode(item, &mut out).unwrap();
        ends.push(out.len());
    }
    (out, ends)
}

fn ok<T>(items: Vec<T>) -> Decoded<T, CodecError> {
    Decoded { items, error: None }
}

/// Every proper prefix of `stream` (frames ending at `ends`) decodes to the frames it holds
/// whole, then `Truncated` unless it ends on a frame boundary.
fn check_prefixes<D, T>(make: impl Fn() -> D, stream: &[u8], ends: &[usize], whole: &[T])
where
    D: Decoder<Item = T, Error = CodecError>,
    T: PartialEq + std::fmt::Debug,
{
    for cut in 0..stream.len() {
        let got = decode_chunks(&mut make(), [&stream[..cut]]);
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(got.items, whole[..complete], "prefix of {cut} bytes");
        match got.error {
            None => assert!(
                cut == 0 || ends.contains(&cut),
                "cut {cut}: no error mid-frame"
            ),
            Some(CodecError::Truncated { have, need, .. }) => assert!(have < need, "cut {cut}"),
            Some(e) => panic!("prefix of {cut} bytes: {e}, expected Truncated"),
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn struct_any_split(field in 0..4usize, msgs in messages(300, 6), lens in read_sizes()) {
        let codec = || LengthCodec::builder().field(STRUCT_FIELDS[field].1).new_codec();
        let (stream, _) = encode(codec(), msgs.iter().map(|m| &m[..]));
        let got = decode_chunks(&mut codec(), reads(&stream, &lens));
        let want: Vec<BytesMut> = msgs.iter().map(|m| BytesMut::from(&m[..])).collect();
        prop_assert_eq!(got, ok(want));
    }

    #[test]
    fn struct_prefixes_are_truncated(field in 0..4usize, msgs in messages(40, 4)) {
        let codec = || LengthCodec::builder().field(STRUCT_FIELDS[field].1).new_codec();
        let (stream, ends) = encode(codec(), msgs.iter().map(|m| &m[..]));
        let want: Vec<BytesMut> = msgs.iter().map(|m| BytesMut::from(&m[..])).collect();
        check_prefixes(codec, &stream, &ends, &want);
    }

    #[test]
    fn json_any_split(
        msgs in messages(300, 5),
        data_size in any::<bool>(),
        md5 in any::<bool>(),
        lens in read_sizes(),
    ) {
        let key = if data_size { SizeKey::DataSize } else { SizeKey::FileSize };
        let codec = || JsonCodec::builder().size_key(key).with_md5(md5).new_codec();
        let frames: Vec<JsonFrame> = msgs.iter().enumerate().map(|(i, m)| {
            let mut header = Map::new();
            header.insert("name".into(), Value::from(format!("m{i} \u{e9}")));
            JsonFrame { header, body: m.clone() }
        }).collect();
        let (stream, _) = encode(codec(), frames.iter().cloned());
        let got = decode_chunks(&mut codec(), reads(&stream, &lens));
        prop_assert!(got.error.is_none(), "{:?}", got.error);
        prop_assert_eq!(got.items.len(), frames.len());
        for (got, sent) in got.items.iter().zip(&frames) {
            prop_assert_eq!(&got.body, &sent.body);
            prop_assert_eq!(&got.header["name"], &sent.header["name"]);
            prop_assert_eq!(&got.header[key.as_str()], &Value::from(sent.body.len()));
            prop_assert_eq!(got.header.get("md5").cloned(), md5.then(|| md5_hex(&sent.body).into()));
        }
    }

    #[test]
    fn json_prefixes_are_truncated(msgs in messages(40, 3), md5 in any::<bool>()) {
        let codec = || JsonCodec::builder().with_md5(md5).new_codec();
        let (stream, ends) = encode(codec(), msgs.iter().cloned());
        let whole = decode_chunks(&mut codec(), [&stream[..]]);
        prop_assert!(whole.error.is_none());
        check_prefixes(codec, &stream, &ends, &whole.items);
    }

    #[test]
    fn framed_any_split(json in any::<bool>(), msgs in messages(300, 6), lens in read_sizes()) {
        let kind = if json { HeaderKind::Json } else { HeaderKind::Struct };
        let (stream, ends) = encode(FramedCodec::new(kind), msgs.iter().cloned());
        let got = decode_chunks(&mut FramedCodec::new(kind), reads(&stream, &lens));
        prop_assert_eq!(got, ok(msgs.clone()));
        if stream.len() < 400 {
            check_prefixes(|| FramedCodec::new(kind), &stream, &ends, &msgs);
        }
    }

    #[test]
    fn upload_any_split(files in messages(600, 3), lens in read_sizes()) {
        let mut stream = BytesMut::new();
        let mut want = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let header = UploadHeader {
                file_name: format!("/tmp/x/f{i}.txt"),
                file_size: f.len(),
                md5: Some(md5_hex(f)),
            };
            header.encode(LengthField::I32_LE, &mut stream).unwrap();
            stream.extend_from_slice(f);
            want.push(UploadItem::Header(header));
            if !f.is_empty() {
                want.push(UploadItem::Chunk(BytesMut::from(&f[..])));
            }
            want.push(UploadItem::Done { md5: md5_hex(f) });
        }
        let got = decode_chunks(&mut UploadDecoder::default(), reads(&stream, &lens));
        // No piece is ever longer than the read it came from: the file is streamed, not held.
        let longest = got.items.iter().filter_map(|i| match i {
            UploadItem::Chunk(c) => Some(c.len()),
            _ => None,
        }).max().unwrap_or(0);
        prop_assert!(longest <= usize::from(*lens.iter().max().unwrap()).max(1));
        prop_assert_eq!(join_upload(got), ok(want));
    }

    #[test]
    fn ready_body_any_split(msgs in messages(1500, 4), lens in read_sizes()) {
        // The handshake delivers the digits as one read; the body may be split anyhow.
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut want = Vec::new();
        for m in &msgs {
            let mut digits = BytesMut::new();
            encode_length(m.len(), &mut digits);
            pieces.push(digits.freeze());
            pieces.extend(reads(m, &lens).into_iter().map(Bytes::copy_from_slice));
            want.push(ReadyItem::Length(m.len()));
            want.push(ReadyItem::Body(BytesMut::from(&m[..])));
        }
        let got = decode_chunks(&mut ReadyReplyDecoder::default(), pieces.iter().map(|p| &p[..]));
        prop_assert_eq!(got, ok(want));
    }

    #[test]
    fn token_any_split(n in 0..6usize, lens in read_sizes()) {
        let (stream, ends) = encode(TokenDecoder::default(), (0..n).map(|_| ()));
        let got = decode_chunks(&mut TokenDecoder::default(), reads(&stream, &lens));
        prop_assert_eq!(got, ok(vec![(); n]));
        check_prefixes(TokenDecoder::default, &stream, &ends, &vec![(); n]);
    }

    #[test]
    fn naive_whole_reads_up_to_1024(msgs in vec(vec(any::<u8>(), 1..=1024), 0..5)) {
        // Sound only when each message is one read of at most 1024 bytes.
        let got = decode_chunks(&mut NaiveCodec::default(), msgs.iter().map(|m| &m[..]));
        let want: Vec<BytesMut> = msgs.iter().map(|m| BytesMut::from(&m[..])).collect();
        prop_assert_eq!(got, ok(want));
    }
}

#[test]
fn upload_prefixes_are_truncated() {
    let file: Vec<u8> = (0..50u8).collect();
    let header = UploadHeader {
        file_name: "a.txt".into(),
        file_size: file.len(),
        md5: Some(md5_hex(&file)),
    };
    let mut stream = BytesMut::new();
    header.encode(LengthField::I32_LE, &mut stream).unwrap();
    stream.extend_from_slice(&file);
    for cut in 1..stream.len() {
        let got = join_upload(decode_chunks(
            &mut UploadDecoder::default(),
            [&stream[..cut]],
        ));
        match &got.items[..] {
            [] => {}
            [UploadItem::Header(h)] => assert_eq!(h, &header),
            [UploadItem::Header(h), UploadItem::Chunk(c)] => {
                assert_eq!(h, &header);
                assert!(file.starts_with(c), "cut {cut}");
            }
            other => panic!("cut {cut}: {other:?}"),
        }
        assert!(
            matches!(got.error, Some(CodecError::Truncated { have, need, .. }) if have < need),
            "cut {cut}: {:?}",
            got.error
        );
    }
}

#[test]
fn every_split_point_of_two_struct_frames() {
    // Exhaustive over every pair of split points, as a socket could deliver them.
    let codec = LengthCodec::default;
    let msgs = [&b"hello"[..], b"", b"sticky packets"];
    let (stream, _) = encode(codec(), msgs);
    for a in 0..=stream.len() {
        for b in a..=stream.len() {
            let reads = [&stream[..a], &stream[a..b], &stream[b..]];
            let got = decode_chunks(&mut codec(), reads);
            let want: Vec<BytesMut> = msgs.iter().map(|m| BytesMut::from(*m)).collect();
            assert_eq!(got, ok(want), "split at {a}, {b}");
        }
    }
}

#[test]
fn ready_digits_split_across_reads_are_misread() {
    // seq 1 2000 is 8893 bytes: the server writes "8893", a split delivers "88" then "93".
    let body: Vec<u8> = (0..8893u32).map(|i| i as u8).collect();
    let mut dec = ReadyReplyDecoder::default();
    let got = decode_chunks(&mut dec, [&b"88"[..], b"93", &body[..]]);
    assert_eq!(
        got.items[0],
        ReadyItem::Length(88),
        "the client believes 88 bytes follow"
    );
    let ReadyItem::Body(first) = &got.items[1] else {
        panic!("{:?}", got.items)
    };
    assert_eq!(
        &first[..2],
        b"93",
        "the rest of the digits became body bytes"
    );
    assert_ne!(&first[..], &body[..88]);
    // Delivered whole, the same bytes decode correctly.
    let whole = decode_chunks(&mut ReadyReplyDecoder::default(), [&b"8893"[..], &body[..]]);
    assert_eq!(
        whole,
        ok(vec![
            ReadyItem::Length(8893),
            ReadyItem::Body(BytesMut::from(&body[..]))
        ])
    );
}

#[test]
fn naive_spills_a_reply_over_1024_and_merges_coalesced_writes() {
    let big = vec![b'x'; 1025];
    let got = decode_chunks(&mut NaiveCodec::default(), [&big[..]]);
    assert_eq!(
        got.items.iter().map(|m| m.len()).collect::<Vec<_>>(),
        [1024, 1]
    );
    let got = decode_chunks(&mut NaiveCodec::default(), [&b"onetwo"[..]]);
    assert_eq!(got, ok(vec![BytesMut::from(&b"onetwo"[..])]));
}
