use super::*;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn frame(header: Value, body: &'static [u8]) -> JsonFrame {
    JsonFrame {
        header: obj(header),
        body: Bytes::from_static(body),
    }
}

#[test]
fn md5_and_size_keys() {
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"hi\n"), "764efa883dda1e11db47671c4a3bbd9e");
    assert_eq!(SizeKey::FileSize.as_str(), "file_size");
    assert_eq!(SizeKey::DataSize.as_str(), "data_size");
}

#[test]
fn a_header_names_its_size_once_and_in_range() {
    let p = |s: &str, max| JsonHeader::parse(s.as_bytes(), max);
    let h = p(r#"{"data_size": 3, "md5": "abc", "x": 1}"#, 3).unwrap();
    assert_eq!((h.size, h.md5.as_deref()), (3, Some("abc")));
    assert_eq!(h.fields["x"], 1);
    assert_eq!(p(r#"{"file_size": 2}"#, 3).unwrap().size, 2);
    assert_eq!(p(r#"{"file_size": 2, "data_size": 2}"#, 3).unwrap().size, 2);
    assert_eq!(p(r#"{"file_size": 2}"#, 3).unwrap().md5, None);
    assert_eq!(
        p(r#"{"file_size": 2, "data_size": 1}"#, 3),
        Err(CodecError::ConflictingSizes {
            file_size: 2,
            data_size: 1
        })
    );
    assert_eq!(
        p(r#"{"file_size": 4}"#, 3),
        Err(CodecError::FrameTooLarge { len: 4, limit: 3 })
    );
    assert_eq!(p(r#"{"x": 4}"#, 3), Err(CodecError::MissingSize));
    assert_eq!(p(r#"[1]"#, 3), Err(CodecError::HeaderNotObject));
    assert!(matches!(p("{", 3), Err(CodecError::HeaderNotJson(_))));
    assert_eq!(
        p(r#"{"file_size": -2}"#, 3),
        Err(CodecError::NegativeLength(-2))
    );
    assert_eq!(
        p(r#"{"data_size": 1.5}"#, 3),
        Err(CodecError::BadSize {
            key: "data_size",
            value: "1.5".into()
        })
    );
    assert_eq!(
        p(r#"{"file_size": "2"}"#, 3),
        Err(CodecError::BadSize {
            key: "file_size",
            value: "\"2\"".into()
        })
    );
    assert_eq!(
        p(r#"{"file_size": 2, "md5": 5}"#, 3),
        Err(CodecError::BadField { key: "md5" })
    );
}

#[test]
fn verify_compares_the_md5_ignoring_case() {
    let h = |md5: Option<&str>| JsonHeader {
        fields: Map::new(),
        size: 0,
        md5: md5.map(str::to_string),
    };
    assert_eq!(h(None).verify(|| unreachable!()), Ok(()));
    assert_eq!(h(Some("ABC")).verify(|| "abc".into()), Ok(()));
    assert_eq!(
        h(Some("abc")).verify(|| "abd".into()),
        Err(CodecError::Md5Mismatch {
            expected: "abc".into(),
            actual: "abd".into()
        })
    );
}

#[test]
fn dumps_like_python() {
    let v = json!({"a": [1, 2, {"b": null}], "c": "x~\u{7f}é😀\n", "d": true});
    assert_eq!(
        String::from_utf8(python_dumps(&v)).unwrap(),
        r#"{"a": [1, 2, {"b": null}], "c": "x~\u007f\u00e9\ud83d\ude00\n", "d": true}"#
    );
    assert_eq!(python_dumps(&json!("aéb~c")), br#""a\u00e9b~c""#);
    assert_eq!(python_dumps(&json!({})), b"{}");
}

#[test]
fn header_bytes_keep_given_keys_in_place() {
    let plain = JsonCodec::default();
    assert_eq!(
        plain.header_bytes(&frame(
            json!({"name": "a", "file_size": 0, "info": "i"}),
            b"xy"
        )),
        br#"{"name": "a", "file_size": 2, "info": "i"}"#
    );
    assert_eq!(
        plain.header_bytes(&frame(json!({"data_size": 9}), b"xy")),
        br#"{"data_size": 2}"#
    );
    assert_eq!(
        plain.header_bytes(&frame(json!({"name": "a"}), b"xy")),
        br#"{"file_size": 2, "name": "a"}"#
    );
    // Without md5 on, a given md5 is written as given.
    assert_eq!(
        plain.header_bytes(&frame(json!({"md5": "m"}), b"")),
        br#"{"file_size": 0, "md5": "m"}"#
    );
    let md5 = JsonCodec::builder()
        .with_md5(true)
        .size_key(SizeKey::DataSize)
        .new_codec();
    let hi = md5_hex(b"hi\n");
    assert_eq!(
        md5.header_bytes(&frame(json!({"name": "a"}), b"hi\n")),
        format!(r#"{{"data_size": 3, "md5": "{hi}", "name": "a"}}"#).into_bytes()
    );
    assert_eq!(
        md5.header_bytes(&frame(
            json!({"md5": "m", "name": "a", "file_size": 1}),
            b"hi\n"
        )),
        format!(r#"{{"md5": "{hi}", "name": "a", "file_size": 3}}"#).into_bytes()
    );
}

fn field8() -> LengthField {
    LengthField {
        width: super::super::length::Width::Eight,
        order: super::super::length::ByteOrder::Big,
    }
}

#[test]
fn the_builder_configures_every_part() {
    let mut c = JsonCodec::builder()
        .field(field8())
        .max_frame_length(3)
        .max_json_header(20)
        .new_codec();
    let mut dst = BytesMut::new();
    c.encode(Bytes::from_static(b"abc"), &mut dst).unwrap();
    assert_eq!(&dst[..12], b"\0\0\0\0\0\0\0\x10{\"fi");
    assert_eq!(&dst[8..], b"{\"file_size\": 3}abc");
    assert_eq!(
        c.encode(Bytes::from_static(b"abcd"), &mut dst),
        Err(CodecError::FrameTooLarge { len: 4, limit: 3 })
    );
    let f = c.decode(&mut dst).unwrap().unwrap();
    assert_eq!(&f.body[..], b"abc");
    assert_eq!(f.header, obj(json!({"file_size": 3})));
    // The header limit comes from the builder too.
    let mut long = BytesMut::new();
    LengthField::I32_LE.write(21, &mut long).unwrap();
    let mut c = JsonCodec::builder().max_json_header(20).new_codec();
    assert_eq!(
        c.decode(&mut long),
        Err(CodecError::JsonHeaderTooLarge { len: 21, limit: 20 })
    );
    let mut c = JsonCodec::default();
    let mut dst = BytesMut::new();
    c.encode(JsonFrame::new(Bytes::new()), &mut dst).unwrap();
    assert_eq!(&dst[..], b"\x10\x00\x00\x00{\"file_size\": 0}");
}

fn wire(header: &str, body: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    LengthField::I32_LE.write(header.len(), &mut b).unwrap();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(body);
    b
}

#[test]
fn decodes_a_frame_once_all_of_it_is_there() {
    let mut c = JsonCodec::default();
    let whole = wire(r#"{"file_size": 3, "k": "v"}"#, b"abc");
    let mut buf = BytesMut::new();
    for (i, b) in whole.iter().enumerate() {
        buf.extend_from_slice(&[*b]);
        let got = c.decode(&mut buf).unwrap();
        assert_eq!(got.is_some(), i == whole.len() - 1, "after {} bytes", i + 1);
        if let Some(f) = got {
            assert_eq!(&f.body[..], b"abc");
            assert_eq!(f.header["k"], "v");
        }
    }
    // A header with no body, exactly.
    let mut buf = wire(r#"{"file_size": 0}"#, b"");
    assert_eq!(&c.decode(&mut buf).unwrap().unwrap().body[..], b"");
    assert_eq!(c.decode_eof(&mut buf), Ok(None));
    let mut buf = wire(r#"{"file_size": 2, "md5": "00"}"#, b"ab");
    assert_eq!(
        c.decode(&mut buf),
        Err(CodecError::Md5Mismatch {
            expected: "00".into(),
            actual: md5_hex(b"ab")
        })
    );
}

#[test]
fn the_end_of_stream_names_the_part_it_cut() {
    let eof = |bytes: &[u8]| JsonCodec::default().decode_eof(&mut BytesMut::from(bytes));
    let truncated = |part, have, need| Err(CodecError::Truncated { part, have, need });
    assert_eq!(eof(b""), Ok(None));
    assert_eq!(eof(b"\x10\x00"), truncated(Part::LengthHeader, 2, 4));
    assert_eq!(
        eof(b"\x10\x00\x00\x00{\"fi"),
        truncated(Part::JsonHeader, 4, 16)
    );
    let w = wire(r#"{"file_size": 3}"#, b"a");
    assert_eq!(eof(&w), truncated(Part::Body, 1, 3));
    let w = wire(r#"{"file_size": 1}"#, b"a");
    assert_eq!(&eof(&w).unwrap().unwrap().body[..], b"a");
}

#[test]
fn encodes_up_to_the_limit() {
    let mut c = JsonCodec::builder().max_frame_length(2).new_codec();
    let mut dst = BytesMut::new();
    c.encode(Bytes::from_static(b"ab"), &mut dst).unwrap();
    assert_eq!(&dst[..], &wire(r#"{"file_size": 2}"#, b"ab")[..]);
    assert!(c.encode(Bytes::from_static(b"abc"), &mut dst).is_err());
    // A body longer than the header and field together still encodes.
    let mut c = JsonCodec::default();
    let body = Bytes::from(vec![7u8; 100]);
    let mut dst = BytesMut::new();
    c.encode(body.clone(), &mut dst).unwrap();
    assert_eq!(&dst[..], &wire(r#"{"file_size": 100}"#, &body)[..]);
}
