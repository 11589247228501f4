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
