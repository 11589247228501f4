//! The length-field core: one integer length at an offset, read, checked and written. Every
//! length-prefixed framing reads its field here: the `struct` framing's
//! [`LengthCodec`](crate::codec::length::LengthCodec), the JSON header's length, and the
//! `length:` descriptions of [`SpecCodec`](super::SpecCodec).
//!
//! The semantics are tokio-util's `LengthDelimitedCodec`'s: `offset` bytes come before the
//! field, and the body that follows the field is `field + adjust` bytes long. Checking the
//! value needs the header alone: nothing is allocated for an announced length.

use bytes::{BufMut, BytesMut};

use crate::codec::CodecError;

/// The integer type of a length field: width, signedness and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LengthType {
    U8,
    U16Be,
    U16Le,
    U24Be,
    U24Le,
    U32Be,
    U32Le,
    I32Be,
    I32Le,
    U64Be,
    U64Le,
    I64Be,
    I64Le,
}

impl LengthType {
    /// Every type, in the order `--help` lists them.
    pub const ALL: [LengthType; 13] = [
        LengthType::U8,
        LengthType::U16Be,
        LengthType::U16Le,
        LengthType::U24Be,
        LengthType::U24Le,
        LengthType::U32Be,
        LengthType::U32Le,
        LengthType::I32Be,
        LengthType::I32Le,
        LengthType::U64Be,
        LengthType::U64Le,
        LengthType::I64Be,
        LengthType::I64Le,
    ];

    /// The name in a description (`u16be`).
    pub const fn name(self) -> &'static str {
        match self {
            LengthType::U8 => "u8",
            LengthType::U16Be => "u16be",
            LengthType::U16Le => "u16le",
            LengthType::U24Be => "u24be",
            LengthType::U24Le => "u24le",
            LengthType::U32Be => "u32be",
            LengthType::U32Le => "u32le",
            LengthType::I32Be => "i32be",
            LengthType::I32Le => "i32le",
            LengthType::U64Be => "u64be",
            LengthType::U64Le => "u64le",
            LengthType::I64Be => "i64be",
            LengthType::I64Le => "i64le",
        }
    }

    /// Bytes the field takes on the wire.
    pub const fn size(self) -> usize {
        match self {
            LengthType::U8 => 1,
            LengthType::U16Be | LengthType::U16Le => 2,
            LengthType::U24Be | LengthType::U24Le => 3,
            LengthType::U32Be | LengthType::U32Le | LengthType::I32Be | LengthType::I32Le => 4,
            LengthType::U64Be | LengthType::U64Le | LengthType::I64Be | LengthType::I64Le => 8,
        }
    }

    /// The same width and signedness in the other byte order (`None` for `u8`).
    pub const fn swapped(self) -> Option<LengthType> {
        Some(match self {
            LengthType::U8 => return None,
            LengthType::U16Be => LengthType::U16Le,
            LengthType::U16Le => LengthType::U16Be,
            LengthType::U24Be => LengthType::U24Le,
            LengthType::U24Le => LengthType::U24Be,
            LengthType::U32Be => LengthType::U32Le,
            LengthType::U32Le => LengthType::U32Be,
            LengthType::I32Be => LengthType::I32Le,
            LengthType::I32Le => LengthType::I32Be,
            LengthType::U64Be => LengthType::U64Le,
            LengthType::U64Le => LengthType::U64Be,
            LengthType::I64Be => LengthType::I64Le,
            LengthType::I64Le => LengthType::I64Be,
        })
    }

    /// Smallest and largest value the type holds.
    pub const fn range(self) -> (i128, i128) {
        match self {
            LengthType::U8 => (0, u8::MAX as i128),
            LengthType::U16Be | LengthType::U16Le => (0, u16::MAX as i128),
            LengthType::U24Be | LengthType::U24Le => (0, (1 << 24) - 1),
            LengthType::U32Be | LengthType::U32Le => (0, u32::MAX as i128),
            LengthType::I32Be | LengthType::I32Le => (i32::MIN as i128, i32::MAX as i128),
            LengthType::U64Be | LengthType::U64Le => (0, u64::MAX as i128),
            LengthType::I64Be | LengthType::I64Le => (i64::MIN as i128, i64::MAX as i128),
        }
    }

    /// The value at the start of `src`, or `None` if fewer than [`size`](Self::size) bytes
    /// are there.
    #[inline]
    pub fn read(self, src: &[u8]) -> Option<i128> {
        Some(match self {
            LengthType::U8 => i128::from(*src.first()?),
            LengthType::U16Be => i128::from(u16::from_be_bytes(head(src)?)),
            LengthType::U16Le => i128::from(u16::from_le_bytes(head(src)?)),
            LengthType::U24Be => {
                let [a, b, c] = head(src)?;
                i128::from(u32::from_be_bytes([0, a, b, c]))
            }
            LengthType::U24Le => {
                let [a, b, c] = head(src)?;
                i128::from(u32::from_le_bytes([a, b, c, 0]))
            }
            LengthType::U32Be => i128::from(u32::from_be_bytes(head(src)?)),
            LengthType::U32Le => i128::from(u32::from_le_bytes(head(src)?)),
            LengthType::I32Be => i128::from(i32::from_be_bytes(head(src)?)),
            LengthType::I32Le => i128::from(i32::from_le_bytes(head(src)?)),
            LengthType::U64Be => i128::from(u64::from_be_bytes(head(src)?)),
            LengthType::U64Le => i128::from(u64::from_le_bytes(head(src)?)),
            LengthType::I64Be => i128::from(i64::from_be_bytes(head(src)?)),
            LengthType::I64Le => i128::from(i64::from_le_bytes(head(src)?)),
        })
    }

    /// The field's bytes for `value` (the first [`size`](Self::size) of the array), or `None`
    /// when the type cannot hold it.
    pub fn bytes(self, value: i128) -> Option<[u8; 8]> {
        let (lo, hi) = self.range();
        if value < lo || value > hi {
            return None;
        }
        // In range: the low 64 bits, two's complement, are the value for every type.
        let v = value as u64;
        let n = self.size();
        let mut out = [0u8; 8];
        let big = matches!(
            self,
            LengthType::U16Be
                | LengthType::U24Be
                | LengthType::U32Be
                | LengthType::I32Be
                | LengthType::U64Be
                | LengthType::I64Be
        );
        if big {
            out[..n].copy_from_slice(&v.to_be_bytes()[8 - n..]);
        } else {
            out[..n].copy_from_slice(&v.to_le_bytes()[..n]);
        }
        Some(out)
    }

    /// Appends the field for `value` to `dst`; [`CodecError::LengthOverflow`] when the type
    /// cannot hold it.
    pub fn write(self, value: i128, dst: &mut BytesMut) -> Result<(), CodecError> {
        let bytes = self.bytes(value).ok_or(CodecError::LengthOverflow(
            value.clamp(0, u64::MAX as i128) as u64,
        ))?;
        dst.put_slice(&bytes[..self.size()]);
        Ok(())
    }
}

impl std::fmt::Display for LengthType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[inline]
fn head<const N: usize>(src: &[u8]) -> Option<[u8; N]> {
    src.get(..N)?.try_into().ok()
}

/// What is wrong with a length value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthProblem {
    /// A signed field below zero.
    Negative,
    /// The field plus `adjust` is below zero.
    NegativeBody { adjust: i64 },
    /// The body would be `len` bytes, over `limit`.
    OverMax { len: u64, limit: usize },
}

impl std::fmt::Display for LengthProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LengthProblem::Negative => f.write_str("negative, and a length never is"),
            LengthProblem::NegativeBody { adjust } => {
                write!(f, "with adjust={adjust} the body would be below zero bytes")
            }
            LengthProblem::OverMax { len, limit } => write!(
                f,
                "a body of {len} bytes, over the limit of {limit} bytes (raise max= if this is \
                 expected)"
            ),
        }
    }
}

/// A length value the header check refused: the value read, and what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthError {
    pub value: i128,
    pub problem: LengthProblem,
}

impl LengthError {
    /// The error in the `struct` framing's terms: [`CodecError::NegativeLength`] and
    /// [`CodecError::FrameTooLarge`], which do not name the field.
    pub fn plain(self, ty: LengthType) -> CodecError {
        match self.problem {
            LengthProblem::Negative => CodecError::NegativeLength(self.value as i64),
            LengthProblem::OverMax { len, limit } => CodecError::FrameTooLarge { len, limit },
            LengthProblem::NegativeBody { .. } => CodecError::BadLengthField {
                field: ty.name(),
                value: self.value,
                problem: self.problem,
                other: None,
            },
        }
    }
}

/// A length field: its type, the bytes before it, what to add to it for the body, and the
/// largest body accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LengthHeader {
    pub ty: LengthType,
    /// Bytes before the field (a type byte, a transaction id, ...).
    pub offset: usize,
    /// Body length = field + `adjust` (e.g. -4 when the field counts itself).
    pub adjust: i64,
    /// Largest body accepted, in bytes.
    pub max: usize,
}

impl LengthHeader {
    /// Bytes before the body: the offset and the field.
    #[inline]
    pub const fn header_len(&self) -> usize {
        self.offset + self.ty.size()
    }

    /// The body length announced by the header at the start of `src`: `Ok(None)` while the
    /// header is incomplete, an error as soon as the value is known to be bad.
    #[inline]
    pub fn body_len(&self, src: &[u8]) -> Result<Option<usize>, LengthError> {
        match src.get(self.offset..).and_then(|field| self.ty.read(field)) {
            None => Ok(None),
            Some(value) => self.check(value).map(Some),
        }
    }

    /// Checks a field value: the body length it announces.
    #[inline]
    pub fn check(&self, value: i128) -> Result<usize, LengthError> {
        let problem = if value < 0 {
            LengthProblem::Negative
        } else {
            let body = value + i128::from(self.adjust);
            if body < 0 {
                LengthProblem::NegativeBody {
                    adjust: self.adjust,
                }
            } else if body > self.max as i128 {
                LengthProblem::OverMax {
                    len: body.min(u64::MAX as i128) as u64,
                    limit: self.max,
                }
            } else {
                return Ok(body as usize);
            }
        };
        Err(LengthError { value, problem })
    }

    /// The field read in the other byte order, when that gives an acceptable length: a hint for
    /// an error on the header at the start of `src`.
    pub fn other_order(&self, src: &[u8]) -> Option<(LengthType, i128)> {
        let other = self.ty.swapped()?;
        let value = other.read(src.get(self.offset..)?)?;
        let swapped = LengthHeader { ty: other, ..*self };
        swapped.check(value).ok().map(|_| (other, value))
    }

    /// Appends the field for a body of `len` bytes (`len - adjust`) to `dst`.
    pub fn write_field(&self, len: usize, dst: &mut BytesMut) -> Result<(), CodecError> {
        if len > self.max {
            return Err(CodecError::FrameTooLarge {
                len: len as u64,
                limit: self.max,
            });
        }
        let value = len as i128 - i128::from(self.adjust);
        if value < 0 {
            return Err(CodecError::BodyBelowAdjust {
                len,
                adjust: self.adjust,
            });
        }
        self.ty.write(value, dst)
    }
}
