//! The `struct` framing: a fixed-width signed length, then the body.
//!
//! ```text
//! +---- len: i32, little-endian (struct.pack('i')) ----+---- body: len bytes ----+
//! ```
//!
//! Width 4 (`'i'`) or 8 (`'q'`); byte order little (default, Python's native order on x86/ARM)
//! or big (`'!i'`). A negative length or one over `max_frame_length` is an error, found from the
//! header alone: nothing is allocated for a declared length before its bytes arrive. The field
//! is read by the length-field core every length codec shares ([`LengthHeader`]): `struct` is
//! the description `length:i32le` (or `i32be`, `i64le`, `i64be`) with the header left out of
//! the decoded item.
//!
//! ```
//! use bytes::BytesMut;
//! use stickler::codec::length::LengthCodec;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = LengthCodec::default();
//! let mut buf = BytesMut::new();
//! codec.encode(&b"hello"[..], &mut buf).unwrap();
//! assert_eq!(&buf[..], b"\x05\x00\x00\x00hello");
//! assert_eq!(&codec.decode(&mut buf).unwrap().unwrap()[..], b"hello");
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::spec::{LengthHeader, LengthType};
use super::{CodecError, Part, DEFAULT_MAX_FRAME_LENGTH};

/// Width of the length field: `'i'` (4) or `'q'` (8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Width {
    #[default]
    Four,
    Eight,
}

/// Byte order of the length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ByteOrder {
    #[default]
    Little,
    Big,
}

/// A signed length field of a given width and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LengthField {
    pub width: Width,
    pub order: ByteOrder,
}

impl LengthField {
    /// Python's `struct.pack('i', n)` on a little-endian machine.
    pub const I32_LE: LengthField = LengthField {
        width: Width::Four,
        order: ByteOrder::Little,
    };

    /// Bytes the field takes on the wire.
    pub const fn size(&self) -> usize {
        self.ty().size()
    }

    /// The field as a description's length type (`i32le`, `i64be`, ...).
    pub const fn ty(&self) -> LengthType {
        match (self.width, self.order) {
            (Width::Four, ByteOrder::Little) => LengthType::I32Le,
            (Width::Four, ByteOrder::Big) => LengthType::I32Be,
            (Width::Eight, ByteOrder::Little) => LengthType::I64Le,
            (Width::Eight, ByteOrder::Big) => LengthType::I64Be,
        }
    }

    /// The field at the start of a header, with no adjustment, bounding bodies to `limit`.
    pub const fn header(&self, limit: usize) -> LengthHeader {
        LengthHeader {
            ty: self.ty(),
            offset: 0,
            adjust: 0,
            max: limit,
        }
    }

    /// The signed value at the start of `src`, or `None` if fewer than `size()` bytes are there.
    #[inline]
    pub fn read(&self, src: &[u8]) -> Option<i64> {
        // Signed types of at most 8 bytes: the value fits.
        self.ty().read(src).map(|v| v as i64)
    }

    /// Reads and checks the field: `Ok(None)` while incomplete, the length when it is valid.
    #[inline]
    pub fn read_checked(&self, src: &[u8], limit: usize) -> Result<Option<usize>, CodecError> {
        self.header(limit)
            .body_len(src)
            .map_err(|e| e.plain(self.ty()))
    }

    /// The field's bytes for length `n`.
    pub fn encode(&self, n: usize) -> Result<([u8; 8], usize), CodecError> {
        let bytes = self
            .ty()
            .bytes(n as i128)
            .ok_or(CodecError::LengthOverflow(n as u64))?;
        Ok((bytes, self.size()))
    }

    /// Appends the field for length `n` to `dst`.
    pub fn write(&self, n: usize, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.ty().write(n as i128, dst)
    }
}

/// Builder for [`LengthCodec`]; defaults: width 4, little-endian, 8 MiB max frame.
#[derive(Debug, Clone, Copy)]
pub struct LengthCodecBuilder {
    field: LengthField,
    max_frame_length: usize,
}

impl Default for LengthCodecBuilder {
    fn default() -> Self {
        LengthCodecBuilder {
            field: LengthField::I32_LE,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
        }
    }
}

impl LengthCodecBuilder {
    pub fn width(mut self, width: Width) -> Self {
        self.field.width = width;
        self
    }
    pub fn byte_order(mut self, order: ByteOrder) -> Self {
        self.field.order = order;
        self
    }
    pub fn field(mut self, field: LengthField) -> Self {
        self.field = field;
        self
    }
    /// Largest body accepted (default 8 MiB).
    pub fn max_frame_length(mut self, max: usize) -> Self {
        self.max_frame_length = max;
        self
    }
    pub fn new_codec(self) -> LengthCodec {
        LengthCodec {
            field: self.field,
            header: self.field.header(self.max_frame_length),
            state: State::Head,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Data(usize),
}

/// Decoder and encoder of the `struct` framing.
#[derive(Debug, Clone)]
pub struct LengthCodec {
    field: LengthField,
    /// The field's reader (the one every length-field codec shares).
    header: LengthHeader,
    state: State,
}

impl Default for LengthCodec {
    fn default() -> Self {
        LengthCodecBuilder::default().new_codec()
    }
}

impl LengthCodec {
    pub fn builder() -> LengthCodecBuilder {
        LengthCodecBuilder::default()
    }
    pub fn field(&self) -> LengthField {
        self.field
    }
    pub fn max_frame_length(&self) -> usize {
        self.header.max
    }
}

impl Decoder for LengthCodec {
    type Item = BytesMut;
    type Error = CodecError;

    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        let n = match self.state {
            State::Data(n) => n,
            State::Head => {
                let n = match self.header.body_len(src) {
                    Ok(Some(n)) => n,
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(e.plain(self.header.ty)),
                };
                src.advance(self.header.header_len());
                n
            }
        };
        if src.len() < n {
            self.state = State::Data(n);
            return Ok(None);
        }
        self.state = State::Head;
        Ok(Some(src.split_to(n)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        match self.state {
            State::Head if src.is_empty() => Ok(None),
            State::Head => Err(CodecError::Truncated {
                part: Part::LengthHeader,
                have: src.len(),
                need: self.field.size(),
            }),
            State::Data(n) => Err(CodecError::Truncated {
                part: Part::Body,
                have: src.len(),
                need: n,
            }),
        }
    }
}

impl Encoder<&[u8]> for LengthCodec {
    type Error = CodecError;

    fn encode(&mut self, body: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.reserve(self.field.size() + body.len());
        self.header.write_field(body.len(), dst)?;
        dst.put_slice(body);
        Ok(())
    }
}

impl Encoder<Bytes> for LengthCodec {
    type Error = CodecError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&body[..], dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [(LengthField, LengthType, usize); 4] = [
        (
            LengthField {
                width: Width::Four,
                order: ByteOrder::Little,
            },
            LengthType::I32Le,
            4,
        ),
        (
            LengthField {
                width: Width::Four,
                order: ByteOrder::Big,
            },
            LengthType::I32Be,
            4,
        ),
        (
            LengthField {
                width: Width::Eight,
                order: ByteOrder::Little,
            },
            LengthType::I64Le,
            8,
        ),
        (
            LengthField {
                width: Width::Eight,
                order: ByteOrder::Big,
            },
            LengthType::I64Be,
            8,
        ),
    ];

    #[test]
    fn each_field_is_its_length_type() {
        assert_eq!(LengthField::default(), LengthField::I32_LE);
        for (field, ty, size) in FIELDS {
            assert_eq!((field.ty(), field.size()), (ty, size));
            assert_eq!(
                field.header(9),
                LengthHeader {
                    ty,
                    offset: 0,
                    adjust: 0,
                    max: 9
                }
            );
            let (bytes, n) = field.encode(0x0102).unwrap();
            assert_eq!(n, size);
            assert_eq!(field.read(&bytes[..n]), Some(0x0102));
            assert_eq!(field.read(&bytes[..n - 1]), None);
            let mut dst = BytesMut::new();
            field.write(0x0102, &mut dst).unwrap();
            assert_eq!(&dst[..], &bytes[..n]);
        }
        assert_eq!(LengthField::I32_LE.encode(1).unwrap().0[..4], [1, 0, 0, 0]);
        let be = FIELDS[1].0;
        assert_eq!(be.encode(1).unwrap().0[..4], [0, 0, 0, 1]);
        assert_eq!(be.read(b"\xff\xff\xff\xfe"), Some(-2));
    }

    #[test]
    fn a_field_refuses_what_it_cannot_hold() {
        let over = i32::MAX as usize + 1;
        assert_eq!(
            LengthField::I32_LE.encode(over),
            Err(CodecError::LengthOverflow(over as u64))
        );
        let mut dst = BytesMut::new();
        assert_eq!(
            LengthField::I32_LE.write(over, &mut dst),
            Err(CodecError::LengthOverflow(over as u64))
        );
        assert!(dst.is_empty());
        let f = LengthField::I32_LE;
        assert_eq!(f.read_checked(b"\x05\x00\x00", 5), Ok(None));
        assert_eq!(f.read_checked(b"\x05\x00\x00\x00", 5), Ok(Some(5)));
        assert_eq!(
            f.read_checked(b"\x06\x00\x00\x00", 5),
            Err(CodecError::FrameTooLarge { len: 6, limit: 5 })
        );
        assert_eq!(
            f.read_checked(b"\xfe\xff\xff\xff", 5),
            Err(CodecError::NegativeLength(-2))
        );
    }

    #[test]
    fn the_builder_sets_field_and_limit() {
        let c = LengthCodec::builder()
            .width(Width::Eight)
            .byte_order(ByteOrder::Big)
            .max_frame_length(7)
            .new_codec();
        assert_eq!(c.field(), FIELDS[3].0);
        assert_eq!(c.max_frame_length(), 7);
        let c = LengthCodec::builder().field(FIELDS[1].0).new_codec();
        assert_eq!(c.field(), FIELDS[1].0);
        assert_eq!(c.max_frame_length(), DEFAULT_MAX_FRAME_LENGTH);
        let c = LengthCodec::default();
        assert_eq!(c.field(), LengthField::I32_LE);
    }

    #[test]
    fn decodes_a_frame_once_all_its_bytes_are_there() {
        let mut c = LengthCodec::builder()
            .field(FIELDS[3].0)
            .max_frame_length(3)
            .new_codec();
        let mut buf = BytesMut::from(&b"\0\0\0\0\0\0\0\x03ab"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"ab", "the header is consumed once read");
        buf.extend_from_slice(b"c\0\0\0\0\0\0\0\x00");
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"abc");
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"");
        assert_eq!(c.decode_eof(&mut buf).unwrap(), None);
        let mut buf = BytesMut::from(&b"\0\0\0\0\0\0\0\x04abcd"[..]);
        assert_eq!(
            c.decode(&mut buf),
            Err(CodecError::FrameTooLarge { len: 4, limit: 3 })
        );
    }

    #[test]
    fn the_end_of_stream_names_the_part_it_cut() {
        let mut c = LengthCodec::default();
        let mut buf = BytesMut::from(&b"\x03\x00"[..]);
        assert_eq!(
            c.decode_eof(&mut buf),
            Err(CodecError::Truncated {
                part: Part::LengthHeader,
                have: 2,
                need: 4
            })
        );
        let mut c = LengthCodec::default();
        let mut buf = BytesMut::from(&b"\x03\x00\x00\x00a"[..]);
        assert_eq!(
            c.decode_eof(&mut buf),
            Err(CodecError::Truncated {
                part: Part::Body,
                have: 1,
                need: 3
            })
        );
        let mut c = LengthCodec::default();
        let mut buf = BytesMut::from(&b"\x01\x00\x00\x00a"[..]);
        assert_eq!(&c.decode_eof(&mut buf).unwrap().unwrap()[..], b"a");
        assert_eq!(c.decode_eof(&mut buf), Ok(None));
    }

    #[test]
    fn encodes_the_field_then_the_body() {
        let mut c = LengthCodec::default();
        let mut dst = BytesMut::new();
        c.encode(&b"hello world"[..], &mut dst).unwrap();
        c.encode(Bytes::from_static(b"x"), &mut dst).unwrap();
        assert_eq!(&dst[..], b"\x0b\x00\x00\x00hello world\x01\x00\x00\x00x");
        let mut c = LengthCodec::builder().max_frame_length(2).new_codec();
        let mut dst = BytesMut::new();
        assert_eq!(
            c.encode(&b"abc"[..], &mut dst),
            Err(CodecError::FrameTooLarge { len: 3, limit: 2 })
        );
    }
}
