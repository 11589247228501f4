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

/// Decoder and encoder of bodies under either header.
#[derive(Debug, Clone)]
pub enum FramedCodec {
    Struct(LengthCodec),
    Json(JsonCodec),
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
        })
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        Ok(match self {
            FramedCodec::Struct(c) => c.decode_eof(src)?.map(BytesMut::freeze),
            FramedCodec::Json(c) => c.decode_eof(src)?.map(|f| f.body),
        })
    }
}

impl Encoder<Bytes> for FramedCodec {
    type Error = CodecError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        match self {
            FramedCodec::Struct(c) => c.encode(&body[..], dst),
            FramedCodec::Json(c) => c.encode(JsonFrame::new(body), dst),
        }
    }
}
