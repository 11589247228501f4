//! The `naive` framing: no framing at all.
//!
//! ```text
//! +---- whatever one read returned (at most 1024 bytes) ----+  = one message
//! ```
//!
//! The sender writes the message bytes; the receiver reads once with a 1024-byte buffer and takes
//! what arrived as one message. This decoder reproduces that on a buffer: every call takes what is
//! buffered, up to the read size. It is deliberately *not* independent of chunking: that is the
//! bug the harness demonstrates (replies over 1024 bytes spill into the next exchange, coalesced
//! writes merge, split segments arrive short).

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::CodecError;

/// The tutorials' `recv(1024)`.
pub const DEFAULT_READ_SIZE: usize = 1024;

/// One read = one message.
#[derive(Debug, Clone, Copy)]
pub struct NaiveCodec {
    read_size: usize,
}

impl Default for NaiveCodec {
    fn default() -> Self {
        NaiveCodec {
            read_size: DEFAULT_READ_SIZE,
        }
    }
}

impl NaiveCodec {
    /// A codec reading at most `read_size` (≥ 1) bytes per message.
    pub fn with_read_size(read_size: usize) -> Self {
        NaiveCodec {
            read_size: read_size.max(1),
        }
    }
    pub fn read_size(&self) -> usize {
        self.read_size
    }
}

impl Decoder for NaiveCodec {
    type Item = BytesMut;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        if src.is_empty() {
            return Ok(None);
        }
        Ok(Some(src.split_to(src.len().min(self.read_size))))
    }
}

impl Encoder<&[u8]> for NaiveCodec {
    type Error = CodecError;
    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.put_slice(item);
        Ok(())
    }
}

impl Encoder<Bytes> for NaiveCodec {
    type Error = CodecError;
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&item[..], dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_read_is_one_message_of_at_most_the_read_size() {
        assert_eq!(NaiveCodec::default().read_size(), 1024);
        assert_eq!(NaiveCodec::with_read_size(0).read_size(), 1);
        let mut c = NaiveCodec::with_read_size(3);
        assert_eq!(c.read_size(), 3);
        let mut buf = BytesMut::new();
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"abcdefg");
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"abc");
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"def");
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"g");
        assert_eq!(c.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn encodes_the_bytes_alone() {
        let mut c = NaiveCodec::default();
        let mut dst = BytesMut::from(&b">"[..]);
        c.encode(&b"ab"[..], &mut dst).unwrap();
        c.encode(Bytes::from_static(b"cd"), &mut dst).unwrap();
        assert_eq!(&dst[..], b">abcd");
    }
}
