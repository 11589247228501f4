//! The one error type every decoder returns. "Need more bytes" is not an error: decoders return
//! `Ok(None)` for it. Each variant says what was wrong in terms a user can act on.

use std::io;

/// Which part of a frame the stream ended in (for [`CodecError::Truncated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    LengthHeader,
    JsonHeader,
    Body,
    Digits,
    Token,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::LengthHeader => "length header",
            Part::JsonHeader => "JSON header",
            Part::Body => "body",
            Part::Digits => "length digits",
            Part::Token => "ready token",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("negative length {0} in header (lengths are signed; a negative one is never valid)")]
    NegativeLength(i64),
    #[error("frame of {len} bytes is over the limit of {limit} bytes (raise the limit if this is expected)")]
    FrameTooLarge { len: u64, limit: usize },
    #[error("JSON header of {len} bytes is over the limit of {limit} bytes")]
    JsonHeaderTooLarge { len: u64, limit: usize },
    #[error("header is not valid JSON: {0}")]
    HeaderNotJson(String),
    #[error("JSON header is not an object")]
    HeaderNotObject,
    #[error("JSON header has no body size (expected `file_size` or `data_size`)")]
    MissingSize,
    #[error("JSON header `{key}` is not a non-negative integer: {value}")]
    BadSize { key: &'static str, value: String },
    #[error("JSON header sizes disagree: file_size={file_size}, data_size={data_size}")]
    ConflictingSizes { file_size: u64, data_size: u64 },
    #[error("JSON header `{key}` is missing or not a string")]
    BadField { key: &'static str },
    #[error("md5 mismatch: header says {expected}, body hashes to {actual}")]
    Md5Mismatch { expected: String, actual: String },
    #[error("stream ended inside the {part}: have {have} of {need} bytes")]
    Truncated {
        part: Part,
        have: usize,
        need: usize,
    },
    #[error("length digits are not a decimal number: {0:?}")]
    BadDigits(String),
    #[error("expected the token {expected:?}, got {got:?}")]
    UnexpectedToken { expected: String, got: String },
    #[error("unsafe upload file name {0:?} (empty, `.`/`..`, or containing NUL)")]
    BadFileName(String),
    #[error("length {0} does not fit the header field")]
    LengthOverflow(u64),
    #[error("the ready token is empty (give a non-empty token such as `ready`)")]
    EmptyToken,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Errors compare by variant and fields (IO errors by kind and message), so tests and the
/// differential check can require that two runs failed the same way.
impl PartialEq for CodecError {
    fn eq(&self, other: &Self) -> bool {
        use CodecError::*;
        match (self, other) {
            (NegativeLength(a), NegativeLength(b)) => a == b,
            (FrameTooLarge { len: a, limit: b }, FrameTooLarge { len: c, limit: d })
            | (JsonHeaderTooLarge { len: a, limit: b }, JsonHeaderTooLarge { len: c, limit: d }) => {
                a == c && b == d
            }
            (HeaderNotJson(a), HeaderNotJson(b))
            | (BadDigits(a), BadDigits(b))
            | (BadFileName(a), BadFileName(b)) => a == b,
            (HeaderNotObject, HeaderNotObject)
            | (MissingSize, MissingSize)
            | (EmptyToken, EmptyToken) => true,
            (BadSize { key: a, value: b }, BadSize { key: c, value: d }) => a == c && b == d,
            (
                ConflictingSizes {
                    file_size: a,
                    data_size: b,
                },
                ConflictingSizes {
                    file_size: c,
                    data_size: d,
                },
            ) => a == c && b == d,
            (BadField { key: a }, BadField { key: b }) => a == b,
            (
                Md5Mismatch {
                    expected: a,
                    actual: b,
                },
                Md5Mismatch {
                    expected: c,
                    actual: d,
                },
            ) => a == c && b == d,
            (
                Truncated {
                    part: a,
                    have: b,
                    need: c,
                },
                Truncated {
                    part: d,
                    have: e,
                    need: f,
                },
            ) => a == d && b == e && c == f,
            (
                UnexpectedToken {
                    expected: a,
                    got: b,
                },
                UnexpectedToken {
                    expected: c,
                    got: d,
                },
            ) => a == c && b == d,
            (LengthOverflow(a), LengthOverflow(b)) => a == b,
            (Io(a), Io(b)) => a.kind() == b.kind() && a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

impl CodecError {
    /// Bytes shown in an error are cut to this many, escaped.
    pub(crate) fn show(bytes: &[u8]) -> String {
        const SHOWN: usize = 64;
        let mut s = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]).into_owned();
        if bytes.len() > SHOWN {
            s.push('…');
        }
        s
    }
}
