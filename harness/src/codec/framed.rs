//! The `framed` framing (ours): both directions carry a header, `struct` or `json`.
//!
//! ```text
//! client → server   +-- len --+-- request --+      (or hlen + JSON header + request)
//! server → client   +-- len --+-- reply ----+      (or hlen + JSON header + reply)
//! ```
//!
//! No read-size assumption anywhere: this is the control group every chaos case must pass.
//! The codec delegates to [`LengthCodec`] or [`JsonCodec`] and yields bodies.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::json::{JsonCodec, JsonFrame};
use super::length::{LengthCodec, LengthField};
use super::spec::{FrameSpec, SpecCodec};
use super::CodecError;

/// Which header `framed` uses.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum HeaderKind {
    #[default]
    Struct,
    Json,
}

/// Decoder and encoder of bodies under either header, or under a framing description.
#[derive(Debug, Clone)]
pub enum FramedCodec {
    Struct(LengthCodec),
    Json(JsonCodec),
    /// A framing description ([`FrameSpec`]): bodies are what follows the length (or precedes
    /// the delimiter). The `offset` bytes before a length (a Modbus transaction id, a
    /// PostgreSQL type byte) of the last message decoded are kept and written before the next
    /// body encoded, so a reply carries its request's; zeros before any was decoded.
    Spec {
        codec: SpecCodec,
        prefix: Bytes,
    },
}

impl FramedCodec {
    pub fn new(kind: HeaderKind) -> Self {
        match kind {
            HeaderKind::Struct => FramedCodec::Struct(LengthCodec::default()),
            HeaderKind::Json => FramedCodec::Json(JsonCodec::default()),
        }
    }

    /// A codec with the given header, length field and largest body.
    pub fn configured(kind: HeaderKind, field: LengthField, max_frame_length: usize) -> Self {
        match kind {
            HeaderKind::Struct => FramedCodec::Struct(
                LengthCodec::builder()
                    .field(field)
                    .max_frame_length(max_frame_length)
                    .new_codec(),
            ),
            HeaderKind::Json => FramedCodec::Json(
                JsonCodec::builder()
                    .field(field)
                    .max_frame_length(max_frame_length)
                    .new_codec(),
            ),
        }
    }
}

impl FramedCodec {
    /// Bodies framed by a description.
    pub fn spec(spec: FrameSpec) -> Self {
        let prefix = Bytes::from(vec![0; spec.offset()]);
        FramedCodec::Spec {
            codec: SpecCodec::new(spec),
            prefix,
        }
    }

    /// The codec of a framed peer: `spec` when given, else `kind` with `field` and
    /// `max_frame_length`.
    pub fn of(
        spec: Option<&FrameSpec>,
        kind: HeaderKind,
        field: LengthField,
        max_frame_length: usize,
    ) -> Self {
        match spec {
            Some(spec) => FramedCodec::spec(spec.clone()),
            None => FramedCodec::configured(kind, field, max_frame_length),
        }
    }
}

impl Default for FramedCodec {
    fn default() -> Self {
        FramedCodec::new(HeaderKind::Struct)
    }
}

impl Decoder for FramedCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        Ok(match self {
            FramedCodec::Struct(c) => c.decode(src)?.map(BytesMut::freeze),
            FramedCodec::Json(c) => c.decode(src)?.map(|f| f.body),
            FramedCodec::Spec { codec, prefix } => codec
                .decode(src)?
                .map(|message| body_of(codec, prefix, message)),
        })
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        Ok(match self {
            FramedCodec::Struct(c) => c.decode_eof(src)?.map(BytesMut::freeze),
            FramedCodec::Json(c) => c.decode_eof(src)?.map(|f| f.body),
            FramedCodec::Spec { codec, prefix } => codec
                .decode_eof(src)?
                .map(|message| body_of(codec, prefix, message)),
        })
    }
}

/// The body of a whole `message`, keeping its prefix in `prefix`.
fn body_of(codec: &SpecCodec, prefix: &mut Bytes, message: Bytes) -> Bytes {
    let (head, body) = codec.parts(&message);
    *prefix = message.slice_ref(head);
    message.slice_ref(body)
}

impl Encoder<Bytes> for FramedCodec {
    type Error = CodecError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        match self {
            FramedCodec::Struct(c) => c.encode(&body[..], dst),
            FramedCodec::Json(c) => c.encode(JsonFrame::new(body), dst),
            FramedCodec::Spec { codec, prefix } => {
                let item = [&prefix[..], &body[..]].concat();
                codec.encode(&item[..], dst)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::length::{ByteOrder, Width};
    use crate::codec::{decode_chunks, Part};

    const I64_BE: LengthField = LengthField {
        width: Width::Eight,
        order: ByteOrder::Big,
    };

    fn encoded(codec: &mut FramedCodec, body: &'static [u8]) -> BytesMut {
        let mut dst = BytesMut::new();
        codec.encode(Bytes::from_static(body), &mut dst).unwrap();
        dst
    }

    #[test]
    fn struct_and_json_headers_carry_bodies() {
        let mut s = FramedCodec::default();
        assert_eq!(&encoded(&mut s, b"hi")[..], b"\x02\x00\x00\x00hi");
        let mut j = FramedCodec::new(HeaderKind::Json);
        assert_eq!(
            &encoded(&mut j, b"hi")[..],
            b"\x10\x00\x00\x00{\"file_size\": 2}hi"
        );
        for kind in [HeaderKind::Struct, HeaderKind::Json] {
            let mut c = FramedCodec::new(kind);
            let mut wire = encoded(&mut c, b"one");
            wire.extend_from_slice(&encoded(&mut c, b"two"));
            let d = decode_chunks(&mut c, [&wire[..]]);
            assert_eq!(
                d.items,
                [Bytes::from_static(b"one"), Bytes::from_static(b"two")]
            );
            assert_eq!(d.error, None, "{kind:?}");
            let d = decode_chunks(&mut c, [&wire[..wire.len() - 1]]);
            assert_eq!(d.items, [Bytes::from_static(b"one")]);
            assert!(
                matches!(
                    d.error,
                    Some(CodecError::Truncated {
                        part: Part::Body,
                        ..
                    })
                ),
                "{kind:?}: {:?}",
                d.error
            );
        }
    }

    #[test]
    fn configured_codecs_use_the_field_and_limit() {
        let mut s = FramedCodec::configured(HeaderKind::Struct, I64_BE, 3);
        assert_eq!(&encoded(&mut s, b"abc")[..], b"\0\0\0\0\0\0\0\x03abc");
        let mut dst = BytesMut::new();
        assert!(s.encode(Bytes::from_static(b"abcd"), &mut dst).is_err());
        let mut j = FramedCodec::configured(HeaderKind::Json, I64_BE, 3);
        assert_eq!(&encoded(&mut j, b"abc")[..8], b"\0\0\0\0\0\0\0\x10");
        assert!(j.encode(Bytes::from_static(b"abcd"), &mut dst).is_err());
        let mut of = FramedCodec::of(None, HeaderKind::Struct, I64_BE, 3);
        assert_eq!(&encoded(&mut of, b"abc")[..], b"\0\0\0\0\0\0\0\x03abc");
    }

    #[test]
    fn a_description_keeps_the_prefix_of_the_last_message_for_the_reply() {
        let spec: FrameSpec = "length:u16be,offset=2".parse().unwrap();
        let mut c = FramedCodec::of(Some(&spec), HeaderKind::Struct, I64_BE, 3);
        // Before any message: zeros.
        assert_eq!(&encoded(&mut c, b"a")[..], b"\0\0\0\x01a");
        let mut buf = BytesMut::from(&b"\x07\x09\x00\x02hi"[..]);
        assert_eq!(
            c.decode(&mut buf).unwrap().unwrap(),
            Bytes::from_static(b"hi")
        );
        assert_eq!(&encoded(&mut c, b"abcd")[..], b"\x07\x09\x00\x04abcd");
        let mut buf = BytesMut::from(&b"\x01\x02\x00\x01z"[..]);
        assert_eq!(
            c.decode_eof(&mut buf).unwrap().unwrap(),
            Bytes::from_static(b"z")
        );
        assert_eq!(&encoded(&mut c, b"")[..], b"\x01\x02\x00\x00");
        assert_eq!(c.decode_eof(&mut buf), Ok(None));
        let mut buf = BytesMut::from(&b"\x01"[..]);
        assert!(c.decode_eof(&mut buf).is_err());
    }

    #[test]
    fn a_delimiter_description_frames_bodies_too() {
        let mut c = FramedCodec::spec("lines".parse().unwrap());
        assert_eq!(&encoded(&mut c, b"ab")[..], b"ab\n");
        let d = decode_chunks(&mut c, [&b"x\nyz\n"[..]]);
        assert_eq!(
            d.items,
            [Bytes::from_static(b"x"), Bytes::from_static(b"yz")]
        );
    }
}
