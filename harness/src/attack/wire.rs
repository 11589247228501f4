//! What a request looks like on the wire of the target, and the pieces cases are built from:
//! valid requests come from the project's encoders ([`FramedCodec`], [`UploadHeader::encode`],
//! [`python_dumps`]); only deliberately invalid values (a negative length, a value that does not
//! fit the field) are written by [`raw_field`], which encodes and never parses.

use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};
use tokio_util::codec::Encoder;

use crate::codec::framed::{FramedCodec, HeaderKind};
use crate::codec::json::{md5_hex, python_dumps};
use crate::codec::length::{ByteOrder, LengthField, Width};
use crate::codec::upload::UploadHeader;
use crate::codec::{Format, Framing};

/// How requests are carried, which decides which cases apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    /// Unframed requests: one read is one command (`naive`, `struct`, `json` servers).
    Raw,
    /// Unframed requests, and the `ready` token after the digits.
    Ready,
    /// `framed` with a `struct` header: length field, body.
    Len,
    /// `framed` with a JSON header: length field, `{"file_size": N}`, body.
    Json,
    /// `upload`: length field, `{"file_name", "file_size", "md5"}`, file.
    Upload,
}

impl Wire {
    /// The wire of a framing's requests ([`Framing::formats`]); `header` is `framed`'s.
    pub fn of(framing: Framing, header: HeaderKind) -> Wire {
        let formats = framing.formats(header);
        match (formats.request, formats.reply) {
            (_, Format::Ready) | (Format::Ready, _) => Wire::Ready,
            (Format::OneRead, _) => Wire::Raw,
            // Built-in framings never give `Spec`; a description's requests lead with a length.
            (Format::Length | Format::Spec, _) => Wire::Len,
            (Format::Json, _) => Wire::Json,
            (Format::Upload, _) => Wire::Upload,
        }
    }

    /// Whether requests start with a length field.
    pub fn has_header(self) -> bool {
        matches!(self, Wire::Len | Wire::Json | Wire::Upload)
    }
}

/// The target's request format and the limits it is expected to enforce.
#[derive(Debug, Clone)]
pub struct Shape {
    pub wire: Wire,
    pub field: LengthField,
    /// Largest body (`framed`) the target should accept (default 8 MiB).
    pub max_frame_length: usize,
    /// Largest JSON header the target should accept (default 64 KiB).
    pub max_json_header: usize,
    /// The token a `ready` server waits for.
    pub token: Bytes,
    pub seed: u64,
}

/// The command every valid request carries.
pub const COMMAND: &[u8] = b"echo stickler attack";
/// The file every valid upload carries.
pub const FILE: &[u8] = b"stickler attack file\n";
/// One terabyte, as announced by seed 001's header.
pub const ONE_TB: u64 = 1 << 40;

impl Shape {
    /// Limit of the first length field: the body (`Len`) or the JSON header (`Json`, `Upload`).
    pub fn field_limit(&self) -> usize {
        match self.wire {
            Wire::Len => self.max_frame_length,
            _ => self.max_json_header,
        }
    }

    /// `body` as one request of this wire (an upload carries it as the file).
    pub fn request(&self, body: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        let encoded = match self.wire {
            Wire::Raw | Wire::Ready => return body.to_vec(),
            Wire::Len | Wire::Json => {
                let kind = if self.wire == Wire::Len {
                    HeaderKind::Struct
                } else {
                    HeaderKind::Json
                };
                FramedCodec::configured(kind, self.field, usize::MAX)
                    .encode(Bytes::copy_from_slice(body), &mut out)
            }
            Wire::Upload => {
                let header = UploadHeader {
                    file_name: "attack.txt".into(),
                    file_size: body.len(),
                    md5: Some(md5_hex(body)),
                };
                header.encode(self.field, &mut out)
            }
        };
        match encoded {
            Ok(()) => {
                if self.wire == Wire::Upload {
                    out.extend_from_slice(body);
                }
                out.to_vec()
            }
            // Only a body over the field's range fails; send its bytes unframed instead.
            Err(_) => body.to_vec(),
        }
    }

    /// The valid request of this wire: [`COMMAND`], or an upload of [`FILE`].
    pub fn valid(&self) -> Vec<u8> {
        match self.wire {
            Wire::Upload => self.request(FILE),
            _ => self.request(COMMAND),
        }
    }

    /// The JSON header a valid request of a JSON wire carries, as a value to mutate.
    pub fn valid_json(&self, body: &[u8]) -> Value {
        match self.wire {
            Wire::Upload => json!({
                "file_name": "attack.txt",
                "file_size": body.len(),
                "md5": md5_hex(body),
            }),
            _ => json!({ "file_size": body.len() }),
        }
    }

    /// Length field (correct for `json_bytes`), the JSON bytes as given, then `body`.
    pub fn json_frame(&self, json_bytes: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.extend_from_slice(&raw_field(self.field, json_bytes.len() as i64));
        out.extend_from_slice(json_bytes);
        out.extend_from_slice(body);
        out.to_vec()
    }

    /// A JSON-wire request with header `value` (written as Python's `json.dumps`), then `body`.
    pub fn json_request(&self, value: &Value, body: &[u8]) -> Vec<u8> {
        self.json_frame(&python_dumps(value), body)
    }

    /// The first length field set to `value` (whatever it is), followed by `rest`.
    pub fn with_field(&self, value: i64, rest: &[u8]) -> Vec<u8> {
        let mut out = raw_field(self.field, value);
        out.extend_from_slice(rest);
        out
    }

    /// A request announcing 1 TB (seed 001's header): a 1 TB `file_size` in a JSON header, 1 TB
    /// in an 8-byte length field, and the most a 4-byte one holds (`2^31−1`).
    pub fn announce_huge(&self) -> Vec<u8> {
        match self.wire {
            Wire::Raw | Wire::Ready => COMMAND.to_vec(),
            Wire::Len => self.with_field((ONE_TB as i64).min(max_of(self.field)), COMMAND),
            Wire::Json | Wire::Upload => {
                let mut v = self.valid_json(FILE);
                v["file_size"] = json!(ONE_TB);
                self.json_request(&v, FILE)
            }
        }
    }

    /// A request of the largest body the target accepts (`max_frame_length`), all but its last
    /// byte: the most a server must buffer for one frame, held there.
    pub fn frame_one_short(&self) -> Vec<u8> {
        let mut bytes = self.request(&vec![b'x'; self.max_frame_length]);
        bytes.pop();
        bytes
    }
}

/// The largest value a length field holds.
pub fn max_of(field: LengthField) -> i64 {
    match field.width {
        Width::Four => i32::MAX as i64,
        Width::Eight => i64::MAX,
    }
}

/// The smallest value a length field holds.
pub fn min_of(field: LengthField) -> i64 {
    match field.width {
        Width::Four => i32::MIN as i64,
        Width::Eight => i64::MIN,
    }
}

/// The bytes of a length field holding any signed `value` (cut to the field's width, as a C
/// cast would): the one place invalid lengths are written, since
/// [`LengthField::write`] rightly refuses them.
pub fn raw_field(field: LengthField, value: i64) -> Vec<u8> {
    match (field.width, field.order) {
        (Width::Four, ByteOrder::Little) => (value as i32).to_le_bytes().to_vec(),
        (Width::Four, ByteOrder::Big) => (value as i32).to_be_bytes().to_vec(),
        (Width::Eight, ByteOrder::Little) => value.to_le_bytes().to_vec(),
        (Width::Eight, ByteOrder::Big) => value.to_be_bytes().to_vec(),
    }
}

/// `n` bytes from a ChaCha stream of `seed`: the same seed gives the same bytes.
pub fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![0u8; n];
    rng.fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::framed::FramedCodec;
    use crate::codec::upload::{UploadDecoder, UploadItem};
    use crate::codec::{decode_chunks, DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_JSON_HEADER};

    fn shape(wire: Wire) -> Shape {
        Shape {
            wire,
            field: LengthField::I32_LE,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            max_json_header: DEFAULT_MAX_JSON_HEADER,
            token: Bytes::from_static(b"ready"),
            seed: 1,
        }
    }

    #[test]
    fn valid_requests_decode_with_the_project_codecs() {
        for (wire, kind) in [
            (Wire::Len, HeaderKind::Struct),
            (Wire::Json, HeaderKind::Json),
        ] {
            let bytes = shape(wire).valid();
            let d = decode_chunks(&mut FramedCodec::new(kind), [&bytes[..]]);
            assert!(d.error.is_none(), "{wire:?}: {:?}", d.error);
            assert_eq!(&d.items[0][..], COMMAND);
        }
        let bytes = shape(Wire::Upload).valid();
        let d = decode_chunks(&mut UploadDecoder::default(), [&bytes[..]]);
        assert!(d.error.is_none(), "{:?}", d.error);
        assert!(matches!(d.items.last(), Some(UploadItem::Done { .. })));
    }

    #[test]
    fn each_framing_has_its_wire() {
        let table = [
            (Framing::Naive, HeaderKind::Struct, Wire::Raw),
            (Framing::Ready, HeaderKind::Struct, Wire::Ready),
            (Framing::Struct, HeaderKind::Json, Wire::Raw),
            (Framing::Json, HeaderKind::Json, Wire::Raw),
            (Framing::Framed, HeaderKind::Struct, Wire::Len),
            (Framing::Framed, HeaderKind::Json, Wire::Json),
            (Framing::Upload, HeaderKind::Json, Wire::Upload),
        ];
        for (framing, kind, wire) in table {
            assert_eq!(Wire::of(framing, kind), wire, "{framing} {kind:?}");
        }
    }

    #[test]
    fn raw_fields_hold_what_write_refuses() {
        assert_eq!(raw_field(LengthField::I32_LE, -1), vec![0xff; 4]);
        let be = LengthField {
            width: Width::Four,
            order: ByteOrder::Big,
        };
        assert_eq!(raw_field(be, 1), vec![0, 0, 0, 1]);
        assert_eq!(
            LengthField::I32_LE.read(&raw_field(LengthField::I32_LE, 77)),
            Some(77)
        );
    }
}
