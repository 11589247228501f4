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
mod tests;
