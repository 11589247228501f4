//! The `upload` request (seed 001's file example): a JSON-header frame whose body is a file.
//!
//! ```text
//! +-- hlen: i32 le --+-- {"file_name": "a.txt", "file_size": N, "md5": "…"} --+-- N bytes --+
//! ```
//!
//! The body is streamed: [`UploadDecoder`] yields the header, then the body in pieces as they
//! arrive (never the whole file at once), then [`UploadItem::Done`] once the md5 matched.
//! Only the base name of `file_name` is kept ([`safe_name`]).

use bytes::{BufMut, BytesMut};
use md5::{Digest, Md5};
use serde_json::{Map, Value};
use tokio_util::codec::Decoder;

use super::hex;
use super::json::{python_dumps, HeaderStage, JsonHeader};
use super::length::LengthField;
use super::{CodecError, Part, DEFAULT_MAX_JSON_HEADER};

/// Default largest upload: 1 GiB.
pub const DEFAULT_MAX_FILE_SIZE: usize = 1 << 30;

/// The base name of an uploaded `file_name`, or an error for names that are unsafe to store:
/// empty, `.`, `..`, or containing NUL. Both `/` and `\` separate directories.
pub fn safe_name(file_name: &str) -> Result<&str, CodecError> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
    if file_name.contains('\0') || base.is_empty() || base == "." || base == ".." {
        return Err(CodecError::BadFileName(CodecError::show(
            file_name.as_bytes(),
        )));
    }
    Ok(base)
}

/// An upload's header.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadHeader {
    pub file_name: String,
    pub file_size: usize,
    pub md5: Option<String>,
}

impl UploadHeader {
    fn from_json(h: JsonHeader) -> Result<Self, CodecError> {
        let file_name = match h.fields.get("file_name") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(CodecError::BadField { key: "file_name" }),
        };
        Ok(UploadHeader {
            file_name,
            file_size: h.size,
            md5: h.md5,
        })
    }

    /// The request's length field and JSON header, as Python's `json.dumps` writes them.
    pub fn encode(&self, field: LengthField, dst: &mut BytesMut) -> Result<(), CodecError> {
        let mut fields = Map::new();
        fields.insert("file_name".into(), Value::from(self.file_name.clone()));
        fields.insert("file_size".into(), Value::from(self.file_size));
        if let Some(md5) = &self.md5 {
            fields.insert("md5".into(), Value::from(md5.clone()));
        }
        let json = python_dumps(&Value::Object(fields));
        field.write(json.len(), dst)?;
        dst.put_slice(&json);
        Ok(())
    }
}

/// What [`UploadDecoder`] yields, in order: one header, body pieces, done.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadItem {
    Header(UploadHeader),
    Chunk(BytesMut),
    /// The whole body arrived and its md5 (given here) matched the header's, if any.
    Done {
        md5: String,
    },
}

// One decoder per connection: the hasher inline is cheaper than a box per upload.
#[allow(clippy::large_enum_variant)]
enum State {
    Header,
    Body {
        remaining: usize,
        expected: Box<JsonHeader>,
        hasher: Md5,
    },
}

/// Streaming decoder of upload requests.
pub struct UploadDecoder {
    stage: HeaderStage,
    max_file_size: usize,
    state: State,
}

impl Default for UploadDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FILE_SIZE)
    }
}

impl UploadDecoder {
    /// A decoder refusing files over `max_file_size` before reading any of the body.
    pub fn new(max_file_size: usize) -> Self {
        UploadDecoder {
            stage: HeaderStage::new(LengthField::I32_LE, DEFAULT_MAX_JSON_HEADER),
            max_file_size,
            state: State::Header,
        }
    }
}

impl Decoder for UploadDecoder {
    type Item = UploadItem;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<UploadItem>, CodecError> {
        match &mut self.state {
            State::Header => {
                let Some(h) = self.stage.decode(src, self.max_file_size)? else {
                    return Ok(None);
                };
                let header = UploadHeader::from_json(h.clone())?;
                safe_name(&header.file_name)?;
                self.state = State::Body {
                    remaining: h.size,
                    expected: Box::new(h),
                    hasher: Md5::new(),
                };
                Ok(Some(UploadItem::Header(header)))
            }
            State::Body { remaining: 0, .. } => {
                let State::Body {
                    expected, hasher, ..
                } = std::mem::replace(&mut self.state, State::Header)
                else {
                    unreachable!("matched Body above");
                };
                let md5 = hex(hasher.finalize().as_slice());
                expected.verify(|| md5.clone())?;
                Ok(Some(UploadItem::Done { md5 }))
            }
            State::Body { .. } if src.is_empty() => Ok(None),
            State::Body {
                remaining, hasher, ..
            } => {
                let piece = src.split_to(src.len().min(*remaining));
                *remaining -= piece.len();
                hasher.update(&piece);
                Ok(Some(UploadItem::Chunk(piece)))
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<UploadItem>, CodecError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        let err = match &self.state {
            State::Body {
                remaining,
                expected,
                ..
            } => Some(CodecError::Truncated {
                part: Part::Body,
                have: expected.size - remaining,
                need: expected.size,
            }),
            State::Header => self.stage.truncated(src.len()),
        };
        err.map_or(Ok(None), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::json::md5_hex;

    #[test]
    fn only_a_safe_base_name_is_kept() {
        assert_eq!(DEFAULT_MAX_FILE_SIZE, 1024 * 1024 * 1024);
        assert_eq!(safe_name("a.txt"), Ok("a.txt"));
        assert_eq!(safe_name("/etc/sub/a.txt"), Ok("a.txt"));
        assert_eq!(safe_name("c:\\dir\\a.txt"), Ok("a.txt"));
        assert_eq!(safe_name("x.."), Ok("x.."));
        assert_eq!(safe_name("..."), Ok("..."));
        for bad in ["", ".", "..", "a/..", "a/.", "dir/", "a\0b", "..\\"] {
            assert_eq!(
                safe_name(bad),
                Err(CodecError::BadFileName(bad.into())),
                "{bad:?}"
            );
        }
    }

    fn request(json: &str, body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        LengthField::I32_LE.write(json.len(), &mut b).unwrap();
        b.extend_from_slice(json.as_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn the_header_encodes_as_python_writes_it() {
        let mut dst = BytesMut::new();
        let h = UploadHeader {
            file_name: "a.txt".into(),
            file_size: 3,
            md5: Some("m".into()),
        };
        h.encode(LengthField::I32_LE, &mut dst).unwrap();
        assert_eq!(
            dst,
            request(r#"{"file_name": "a.txt", "file_size": 3, "md5": "m"}"#, b"")
        );
        let mut dst = BytesMut::new();
        let h = UploadHeader { md5: None, ..h };
        h.encode(LengthField::I32_LE, &mut dst).unwrap();
        assert_eq!(
            dst,
            request(r#"{"file_name": "a.txt", "file_size": 3}"#, b"")
        );
    }

    #[test]
    fn streams_the_body_in_pieces_then_checks_its_md5() {
        let md5 = md5_hex(b"hello");
        let json = format!(r#"{{"file_name": "d/f", "file_size": 5, "md5": "{md5}"}}"#);
        let whole = request(&json, b"hello");
        let mut d = UploadDecoder::default();
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        for piece in [
            &whole[..4],
            &whole[4..whole.len() - 3],
            b"",
            &whole[whole.len() - 3..],
        ] {
            buf.extend_from_slice(piece);
            while let Some(item) = d.decode(&mut buf).unwrap() {
                items.push(item);
            }
        }
        assert_eq!(
            items,
            [
                UploadItem::Header(UploadHeader {
                    file_name: "d/f".into(),
                    file_size: 5,
                    md5: Some(md5.clone()),
                }),
                UploadItem::Chunk(BytesMut::from(&b"he"[..])),
                UploadItem::Chunk(BytesMut::from(&b"llo"[..])),
                UploadItem::Done { md5 },
            ]
        );
        assert_eq!(d.decode_eof(&mut buf), Ok(None));
        // The next upload on the same connection starts over.
        let mut buf = request(r#"{"file_name": "e", "file_size": 0}"#, b"rest");
        assert!(matches!(
            d.decode(&mut buf),
            Ok(Some(UploadItem::Header(_)))
        ));
        assert!(matches!(
            d.decode(&mut buf),
            Ok(Some(UploadItem::Done { .. }))
        ));
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn refuses_bad_headers_and_bodies() {
        let decode_all = |bytes: BytesMut, max| {
            let mut d = UploadDecoder::new(max);
            crate::codec::decode_chunks(&mut d, [&bytes[..]]).error
        };
        let req = |json: &str, body: &[u8]| request(json, body);
        assert_eq!(
            decode_all(req(r#"{"file_name": "a", "file_size": 11}"#, b""), 10),
            Some(CodecError::FrameTooLarge { len: 11, limit: 10 })
        );
        assert_eq!(
            decode_all(req(r#"{"file_size": 1}"#, b"x"), 10),
            Some(CodecError::BadField { key: "file_name" })
        );
        assert_eq!(
            decode_all(req(r#"{"file_name": 7, "file_size": 1}"#, b"x"), 10),
            Some(CodecError::BadField { key: "file_name" })
        );
        assert_eq!(
            decode_all(req(r#"{"file_name": "a/..", "file_size": 1}"#, b"x"), 10),
            Some(CodecError::BadFileName("a/..".into()))
        );
        assert_eq!(
            decode_all(
                req(r#"{"file_name": "a", "file_size": 1, "md5": "0"}"#, b"x"),
                10
            ),
            Some(CodecError::Md5Mismatch {
                expected: "0".into(),
                actual: md5_hex(b"x")
            })
        );
        assert_eq!(
            decode_all(req(r#"{"file_name": "a", "file_size": 10}"#, b"abcd"), 10),
            Some(CodecError::Truncated {
                part: Part::Body,
                have: 4,
                need: 10
            })
        );
        assert_eq!(
            decode_all(BytesMut::from(&b"\x05\x00"[..]), 10),
            Some(CodecError::Truncated {
                part: Part::LengthHeader,
                have: 2,
                need: 4
            })
        );
        assert_eq!(
            decode_all(BytesMut::from(&b"\x05\x00\x00\x00{\""[..]), 10),
            Some(CodecError::Truncated {
                part: Part::JsonHeader,
                have: 2,
                need: 5
            })
        );
        assert_eq!(decode_all(BytesMut::new(), 10), None);
    }
}
