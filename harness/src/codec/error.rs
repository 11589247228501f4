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
mod tests {
    use super::*;

    #[test]
    fn parts_name_themselves() {
        let names: Vec<String> = [
            Part::LengthHeader,
            Part::JsonHeader,
            Part::Body,
            Part::Digits,
            Part::Token,
            Part::Delimited,
        ]
        .iter()
        .map(|p| p.to_string())
        .collect();
        assert_eq!(
            names,
            [
                "length header",
                "JSON header",
                "body",
                "length digits",
                "ready token",
                "message before its delimiter"
            ]
        );
        let e = CodecError::Truncated {
            part: Part::Body,
            have: 1,
            need: 3,
        };
        assert_eq!(
            e.to_string(),
            "stream ended inside the body: have 1 of 3 bytes"
        );
    }

    #[test]
    fn a_bad_length_field_names_the_other_byte_order_when_it_would_do() {
        let e = |other| CodecError::BadLengthField {
            field: "u16be",
            value: 1280,
            problem: LengthProblem::OverMax {
                len: 1280,
                limit: 100,
            },
            other,
        };
        let plain = e(None).to_string();
        assert!(
            plain.ends_with("raise max= if this is expected)"),
            "{plain}"
        );
        assert_eq!(
            e(Some(("u16le", 5))).to_string(),
            format!("{plain}; read as u16le it would be 5")
        );
    }

    fn io(kind: io::ErrorKind, msg: &str) -> CodecError {
        CodecError::Io(io::Error::new(kind, msg.to_string()))
    }

    /// Each error, an equal one built apart, and ones that differ in one field each.
    fn cases() -> Vec<(CodecError, CodecError, Vec<CodecError>)> {
        use CodecError::*;
        let problem = LengthProblem::Negative;
        let blf = |field, value, problem, other| BadLengthField {
            field,
            value,
            problem,
            other,
        };
        vec![
            (
                NegativeLength(-1),
                NegativeLength(-1),
                vec![NegativeLength(-2)],
            ),
            (
                FrameTooLarge { len: 5, limit: 4 },
                FrameTooLarge { len: 5, limit: 4 },
                vec![
                    FrameTooLarge { len: 6, limit: 4 },
                    FrameTooLarge { len: 5, limit: 3 },
                    JsonHeaderTooLarge { len: 5, limit: 4 },
                ],
            ),
            (
                JsonHeaderTooLarge { len: 5, limit: 4 },
                JsonHeaderTooLarge { len: 5, limit: 4 },
                vec![
                    JsonHeaderTooLarge { len: 6, limit: 4 },
                    JsonHeaderTooLarge { len: 5, limit: 3 },
                ],
            ),
            (
                HeaderNotJson("a".into()),
                HeaderNotJson("a".into()),
                vec![HeaderNotJson("b".into()), BadDigits("a".into())],
            ),
            (
                BadDigits("a".into()),
                BadDigits("a".into()),
                vec![BadDigits("b".into()), BadFileName("a".into())],
            ),
            (
                BadFileName("a".into()),
                BadFileName("a".into()),
                vec![BadFileName("b".into()), HeaderNotJson("a".into())],
            ),
            (HeaderNotObject, HeaderNotObject, vec![MissingSize]),
            (MissingSize, MissingSize, vec![EmptyToken]),
            (EmptyToken, EmptyToken, vec![VarintTooLong]),
            (VarintTooLong, VarintTooLong, vec![HeaderNotObject]),
            (
                BadSize {
                    key: "file_size",
                    value: "x".into(),
                },
                BadSize {
                    key: "file_size",
                    value: "x".into(),
                },
                vec![
                    BadSize {
                        key: "data_size",
                        value: "x".into(),
                    },
                    BadSize {
                        key: "file_size",
                        value: "y".into(),
                    },
                ],
            ),
            (
                ConflictingSizes {
                    file_size: 1,
                    data_size: 2,
                },
                ConflictingSizes {
                    file_size: 1,
                    data_size: 2,
                },
                vec![
                    ConflictingSizes {
                        file_size: 3,
                        data_size: 2,
                    },
                    ConflictingSizes {
                        file_size: 1,
                        data_size: 3,
                    },
                ],
            ),
            (
                BadField { key: "md5" },
                BadField { key: "md5" },
                vec![BadField { key: "file_name" }],
            ),
            (
                Md5Mismatch {
                    expected: "a".into(),
                    actual: "b".into(),
                },
                Md5Mismatch {
                    expected: "a".into(),
                    actual: "b".into(),
                },
                vec![
                    Md5Mismatch {
                        expected: "c".into(),
                        actual: "b".into(),
                    },
                    Md5Mismatch {
                        expected: "a".into(),
                        actual: "c".into(),
                    },
                ],
            ),
            (
                Truncated {
                    part: Part::Body,
                    have: 1,
                    need: 2,
                },
                Truncated {
                    part: Part::Body,
                    have: 1,
                    need: 2,
                },
                vec![
                    Truncated {
                        part: Part::Token,
                        have: 1,
                        need: 2,
                    },
                    Truncated {
                        part: Part::Body,
                        have: 0,
                        need: 2,
                    },
                    Truncated {
                        part: Part::Body,
                        have: 1,
                        need: 3,
                    },
                ],
            ),
            (
                UnexpectedToken {
                    expected: "a".into(),
                    got: "b".into(),
                },
                UnexpectedToken {
                    expected: "a".into(),
                    got: "b".into(),
                },
                vec![
                    UnexpectedToken {
                        expected: "c".into(),
                        got: "b".into(),
                    },
                    UnexpectedToken {
                        expected: "a".into(),
                        got: "c".into(),
                    },
                ],
            ),
            (
                LengthOverflow(7),
                LengthOverflow(7),
                vec![LengthOverflow(8)],
            ),
            (
                blf("u8", 1, problem, Some(("u16le", 1))),
                blf("u8", 1, problem, Some(("u16le", 1))),
                vec![
                    blf("u16be", 1, problem, Some(("u16le", 1))),
                    blf("u8", 2, problem, Some(("u16le", 1))),
                    blf(
                        "u8",
                        1,
                        LengthProblem::NegativeBody { adjust: -1 },
                        Some(("u16le", 1)),
                    ),
                    blf("u8", 1, problem, None),
                ],
            ),
            (
                BodyBelowAdjust { len: 1, adjust: 2 },
                BodyBelowAdjust { len: 1, adjust: 2 },
                vec![
                    BodyBelowAdjust { len: 2, adjust: 2 },
                    BodyBelowAdjust { len: 1, adjust: 3 },
                ],
            ),
            (
                DelimiterNotFound {
                    delimiter: "a".into(),
                    limit: 1,
                },
                DelimiterNotFound {
                    delimiter: "a".into(),
                    limit: 1,
                },
                vec![
                    DelimiterNotFound {
                        delimiter: "b".into(),
                        limit: 1,
                    },
                    DelimiterNotFound {
                        delimiter: "a".into(),
                        limit: 2,
                    },
                ],
            ),
            (
                DelimiterInBody {
                    delimiter: "a".into(),
                },
                DelimiterInBody {
                    delimiter: "a".into(),
                },
                vec![DelimiterInBody {
                    delimiter: "b".into(),
                }],
            ),
            (
                ShortItem { have: 1, need: 2 },
                ShortItem { have: 1, need: 2 },
                vec![
                    ShortItem { have: 0, need: 2 },
                    ShortItem { have: 1, need: 3 },
                ],
            ),
            (
                io(io::ErrorKind::Other, "x"),
                io(io::ErrorKind::Other, "x"),
                vec![
                    io(io::ErrorKind::NotFound, "x"),
                    io(io::ErrorKind::Other, "y"),
                ],
            ),
        ]
    }

    #[test]
    fn errors_are_equal_exactly_when_variant_and_every_field_are() {
        for (a, same, differing) in cases() {
            assert_eq!(a, same);
            for d in differing {
                assert_ne!(a, d);
                assert_ne!(d, a);
            }
        }
    }

    #[test]
    fn shown_bytes_are_cut_after_64() {
        let b = [b'a'; 65];
        assert_eq!(CodecError::show(&b[..64]), "a".repeat(64));
        assert_eq!(CodecError::show(&b), format!("{}…", "a".repeat(64)));
        assert_eq!(CodecError::show(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(CodecError::show(b""), "");
    }
}
