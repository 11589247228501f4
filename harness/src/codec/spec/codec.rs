//! [`SpecCodec`]: one decoder and encoder for every [`FrameSpec`].
//!
//! Decoding yields whole messages, header or delimiter included. Nothing is reserved for an
//! announced length: the buffer holds only the bytes that arrived, and `max` bounds both the
//! body a header may announce and how far a delimiter is searched for.
//!
//! Encoding takes an item of `offset` prefix bytes followed by the body (for a delimiter: the
//! body alone) and writes the prefix, the length field for the body, then the body (for a
//! delimiter: the body, then the delimiter). So `"postgres"` encodes `b"QSELECT 1\0"` as the
//! type byte `Q`, the length 13, and the query.

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::field::{LengthError, LengthHeader, LengthProblem};
use super::{escape, FrameSpec, VARINT_MAX_BYTES};
use crate::codec::{CodecError, Part};

/// Decoder and encoder of one [`FrameSpec`].
#[derive(Debug, Clone)]
pub struct SpecCodec {
    spec: FrameSpec,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a header, or searched for a delimiter up to this many bytes.
    Head(usize),
    /// The header said the message is this many bytes, header included.
    Whole(usize),
}

impl SpecCodec {
    /// A codec for `spec`.
    pub fn new(spec: FrameSpec) -> Self {
        SpecCodec {
            spec,
            state: State::Head(0),
        }
    }

    /// The description this codec follows.
    pub fn spec(&self) -> &FrameSpec {
        &self.spec
    }

    /// A whole decoded message split into its `offset` prefix and its body: what comes after
    /// the length field or varint, or what comes before the delimiter. A message that is not
    /// whole (shorter than its header) gives what it has.
    pub fn parts<'a>(&self, message: &'a [u8]) -> (&'a [u8], &'a [u8]) {
        if let FrameSpec::Delimiter { delimiter, .. } = &self.spec {
            return (&[], message.strip_suffix(&delimiter[..]).unwrap_or(message));
        }
        let header = self.spec.header_len(message).min(message.len());
        let offset = self.spec.offset().min(message.len());
        (&message[..offset], &message[header..])
    }

    /// The whole message length announced by the header at the start of `src`, `Ok(None)`
    /// while the header (or, for a delimiter, the delimiter) has not arrived.
    fn message_len(&mut self, src: &[u8]) -> Result<Option<usize>, CodecError> {
        match &self.spec {
            FrameSpec::Length(h) => match h.body_len(src) {
                Ok(body) => Ok(body.map(|b| h.header_len().saturating_add(b))),
                Err(e) => Err(field_error(h, e, src)),
            },
            FrameSpec::Varint { offset, max } => {
                let Some((value, used)) = read_varint(src.get(*offset..).unwrap_or_default())?
                else {
                    return Ok(None);
                };
                if value > *max {
                    return Err(CodecError::BadLengthField {
                        field: "varint",
                        value: value as i128,
                        problem: LengthProblem::OverMax {
                            len: value as u64,
                            limit: *max,
                        },
                        other: None,
                    });
                }
                Ok(Some(offset + used + value))
            }
            FrameSpec::Delimiter { delimiter, max } => {
                let State::Head(searched) = self.state else {
                    return Ok(None);
                };
                // The delimiter may end at most `max` bytes of body in.
                let end = max.saturating_add(delimiter.len());
                let window = &src[..src.len().min(end)];
                let from = searched.saturating_sub(delimiter.len() - 1);
                match find(&window[from.min(window.len())..], delimiter) {
                    Some(at) => Ok(Some(from + at + delimiter.len())),
                    None if window.len() == end => Err(CodecError::DelimiterNotFound {
                        delimiter: show(delimiter),
                        limit: *max,
                    }),
                    None => {
                        self.state = State::Head(window.len());
                        Ok(None)
                    }
                }
            }
        }
    }

    /// The error for a stream that ended with `src` undecoded (not empty).
    fn truncated(&self, src: &[u8]) -> CodecError {
        let have = src.len();
        let (part, need) = match (&self.spec, self.state) {
            (_, State::Whole(n)) => (Part::Body, n),
            (FrameSpec::Length(h), State::Head(_)) => (Part::LengthHeader, h.header_len()),
            (FrameSpec::Varint { offset, .. }, State::Head(_)) => {
                // The bytes seen all say another follows: at least one more is needed.
                (Part::LengthHeader, have.max(*offset) + 1)
            }
            (FrameSpec::Delimiter { delimiter, .. }, State::Head(_)) => {
                let partial = (1..delimiter.len())
                    .rev()
                    .find(|&k| src.ends_with(&delimiter[..k]))
                    .unwrap_or(0);
                (Part::Delimited, have + delimiter.len() - partial)
            }
        };
        CodecError::Truncated { part, have, need }
    }
}

/// The error for a refused length field, with the other byte order's reading when that would
/// have been acceptable.
fn field_error(h: &LengthHeader, e: LengthError, src: &[u8]) -> CodecError {
    CodecError::BadLengthField {
        field: h.ty.name(),
        value: e.value,
        problem: e.problem,
        other: h.other_order(src).map(|(ty, v)| (ty.name(), v)),
    }
}

/// A varint at the start of `src`: its value and byte count, `Ok(None)` while incomplete.
fn read_varint(src: &[u8]) -> Result<Option<(usize, usize)>, CodecError> {
    let mut value = 0usize;
    for (i, &b) in src.iter().take(VARINT_MAX_BYTES).enumerate() {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if src.len() >= VARINT_MAX_BYTES {
        return Err(CodecError::VarintTooLong);
    }
    Ok(None)
}

/// Appends `value` as a varint; [`CodecError::LengthOverflow`] past [`VARINT_MAX_BYTES`].
fn write_varint(mut value: usize, dst: &mut BytesMut) -> Result<(), CodecError> {
    if value >> (7 * VARINT_MAX_BYTES) != 0 {
        return Err(CodecError::LengthOverflow(value as u64));
    }
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            dst.put_u8(low);
            return Ok(());
        }
        dst.put_u8(low | 0x80);
    }
}

/// Where `needle` (not empty) first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [b] => hay.iter().position(|x| x == b),
        _ => hay.windows(needle.len()).position(|w| w == needle),
    }
}

fn show(delimiter: &[u8]) -> String {
    format!("\"{}\"", escape(delimiter))
}

impl Decoder for SpecCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        let n = match self.state {
            State::Whole(n) => n,
            State::Head(_) => match self.message_len(src)? {
                Some(n) => n,
                None => return Ok(None),
            },
        };
        if src.len() < n {
            self.state = State::Whole(n);
            return Ok(None);
        }
        self.state = State::Head(0);
        Ok(Some(src.split_to(n).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(self.truncated(src)),
        }
    }
}

impl Encoder<&[u8]> for SpecCodec {
    type Error = CodecError;

    /// Writes one message for `item`: for a length or varint, `item` is the `offset` prefix
    /// bytes then the body; for a delimiter, the body.
    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let offset = self.spec.offset();
        if item.len() < offset {
            return Err(CodecError::ShortItem {
                have: item.len(),
                need: offset,
            });
        }
        let (prefix, body) = item.split_at(offset);
        let start = dst.len();
        let written = match &self.spec {
            FrameSpec::Length(h) => {
                dst.put_slice(prefix);
                h.write_field(body.len(), dst)
            }
            FrameSpec::Varint { max, .. } if body.len() > *max => Err(CodecError::FrameTooLarge {
                len: body.len() as u64,
                limit: *max,
            }),
            FrameSpec::Varint { .. } => {
                dst.put_slice(prefix);
                write_varint(body.len(), dst)
            }
            FrameSpec::Delimiter { max, .. } if body.len() > *max => {
                Err(CodecError::FrameTooLarge {
                    len: body.len() as u64,
                    limit: *max,
                })
            }
            FrameSpec::Delimiter { delimiter, .. } => {
                dst.put_slice(body);
                dst.put_slice(delimiter);
                // The first delimiter must be the one just written.
                match find(&dst[start..], delimiter) {
                    Some(at) if at == body.len() => return Ok(()),
                    _ => Err(CodecError::DelimiterInBody {
                        delimiter: show(delimiter),
                    }),
                }
            }
        };
        match written {
            Ok(()) => {
                dst.put_slice(body);
                Ok(())
            }
            Err(e) => {
                dst.truncate(start);
                Err(e)
            }
        }
    }
}

impl Encoder<Bytes> for SpecCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&item[..], dst)
    }
}

#[cfg(test)]
mod tests;
