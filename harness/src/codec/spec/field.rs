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

#[cfg(test)]
mod tests {
    use super::*;
    use LengthType::*;

    #[test]
    fn every_type_has_its_name_size_order_and_range() {
        type Row = (&'static str, usize, Option<LengthType>, (i128, i128));
        let table: Vec<Row> = LengthType::ALL
            .iter()
            .map(|t| (t.name(), t.size(), t.swapped(), t.range()))
            .collect();
        let (i32r, i64r) = (
            (i32::MIN as i128, i32::MAX as i128),
            (i64::MIN as i128, i64::MAX as i128),
        );
        assert_eq!(
            table,
            [
                ("u8", 1, None, (0, 255)),
                ("u16be", 2, Some(U16Le), (0, 65_535)),
                ("u16le", 2, Some(U16Be), (0, 65_535)),
                ("u24be", 3, Some(U24Le), (0, 16_777_215)),
                ("u24le", 3, Some(U24Be), (0, 16_777_215)),
                ("u32be", 4, Some(U32Le), (0, 4_294_967_295)),
                ("u32le", 4, Some(U32Be), (0, 4_294_967_295)),
                ("i32be", 4, Some(I32Le), i32r),
                ("i32le", 4, Some(I32Be), i32r),
                ("u64be", 8, Some(U64Le), (0, u64::MAX as i128)),
                ("u64le", 8, Some(U64Be), (0, u64::MAX as i128)),
                ("i64be", 8, Some(I64Le), i64r),
                ("i64le", 8, Some(I64Be), i64r),
            ]
        );
        for t in LengthType::ALL {
            assert_eq!(t.to_string(), t.name());
        }
    }

    #[test]
    fn reads_each_type_in_its_byte_order() {
        let src = [0x81, 2, 3, 4, 5, 6, 7, 8];
        let read: Vec<Option<i128>> = LengthType::ALL.iter().map(|t| t.read(&src)).collect();
        assert_eq!(
            read,
            [
                Some(0x81),
                Some(0x8102),
                Some(0x0281),
                Some(0x810203),
                Some(0x030281),
                Some(0x81020304),
                Some(0x04030281),
                Some(i32::from_be_bytes([0x81, 2, 3, 4]) as i128),
                Some(0x04030281),
                Some(0x8102030405060708),
                Some(0x0807060504030281),
                Some(i64::from_be_bytes(src) as i128),
                Some(0x0807060504030281),
            ]
        );
        for t in LengthType::ALL {
            assert_eq!(t.read(&src[..t.size() - 1]), None, "{t}");
            assert!(t.read(&src[..t.size()]).is_some(), "{t}");
        }
    }

    #[test]
    fn writes_every_value_in_range_and_nothing_else() {
        for t in LengthType::ALL {
            let (lo, hi) = t.range();
            for v in [lo, lo + 1, 0x7f, hi - 1, hi] {
                let bytes = t.bytes(v).unwrap_or_else(|| panic!("{t} {v}"));
                assert_eq!(t.read(&bytes), Some(v), "{t} {v}");
                assert!(bytes[t.size()..].iter().all(|b| *b == 0), "{t} {v}");
                let mut dst = BytesMut::from(&b">"[..]);
                t.write(v, &mut dst).unwrap();
                assert_eq!(&dst[1..], &bytes[..t.size()]);
            }
            assert_eq!(t.bytes(lo - 1), None, "{t}");
            assert_eq!(t.bytes(hi + 1), None, "{t}");
        }
        assert_eq!(U16Be.bytes(0x0102).unwrap()[..2], [1, 2]);
        assert_eq!(U16Le.bytes(0x0102).unwrap()[..2], [2, 1]);
        assert_eq!(U24Be.bytes(0x010203).unwrap()[..3], [1, 2, 3]);
        assert_eq!(I32Be.bytes(-2).unwrap()[..4], [0xff, 0xff, 0xff, 0xfe]);
        let mut dst = BytesMut::new();
        assert_eq!(
            U8.write(256, &mut dst),
            Err(CodecError::LengthOverflow(256))
        );
        assert_eq!(U8.write(-1, &mut dst), Err(CodecError::LengthOverflow(0)));
        assert_eq!(
            U64Le.write(i128::MAX, &mut dst),
            Err(CodecError::LengthOverflow(u64::MAX))
        );
        assert!(dst.is_empty());
    }

    #[test]
    fn problems_explain_themselves() {
        assert_eq!(
            LengthProblem::Negative.to_string(),
            "negative, and a length never is"
        );
        assert_eq!(
            LengthProblem::NegativeBody { adjust: -4 }.to_string(),
            "with adjust=-4 the body would be below zero bytes"
        );
        assert_eq!(
            LengthProblem::OverMax { len: 5, limit: 4 }.to_string(),
            "a body of 5 bytes, over the limit of 4 bytes (raise max= if this is expected)"
        );
    }

    #[test]
    fn plain_errors_are_the_struct_framings() {
        let e = |value, problem| LengthError { value, problem };
        assert_eq!(
            e(-3, LengthProblem::Negative).plain(I32Le),
            CodecError::NegativeLength(-3)
        );
        assert_eq!(
            e(9, LengthProblem::OverMax { len: 9, limit: 4 }).plain(I32Le),
            CodecError::FrameTooLarge { len: 9, limit: 4 }
        );
        let nb = LengthProblem::NegativeBody { adjust: -4 };
        assert_eq!(
            e(2, nb).plain(U16Be),
            CodecError::BadLengthField {
                field: "u16be",
                value: 2,
                problem: nb,
                other: None
            }
        );
    }

    fn h(ty: LengthType, offset: usize, adjust: i64, max: usize) -> LengthHeader {
        LengthHeader {
            ty,
            offset,
            adjust,
            max,
        }
    }

    #[test]
    fn checks_values_at_every_bound() {
        let err = |value, problem| Err(LengthError { value, problem });
        let plain = h(I32Le, 0, 0, 10);
        assert_eq!(plain.check(0), Ok(0));
        assert_eq!(plain.check(10), Ok(10));
        assert_eq!(plain.check(-1), err(-1, LengthProblem::Negative));
        assert_eq!(
            plain.check(11),
            err(11, LengthProblem::OverMax { len: 11, limit: 10 })
        );
        let minus = h(I32Be, 0, -4, 10);
        assert_eq!(minus.check(4), Ok(0));
        assert_eq!(minus.check(14), Ok(10));
        assert_eq!(
            minus.check(3),
            err(3, LengthProblem::NegativeBody { adjust: -4 })
        );
        assert_eq!(
            minus.check(15),
            err(15, LengthProblem::OverMax { len: 11, limit: 10 })
        );
        let plus = h(U8, 0, 2, 10);
        assert_eq!(plus.check(8), Ok(10));
        assert_eq!(plus.check(0), Ok(2));
        let huge = h(U64Be, 0, MAX_ADJUST_FOR_TEST, 10);
        assert_eq!(
            huge.check(u64::MAX as i128),
            err(
                u64::MAX as i128,
                LengthProblem::OverMax {
                    len: u64::MAX,
                    limit: 10
                }
            )
        );
    }

    const MAX_ADJUST_FOR_TEST: i64 = 1 << 32;

    #[test]
    fn reads_the_field_after_the_offset() {
        let hd = h(U16Be, 2, 0, 100);
        assert_eq!(hd.header_len(), 4);
        assert_eq!(h(U8, 0, 0, 1).header_len(), 1);
        assert_eq!(hd.body_len(b"ab\x00"), Ok(None));
        assert_eq!(hd.body_len(b"a"), Ok(None));
        assert_eq!(hd.body_len(b"ab\x00\x05rest"), Ok(Some(5)));
        assert_eq!(
            hd.body_len(b"ab\x05\x00"),
            Err(LengthError {
                value: 1280,
                problem: LengthProblem::OverMax {
                    len: 1280,
                    limit: 100
                }
            })
        );
        // The other byte order, when it would be acceptable.
        assert_eq!(hd.other_order(b"ab\x05\x00"), Some((U16Le, 5)));
        assert_eq!(hd.other_order(b"ab\xff\xff"), None);
        assert_eq!(hd.other_order(b"ab\x05"), None);
        assert_eq!(h(U8, 0, 0, 1).other_order(b"\x05"), None);
        let signed = h(I32Be, 0, 0, 100);
        assert_eq!(signed.other_order(b"\xff\x00\x00\x00"), None);
        assert_eq!(signed.other_order(b"\x05\x00\x00\x00"), Some((I32Le, 5)));
    }

    #[test]
    fn writes_the_field_for_a_body() {
        let mut dst = BytesMut::new();
        let hd = h(U16Be, 0, -2, 5);
        hd.write_field(5, &mut dst).unwrap();
        assert_eq!(&dst[..], b"\x00\x07");
        assert_eq!(
            hd.write_field(6, &mut dst),
            Err(CodecError::FrameTooLarge { len: 6, limit: 5 })
        );
        let plus = h(U8, 0, 2, 5);
        plus.write_field(2, &mut dst).unwrap();
        plus.write_field(3, &mut dst).unwrap();
        assert_eq!(&dst[..], b"\x00\x07\x00\x01");
        assert_eq!(
            plus.write_field(1, &mut dst),
            Err(CodecError::BodyBelowAdjust { len: 1, adjust: 2 })
        );
        assert_eq!(
            h(U8, 0, 0, 1000).write_field(256, &mut dst),
            Err(CodecError::LengthOverflow(256))
        );
        assert_eq!(dst.len(), 4);
    }
}
