//! Which format each direction of a framing is read in, and the decoder that reads it: the one
//! place a framing is mapped to its decoders. The reference client reads replies, the servers
//! read requests, the proxy's transcripts read both, and the attack catalogue shapes requests,
//! all through [`Framing::formats`].
//!
//! | framing | request | reply |
//! |---|---|---|
//! | `naive` | one read | one read |
//! | `ready` | one read | ready (digits, token, body) |
//! | `struct` | one read | length |
//! | `json` | one read | JSON header |
//! | `framed` | length or JSON header (its header kind) | the same |
//! | `upload` | upload | length (the JSON status) |

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::framed::{FramedCodec, HeaderKind};
use super::json::{JsonCodec, JsonFrame, SizeKey};
use super::length::{LengthCodec, LengthField};
use super::naive::{NaiveCodec, DEFAULT_READ_SIZE};
use super::ready::{ReadyItem, ReadyReplyDecoder};
use super::spec::FrameSpec;
use super::upload::{UploadDecoder, UploadItem, DEFAULT_MAX_FILE_SIZE};
use super::{CodecError, Framing, DEFAULT_MAX_FRAME_LENGTH};

/// How the messages of one direction are delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Not at all: one read is one message ([`NaiveCodec`]).
    OneRead,
    /// A `ready` reply: digits in one read, then (after the token) the body
    /// ([`ReadyReplyDecoder`]).
    Ready,
    /// A length field, then the body ([`LengthCodec`]).
    Length,
    /// A length field, a JSON header, then the body ([`JsonCodec`]).
    Json,
    /// An upload: a length field, a JSON header, then the file streamed ([`UploadDecoder`]).
    Upload,
    /// A framing description ([`FormatConfig::spec`]), yielding bodies
    /// ([`FramedCodec::Spec`]): a peer speaking someone's own length-field, varint or
    /// delimiter protocol.
    Spec,
}

/// The formats of both directions of a framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Formats {
    /// Client to server.
    pub request: Format,
    /// Server to client.
    pub reply: Format,
}

impl Framing {
    /// The format of requests and of replies; `header` is the header kind of `framed` (the
    /// other framings ignore it).
    pub fn formats(self, header: HeaderKind) -> Formats {
        let headed = match header {
            HeaderKind::Struct => Format::Length,
            HeaderKind::Json => Format::Json,
        };
        let (request, reply) = match self {
            Framing::Naive => (Format::OneRead, Format::OneRead),
            Framing::Ready => (Format::OneRead, Format::Ready),
            Framing::Struct => (Format::OneRead, Format::Length),
            Framing::Json => (Format::OneRead, Format::Json),
            Framing::Framed => (headed, headed),
            Framing::Upload => (Format::Upload, Format::Length),
        };
        Formats { request, reply }
    }
}

/// What the decoders need to know; the default is every codec's own default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatConfig {
    /// Length field of the length, JSON and upload formats (default `i32` little-endian; the
    /// upload decoder always reads `i32` little-endian).
    pub length_field: LengthField,
    /// Largest body (default 8 MiB).
    pub max_frame_length: usize,
    /// Size of the one read that is one message (default 1024).
    pub read_size: usize,
    /// Key a JSON header carries the body size under when encoding (default `file_size`).
    pub size_key: SizeKey,
    /// Largest upload (default 1 GiB).
    pub max_upload_size: usize,
    /// The description of [`Format::Spec`] (default none: `Format::Spec` then reads the
    /// length field above, with offset 0).
    pub spec: Option<FrameSpec>,
}

impl Default for FormatConfig {
    fn default() -> Self {
        FormatConfig {
            length_field: LengthField::I32_LE,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            read_size: DEFAULT_READ_SIZE,
            size_key: SizeKey::FileSize,
            max_upload_size: DEFAULT_MAX_FILE_SIZE,
            spec: None,
        }
    }
}

impl FormatConfig {
    /// The decoder of [`Format::OneRead`].
    pub fn one_read(&self) -> NaiveCodec {
        NaiveCodec::with_read_size(self.read_size)
    }

    /// The decoder of [`Format::Ready`].
    pub fn ready(&self) -> ReadyReplyDecoder {
        ReadyReplyDecoder::new(self.max_frame_length)
    }

    /// The codec of [`Format::Length`].
    pub fn length(&self) -> LengthCodec {
        LengthCodec::builder()
            .field(self.length_field)
            .max_frame_length(self.max_frame_length)
            .new_codec()
    }

    /// The codec of [`Format::Json`].
    pub fn json(&self) -> JsonCodec {
        JsonCodec::builder()
            .field(self.length_field)
            .max_frame_length(self.max_frame_length)
            .size_key(self.size_key)
            .new_codec()
    }

    /// The decoder of [`Format::Upload`].
    pub fn upload(&self) -> UploadDecoder {
        UploadDecoder::new(self.max_upload_size)
    }

    /// The codec of [`Format::Spec`]: bodies framed by [`FormatConfig::spec`].
    pub fn spec(&self) -> FramedCodec {
        FramedCodec::of(
            self.spec.as_ref(),
            HeaderKind::Struct,
            self.length_field,
            self.max_frame_length,
        )
    }
}

impl Format {
    /// The decoder that reads this format, configured by `config`.
    pub fn decoder(self, config: &FormatConfig) -> AnyDecoder {
        match self {
            Format::OneRead => AnyDecoder::OneRead(config.one_read()),
            Format::Ready => AnyDecoder::Ready(config.ready()),
            Format::Length => AnyDecoder::Length(config.length()),
            Format::Json => AnyDecoder::Json(config.json()),
            Format::Upload => AnyDecoder::Upload(config.upload()),
            Format::Spec => AnyDecoder::Spec(config.spec()),
        }
    }
}

/// The decoder of any [`Format`].
pub enum AnyDecoder {
    OneRead(NaiveCodec),
    Ready(ReadyReplyDecoder),
    Length(LengthCodec),
    Json(JsonCodec),
    Upload(UploadDecoder),
    Spec(FramedCodec),
}

/// What an [`AnyDecoder`] yields: a whole message, or a part of a streamed one.
#[derive(Debug)]
pub enum AnyItem {
    /// A whole message of [`Format::OneRead`] or [`Format::Length`], the body of one of
    /// [`Format::Spec`].
    Message(BytesMut),
    /// A whole message of [`Format::Json`].
    Json(JsonFrame),
    /// The length, then the body, of [`Format::Ready`].
    Ready(ReadyItem),
    /// The header, pieces and end of [`Format::Upload`].
    Upload(UploadItem),
}

impl AnyItem {
    /// Whether this item completes a message (the body of a `ready` reply, the end of an
    /// upload, every item of the other formats).
    pub fn ends_message(&self) -> bool {
        match self {
            AnyItem::Message(_) | AnyItem::Json(_) => true,
            AnyItem::Ready(item) => matches!(item, ReadyItem::Body(_)),
            AnyItem::Upload(item) => matches!(item, UploadItem::Done { .. }),
        }
    }
}

impl Decoder for AnyDecoder {
    type Item = AnyItem;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<AnyItem>, CodecError> {
        Ok(match self {
            AnyDecoder::OneRead(d) => d.decode(src)?.map(AnyItem::Message),
            AnyDecoder::Ready(d) => d.decode(src)?.map(AnyItem::Ready),
            AnyDecoder::Length(d) => d.decode(src)?.map(AnyItem::Message),
            AnyDecoder::Json(d) => d.decode(src)?.map(AnyItem::Json),
            AnyDecoder::Upload(d) => d.decode(src)?.map(AnyItem::Upload),
            AnyDecoder::Spec(d) => d.decode(src)?.map(|b| AnyItem::Message(b.into())),
        })
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<AnyItem>, CodecError> {
        Ok(match self {
            AnyDecoder::OneRead(d) => d.decode_eof(src)?.map(AnyItem::Message),
            AnyDecoder::Ready(d) => d.decode_eof(src)?.map(AnyItem::Ready),
            AnyDecoder::Length(d) => d.decode_eof(src)?.map(AnyItem::Message),
            AnyDecoder::Json(d) => d.decode_eof(src)?.map(AnyItem::Json),
            AnyDecoder::Upload(d) => d.decode_eof(src)?.map(AnyItem::Upload),
            AnyDecoder::Spec(d) => d.decode_eof(src)?.map(|b| AnyItem::Message(b.into())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_chunks;

    #[test]
    fn framed_follows_its_header_kind_in_both_directions() {
        for (kind, format) in [
            (HeaderKind::Struct, Format::Length),
            (HeaderKind::Json, Format::Json),
        ] {
            let f = Framing::Framed.formats(kind);
            assert_eq!((f.request, f.reply), (format, format));
        }
        // The other framings ignore the header kind.
        for framing in Framing::ALL {
            if framing != Framing::Framed {
                assert_eq!(
                    framing.formats(HeaderKind::Struct),
                    framing.formats(HeaderKind::Json),
                    "{framing}"
                );
            }
        }
    }

    #[test]
    fn only_unframed_requests_are_one_read() {
        for framing in Framing::ALL {
            let one_read = framing.formats(HeaderKind::default()).request == Format::OneRead;
            assert_eq!(
                one_read,
                !matches!(framing, Framing::Framed | Framing::Upload),
                "{framing}"
            );
        }
    }

    #[test]
    fn a_ready_reply_ends_with_its_body_not_its_digits() {
        let mut decoder = Format::Ready.decoder(&FormatConfig::default());
        let d = decode_chunks(&mut decoder, [&b"2"[..], b"hi"]);
        assert!(d.error.is_none(), "{:?}", d.error);
        let ends: Vec<bool> = d.items.iter().map(AnyItem::ends_message).collect();
        assert_eq!(ends, [false, true]);
    }

    #[test]
    fn the_length_format_uses_the_configured_field_and_limit() {
        let config = FormatConfig {
            max_frame_length: 3,
            ..FormatConfig::default()
        };
        let mut decoder = Format::Length.decoder(&config);
        let d = decode_chunks(&mut decoder, [&b"\x04\x00\x00\x00abcd"[..]]);
        assert!(d.items.is_empty());
        assert!(d.error.is_some(), "a body over the limit is refused");
    }
}
