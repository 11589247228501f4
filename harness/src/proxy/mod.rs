//! The chaos proxy: a TCP relay that splits, coalesces, delays and cuts streams so that the
//! effect reaches the receiver's own `recv()`, with every random choice drawn from one seed.
//!
//! ```text
//! client ──up──▶ [listener] ─ toxics(up) ──▶ upstream server
//! client ◀─down── ─ toxics(down) ◀───────── upstream server
//! ```
//!
//! Each direction of each connection runs a [`pipeline`] of [`toxic`]s; a direction with none
//! takes the [`fastpath`] (splice on Linux). Connections are numbered 0, 1, 2… in accept order,
//! and direction `d` of connection `i` draws from ChaCha20 seeded with `seed`, stream `4i + d`
//! ([`crate::chaos::seed`]), so the same seed and the same bytes give the same pieces and delays.
//! [`record`] keeps what was written and turns it into a [`PieceSchedule`] to replay;
//! [`transcript`] shows a recorded stream through a codec. [`api`] serves the toxiproxy HTTP API.
//!
//! # Memory
//!
//! What the proxy holds read but not yet written is bounded per direction
//! ([`pipeline::QUEUE_CAP`]) and across all connections and both directions by
//! [`ProxyConfig::max_queued`] (64 MiB by default), counted as memory: each queued piece's bytes
//! and its slot in the queue ([`pipeline::PIECE_SLOT`], used or not), what the toxics hold
//! inside, and the fast path's read in flight. A direction that finds the budget spent stops
//! reading, and so pushes back on its sender, until writes free room; it keeps writing what it
//! holds meanwhile. Each direction may still hold [`pipeline::QUEUE_FLOOR`] (16 KiB) past the
//! budget, so a fresh connection is relayed however many stuck ones spent it. The bound, then:
//! `max_queued` + 16 KiB per direction + what the reads taken while there was room became in
//! the toxics (about 10 MiB for a 64 KiB read cut into 1-byte pieces, per runtime thread).
//! Everything is released when its connection ends, however it ends. No read buffer stays with
//! a direction between reads ([`fastpath`], [`pipeline`]), so an idle connection holds none.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use stickler::proxy::{Proxy, ProxyConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let mut config = ProxyConfig::new("127.0.0.1:9000".parse().unwrap());
//! config.toxics.push("down:split=1..16,gap=1ms".parse().unwrap());
//! config.seed = 42;
//! let proxy = Proxy::start(listener, config);
//! println!("proxy on {}", proxy.local_addr());
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```

pub mod api;
pub mod api_model;
pub mod bench;
pub mod builder;
pub mod config_file;
mod conn;
pub mod fastpath;
pub mod pipeline;
pub mod record;
mod shared;
pub mod stream;
pub mod toxic;
pub mod transcript;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use builder::{ChaosProxy, ChaosProxyBuilder, ChaosProxyError};
pub use fastpath::Mode as FastMode;
pub use record::{PieceEvent, PieceSchedule, RecordSink};
pub use stream::{ChaosStream, ChaosStreamBuilder};
pub use toxic::{ToxicError, ToxicKind, ToxicSpec};

use crate::chaos::Direction;
use shared::Shared;

/// Default of [`ProxyConfig::max_queued`]: 64 MiB, the queues of 64 connections stuck at their
/// own cap ([`pipeline::QUEUE_CAP`]) or 256 fast-path reads in flight, far more than one
/// connection needs to move at full speed, and a small part of a test machine's memory.
pub const DEFAULT_MAX_QUEUED: usize = 64 << 20;

/// What a proxy does. [`ProxyConfig::new`] gives: no toxic, seed 0, no recording, no replay,
/// TCP_NODELAY on (split pieces must leave as separate segments), copying fast path, a budget
/// of [`DEFAULT_MAX_QUEUED`] bytes, [`pipeline::QUEUE_CAP`] per direction.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub upstream: SocketAddr,
    pub toxics: Vec<ToxicSpec>,
    pub seed: u64,
    pub record: Option<RecordSink>,
    pub replay: Option<PieceSchedule>,
    pub nodelay: bool,
    pub fast_mode: FastMode,
    /// The budget of bytes held read but not yet written, across all connections and both
    /// directions (see [Memory](self#memory)).
    pub max_queued: usize,
    /// What one direction of one connection may hold read but not yet written before it stops
    /// reading ([`pipeline::QUEUE_CAP`], 1 MiB, by default). A latency toxic of `d` moves at
    /// most this much per `d`: a message larger than the cap takes one more `d` to come out, so
    /// raise it to measure exchanges of larger messages under latency.
    pub queue_cap: usize,
}

impl ProxyConfig {
    pub fn new(upstream: SocketAddr) -> ProxyConfig {
        ProxyConfig {
            upstream,
            toxics: Vec::new(),
            seed: 0,
            record: None,
            replay: None,
            nodelay: true,
            fast_mode: FastMode::Copy,
            max_queued: DEFAULT_MAX_QUEUED,
            queue_cap: pipeline::QUEUE_CAP,
        }
    }
}

/// Listen queue length for [`bind`]: room for a burst of a thousand connects at once.
pub const BACKLOG: i32 = 4096;

/// Binds a listener with a listen queue of [`BACKLOG`] (the default, 128, drops the SYNs of a
/// burst of connects, which then wait seconds for a retransmit).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG as u32)
}

/// Starts proxies.
pub struct Proxy;

impl Proxy {
    /// Serves `listener` until [`ProxyHandle::shutdown`]. Must be called within a tokio runtime.
    /// Invalid toxics are dropped with a warning; use [`ProxyHandle::set_toxics`] to see errors.
    pub fn start(listener: TcpListener, config: ProxyConfig) -> ProxyHandle {
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let toxics: Vec<ToxicSpec> = config
            .toxics
            .into_iter()
            .filter(|t| match t.validate() {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("toxic {} ignored: {e}", t.name);
                    false
                }
            })
            .collect();
        let shared = Arc::new(Shared {
            upstream: Mutex::new(config.upstream),
            toxics: watch::Sender::new(Arc::new(toxics)),
            seed: config.seed,
            record: config.record,
            replay: config.replay,
            nodelay: config.nodelay,
            fast_mode: config.fast_mode,
            queue_cap: config.queue_cap,
            start: Instant::now(),
            bytes: [AtomicU64::new(0), AtomicU64::new(0)],
            received: [AtomicU64::new(0), AtomicU64::new(0)],
            accepted: AtomicU64::new(0),
            active: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            budget: Arc::new(shared::Budget::new(config.max_queued)),
        });
        let cancel = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), cancel.clone()));
        ProxyHandle {
            addr,
            shared,
            cancel,
            task: Mutex::new(Some(task)),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let index = shared.accepted.fetch_add(1, Ordering::SeqCst);
                    conns.spawn(conn::serve(stream, index, shared.clone(), cancel.child_token()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
    if let Some(sink) = &shared.record {
        let _ = sink.flush();
    }
}

/// A running proxy.
pub struct ProxyHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl ProxyHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection, and waits until all are gone.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// Piece events recorded so far, when recording in memory (empty otherwise).
    pub fn events(&self) -> Vec<PieceEvent> {
        self.shared
            .record
            .as_ref()
            .map(|r| r.events())
            .unwrap_or_default()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn active(&self) -> u64 {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// Connections whose upstream refused or did not answer.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// What is held now, read but not yet written, across all connections and both directions,
    /// as the budget counts it (bytes, and [`pipeline::PIECE_SLOT`] per slot of a queue): under
    /// [`ProxyHandle::max_queued`], or a little past it (see [Memory](self#memory)).
    pub fn queued_bytes(&self) -> usize {
        self.shared.budget.used()
    }

    /// The budget of [`ProxyHandle::queued_bytes`] ([`ProxyConfig::max_queued`]).
    pub fn max_queued(&self) -> usize {
        self.shared.budget.limit()
    }

    /// Bytes written so far in a direction.
    pub fn bytes(&self, dir: Direction) -> u64 {
        self.shared.bytes[dir as usize].load(Ordering::Relaxed)
    }

    /// Bytes read so far in `dir`, across all connections (what came in, before the toxics).
    pub fn received(&self, dir: Direction) -> u64 {
        self.shared.received[dir as usize].load(Ordering::Relaxed)
    }

    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream()
    }

    /// Where new connections go (open ones stay where they are).
    pub fn set_upstream(&self, addr: SocketAddr) {
        self.shared.set_upstream(addr);
    }

    pub fn toxics(&self) -> Vec<ToxicSpec> {
        self.shared.toxics.borrow().as_ref().clone()
    }

    /// Replaces the toxic list; open connections switch at once, releasing what old toxics hold.
    pub fn set_toxics(&self, toxics: Vec<ToxicSpec>) -> Result<(), ToxicError> {
        for t in &toxics {
            t.validate()?;
        }
        self.shared.toxics.send_replace(Arc::new(toxics));
        Ok(())
    }

    /// Edits the toxic list in place (validated as a whole, applied atomically).
    pub fn update_toxics<R>(
        &self,
        f: impl FnOnce(&mut Vec<ToxicSpec>) -> Result<R, ToxicError>,
    ) -> Result<R, ToxicError> {
        let mut result = None;
        self.shared.toxics.send_if_modified(|current| {
            let mut list = current.as_ref().clone();
            let r = f(&mut list).and_then(|r| {
                list.iter().try_for_each(|t| t.validate())?;
                Ok(r)
            });
            let ok = r.is_ok();
            if ok {
                *current = Arc::new(list);
            }
            result = Some(r);
            ok
        });
        result.expect("the closure ran")
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
