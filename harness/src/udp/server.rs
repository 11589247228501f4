//! The tutorials' UDP servers (seed 001 and 004): one datagram a request, one a reply.
//!
//! [`spawn`] (or [`spawn_local`]) starts a server on its own task behind a [`ServerHandle`], the
//! same handle as the TCP servers'; [`run`] serves in the foreground.
//!
//! A server reads each request with a `recv_size`-byte buffer (1024, as the tutorials do: a
//! longer request is truncated and its rest lost), answers it with the service's reply in one
//! datagram to the sender, and stops when `shutdown` completes. There is no per-client state, so
//! a flood from many source ports costs nothing but the replies. An empty datagram is a request
//! like any other and gets a reply (for `echo`, an empty one).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tracing::{info, warn};

use super::{recv_datagram, UdpService, RECV_SIZE};
pub use crate::peer::ServerHandle;

/// How a UDP server behaves.
#[derive(Debug, Clone)]
pub struct UdpServerConfig {
    pub service: UdpService,
    /// Size of the buffer every request is read into (default 1024).
    pub recv_size: usize,
    /// Counters, readable while the server runs.
    pub stats: Arc<UdpServerStats>,
}

impl UdpServerConfig {
    pub fn new(service: UdpService) -> UdpServerConfig {
        UdpServerConfig {
            service,
            recv_size: RECV_SIZE,
            stats: Arc::default(),
        }
    }
    pub fn recv_size(mut self, n: usize) -> Self {
        self.recv_size = n.max(1);
        self
    }
}

/// What a server has done so far.
#[derive(Debug, Default)]
pub struct UdpServerStats {
    /// Requests received.
    pub requests: AtomicU64,
    /// Requests longer than the buffer (their rest was lost).
    pub truncated: AtomicU64,
    /// Replies sent.
    pub replies: AtomicU64,
}

impl UdpServerStats {
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.truncated.load(Ordering::Relaxed),
            self.replies.load(Ordering::Relaxed),
        )
    }
}

/// Starts serving `socket` on a new task; the handle signals shutdown and awaits the end.
pub fn spawn(socket: UdpSocket, config: UdpServerConfig) -> std::io::Result<ServerHandle> {
    let addr = socket.local_addr()?;
    let what = format!("UDP {} server", config.service);
    Ok(ServerHandle::spawn(addr, what, move |shutdown| {
        run(socket, config, shutdown)
    }))
}

/// [`spawn`] on a 127.0.0.1 port the kernel picks.
pub async fn spawn_local(config: UdpServerConfig) -> std::io::Result<ServerHandle> {
    spawn(UdpSocket::bind("127.0.0.1:0").await?, config)
}

/// Serves `socket` until `shutdown` completes.
pub async fn run(
    socket: UdpSocket,
    config: UdpServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let addr = socket.local_addr()?;
    info!(%addr, service = %config.service, recv_size = config.recv_size, "serving UDP");
    let mut buf = vec![0u8; config.recv_size.max(1)];
    let stats = config.stats.clone();
    tokio::pin!(shutdown);
    loop {
        let request = tokio::select! {
            _ = &mut shutdown => break,
            r = recv_datagram(&socket, &mut buf) => r,
        };
        let request = match request {
            Ok(d) => d,
            Err(e) => {
                // An ICMP error from an earlier reply's destination, and the like: not fatal.
                warn!(error = %e, "UDP receive failed");
                continue;
            }
        };
        stats.requests.fetch_add(1, Ordering::Relaxed);
        if request.truncated() {
            stats.truncated.fetch_add(1, Ordering::Relaxed);
            warn!(
                peer = %request.from,
                len = request.wire_len,
                kept = request.data.len(),
                "request longer than the receive buffer: the rest is lost"
            );
        }
        let reply = config.service.reply(&request.data);
        match socket.send_to(&reply, request.from).await {
            Ok(_) => {
                stats.replies.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => warn!(peer = %request.from, error = %e, "UDP reply failed"),
        }
    }
    info!(%addr, "UDP server stopped");
    Ok(())
}
