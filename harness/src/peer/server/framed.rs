//! The `framed` server (ours, the control group): requests and replies both carry a `struct`
//! or `json` header (or follow a framing description), decoded by [`FramedCodec`] independently
//! of how the bytes were chunked.
//! Pipelined requests are answered in order. A request is buffered whole (within the server's
//! buffer budget, see [`Conn`]) and its budget given back once it is answered.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};
use tracing::debug;

use super::conn::{Conn, ConnError, Next};
use crate::codec::framed::FramedCodec;

/// Read size of the framed server: framing does not depend on it.
const READ_CHUNK: usize = 64 << 10;

pub(super) async fn serve(conn: &mut Conn) -> Result<(), ConnError> {
    let config = conn.config.clone();
    let mut codec = FramedCodec::of(
        config.spec.as_ref(),
        config.header_kind,
        config.length_field,
        config.max_frame_length,
    );
    let mut buf = BytesMut::new();
    // Whether part of a request has arrived (it may be only a consumed header: `buf` empty).
    let mut in_frame = false;
    loop {
        loop {
            let before = buf.len();
            let Some(request) = codec.decode(&mut buf)? else {
                in_frame |= buf.len() < before || !buf.is_empty();
                break;
            };
            in_frame = false;
            let reply = Bytes::from(config.service.reply(&request));
            debug!(peer = %conn.peer, request = request.len(), reply = reply.len(), "exchange");
            // A fresh buffer per reply: a large reply's memory is not kept for the next one.
            let mut out = BytesMut::new();
            codec.encode(reply, &mut out).map_err(ConnError::Reply)?;
            conn.write(&out).await?;
        }
        let n = if in_frame {
            conn.read_in_flight(&mut buf, READ_CHUNK, "reading the rest of a request")
                .await?
        } else {
            match conn.read_idle(&mut buf, READ_CHUNK).await? {
                Next::Data(n) => n,
                Next::Eof | Next::Stopping => return Ok(()),
            }
        };
        if n == 0 {
            // End of stream inside a frame: the codec names where it was cut.
            codec.decode_eof(&mut buf)?;
            return Err(ConnError::ClosedEarly("reading the rest of a request"));
        }
    }
}
