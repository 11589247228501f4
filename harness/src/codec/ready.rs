//! The `ready` framing (the tutorials' "low" version): a handshake before every body.
//!
//! ```text
//! server → client   "8893"          the body length as ASCII digits, no delimiter
//! client → server   "ready"         the token (configurable: seed 001 also uses "recv_ready")
//! server → client   <8893 bytes>    the body, only after the token arrived
//! ```
//!
//! Both sides are state machines. The client side, [`ReadyReplyDecoder`], takes *everything*
//! buffered in its digits state as the digits, as the tutorials' client does with its one read:
//! nothing on the wire says where the digits end, so a split of the digits is misread as a
//! shorter length (the unsoundness the harness shows). The body then decodes independently of
//! chunking. The server side, [`TokenDecoder`], accepts exactly the token.
//!
//! ```
//! use bytes::BytesMut;
//! use stickler::codec::ready::{ReadyItem, ReadyReplyDecoder};
//! use tokio_util::codec::Decoder;
//!
//! let mut dec = ReadyReplyDecoder::default();
//! let mut buf = BytesMut::from(&b"3"[..]);
//! assert_eq!(dec.decode(&mut buf).unwrap(), Some(ReadyItem::Length(3)));
//! // ... the client now sends the token, and the body arrives:
//! buf.extend_from_slice(b"hi\n");
//! assert_eq!(dec.decode(&mut buf).unwrap(), Some(ReadyItem::Body(BytesMut::from(&b"hi\n"[..]))));
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{CodecError, Part, DEFAULT_MAX_FRAME_LENGTH};

/// The token of seed 000/001's "low" version.
pub const DEFAULT_TOKEN: &[u8] = b"ready";

/// At most this many digits: 20 holds every u64.
const MAX_DIGITS: usize = 20;

/// Appends `n` as ASCII decimal digits.
pub fn encode_length(n: usize, dst: &mut BytesMut) {
    dst.put_slice(n.to_string().as_bytes());
}

/// What the client side of `ready` decodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyItem {
    /// The digits arrived: send the token now, then the body follows.
    Length(usize),
    /// The whole body.
    Body(BytesMut),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Digits,
    Body(usize),
}

/// Client side: digits → (caller sends the token) → body.
#[derive(Debug, Clone)]
pub struct ReadyReplyDecoder {
    max_frame_length: usize,
    state: State,
}

impl Default for ReadyReplyDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LENGTH)
    }
}

impl ReadyReplyDecoder {
    /// A decoder refusing bodies over `max_frame_length` (default 8 MiB).
    pub fn new(max_frame_length: usize) -> Self {
        ReadyReplyDecoder {
            max_frame_length,
            state: State::Digits,
        }
    }

    /// Parses the digits of one read.
    pub fn parse_digits(&self, digits: &[u8]) -> Result<usize, CodecError> {
        if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit)
        {
            return Err(CodecError::BadDigits(CodecError::show(digits)));
        }
        let n: u64 = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| CodecError::BadDigits(CodecError::show(digits)))?;
        if n > self.max_frame_length as u64 {
            return Err(CodecError::FrameTooLarge {
                len: n,
                limit: self.max_frame_length,
            });
        }
        Ok(n as usize)
    }
}

impl Decoder for ReadyReplyDecoder {
    type Item = ReadyItem;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ReadyItem>, CodecError> {
        match self.state {
            State::Digits => {
                if src.is_empty() {
                    return Ok(None);
                }
                let n = self.parse_digits(src)?;
                src.clear();
                self.state = State::Body(n);
                Ok(Some(ReadyItem::Length(n)))
            }
            State::Body(n) if src.len() >= n => {
                self.state = State::Digits;
                Ok(Some(ReadyItem::Body(src.split_to(n))))
            }
            State::Body(_) => Ok(None),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<ReadyItem>, CodecError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        match self.state {
            State::Digits => Ok(None),
            State::Body(n) => Err(CodecError::Truncated {
                part: Part::Body,
                have: src.len(),
                need: n,
            }),
        }
    }
}

/// Server side: waits for exactly the token. Streaming: a wrong byte is refused as soon as it
/// arrives; the faithful one-read check is [`TokenDecoder::check_read`]. An empty token is a
/// configuration error, reported as [`CodecError::EmptyToken`] by every decode (never a loop of
/// empty matches).
#[derive(Debug, Clone)]
pub struct TokenDecoder {
    token: Bytes,
}

impl Default for TokenDecoder {
    fn default() -> Self {
        TokenDecoder::new(Bytes::from_static(DEFAULT_TOKEN))
    }
}

impl TokenDecoder {
    pub fn new(token: Bytes) -> Self {
        TokenDecoder { token }
    }
    pub fn token(&self) -> &Bytes {
        &self.token
    }

    fn mismatch(&self, got: &[u8]) -> CodecError {
        CodecError::UnexpectedToken {
            expected: CodecError::show(&self.token),
            got: CodecError::show(got),
        }
    }

    /// The tutorials' server: one read must be exactly the token.
    pub fn check_read(&self, read: &[u8]) -> Result<(), CodecError> {
        if self.token.is_empty() {
            return Err(CodecError::EmptyToken);
        }
        if read == &self.token[..] {
            Ok(())
        } else {
            Err(self.mismatch(read))
        }
    }
}

impl Decoder for TokenDecoder {
    type Item = ();
    type Error = CodecError;

    /// A wrong byte is reported with the bytes up to and including it, so the error is the same
    /// however the stream was split.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<()>, CodecError> {
        if self.token.is_empty() {
            return Err(CodecError::EmptyToken);
        }
        let n = src.len().min(self.token.len());
        if let Some(i) = src[..n]
            .iter()
            .zip(&self.token[..n])
            .position(|(a, b)| a != b)
        {
            return Err(self.mismatch(&src[..=i]));
        }
        if n < self.token.len() {
            return Ok(None);
        }
        src.advance(n);
        Ok(Some(()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<()>, CodecError> {
        match self.decode(src)? {
            Some(()) => Ok(Some(())),
            None if src.is_empty() => Ok(None),
            None => Err(CodecError::Truncated {
                part: Part::Token,
                have: src.len(),
                need: self.token.len(),
            }),
        }
    }
}

impl Encoder<()> for TokenDecoder {
    type Error = CodecError;
    fn encode(&mut self, _: (), dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.put_slice(&self.token);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_plain_decimal_digits() {
        let mut dst = BytesMut::new();
        encode_length(8893, &mut dst);
        encode_length(0, &mut dst);
        assert_eq!(&dst[..], b"88930");
    }

    #[test]
    fn digits_are_checked_for_form_count_and_limit() {
        let d = ReadyReplyDecoder::new(5);
        let bad = |s: &str| Err(CodecError::BadDigits(s.into()));
        assert_eq!(d.parse_digits(b"5"), Ok(5));
        assert_eq!(d.parse_digits(b"0"), Ok(0));
        assert_eq!(
            d.parse_digits(b"6"),
            Err(CodecError::FrameTooLarge { len: 6, limit: 5 })
        );
        assert_eq!(d.parse_digits(b""), bad(""));
        assert_eq!(d.parse_digits(b"1a"), bad("1a"));
        assert_eq!(d.parse_digits(b"-1"), bad("-1"));
        assert_eq!(d.parse_digits(b"+1"), bad("+1"));
        // 20 digits hold every u64; 21 are refused even when the value is small.
        let twenty = format!("{:020}", 3);
        assert_eq!(d.parse_digits(twenty.as_bytes()), Ok(3));
        let twenty_one = format!("{:021}", 3);
        assert_eq!(d.parse_digits(twenty_one.as_bytes()), bad(&twenty_one));
        assert_eq!(
            d.parse_digits(b"99999999999999999999"),
            bad("99999999999999999999")
        );
        let big = ReadyReplyDecoder::default();
        assert_eq!(big.parse_digits(b"8388608"), Ok(8 << 20));
        assert!(big.parse_digits(b"8388609").is_err());
    }

    #[test]
    fn a_reply_is_digits_then_exactly_the_body() {
        let mut d = ReadyReplyDecoder::default();
        let mut buf = BytesMut::new();
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"12");
        assert_eq!(d.decode(&mut buf), Ok(Some(ReadyItem::Length(12))));
        assert!(buf.is_empty(), "the whole read is the digits");
        buf.extend_from_slice(b"hello world");
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"!3");
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(ReadyItem::Body(BytesMut::from(&b"hello world!"[..]))))
        );
        assert_eq!(d.decode(&mut buf), Ok(Some(ReadyItem::Length(3))));
        assert_eq!(
            d.decode_eof(&mut buf),
            Err(CodecError::Truncated {
                part: Part::Body,
                have: 0,
                need: 3
            })
        );
    }

    #[test]
    fn the_end_of_stream_inside_a_body_is_truncation() {
        let mut d = ReadyReplyDecoder::default();
        let mut buf = BytesMut::from(&b"3"[..]);
        assert_eq!(d.decode_eof(&mut buf), Ok(Some(ReadyItem::Length(3))));
        buf.extend_from_slice(b"a");
        assert_eq!(
            d.decode_eof(&mut buf),
            Err(CodecError::Truncated {
                part: Part::Body,
                have: 1,
                need: 3
            })
        );
        buf.extend_from_slice(b"bc");
        assert_eq!(
            d.decode_eof(&mut buf),
            Ok(Some(ReadyItem::Body(BytesMut::from(&b"abc"[..]))))
        );
        assert_eq!(d.decode_eof(&mut buf), Ok(None));
    }

    fn mismatch(expected: &str, got: &str) -> CodecError {
        CodecError::UnexpectedToken {
            expected: expected.into(),
            got: got.into(),
        }
    }

    #[test]
    fn one_read_must_be_exactly_the_token() {
        let t = TokenDecoder::default();
        assert_eq!(&t.token()[..], b"ready");
        assert_eq!(t.check_read(b"ready"), Ok(()));
        assert_eq!(t.check_read(b"read"), Err(mismatch("ready", "read")));
        assert_eq!(
            t.check_read(b"readyready"),
            Err(mismatch("ready", "readyready"))
        );
        let empty = TokenDecoder::new(Bytes::new());
        assert_eq!(empty.check_read(b""), Err(CodecError::EmptyToken));
    }

    #[test]
    fn the_streaming_token_decoder_waits_and_refuses_at_the_first_wrong_byte() {
        let mut t = TokenDecoder::new(Bytes::from_static(b"go!"));
        let mut buf = BytesMut::from(&b"g"[..]);
        assert_eq!(t.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"o");
        assert_eq!(t.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], b"go", "nothing consumed before the whole token");
        buf.extend_from_slice(b"!go!x");
        assert_eq!(t.decode(&mut buf), Ok(Some(())));
        assert_eq!(&buf[..], b"go!x");
        assert_eq!(t.decode(&mut buf), Ok(Some(())));
        assert_eq!(t.decode(&mut buf), Err(mismatch("go!", "x")));
        let mut buf = BytesMut::from(&b"gxyz"[..]);
        assert_eq!(t.decode(&mut buf), Err(mismatch("go!", "gx")));
        let mut empty = TokenDecoder::new(Bytes::new());
        assert_eq!(
            empty.decode(&mut BytesMut::from(&b"x"[..])),
            Err(CodecError::EmptyToken)
        );
    }

    #[test]
    fn the_token_decoder_at_end_of_stream() {
        let mut t = TokenDecoder::default();
        assert_eq!(t.decode_eof(&mut BytesMut::new()), Ok(None));
        assert_eq!(
            t.decode_eof(&mut BytesMut::from(&b"ready"[..])),
            Ok(Some(()))
        );
        assert_eq!(
            t.decode_eof(&mut BytesMut::from(&b"rea"[..])),
            Err(CodecError::Truncated {
                part: Part::Token,
                have: 3,
                need: 5
            })
        );
        let mut dst = BytesMut::new();
        t.encode((), &mut dst).unwrap();
        assert_eq!(&dst[..], b"ready");
    }
}
