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

    #[test]
    fn every_framing_reads_each_direction_in_its_format() {
        use Format::*;
        let table: Vec<(Framing, Format, Format)> = Framing::ALL
            .iter()
            .map(|&f| {
                let formats = f.formats(HeaderKind::Struct);
                (f, formats.request, formats.reply)
            })
            .collect();
        assert_eq!(
            table,
            [
                (Framing::Naive, OneRead, OneRead),
                (Framing::Ready, OneRead, Ready),
                (Framing::Struct, OneRead, Length),
                (Framing::Json, OneRead, Json),
                (Framing::Framed, Length, Length),
                (Framing::Upload, Upload, Length),
            ]
        );
    }

    fn config() -> FormatConfig {
        FormatConfig {
            length_field: LengthField {
                width: super::super::length::Width::Four,
                order: super::super::length::ByteOrder::Big,
            },
            max_frame_length: 3,
            read_size: 2,
            size_key: SizeKey::DataSize,
            max_upload_size: 4,
            spec: None,
        }
    }

    fn items(
        format: Format,
        config: &FormatConfig,
        wire: &[u8],
    ) -> (Vec<AnyItem>, Option<CodecError>) {
        let mut decoder = format.decoder(config);
        let d = decode_chunks(&mut decoder, [wire]);
        (d.items, d.error)
    }

    fn message(item: &AnyItem) -> &[u8] {
        match item {
            AnyItem::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_decoder_follows_the_config() {
        let c = config();
        assert_eq!(FormatConfig::default().read_size, 1024);
        assert_eq!(c.one_read().read_size(), 2);
        let (got, err) = items(Format::OneRead, &c, b"abc");
        assert_eq!(
            (message(&got[0]), message(&got[1]), err),
            (&b"ab"[..], &b"c"[..], None)
        );
        let (_, err) = items(Format::Ready, &c, b"4");
        assert_eq!(err, Some(CodecError::FrameTooLarge { len: 4, limit: 3 }));
        let (got, err) = items(Format::Length, &c, b"\0\0\0\x02hi");
        assert_eq!((message(&got[0]), err), (&b"hi"[..], None));
        let (_, err) = items(Format::Length, &c, b"\0\0\0\x04abcd");
        assert_eq!(err, Some(CodecError::FrameTooLarge { len: 4, limit: 3 }));
        let mut json = c.json();
        let mut wire = BytesMut::new();
        tokio_util::codec::Encoder::encode(
            &mut json,
            JsonFrame::new(bytes::Bytes::from_static(b"hi")),
            &mut wire,
        )
        .unwrap();
        assert_eq!(&wire[..], b"\0\0\0\x10{\"data_size\": 2}hi");
        let (got, err) = items(Format::Json, &c, &wire);
        assert!(
            matches!(&got[..], [AnyItem::Json(f)] if &f.body[..] == b"hi"),
            "{got:?}"
        );
        assert_eq!(err, None);
        let mut upload = BytesMut::new();
        let header = upload_header("a", 5);
        header.encode(LengthField::I32_LE, &mut upload).unwrap();
        let (got, err) = items(Format::Upload, &c, &upload);
        assert!(got.is_empty());
        assert_eq!(err, Some(CodecError::FrameTooLarge { len: 5, limit: 4 }));
        // Without a description, the spec format reads the configured length field.
        let (got, err) = items(Format::Spec, &c, b"\0\0\0\x02hi");
        assert_eq!((message(&got[0]), err), (&b"hi"[..], None));
        let with_spec = FormatConfig {
            spec: Some("lines".parse().unwrap()),
            ..c
        };
        let (got, err) = items(Format::Spec, &with_spec, b"ab\ncd\n");
        assert_eq!(
            (message(&got[0]), message(&got[1]), err),
            (&b"ab"[..], &b"cd"[..], None)
        );
    }

    #[test]
    fn only_whole_messages_end_one() {
        let c = FormatConfig::default();
        let mut upload = BytesMut::new();
        upload_header("a", 1)
            .encode(LengthField::I32_LE, &mut upload)
            .unwrap();
        upload.extend_from_slice(b"x");
        let (got, err) = items(Format::Upload, &c, &upload);
        assert_eq!(err, None);
        let ends: Vec<bool> = got.iter().map(AnyItem::ends_message).collect();
        assert_eq!(ends, [false, false, true]);
        let (got, _) = items(Format::Json, &c, b"\x10\0\0\0{\"file_size\": 0}");
        assert!(got[0].ends_message());
        let (got, _) = items(Format::OneRead, &c, b"x");
        assert!(got[0].ends_message());
    }

    #[test]
    fn the_end_of_stream_reaches_every_decoder() {
        let c = FormatConfig::default();
        for (format, wire) in [
            (Format::OneRead, &b"x"[..]),
            (Format::Length, b"\x01\0\0\0x"),
            (Format::Json, b"\x10\0\0\0{\"file_size\": 1}x"),
            (Format::Spec, b"\x01\0\0\0x"),
        ] {
            let mut d = format.decoder(&c);
            let mut buf = BytesMut::from(wire);
            let mut n = 0;
            while let Some(item) = d.decode_eof(&mut buf).unwrap() {
                n += 1;
                assert!(n < 4, "{format:?}: {item:?}");
            }
            assert!(n >= 1, "{format:?}");
            assert!(buf.is_empty(), "{format:?}");
        }
        let mut d = Format::Upload.decoder(&c);
        let mut buf = BytesMut::from(&b"\x01\0"[..]);
        assert!(d.decode_eof(&mut buf).is_err());
        let mut d = Format::Ready.decoder(&c);
        let mut buf = BytesMut::from(&b"1"[..]);
        assert!(matches!(
            d.decode_eof(&mut buf),
            Ok(Some(AnyItem::Ready(ReadyItem::Length(1))))
        ));
        assert!(d.decode_eof(&mut buf).is_err(), "the body never came");
    }

    fn upload_header(name: &str, size: usize) -> super::super::upload::UploadHeader {
        super::super::upload::UploadHeader {
            file_name: name.into(),
            file_size: size,
            md5: None,
        }
    }
}
