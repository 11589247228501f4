//! The `json` framing: a `struct` length of the JSON header, the header, then the body.
//!
//! ```text
//! +-- hlen: i32 le --+-- JSON object (hlen bytes, UTF-8) --+-- body: file_size bytes --+
//!                       {"file_size": 8893, "md5": "…", …}
//! ```
//!
//! The body size is under `file_size` (seed 000) or `data_size` (seed 001); both present and
//! different is an error. Other keys are kept. Where `md5` is present it must be the lowercase
//! hex MD5 of the body. The JSON header has its own limit (default 64 KiB), checked from the
//! length field before any of it is buffered.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use stickler::codec::json::{JsonCodec, JsonFrame};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = JsonCodec::builder().with_md5(true).new_codec();
//! let mut buf = BytesMut::new();
//! codec.encode(JsonFrame::new(Bytes::from_static(b"hi\n")), &mut buf).unwrap();
//! let frame = codec.decode(&mut buf).unwrap().unwrap();
//! assert_eq!(&frame.body[..], b"hi\n");
//! assert_eq!(frame.header["file_size"], 3);
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use md5::{Digest, Md5};
use serde_json::{Map, Value};
use tokio_util::codec::{Decoder, Encoder};

use super::length::LengthField;
use super::{CodecError, Part, DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_JSON_HEADER};

/// Lowercase hex MD5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    super::hex(Md5::digest(bytes).as_slice())
}

/// Under which key an encoder writes the body size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SizeKey {
    #[default]
    FileSize,
    DataSize,
}

impl SizeKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SizeKey::FileSize => "file_size",
            SizeKey::DataSize => "data_size",
        }
    }
}

/// A parsed JSON header: all its keys, and the body size and md5 found in them.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonHeader {
    pub fields: Map<String, Value>,
    pub size: usize,
    pub md5: Option<String>,
}

fn size_of(fields: &Map<String, Value>, key: &'static str) -> Result<Option<u64>, CodecError> {
    match fields.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(Value::Number(n)) if n.as_i64().is_some() => {
            Err(CodecError::NegativeLength(n.as_i64().unwrap_or_default()))
        }
        Some(other) => Err(CodecError::BadSize {
            key,
            value: CodecError::show(other.to_string().as_bytes()),
        }),
    }
}

impl JsonHeader {
    /// Parses and checks a header: an object, with a size within `max_body`.
    pub fn parse(bytes: &[u8], max_body: usize) -> Result<JsonHeader, CodecError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| CodecError::HeaderNotJson(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(CodecError::HeaderNotObject);
        };
        let size = match (
            size_of(&fields, "file_size")?,
            size_of(&fields, "data_size")?,
        ) {
            (None, None) => return Err(CodecError::MissingSize),
            (Some(f), Some(d)) if f != d => {
                return Err(CodecError::ConflictingSizes {
                    file_size: f,
                    data_size: d,
                })
            }
            (Some(s), _) | (None, Some(s)) => s,
        };
        if size > max_body as u64 {
            return Err(CodecError::FrameTooLarge {
                len: size,
                limit: max_body,
            });
        }
        let md5 = match fields.get("md5") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(CodecError::BadField { key: "md5" }),
        };
        Ok(JsonHeader {
            fields,
            size: size as usize,
            md5,
        })
    }

    /// Checks the body against the header's md5, when there is one.
    pub fn verify(&self, actual_md5: impl FnOnce() -> String) -> Result<(), CodecError> {
        match &self.md5 {
            None => Ok(()),
            Some(expected) => {
                let actual = actual_md5();
                if expected.eq_ignore_ascii_case(&actual) {
                    Ok(())
                } else {
                    Err(CodecError::Md5Mismatch {
                        expected: expected.clone(),
                        actual,
                    })
                }
            }
        }
    }
}

/// Writes JSON exactly as Python's `json.dumps` does by default: `", "` and `": "` separators,
/// keys in insertion order, everything outside printable ASCII escaped as `\uXXXX` (DEL
/// included). Integers, strings, booleans and null match byte for byte; floats in exponent form
/// do not (Python writes `1e+16`, this writes `1e16`): headers of the framings hold none.
pub fn python_dumps(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    // Serializing a `Value` into a Vec cannot fail.
    serde::Serialize::serialize(value, &mut ser).expect("serializing a JSON value");
    out
}

struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut units = [0u16; 2];
        let mut start = 0;
        // Python escapes everything outside ' '..='~'; serde_json already escapes below ' '.
        for (i, c) in fragment.char_indices().filter(|(_, c)| *c > '~') {
            w.write_all(&fragment.as_bytes()[start..i])?;
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])?;
        Ok(())
    }
}

/// The JSON-header stage shared by [`JsonCodec`] and the upload decoder: reads the length field
/// and the header it announces.
#[derive(Debug, Clone)]
pub(crate) struct HeaderStage {
    pub field: LengthField,
    pub max_json_header: usize,
    pending: Option<usize>,
}

impl HeaderStage {
    pub fn new(field: LengthField, max_json_header: usize) -> Self {
        HeaderStage {
            field,
            max_json_header,
            pending: None,
        }
    }

    /// `Ok(None)` until the whole header is buffered; then the header, with `max_body` checked.
    pub fn decode(
        &mut self,
        src: &mut BytesMut,
        max_body: usize,
    ) -> Result<Option<JsonHeader>, CodecError> {
        let hlen = match self.pending {
            Some(n) => n,
            None => {
                let n = match self.field.read_checked(src, self.max_json_header) {
                    Ok(Some(n)) => n,
                    Ok(None) => return Ok(None),
                    Err(CodecError::FrameTooLarge { len, limit }) => {
                        return Err(CodecError::JsonHeaderTooLarge { len, limit })
                    }
                    Err(e) => return Err(e),
                };
                src.advance(self.field.size());
                self.pending = Some(n);
                n
            }
        };
        if src.len() < hlen {
            return Ok(None);
        }
        self.pending = None;
        let header = src.split_to(hlen);
        JsonHeader::parse(&header, max_body).map(Some)
    }

    /// The truncation error for a stream ending with `have` bytes buffered, if inside a header.
    pub fn truncated(&self, have: usize) -> Option<CodecError> {
        match self.pending {
            Some(need) => Some(CodecError::Truncated {
                part: Part::JsonHeader,
                have,
                need,
            }),
            None if have > 0 => Some(CodecError::Truncated {
                part: Part::LengthHeader,
                have,
                need: self.field.size(),
            }),
            None => None,
        }
    }
}

/// A frame of the `json` framing: the header's keys and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonFrame {
    pub header: Map<String, Value>,
    pub body: Bytes,
}

impl JsonFrame {
    /// A frame with no extra header keys.
    pub fn new(body: Bytes) -> Self {
        JsonFrame {
            header: Map::new(),
            body,
        }
    }
}

/// Builder for [`JsonCodec`]; defaults: `'i'` little-endian header length, 8 MiB body,
/// 64 KiB JSON header, sizes written as `file_size`, no md5 written.
#[derive(Debug, Clone, Copy)]
pub struct JsonCodecBuilder {
    field: LengthField,
    max_frame_length: usize,
    max_json_header: usize,
    size_key: SizeKey,
    with_md5: bool,
}

impl Default for JsonCodecBuilder {
    fn default() -> Self {
        JsonCodecBuilder {
            field: LengthField::I32_LE,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            max_json_header: DEFAULT_MAX_JSON_HEADER,
            size_key: SizeKey::FileSize,
            with_md5: false,
        }
    }
}

impl JsonCodecBuilder {
    pub fn field(mut self, field: LengthField) -> Self {
        self.field = field;
        self
    }
    /// Largest body accepted (default 8 MiB).
    pub fn max_frame_length(mut self, max: usize) -> Self {
        self.max_frame_length = max;
        self
    }
    /// Largest JSON header accepted (default 64 KiB).
    pub fn max_json_header(mut self, max: usize) -> Self {
        self.max_json_header = max;
        self
    }
    /// Key the encoder writes the size under (default `file_size`).
    pub fn size_key(mut self, key: SizeKey) -> Self {
        self.size_key = key;
        self
    }
    /// Whether the encoder adds the body's `md5` (default no).
    pub fn with_md5(mut self, on: bool) -> Self {
        self.with_md5 = on;
        self
    }
    pub fn new_codec(self) -> JsonCodec {
        JsonCodec {
            stage: HeaderStage::new(self.field, self.max_json_header),
            max_frame_length: self.max_frame_length,
            size_key: self.size_key,
            with_md5: self.with_md5,
            body_of: None,
        }
    }
}

/// Decoder and encoder of the `json` framing.
#[derive(Debug, Clone)]
pub struct JsonCodec {
    stage: HeaderStage,
    max_frame_length: usize,
    size_key: SizeKey,
    with_md5: bool,
    body_of: Option<JsonHeader>,
}

impl Default for JsonCodec {
    fn default() -> Self {
        JsonCodecBuilder::default().new_codec()
    }
}

impl JsonCodec {
    pub fn builder() -> JsonCodecBuilder {
        JsonCodecBuilder::default()
    }

    /// The JSON header bytes (without the length field) for `frame`.
    ///
    /// A size key (`file_size` or `data_size`) already in `frame.header` keeps its place and is
    /// given the body's length, so Python's key order can be reproduced byte for byte (seed
    /// 000 writes `{"name": …, "file_size": …, "info": …}`); without one, the configured size
    /// key comes first. With md5 on, an `md5` key likewise keeps its place (else it follows the
    /// size) and gets the body's digest. Other keys are written as given.
    pub fn header_bytes(&self, frame: &JsonFrame) -> Vec<u8> {
        let len = Value::from(frame.body.len());
        let md5 = self.with_md5.then(|| Value::from(md5_hex(&frame.body)));
        let mut fields = Map::with_capacity(frame.header.len() + 2);
        let has_size =
            frame.header.contains_key("file_size") || frame.header.contains_key("data_size");
        if !has_size {
            fields.insert(self.size_key.as_str().into(), len.clone());
        }
        if let Some(md5) = md5.as_ref().filter(|_| !frame.header.contains_key("md5")) {
            fields.insert("md5".into(), md5.clone());
        }
        for (k, v) in &frame.header {
            let v = match (k.as_str(), &md5) {
                ("file_size" | "data_size", _) => len.clone(),
                ("md5", Some(md5)) => md5.clone(),
                _ => v.clone(),
            };
            fields.insert(k.clone(), v);
        }
        python_dumps(&Value::Object(fields))
    }
}

impl Decoder for JsonCodec {
    type Item = JsonFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<JsonFrame>, CodecError> {
        if self.body_of.is_none() {
            match self.stage.decode(src, self.max_frame_length)? {
                Some(h) => self.body_of = Some(h),
                None => return Ok(None),
            }
        }
        let Some(header) = self.body_of.as_ref() else {
            return Ok(None);
        };
        if src.len() < header.size {
            return Ok(None);
        }
        let body = src.split_to(header.size).freeze();
        let header = self.body_of.take().expect("header present");
        header.verify(|| md5_hex(&body))?;
        Ok(Some(JsonFrame {
            header: header.fields,
            body,
        }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<JsonFrame>, CodecError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        let err = match &self.body_of {
            Some(h) => Some(CodecError::Truncated {
                part: Part::Body,
                have: src.len(),
                need: h.size,
            }),
            None => self.stage.truncated(src.len()),
        };
        err.map_or(Ok(None), Err)
    }
}

impl Encoder<JsonFrame> for JsonCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: JsonFrame, dst: &mut BytesMut) -> Result<(), CodecError> {
        if frame.body.len() > self.max_frame_length {
            return Err(CodecError::FrameTooLarge {
                len: frame.body.len() as u64,
                limit: self.max_frame_length,
            });
        }
        let header = self.header_bytes(&frame);
        dst.reserve(self.stage.field.size() + header.len() + frame.body.len());
        self.stage.field.write(header.len(), dst)?;
        dst.put_slice(&header);
        dst.put_slice(&frame.body);
        Ok(())
    }
}

impl Encoder<Bytes> for JsonCodec {
    type Error = CodecError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(JsonFrame::new(body), dst)
    }
}

#[cfg(test)]
mod tests {
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
}
