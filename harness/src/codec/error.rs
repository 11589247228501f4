//! The one error type every decoder returns. "Need more bytes" is not an error: decoders return
//! `Ok(None)` for it. Each variant says what was wrong in terms a user can act on.

use std::io;

use super::spec::{LengthProblem, VARINT_MAX_BYTES};

/// Which part of a frame the stream ended in (for [`CodecError::Truncated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    LengthHeader,
    JsonHeader,
    Body,
    Digits,
    Token,
    /// A delimited message whose delimiter has not arrived.
    Delimited,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::LengthHeader => "length header",
            Part::JsonHeader => "JSON header",
            Part::Body => "body",
            Part::Digits => "length digits",
            Part::Token => "ready token",
            Part::Delimited => "message before its delimiter",
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
    #[error("length field {field} holds {value}: {problem}{}", other_order(.other))]
    BadLengthField {
        field: &'static str,
        value: i128,
        problem: LengthProblem,
        /// The other byte order's type and value, when that would be an acceptable length.
        other: Option<(&'static str, i128)>,
    },
    #[error(
        "a body of {len} bytes cannot be sent with adjust={adjust} (the field would be below zero)"
    )]
    BodyBelowAdjust { len: usize, adjust: i64 },
    #[error("varint length runs past {VARINT_MAX_BYTES} bytes (a byte with its top bit set says another follows; at most {VARINT_MAX_BYTES} bytes are allowed)")]
    VarintTooLong,
    #[error("no delimiter {delimiter} within {limit} bytes (a message may be at most max={limit} bytes; raise it if this is expected)")]
    DelimiterNotFound { delimiter: String, limit: usize },
    #[error("the body holds the delimiter {delimiter} (it would arrive as more than one message)")]
    DelimiterInBody { delimiter: String },
    #[error("an item of this framing starts with the {need} bytes before the length field (offset={need}); this one has {have}")]
    ShortItem { have: usize, need: usize },
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn other_order(other: &Option<(&'static str, i128)>) -> String {
    match other {
        Some((ty, value)) => format!("; read as {ty} it would be {value}"),
        None => String::new(),
    }
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
            (
                BadLengthField {
                    field: a,
                    value: b,
                    problem: c,
                    other: d,
                },
                BadLengthField {
                    field: e,
                    value: f,
                    problem: g,
                    other: h,
                },
            ) => a == e && b == f && c == g && d == h,
            (BodyBelowAdjust { len: a, adjust: b }, BodyBelowAdjust { len: c, adjust: d }) => {
                a == c && b == d
            }
            (VarintTooLong, VarintTooLong) => true,
            (
                DelimiterNotFound {
                    delimiter: a,
                    limit: b,
                },
                DelimiterNotFound {
                    delimiter: c,
                    limit: d,
                },
            ) => a == c && b == d,
            (DelimiterInBody { delimiter: a }, DelimiterInBody { delimiter: b }) => a == b,
            (ShortItem { have: a, need: b }, ShortItem { have: c, need: d }) => a == c && b == d,
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

#[cfg(test)]
mod tests;
