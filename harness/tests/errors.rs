//! Every typed decoder error, with the fields a user needs to act on it; and headers that
//! announce huge lengths (1 TB, 2^31-1) cost nothing: no buffer is sized by a declared length.

use bytes::{BufMut, BytesMut};
use serde_json::json;
use stickler::codec::json::{md5_hex, python_dumps, JsonCodec};
use stickler::codec::length::{ByteOrder, LengthCodec, LengthField, Width};
use stickler::codec::ready::{ReadyReplyDecoder, TokenDecoder};
use stickler::codec::upload::{safe_name, UploadDecoder};
use stickler::codec::{decode_chunks, CodecError, Part, DEFAULT_MAX_FRAME_LENGTH};
use tokio_util::codec::Decoder;

/// A `json`-framing frame with the given header value and body.
fn json_frame(header: serde_json::Value, body: &[u8]) -> Vec<u8> {
    let head = python_dumps(&header);
    let mut out = (head.len() as i32).to_le_bytes().to_vec();
    out.extend_from_slice(&head);
    out.extend_from_slice(body);
    out
}

fn json_error(header: serde_json::Value, body: &[u8]) -> CodecError {
    let data = json_frame(header, body);
    let got = decode_chunks(&mut JsonCodec::default(), [&data[..]]);
    assert!(got.items.is_empty(), "{:?}", got.items);
    got.error.expect("an error")
}

fn upload_error(header: serde_json::Value) -> CodecError {
    let data = json_frame(header, b"");
    decode_chunks(&mut UploadDecoder::default(), [&data[..]])
        .error
        .expect("an error")
}

#[test]
fn negative_length_is_refused_from_the_header() {
    let got = decode_chunks(&mut LengthCodec::default(), [&(-5i32).to_le_bytes()[..]]);
    assert_eq!(got.error, Some(CodecError::NegativeLength(-5)));
    let be = LengthCodec::builder()
        .byte_order(ByteOrder::Big)
        .new_codec();
    let got = decode_chunks(&mut be.clone(), [&i32::MIN.to_be_bytes()[..]]);
    assert_eq!(got.error, Some(CodecError::NegativeLength(i32::MIN as i64)));
}

#[test]
fn frame_too_large_names_length_and_limit() {
    let mut codec = LengthCodec::builder().max_frame_length(100).new_codec();
    let got = decode_chunks(&mut codec, [&101i32.to_le_bytes()[..]]);
    assert_eq!(
        got.error,
        Some(CodecError::FrameTooLarge {
            len: 101,
            limit: 100
        })
    );
    let msg = got.error.unwrap().to_string();
    assert!(msg.contains("101") && msg.contains("100"), "{msg}");
    // Exactly the limit is fine.
    let mut frame = 100i32.to_le_bytes().to_vec();
    frame.extend_from_slice(&[7; 100]);
    let got = decode_chunks(
        &mut LengthCodec::builder().max_frame_length(100).new_codec(),
        [&frame[..]],
    );
    assert_eq!((got.items.len(), got.error), (1, None));
}

#[test]
fn json_header_errors() {
    let data = {
        let mut d = 5i32.to_le_bytes().to_vec();
        d.extend_from_slice(b"{nope");
        d
    };
    let got = decode_chunks(&mut JsonCodec::default(), [&data[..]]);
    assert!(
        matches!(got.error, Some(CodecError::HeaderNotJson(_))),
        "{:?}",
        got.error
    );

    assert_eq!(json_error(json!([1, 2]), b""), CodecError::HeaderNotObject);
    assert_eq!(
        json_error(json!("file_size"), b""),
        CodecError::HeaderNotObject
    );
    assert_eq!(
        json_error(json!({"name": "jason"}), b""),
        CodecError::MissingSize
    );
    assert_eq!(
        json_error(json!({"file_size": 3, "data_size": 4}), b"abcd"),
        CodecError::ConflictingSizes {
            file_size: 3,
            data_size: 4
        }
    );
    assert_eq!(
        json_error(json!({"file_size": "3"}), b"abc"),
        CodecError::BadSize {
            key: "file_size",
            value: "\"3\"".into()
        }
    );
    assert_eq!(
        json_error(json!({"data_size": 3.0}), b"abc"),
        CodecError::BadSize {
            key: "data_size",
            value: "3.0".into()
        }
    );
    assert_eq!(
        json_error(json!({"file_size": -3}), b""),
        CodecError::NegativeLength(-3)
    );
    assert_eq!(
        json_error(json!({"file_size": 3, "md5": 5}), b"abc"),
        CodecError::BadField { key: "md5" }
    );
    // Equal sizes under both keys are fine.
    let data = json_frame(json!({"file_size": 3, "data_size": 3}), b"abc");
    let got = decode_chunks(&mut JsonCodec::default(), [&data[..]]);
    assert_eq!((got.items.len(), got.error), (1, None));
}

#[test]
fn json_header_over_its_limit_is_refused_before_buffering() {
    let mut codec = JsonCodec::builder().max_json_header(16).new_codec();
    let got = decode_chunks(&mut codec, [&17i32.to_le_bytes()[..]]);
    assert_eq!(
        got.error,
        Some(CodecError::JsonHeaderTooLarge { len: 17, limit: 16 })
    );
}

#[test]
fn md5_mismatch_gives_both_digests() {
    let err = json_error(json!({"file_size": 3, "md5": md5_hex(b"abd")}), b"abc");
    assert_eq!(
        err,
        CodecError::Md5Mismatch {
            expected: md5_hex(b"abd"),
            actual: md5_hex(b"abc")
        }
    );
    // The upload checks the streamed body the same way.
    let data = json_frame(
        json!({"file_name": "a.txt", "file_size": 3, "md5": md5_hex(b"abd")}),
        b"abc",
    );
    let got = decode_chunks(&mut UploadDecoder::default(), data.chunks(1));
    assert_eq!(
        got.error,
        Some(CodecError::Md5Mismatch {
            expected: md5_hex(b"abd"),
            actual: md5_hex(b"abc")
        })
    );
}

#[test]
fn truncated_says_where_with_have_and_need() {
    let cases: [(&[u8], Part, usize, usize); 3] = [
        (&[3, 0], Part::LengthHeader, 2, 4),
        (&[3, 0, 0, 0, b'a'], Part::Body, 1, 3),
        (&[3, 0, 0, 0], Part::Body, 0, 3),
    ];
    for (data, part, have, need) in cases {
        let got = decode_chunks(&mut LengthCodec::default(), [data]);
        assert_eq!(
            got.error,
            Some(CodecError::Truncated { part, have, need }),
            "{data:?}"
        );
    }
    let mut data = 20i32.to_le_bytes().to_vec();
    data.extend_from_slice(b"{\"file_");
    let got = decode_chunks(&mut JsonCodec::default(), [&data[..]]);
    assert_eq!(
        got.error,
        Some(CodecError::Truncated {
            part: Part::JsonHeader,
            have: 7,
            need: 20
        })
    );
    let got = decode_chunks(&mut ReadyReplyDecoder::default(), [&b"10"[..], b"abc"]);
    assert_eq!(
        got.error,
        Some(CodecError::Truncated {
            part: Part::Body,
            have: 3,
            need: 10
        })
    );
    let got = decode_chunks(&mut TokenDecoder::default(), [&b"rea"[..]]);
    assert_eq!(
        got.error,
        Some(CodecError::Truncated {
            part: Part::Token,
            have: 3,
            need: 5
        })
    );
    let data = json_frame(json!({"file_name": "a", "file_size": 10}), b"abcd");
    let got = decode_chunks(&mut UploadDecoder::default(), [&data[..]]);
    assert_eq!(
        got.error,
        Some(CodecError::Truncated {
            part: Part::Body,
            have: 4,
            need: 10
        })
    );
}

#[test]
fn bad_digits() {
    for digits in [
        &b"12a"[..],
        b"-5",
        b" 5",
        b"ready",
        b"123456789012345678901",
    ] {
        let got = decode_chunks(&mut ReadyReplyDecoder::default(), [digits]);
        assert!(
            matches!(got.error, Some(CodecError::BadDigits(_))),
            "{digits:?}: {:?}",
            got.error
        );
    }
    let got = decode_chunks(&mut ReadyReplyDecoder::new(100), [&b"101"[..]]);
    assert_eq!(
        got.error,
        Some(CodecError::FrameTooLarge {
            len: 101,
            limit: 100
        })
    );
}

#[test]
fn unexpected_token_shows_what_came() {
    let got = decode_chunks(&mut TokenDecoder::default(), [&b"reaXdy"[..]]);
    assert_eq!(
        got.error,
        Some(CodecError::UnexpectedToken {
            expected: "ready".into(),
            got: "reaX".into()
        })
    );
    let one_read = TokenDecoder::default().check_read(b"ready\n");
    assert_eq!(
        one_read,
        Err(CodecError::UnexpectedToken {
            expected: "ready".into(),
            got: "ready\n".into()
        })
    );
    let mut empty = TokenDecoder::new(bytes::Bytes::new());
    assert_eq!(
        empty.decode(&mut BytesMut::new()),
        Err(CodecError::EmptyToken)
    );
}

#[test]
fn bad_upload_names() {
    for name in ["", "..", ".", "/a/b/", "a/..", "x\0y", "dir\\.."] {
        assert!(
            matches!(safe_name(name), Err(CodecError::BadFileName(_))),
            "{name:?}"
        );
        let err = upload_error(json!({"file_name": name, "file_size": 0}));
        assert!(matches!(err, CodecError::BadFileName(_)), "{name:?}: {err}");
    }
    assert_eq!(safe_name("/a/b/c/d/e/a.txt").unwrap(), "a.txt");
    assert_eq!(safe_name("c:\\x\\y.bin").unwrap(), "y.bin");
    let err = upload_error(json!({"file_size": 0}));
    assert_eq!(err, CodecError::BadField { key: "file_name" });
    let err = upload_error(json!({"file_name": 7, "file_size": 0}));
    assert_eq!(err, CodecError::BadField { key: "file_name" });
}

/// Decodes `data` with `decoder` and requires "need more bytes" with the buffer not grown.
fn waits_without_reserving<D: Decoder<Error = CodecError>>(
    what: &str,
    mut decoder: D,
    data: &[u8],
) {
    let mut buf = BytesMut::with_capacity(data.len());
    buf.put_slice(data);
    let cap = buf.capacity();
    assert!(matches!(decoder.decode(&mut buf), Ok(None)), "{what}");
    assert!(matches!(decoder.decode(&mut buf), Ok(None)), "{what}");
    assert!(
        buf.capacity() <= cap.max(64),
        "{what}: capacity {} after a header",
        buf.capacity()
    );
}

#[test]
fn huge_declared_lengths_cost_nothing() {
    const TB: u64 = 1 << 40;
    let q = LengthField {
        width: Width::Eight,
        order: ByteOrder::Little,
    };
    // Limits raised so the header is accepted and the decoder waits for the body.
    let open = LengthCodec::builder()
        .field(q)
        .max_frame_length(usize::MAX)
        .new_codec();
    waits_without_reserving("struct q 1 TB", open, &TB.to_le_bytes());
    let open = LengthCodec::builder()
        .max_frame_length(usize::MAX)
        .new_codec();
    waits_without_reserving("struct i 2^31-1", open, &i32::MAX.to_le_bytes());
    let json = JsonCodec::builder()
        .max_frame_length(usize::MAX)
        .new_codec();
    waits_without_reserving(
        "json 1 TB",
        json,
        &json_frame(json!({"file_size": TB}), b""),
    );
    let json = JsonCodec::builder().max_json_header(usize::MAX).new_codec();
    waits_without_reserving("json header 2^31-1", json, &i32::MAX.to_le_bytes());
    let mut ready = ReadyReplyDecoder::new(usize::MAX);
    let mut buf = BytesMut::from(TB.to_string().as_bytes());
    assert!(ready.decode(&mut buf).unwrap().is_some());
    waits_without_reserving("ready 1 TB", ready, b"abc");
    let upload = UploadDecoder::new(usize::MAX);
    let header = json_frame(json!({"file_name": "a", "file_size": TB}), b"");
    let mut buf = BytesMut::from(&header[..]);
    let mut upload = upload;
    assert!(
        upload.decode(&mut buf).unwrap().is_some(),
        "the upload header"
    );
    waits_without_reserving("upload 1 TB", upload, b"");
    // With the default limits the same headers are refused outright.
    let got = decode_chunks(&mut LengthCodec::default(), [&i32::MAX.to_le_bytes()[..]]);
    assert_eq!(
        got.error,
        Some(CodecError::FrameTooLarge {
            len: i32::MAX as u64,
            limit: DEFAULT_MAX_FRAME_LENGTH
        })
    );
}
