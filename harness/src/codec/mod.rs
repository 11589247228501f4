//! Codecs for every framing. No sockets here: each decoder is resumable over a `BytesMut`
//! ("need more bytes" is `Ok(None)`) and implements `tokio_util::codec::{Decoder, Encoder}`, so
//! the same code serves our servers and clients, the proxy's transcripts, the fuzzer, the benches
//! and anyone's `Framed`.
//!
//! | framing | module | reply on the wire |
//! |---|---|---|
//! | `naive` | [`naive`] | the bytes, nothing else |
//! | `ready` | [`ready`] | digits, (token from the client), body |
//! | `struct` | [`length`] | `i32` length, body |
//! | `json` | [`json`] | `i32` length, JSON header, body |
//! | `framed` | [`framed`] | `struct` or `json`, in both directions |
//! | `upload` | [`upload`] | (request) `i32` length, JSON header, streamed file |
//!
//! Any other length-field, varint or delimiter protocol is a [`spec::FrameSpec`] (`dns`,
//! `length:u16be,offset=4`, `varint,offset=1`, `delimiter:\r\n`, ...), decoded and encoded by
//! the one [`spec::SpecCodec`].
//!
//! Which decoder reads each direction of a framing is decided in one place, [`format`](mod@format)
//! ([`Framing::formats`]).

pub mod error;
pub mod format;
pub mod framed;
pub mod json;
pub mod length;
pub mod naive;
pub mod property;
pub mod ready;
pub mod spec;
pub mod upload;

pub use error::{CodecError, Part};
pub use format::{AnyDecoder, AnyItem, Format, FormatConfig, Formats};

use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// Default largest frame body: 8 MiB.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 << 20;
/// Default largest JSON header: 64 KiB.
pub const DEFAULT_MAX_JSON_HEADER: usize = 64 << 10;

/// Lowercase hex of `bytes`, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The TCP framings stickler knows.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Framing {
    Naive,
    Ready,
    Struct,
    Json,
    Framed,
    Upload,
}

impl Framing {
    pub const ALL: [Framing; 6] = [
        Framing::Naive,
        Framing::Ready,
        Framing::Struct,
        Framing::Json,
        Framing::Framed,
        Framing::Upload,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Framing::Naive => "naive",
            Framing::Ready => "ready",
            Framing::Struct => "struct",
            Framing::Json => "json",
            Framing::Framed => "framed",
            Framing::Upload => "upload",
        }
    }
}

impl std::fmt::Display for Framing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a decoder made of a whole stream: the items, then the error that stopped it, if any
/// (a stream ending inside a frame is [`CodecError::Truncated`]).
#[derive(Debug, PartialEq)]
pub struct Decoded<T, E> {
    pub items: Vec<T>,
    pub error: Option<E>,
}

/// Feeds `chunks` to `decoder` one at a time, as reads from a socket would arrive, decoding
/// everything each chunk completes, then signals end of stream.
pub fn decode_chunks<'a, D: Decoder>(
    decoder: &mut D,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Decoded<D::Item, D::Error> {
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => {
                    return Decoded {
                        items,
                        error: Some(e),
                    }
                }
            }
        }
    }
    loop {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return Decoded { items, error: None },
            Err(e) => {
                return Decoded {
                    items,
                    error: Some(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits() {
        assert_eq!(DEFAULT_MAX_FRAME_LENGTH, 8 * 1024 * 1024);
        assert_eq!(DEFAULT_MAX_JSON_HEADER, 64 * 1024);
    }

    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
    }

    #[test]
    fn framings_name_themselves() {
        let names: Vec<String> = Framing::ALL.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            names,
            ["naive", "ready", "struct", "json", "framed", "upload"]
        );
        for f in Framing::ALL {
            assert_eq!(f.name(), f.to_string());
        }
    }

    #[test]
    fn decode_chunks_decodes_across_chunks_and_reports_the_end() {
        let mut codec = length::LengthCodec::default();
        let d = decode_chunks(&mut codec, [&b"\x02\x00"[..], b"\x00\x00h", b"i\x01\x00"]);
        assert_eq!(d.items, [BytesMut::from(&b"hi"[..])]);
        assert_eq!(
            d.error,
            Some(CodecError::Truncated {
                part: Part::LengthHeader,
                have: 2,
                need: 4
            })
        );
        let d = decode_chunks(&mut codec, [&b"\xff\xff\xff\xff"[..]]);
        assert_eq!(d.error, Some(CodecError::NegativeLength(-1)));
    }
}
