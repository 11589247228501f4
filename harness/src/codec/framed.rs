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
