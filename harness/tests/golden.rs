//! Bytes written by Python itself (`fixtures/golden.py`: `struct.pack`, `json.dumps`) against our
//! codecs: our encoders must write them byte for byte, our decoders must read them, and refuse the
//! negative and oversized ones with the right error, without allocating for the declared length.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};
use stickler::codec::json::{md5_hex, JsonCodec, JsonFrame, JsonHeader};
use stickler::codec::length::{ByteOrder, LengthCodec, LengthField, Width};
use stickler::codec::ready::{encode_length, ReadyItem, ReadyReplyDecoder};
use stickler::codec::upload::{
    safe_name, UploadDecoder, UploadHeader, UploadItem, DEFAULT_MAX_FILE_SIZE,
};
use stickler::codec::{
    decode_chunks, CodecError, DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_JSON_HEADER,
};
use tokio_util::codec::{Decoder, Encoder};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/golden")
}

struct Entry {
    file: String,
    framing: String,
    params: Map<String, Value>,
    expect: Map<String, Value>,
    data: Vec<u8>,
}

fn manifest() -> Vec<Entry> {
    let dir = golden_dir();
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    let list: Vec<Value> = serde_json::from_str(&text).expect("manifest is JSON");
    list.into_iter()
        .map(|e| {
            let file = e["file"].as_str().expect("file").to_owned();
            let data = std::fs::read(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            Entry {
                framing: e["framing"].as_str().expect("framing").to_owned(),
                params: e["params"].as_object().cloned().unwrap_or_default(),
                expect: e["expect"].as_object().cloned().unwrap_or_default(),
                file,
                data,
            }
        })
        .collect()
}

/// The fixtures' body pattern: 0, 1, …, 255, 0, …
fn body(n: usize) -> Bytes {
    (0..n).map(|i| i as u8).collect()
}

fn num(v: &Value) -> u64 {
    v.as_u64().expect("a non-negative integer")
}

/// The (length, md5) pairs the manifest expects.
fn expected_frames(e: &Entry) -> Vec<(usize, String)> {
    e.expect["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| {
            (
                num(&f["len"]) as usize,
                f["md5"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn kind(e: &CodecError) -> &'static str {
    match e {
        CodecError::NegativeLength(_) => "NegativeLength",
        CodecError::FrameTooLarge { .. } => "FrameTooLarge",
        CodecError::JsonHeaderTooLarge { .. } => "JsonHeaderTooLarge",
        CodecError::HeaderNotJson(_) => "HeaderNotJson",
        CodecError::HeaderNotObject => "HeaderNotObject",
        CodecError::MissingSize => "MissingSize",
        CodecError::BadSize { .. } => "BadSize",
        CodecError::ConflictingSizes { .. } => "ConflictingSizes",
        CodecError::BadField { .. } => "BadField",
        CodecError::Md5Mismatch { .. } => "Md5Mismatch",
        CodecError::Truncated { .. } => "Truncated",
        CodecError::BadDigits(_) => "BadDigits",
        CodecError::UnexpectedToken { .. } => "UnexpectedToken",
        CodecError::BadFileName(_) => "BadFileName",
        CodecError::LengthOverflow(_) => "LengthOverflow",
        CodecError::EmptyToken => "EmptyToken",
        CodecError::BadLengthField { .. } => "BadLengthField",
        CodecError::BodyBelowAdjust { .. } => "BodyBelowAdjust",
        CodecError::VarintTooLong => "VarintTooLong",
        CodecError::DelimiterNotFound { .. } => "DelimiterNotFound",
        CodecError::DelimiterInBody { .. } => "DelimiterInBody",
        CodecError::ShortItem { .. } => "ShortItem",
        CodecError::Io(_) => "Io",
    }
}

/// Decodes `data` from a buffer of exactly its size and requires the manifest's error, with its
/// fields; the buffer must not have grown (nothing reserved for a declared length).
fn check_error<D: Decoder<Error = CodecError>>(e: &Entry, mut decoder: D, limit: usize) {
    let want = e.expect["error"].as_object().expect("error");
    let mut buf = BytesMut::from(&e.data[..]);
    let cap = buf.capacity();
    let err = loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("{}: decoded without the expected error", e.file),
            Err(err) => break err,
        }
    };
    assert_eq!(kind(&err), want["kind"], "{}: {err}", e.file);
    assert!(
        buf.capacity() <= cap,
        "{}: buffer grew to {}",
        e.file,
        buf.capacity()
    );
    match err {
        CodecError::NegativeLength(v) => assert_eq!(Value::from(v), want["value"], "{}", e.file),
        CodecError::FrameTooLarge { len, limit: l }
        | CodecError::JsonHeaderTooLarge { len, limit: l } => {
            assert_eq!(len, num(&want["len"]), "{}", e.file);
            assert_eq!(l, limit, "{}", e.file);
        }
        CodecError::Md5Mismatch { expected, actual } => {
            assert_eq!(expected, want["expected"], "{}", e.file);
            assert_eq!(actual, want["actual"], "{}", e.file);
        }
        CodecError::ConflictingSizes {
            file_size,
            data_size,
        } => {
            assert_eq!(file_size, num(&want["file_size"]), "{}", e.file);
            assert_eq!(data_size, num(&want["data_size"]), "{}", e.file);
        }
        CodecError::BadSize { key, .. } => assert_eq!(key, want["key"], "{}", e.file),
        _ => {}
    }
}

fn struct_codec(params: &Map<String, Value>) -> LengthCodec {
    let field = LengthField {
        width: if num(&params["width"]) == 8 {
            Width::Eight
        } else {
            Width::Four
        },
        order: if params["order"] == "big" {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        },
    };
    LengthCodec::builder().field(field).new_codec()
}

fn header_param(e: &Entry) -> Map<String, Value> {
    e.params["header"]
        .as_object()
        .cloned()
        .expect("header object")
}

fn json_codec(header: &Map<String, Value>) -> JsonCodec {
    JsonCodec::builder()
        .with_md5(header.contains_key("md5"))
        .new_codec()
}

fn entries_of(framing: &str) -> Vec<Entry> {
    let all: Vec<Entry> = manifest()
        .into_iter()
        .filter(|e| e.framing == framing)
        .collect();
    assert!(!all.is_empty(), "no {framing} fixtures");
    all
}

#[test]
fn struct_fixtures_encode_and_decode_byte_for_byte() {
    for e in entries_of("struct") {
        if e.expect.contains_key("error") {
            check_error(&e, struct_codec(&e.params), DEFAULT_MAX_FRAME_LENGTH);
            continue;
        }
        let frames = expected_frames(&e);
        let got = decode_chunks(&mut struct_codec(&e.params), [&e.data[..]]);
        assert!(got.error.is_none(), "{}: {:?}", e.file, got.error);
        let got: Vec<(usize, String)> = got.items.iter().map(|b| (b.len(), md5_hex(b))).collect();
        assert_eq!(got, frames, "{}", e.file);
        let mut out = BytesMut::new();
        let mut codec = struct_codec(&e.params);
        for (len, _) in &frames {
            codec.encode(body(*len), &mut out).unwrap();
        }
        assert_eq!(
            &out[..],
            &e.data[..],
            "{}: encoder differs from struct.pack",
            e.file
        );
    }
}

#[test]
fn json_headers_are_written_as_python_json_dumps_writes_them() {
    for e in entries_of("json-header") {
        let header = header_param(&e);
        let n = num(&e.expect["size"]) as usize;
        let frame = JsonFrame {
            header: header.clone(),
            body: body(n),
        };
        let ours = json_codec(&header).header_bytes(&frame);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&e.data),
            "{}: header differs from json.dumps",
            e.file
        );
        let parsed = JsonHeader::parse(&e.data, DEFAULT_MAX_FRAME_LENGTH).unwrap();
        assert_eq!(parsed.size, n, "{}", e.file);
        assert_eq!(parsed.fields, header, "{}", e.file);
    }
}

#[test]
fn json_fixtures_encode_and_decode_byte_for_byte() {
    for e in entries_of("json") {
        if e.expect.contains_key("error") {
            let limit = if e.expect["error"]["kind"] == "JsonHeaderTooLarge" {
                DEFAULT_MAX_JSON_HEADER
            } else {
                DEFAULT_MAX_FRAME_LENGTH
            };
            check_error(&e, JsonCodec::default(), limit);
            continue;
        }
        let header = header_param(&e);
        let got = decode_chunks(&mut JsonCodec::default(), [&e.data[..]]);
        assert!(got.error.is_none(), "{}: {:?}", e.file, got.error);
        let [frame] = &got.items[..] else {
            panic!("{}: {} frames", e.file, got.items.len())
        };
        assert_eq!(frame.header, header, "{}", e.file);
        let (len, md5) = expected_frames(&e).remove(0);
        assert_eq!(
            (frame.body.len(), md5_hex(&frame.body)),
            (len, md5),
            "{}",
            e.file
        );
        let mut out = BytesMut::new();
        json_codec(&header).encode(frame.clone(), &mut out).unwrap();
        assert_eq!(
            &out[..],
            &e.data[..],
            "{}: encoder differs from Python",
            e.file
        );
    }
}

#[test]
fn upload_fixtures_encode_and_decode_byte_for_byte() {
    for e in entries_of("upload") {
        if e.expect.contains_key("error") {
            check_error(&e, UploadDecoder::default(), DEFAULT_MAX_FILE_SIZE);
            continue;
        }
        let header = header_param(&e);
        let got = decode_chunks(&mut UploadDecoder::default(), [&e.data[..]]);
        assert!(got.error.is_none(), "{}: {:?}", e.file, got.error);
        let mut items = got.items.into_iter();
        let Some(UploadItem::Header(h)) = items.next() else {
            panic!("{}: no header", e.file)
        };
        assert_eq!(h.file_name, header["file_name"], "{}", e.file);
        assert_eq!(
            safe_name(&h.file_name).unwrap(),
            e.expect["file_name"],
            "{}",
            e.file
        );
        let mut file = Vec::new();
        let mut done = None;
        for item in items {
            match item {
                UploadItem::Chunk(c) => file.extend_from_slice(&c),
                UploadItem::Done { md5 } => done = Some(md5),
                UploadItem::Header(_) => panic!("{}: a second header", e.file),
            }
        }
        let (len, md5) = expected_frames(&e).remove(0);
        assert_eq!(
            (file.len(), md5_hex(&file)),
            (len, md5.clone()),
            "{}",
            e.file
        );
        assert_eq!(done, Some(md5), "{}", e.file);
        let mut out = BytesMut::new();
        let ours = UploadHeader {
            file_name: h.file_name,
            file_size: len,
            md5: h.md5,
        };
        ours.encode(LengthField::I32_LE, &mut out).unwrap();
        out.extend_from_slice(&body(len));
        assert_eq!(
            &out[..],
            &e.data[..],
            "{}: encoder differs from Python",
            e.file
        );
    }
}

#[test]
fn ready_digits_match_python_str() {
    for e in entries_of("ready-digits") {
        let n = num(&e.expect["size"]) as usize;
        let mut out = BytesMut::new();
        encode_length(n, &mut out);
        assert_eq!(&out[..], &e.data[..], "{}", e.file);
        let mut buf = BytesMut::from(&e.data[..]);
        let got = ReadyReplyDecoder::default().decode(&mut buf).unwrap();
        assert_eq!(got, Some(ReadyItem::Length(n)), "{}", e.file);
    }
}

#[test]
fn fixtures_are_what_golden_py_writes() {
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/golden.py");
    let status = std::process::Command::new("python3")
        .arg(&script)
        .arg("--out")
        .arg(out.path())
        .status()
        .expect("python3 runs (it writes the golden fixtures)");
    assert!(status.success());
    let fresh = out.path().join("golden");
    let mut names: Vec<_> = std::fs::read_dir(&fresh)
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    names.sort();
    let mut committed: Vec<_> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    committed.sort();
    assert_eq!(
        names, committed,
        "fixtures/golden/ is out of date: run fixtures/golden.py"
    );
    for name in names {
        let a = std::fs::read(fresh.join(&name)).unwrap();
        let b = std::fs::read(golden_dir().join(&name)).unwrap();
        assert!(a == b, "{name:?} is out of date: run fixtures/golden.py");
    }
}
