//! One accepted connection: the IO every handler shares, with the idle timeout and shutdown
//! applied in one place, and the log line that says why a connection closed. A leaf: the
//! handlers use it, and the choice of handler is made in the server module above it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::config::ServerConfig;
use crate::codec::CodecError;

/// Why a connection was closed by the server.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("bad input: {0}")]
    Codec(#[from] CodecError),
    #[error("cannot encode the reply: {0}")]
    Reply(CodecError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("idle for {0:?}")]
    Idle(Duration),
    #[error("peer sent nothing for {0:?} while {1}")]
    Stalled(Duration, &'static str),
    #[error("peer closed the connection while the server was {0}")]
    ClosedEarly(&'static str),
    #[error("upload storage error: {0}")]
    Storage(std::io::Error),
}

/// What waiting for the next request gave.
pub(super) enum Next<T> {
    Data(T),
    /// The peer closed cleanly between exchanges.
    Eof,
    /// The server is shutting down and the connection was idle.
    Stopping,
}

pub(super) struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub config: Arc<ServerConfig>,
    stop: CancellationToken,
}

impl Conn {
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        config: Arc<ServerConfig>,
        stop: CancellationToken,
    ) -> Self {
        Conn {
            stream,
            peer,
            config,
            stop,
        }
    }

    /// Logs the new connection.
    pub fn accepted(&self) {
        debug!(peer = %self.peer, "connection accepted");
    }

    /// Logs why the connection ended.
    pub fn closed(&self, result: Result<(), ConnError>) {
        let framing = self.config.framing_name();
        match result {
            Ok(()) => debug!(peer = %self.peer, "connection closed"),
            Err(ConnError::Idle(d)) => {
                info!(peer = %self.peer, %framing, "closing idle connection after {d:?}")
            }
            Err(e) => warn!(peer = %self.peer, %framing, "closing connection: {e}"),
        }
    }

    /// Waits for the first bytes of a request, reading at most `limit` bytes into `buf`:
    /// bounded by the idle timeout, given up when the server stops. `Data(n)` has `n > 0`.
    pub async fn read_idle(
        &mut self,
        buf: &mut BytesMut,
        limit: usize,
    ) -> Result<Next<usize>, ConnError> {
        if self.stop.is_cancelled() {
            return Ok(Next::Stopping);
        }
        let idle = self.config.idle_timeout;
        let read = tokio::time::timeout(idle, read_some(&mut self.stream, buf, limit));
        tokio::select! {
            _ = self.stop.cancelled() => Ok(Next::Stopping),
            r = read => match r {
                Err(_) => Err(ConnError::Idle(idle)),
                Ok(Ok(0)) => Ok(Next::Eof),
                Ok(Ok(n)) => Ok(Next::Data(n)),
                Ok(Err(e)) => Err(e.into()),
            }
        }
    }

    /// Reads at most `limit` more bytes of an exchange in flight (shutdown waits for it):
    /// `Ok(0)` is end of stream.
    pub async fn read_in_flight(
        &mut self,
        buf: &mut BytesMut,
        limit: usize,
        waiting_for: &'static str,
    ) -> Result<usize, ConnError> {
        let idle = self.config.idle_timeout;
        match tokio::time::timeout(idle, read_some(&mut self.stream, buf, limit)).await {
            Err(_) => Err(ConnError::Stalled(idle, waiting_for)),
            Ok(r) => Ok(r?),
        }
    }

    /// One read of at most `read_size` bytes, taken as one message by the one-read decoder: the
    /// tutorials' `conn.recv(1024)`. `idle` = between exchanges (timeout closes, shutdown stops).
    pub async fn read_once(
        &mut self,
        idle: bool,
        waiting_for: &'static str,
    ) -> Result<Next<BytesMut>, ConnError> {
        let read_size = self.config.read_size.max(1);
        let mut buf = BytesMut::with_capacity(read_size);
        let n = if idle {
            match self.read_idle(&mut buf, read_size).await? {
                Next::Data(n) => n,
                Next::Eof => return Ok(Next::Eof),
                Next::Stopping => return Ok(Next::Stopping),
            }
        } else {
            self.read_in_flight(&mut buf, read_size, waiting_for)
                .await?
        };
        if n == 0 {
            return Ok(Next::Eof);
        }
        let mut codec = self.config.format_config().one_read();
        Ok(match codec.decode(&mut buf)? {
            Some(message) => Next::Data(message),
            None => Next::Eof,
        })
    }

    /// Writes all of `bytes` as one write call of the tutorials (`send`/`sendall`), bounded by
    /// the idle timeout so a peer that stops reading cannot hold the connection forever.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let idle = self.config.idle_timeout;
        match tokio::time::timeout(idle, self.stream.write_all(bytes)).await {
            Err(_) => Err(ConnError::Stalled(
                idle,
                "writing a reply the peer does not read",
            )),
            Ok(r) => Ok(r?),
        }
    }

    /// Closes after an error reply: sends FIN, then discards what the peer still sends (up to a
    /// second and a bounded byte count) so the reply is not lost to a reset.
    pub async fn linger_close(&mut self) {
        const LINGER: Duration = Duration::from_secs(1);
        const MAX_DISCARD: usize = 16 << 20;
        let _ = self.stream.shutdown().await;
        let mut scratch = vec![0u8; 16 << 10];
        let mut discarded = 0;
        let _ = tokio::time::timeout(LINGER, async {
            while discarded < MAX_DISCARD {
                match self.stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => discarded += n,
                }
            }
        })
        .await;
    }
}

/// One read call of at most `limit` bytes into `buf`.
async fn read_some(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    limit: usize,
) -> std::io::Result<usize> {
    buf.reserve(limit);
    let mut limited = stream.take(limit as u64);
    limited.read_buf(buf).await
}
