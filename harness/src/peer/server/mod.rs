//! Reference servers for every TCP framing (docs/wire.md), over an already-bound listener.
//!
//! [`spawn`] (or [`spawn_local`], on a free 127.0.0.1 port) starts a server on its own task and
//! returns its [`ServerHandle`]; [`run`] serves in the foreground until a given future completes;
//! [`serve_io`] serves one in-memory stream (`tokio::io::duplex`) as one connection, the same way.
//!
//! A server accepts connections until shutdown, serving each on its own task: unlike
//! the tutorials' servers (one client at a time), many clients are served concurrently. Past
//! [`ServerConfig::max_connections`] a new connection is accepted and closed at once, with a log
//! line. A connection idle for [`ServerConfig::idle_timeout`] is closed. On shutdown the listener
//! closes, idle connections close, and exchanges in flight finish (up to
//! [`ServerConfig::drain_timeout`]).
//!
//! Memory: all connections together buffer at most [`ServerConfig::max_buffered`] request
//! bytes beyond [`CONN_ALLOWANCE`] (4 KiB) each. A connection that would pass it is not read
//! (TCP backpressure: its peer's writes block) until room frees, and is closed, with a log line
//! naming `--max-buffered`, if that takes longer than the idle timeout. Stored uploads count
//! against [`ServerConfig::max_storage`].
//!
//! The handler of a connection is chosen by the request format of its framing
//! ([`Framing::formats`](crate::codec::Framing::formats)):
//! - `faithful`: `naive`, `ready`, `struct`, `json`: one read of at most `read_size` bytes is
//!   one command, exactly as the tutorials do, and replies are written as they write them.
//! - `framed`: framed requests, framed replies; with [`ServerConfig::spec`], framed by a
//!   description (`length:u32be`, `dns`, `lines`, ...).
//! - `upload`: streamed, md5-checked file uploads with a `struct`-framed JSON status.

mod config;
mod conn;
mod faithful;
mod framed;
mod limits;
mod upload;

pub use config::{
    ServerConfig, DEFAULT_DRAIN_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BUFFERED,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_STORAGE,
};
pub use conn::ConnError;
pub use limits::{QuotaFull, CONN_ALLOWANCE};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::codec::{Format, Framing};
use conn::{Conn, Peer};
use limits::Limits;

pub use super::handle::ServerHandle;

/// Serves one connection to its end with the handler of the framing's request format, logs
/// why it ended and returns that.
async fn serve(mut conn: Conn) -> Result<(), ConnError> {
    conn.accepted();
    let result = match conn.config.formats().request {
        Format::OneRead | Format::Ready => faithful::serve(&mut conn).await,
        Format::Length | Format::Json | Format::Spec => framed::serve(&mut conn).await,
        Format::Upload => upload::serve(&mut conn).await,
    };
    conn.closed(&result);
    result
}

/// Serves one in-memory stream (e.g. one end of `tokio::io::duplex`) as one connection, to its
/// end, exactly as an accepted TCP connection is served: the same handler for the framing, the
/// same idle timeout (tokio timers: `tokio::time::pause()` applies), the same log line (peer
/// `in-memory`). Returns why the connection ended.
///
/// Nothing is shared with other calls: shutdown never comes (the stream ends it), and the
/// connection has a buffer budget ([`ServerConfig::max_buffered`]) and a storage quota of its
/// own. The config is not [checked](ServerConfig::check): a budget below the largest request
/// only makes such a request end in [`ConnError::BudgetFull`]. Uploads need
/// `config.storage_dir`: without one, the upload is answered with an error status and the
/// connection ends with [`ConnError::Storage`].
pub async fn serve_io<S>(io: S, config: Arc<ServerConfig>) -> Result<(), ConnError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = Limits::new(&config);
    let conn = Conn::new(
        io,
        Peer::InMemory,
        config,
        CancellationToken::new(),
        &limits,
    );
    serve(conn).await
}

/// Serves one accepted TCP connection (see [`serve`]).
async fn serve_tcp(
    stream: TcpStream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    stop: CancellationToken,
    limits: &Limits,
) {
    let _ = serve(Conn::new(stream, Peer::Tcp(peer), config, stop, limits)).await;
}

/// Starts serving `listener` on a new task; the handle signals shutdown and awaits the drain.
pub fn spawn(listener: TcpListener, config: ServerConfig) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let what = format!("{} server", config.framing_name());
    Ok(ServerHandle::spawn(addr, what, move |shutdown| {
        run(listener, config, shutdown)
    }))
}

/// [`spawn`] on a 127.0.0.1 port the kernel picks.
pub async fn spawn_local(config: ServerConfig) -> std::io::Result<ServerHandle> {
    spawn(TcpListener::bind("127.0.0.1:0").await?, config)
}

/// Serves `listener` until `shutdown` completes, then drains connections and returns. A config
/// that fails [`ServerConfig::check`] is refused (`InvalidInput`) before anything is served.
pub async fn run(
    listener: TcpListener,
    mut config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    config
        .check()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // Kept alive (and removed on return) when uploads go to a fresh temporary directory.
    let _temp_dir = match (config.framing, &config.storage_dir) {
        (Framing::Upload, None) => {
            let dir = tempfile::Builder::new()
                .prefix("stickler-uploads-")
                .tempdir()?;
            config.storage_dir = Some(dir.path().to_path_buf());
            Some(dir)
        }
        (Framing::Upload, Some(dir)) => {
            std::fs::create_dir_all(dir)?;
            None
        }
        _ => None,
    };
    let addr = listener.local_addr()?;
    info!(
        %addr,
        framing = %config.framing_name(),
        service = %config.service,
        storage = ?config.storage_dir,
        max_buffered = config.max_buffered,
        "serving"
    );
    let limits = Limits::new(&config);
    let config = Arc::new(config);
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    warn!(error = %e, "connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        warn!(%peer, max = config.max_connections, "connection limit reached: refusing the connection");
                        drop(stream);
                        continue;
                    };
                    if config.nodelay {
                        if let Err(e) = stream.set_nodelay(true) {
                            warn!(%peer, error = %e, "could not set TCP_NODELAY");
                        }
                    }
                    let (config, stop, limits) = (config.clone(), stop.clone(), limits.clone());
                    tasks.spawn(async move {
                        serve_tcp(stream, peer, config, stop, &limits).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    stop.cancel();
    if !tasks.is_empty() {
        info!(
            connections = tasks.len(),
            "shutting down: draining exchanges in flight"
        );
    }
    let drained = tokio::time::timeout(config.drain_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            connections = tasks.len(),
            "drain timed out: closing the remaining connections"
        );
        tasks.shutdown().await;
    }
    info!(%addr, "server stopped");
    Ok(())
}
