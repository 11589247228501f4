//! Reading one reply, per framing, with every read recorded.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;

use super::{Client, ClientError, ReadEvent, ReadsSoFar, Reply};
use crate::codec::ready::ReadyItem;
use crate::codec::{AnyItem, Format};

/// The reads of one reply, against its deadline.
struct Recorder {
    start: Instant,
    deadline: Instant,
    reads: Vec<ReadEvent>,
    received: BytesMut,
}

impl Recorder {
    fn so_far(&mut self) -> ReadsSoFar {
        ReadsSoFar {
            reads: std::mem::take(&mut self.reads),
            received: std::mem::take(&mut self.received).freeze(),
        }
    }

    fn timeout(&mut self) -> ClientError {
        let waited = self.start.elapsed();
        ClientError::timeout(waited, self.so_far())
    }
}

impl Client {
    pub(super) async fn receive_since(&mut self, start: Instant) -> Result<Reply, ClientError> {
        let mut rec = Recorder {
            start,
            deadline: Instant::now() + self.config.timeout,
            reads: Vec::new(),
            received: BytesMut::new(),
        };
        let mut reply = Reply {
            body: Default::default(),
            reads: Vec::new(),
            header: None,
            declared_len: None,
            token_sent_at: None,
            elapsed: Duration::ZERO,
        };
        match self.config.reply_format() {
            Format::OneRead => self.receive_naive(&mut rec, &mut reply).await?,
            Format::Ready => self.receive_ready(&mut rec, &mut reply).await?,
            Format::Length | Format::Json | Format::Upload | Format::Spec => {
                self.receive_decoded(&mut rec, &mut reply).await?
            }
        }
        reply.elapsed = start.elapsed();
        reply.reads = rec.reads;
        Ok(reply)
    }

    /// One read call of at most `limit` bytes into `buf`, recorded.
    async fn read(
        &mut self,
        rec: &mut Recorder,
        buf: &mut BytesMut,
        limit: usize,
    ) -> Result<usize, ClientError> {
        buf.reserve(limit);
        let before = buf.len();
        let mut limited = (&mut self.stream).take(limit as u64);
        match tokio::time::timeout_at(rec.deadline.into(), limited.read_buf(buf)).await {
            Err(_) => Err(rec.timeout()),
            Ok(Err(e)) => Err(ClientError::from_io(e, rec.so_far())),
            Ok(Ok(n)) => {
                if n > 0 {
                    // The timeout counts time without progress, so a slow trickle is no hang.
                    rec.deadline = Instant::now() + self.config.timeout;
                }
                rec.reads.push(ReadEvent {
                    at: rec.start.elapsed(),
                    len: n,
                });
                rec.received.extend_from_slice(&buf[before..]);
                Ok(n)
            }
        }
    }

    /// `naive`: one read of at most `read_size` bytes is the reply.
    async fn receive_naive(
        &mut self,
        rec: &mut Recorder,
        reply: &mut Reply,
    ) -> Result<(), ClientError> {
        let read_size = self.config.read_size.max(1);
        let mut buf = BytesMut::with_capacity(read_size);
        if self.read(rec, &mut buf, read_size).await? == 0 {
            return Err(ClientError::closed_early(0, 1, rec.so_far()));
        }
        let mut codec = self.config.format_config().one_read();
        match codec.decode(&mut buf) {
            Ok(Some(body)) => reply.body = body.freeze(),
            Ok(None) => return Err(ClientError::closed_early(0, 1, rec.so_far())),
            Err(e) => return Err(ClientError::from_codec(e, rec.so_far())),
        }
        Ok(())
    }

    /// `ready`: one read is the digits; write the token; read until the body is complete,
    /// never past it.
    async fn receive_ready(
        &mut self,
        rec: &mut Recorder,
        reply: &mut Reply,
    ) -> Result<(), ClientError> {
        let read_size = self.config.read_size.max(1);
        let mut decoder = self.config.format_config().ready();
        let mut buf = BytesMut::with_capacity(read_size);
        if self.read(rec, &mut buf, read_size).await? == 0 {
            return Err(ClientError::closed_early(0, 1, rec.so_far()));
        }
        let len = match decoder.decode(&mut buf) {
            Ok(Some(ReadyItem::Length(n))) => n,
            // The decoder takes any non-empty read as the digits; nothing else can come back.
            Ok(_) => return Err(ClientError::closed_early(0, 1, rec.so_far())),
            Err(e) => return Err(ClientError::from_codec(e, rec.so_far())),
        };
        reply.declared_len = Some(len);
        let token = self.config.token.clone();
        match tokio::time::timeout_at(rec.deadline.into(), self.stream.write_all(&token)).await {
            Err(_) => return Err(rec.timeout()),
            Ok(Err(e)) => return Err(ClientError::from_io(e, rec.so_far())),
            Ok(Ok(())) => reply.token_sent_at = Some(rec.start.elapsed()),
        }
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(ReadyItem::Body(body))) => {
                    reply.body = body.freeze();
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => return Err(ClientError::from_codec(e, rec.so_far())),
            }
            let want = (len - buf.len()).min(read_size);
            if self.read(rec, &mut buf, want).await? == 0 {
                let have = buf.len();
                return Err(match decoder.decode_eof(&mut buf) {
                    Err(e) => ClientError::from_codec(e, rec.so_far()),
                    Ok(_) => ClientError::closed_early(have, len, rec.so_far()),
                });
            }
        }
    }

    /// `struct`, `json`, `framed`, `upload`, a description: the decoder over the stream.
    async fn receive_decoded(
        &mut self,
        rec: &mut Recorder,
        reply: &mut Reply,
    ) -> Result<(), ClientError> {
        let read_size = self.config.read_size.max(1);
        let mut pending = std::mem::take(&mut self.pending);
        let result = loop {
            let decoded = match self.decoder.decode(&mut pending) {
                Ok(Some(AnyItem::Message(body))) => Ok(Some((body.freeze(), None))),
                Ok(Some(AnyItem::Json(frame))) => Ok(Some((frame.body, Some(frame.header)))),
                // Parts of streamed messages: the reply formats decoded here yield none.
                Ok(Some(AnyItem::Ready(_) | AnyItem::Upload(_))) | Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            match decoded {
                Ok(Some((body, header))) => {
                    reply.declared_len = Some(body.len());
                    reply.body = body;
                    reply.header = header;
                    break Ok(());
                }
                Ok(None) => {}
                Err(e) => break Err(ClientError::from_codec(e, rec.so_far())),
            }
            match self.read(rec, &mut pending, read_size).await {
                Ok(0) => {
                    let end = self.decoder.decode_eof(&mut pending).map(|f| f.is_some());
                    break Err(match end {
                        Err(e) => ClientError::from_codec(e, rec.so_far()),
                        // Nothing of a reply arrived before the end of stream.
                        Ok(_) => ClientError::closed_early(
                            0,
                            self.config.length_field.size(),
                            rec.so_far(),
                        ),
                    });
                }
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        self.pending = pending;
        result
    }
}
