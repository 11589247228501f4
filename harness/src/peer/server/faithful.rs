//! The tutorials' servers, made safe but not "fixed": `naive`, `ready`, `struct`, `json`.
//!
//! Requests are not framed: one read of at most `read_size` (1024) bytes is one command, as in
//! every tutorial server. Two commands that arrive together are one command; a command split
//! across segments is two. This is a finding the harness shows, so it stays.
//!
//! Replies are written as the tutorials write them:
//!
//! ```text
//! naive    write(body)
//! ready    write(digits)  read() == token ?  write(body)      (anything else: close)
//! struct   write(len)  write(body)
//! json     write(hlen)  write(JSON header)  write(body)
//! ```
//!
//! Every reply is encoded by its codec into one buffer first, then written in those parts.
//! An empty reply (`echo -n`) is a zero-length write under `naive`: nothing is sent, and the
//! client's read waits, as with the tutorials' naive server.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::Encoder;
use tracing::debug;

use super::conn::{Conn, ConnError, Next};
use crate::codec::json::JsonFrame;
use crate::codec::ready::{encode_length, TokenDecoder};
use crate::codec::Format;

/// Serves one connection of a faithful framing until the peer closes.
pub(super) async fn serve(conn: &mut Conn) -> Result<(), ConnError> {
    let config = conn.config.clone();
    let token = TokenDecoder::new(config.ready_token.clone());
    let codecs = config.format_config();
    let mut length = codecs.length();
    let mut json = codecs.json();
    let reply_format = config.formats().reply;
    let field_size = config.length_field.size();
    loop {
        let request = match conn.read_once(true, "reading a command").await? {
            Next::Data(request) => request,
            Next::Eof | Next::Stopping => return Ok(()),
        };
        let reply = Bytes::from(config.service.reply(&request));
        debug!(peer = %conn.peer, request = request.len(), reply = reply.len(), "exchange");
        match reply_format {
            Format::Ready => {
                let mut digits = BytesMut::new();
                encode_length(reply.len(), &mut digits);
                conn.write(&digits).await?;
                let answer = match conn.read_once(false, "waiting for the ready token").await? {
                    Next::Data(answer) => answer,
                    Next::Eof | Next::Stopping => {
                        return Err(ConnError::ClosedEarly("waiting for the ready token"))
                    }
                };
                token.check_read(&answer)?;
                conn.write(&reply).await?;
            }
            Format::Length => {
                let mut frame = BytesMut::new();
                length
                    .encode(reply.clone(), &mut frame)
                    .map_err(ConnError::Reply)?;
                let body = frame.split_off(field_size);
                conn.write(&frame).await?;
                conn.write(&body).await?;
            }
            Format::Json => {
                let mut frame = BytesMut::new();
                json.encode(JsonFrame::new(reply.clone()), &mut frame)
                    .map_err(ConnError::Reply)?;
                let body = frame.split_off(frame.len() - reply.len());
                let header = frame.split_off(field_size);
                conn.write(&frame).await?;
                conn.write(&header).await?;
                conn.write(&body).await?;
            }
            Format::Spec => {
                let mut frame = BytesMut::new();
                codecs
                    .spec()
                    .encode(reply, &mut frame)
                    .map_err(ConnError::Reply)?;
                conn.write(&frame).await?;
            }
            Format::OneRead | Format::Upload => conn.write(&reply).await?,
        }
    }
}
