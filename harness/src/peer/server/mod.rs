//! Reference servers for every TCP framing (PROTOCOLS.md §2), over an already-bound listener.
//!
//! [`spawn`] (or [`spawn_local`], on a free 127.0.0.1 port) starts a server on its own task and
//! returns its [`ServerHandle`]; [`run`] serves in the foreground until a given future completes.
//!
//! A server accepts connections until shutdown, serving each on its own task: unlike
//! the tutorials' servers (one client at a time), many clients are served concurrently. Past
//! [`ServerConfig::max_connections`] a new connection is accepted and closed at once, with a log
//! line. A connection idle for [`ServerConfig::idle_timeout`] is closed. On shutdown the listener
//! closes, idle connections close, and exchanges in flight finish (up to
//! [`ServerConfig::drain_timeout`]).
//!
//! Per framing (see the submodules):
//! - [`faithful`]: `naive`, `ready`, `struct`, `json`: one read of at most `read_size` bytes is
//!   one command, exactly as the tutorials do, and replies are written as they write them.
//! - [`framed`]: framed requests, framed replies.
//! - [`upload`]: streamed, md5-checked file uploads with a `struct`-framed JSON status.

mod conn;
mod faithful;
mod framed;
mod upload;

pub use conn::ConnError;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::codec::framed::HeaderKind;
use crate::codec::json::SizeKey;
use crate::codec::length::LengthField;
use crate::codec::naive::DEFAULT_READ_SIZE;
use crate::codec::ready::DEFAULT_TOKEN;
use crate::codec::upload::DEFAULT_MAX_FILE_SIZE;
use crate::codec::{Framing, DEFAULT_MAX_FRAME_LENGTH};
use crate::service::Service;

pub use super::handle::ServerHandle;

/// Default cap on concurrent connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default idle timeout: a connection waiting this long for a request (or for the next byte of
/// one in flight) is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time shutdown waits for exchanges in flight.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How a server behaves. Build with [`ServerConfig::new`], then set fields or chain setters.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub framing: Framing,
    pub service: Service,
    /// Header of `framed` requests and replies (default `struct`).
    pub header_kind: HeaderKind,
    /// Length field of `struct`, `json` and `framed` (default `i32` little-endian).
    pub length_field: LengthField,
    /// Key `json` replies carry the body size under (default `file_size`; seed 001: `data_size`).
    pub size_key: SizeKey,
    /// Token the `ready` server waits for (default `ready`).
    pub ready_token: Bytes,
    /// Size of the one read that is one command (default 1024).
    pub read_size: usize,
    /// Concurrent connections served; more are closed at once (default 1024).
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub drain_timeout: Duration,
    /// Where uploads are stored; `None` = a fresh temporary directory, removed when [`run`]
    /// returns.
    pub storage_dir: Option<PathBuf>,
    /// Largest frame body read or written (default 8 MiB).
    pub max_frame_length: usize,
    /// Largest upload accepted (default 1 GiB).
    pub max_upload_size: usize,
    /// Set `TCP_NODELAY` on accepted sockets (default true).
    pub nodelay: bool,
}

impl ServerConfig {
    pub fn new(framing: Framing, service: Service) -> Self {
        ServerConfig {
            framing,
            service,
            header_kind: HeaderKind::default(),
            length_field: LengthField::I32_LE,
            size_key: SizeKey::FileSize,
            ready_token: Bytes::from_static(DEFAULT_TOKEN),
            read_size: DEFAULT_READ_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            storage_dir: None,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            max_upload_size: DEFAULT_MAX_FILE_SIZE,
            nodelay: true,
        }
    }
    pub fn header_kind(mut self, kind: HeaderKind) -> Self {
        self.header_kind = kind;
        self
    }
    pub fn ready_token(mut self, token: impl Into<Bytes>) -> Self {
        self.ready_token = token.into();
        self
    }
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    pub fn storage_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage_dir = Some(dir.into());
        self
    }
    pub fn max_frame_length(mut self, n: usize) -> Self {
        self.max_frame_length = n;
        self
    }
    pub fn max_upload_size(mut self, n: usize) -> Self {
        self.max_upload_size = n;
        self
    }
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }
}

/// Starts serving `listener` on a new task; the handle signals shutdown and awaits the drain.
pub fn spawn(listener: TcpListener, config: ServerConfig) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let what = format!("{} server", config.framing);
    Ok(ServerHandle::spawn(addr, what, move |shutdown| {
        run(listener, config, shutdown)
    }))
}

/// [`spawn`] on a 127.0.0.1 port the kernel picks.
pub async fn spawn_local(config: ServerConfig) -> std::io::Result<ServerHandle> {
    spawn(TcpListener::bind("127.0.0.1:0").await?, config)
}

/// Serves `listener` until `shutdown` completes, then drains connections and returns.
pub async fn run(
    listener: TcpListener,
    mut config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
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
        framing = %config.framing,
        service = %config.service,
        storage = ?config.storage_dir,
        "serving"
    );
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
                    let conn = conn::Conn::new(stream, peer, config.clone(), stop.clone());
                    tasks.spawn(async move {
                        conn.serve().await;
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
