//! The datagram chaos proxy: drops (with bursts), duplicates, reorders, delays and truncates
//! datagrams between clients and one upstream server, every random choice drawn from one seed.
//!
//! ```text
//! client A ─▶ [listen socket] ─ lane(up) ─▶ [upstream socket for A] ─▶ server
//! client A ◀─ [listen socket] ◀─ lane(down) ◀─ [upstream socket for A] ◀─ server
//! ```
//!
//! Each client address gets its own upstream socket, so the server sees one peer per client and
//! replies go back to the client they belong to. Clients are numbered 0, 1, 2… in order of their
//! first datagram, and direction `d` of client `i` draws from ChaCha20 seeded with `seed`, stream
//! `4i + d` (as the TCP proxy does per connection). Per-client state is bounded: at most
//! [`UdpProxyConfig::max_clients`] mappings (a new client evicts the least recently active one),
//! a mapping idle for [`UdpProxyConfig::idle_timeout`] is closed, and every datagram held inside
//! the proxy (queued, in a reorder window, delayed) counts against
//! [`UdpProxyConfig::max_held_bytes`]; past a bound a datagram is dropped and recorded as
//! `overflow`, never buffered.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use stickler::udp::proxy::{UdpProxy, UdpProxyConfig};
//! let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
//! let mut config = UdpProxyConfig::new("127.0.0.1:9000".parse()?);
//! config.toxics.push("both:drop=0.1,burst=3".parse()?);
//! config.seed = 42;
//! let proxy = UdpProxy::start(socket, config)?;
//! println!("UDP proxy on {}", proxy.local_addr());
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::lane::{DatagramLane, HeldBytes};
use super::record::{Action, DatagramEvent, DatagramSink};
use super::toxic::{Stages, UdpToxic, UdpToxicError};
use crate::chaos::seed::{derive, Stream};
use crate::chaos::timer::sleep_until_some;
use crate::chaos::Direction;

/// Default cap on client mappings.
pub const DEFAULT_MAX_CLIENTS: usize = 1024;
/// Default idle time after which a client mapping is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on delayed datagrams per client and direction.
pub const DEFAULT_MAX_PENDING: usize = 1024;
/// Default cap on the bytes of all datagrams held inside the proxy.
pub const DEFAULT_MAX_HELD_BYTES: usize = 32 << 20;
/// Datagrams queued from the listen socket to one client's lane.
const QUEUE: usize = 256;
/// Receive buffer: larger than any datagram, so the proxy itself never truncates.
const BUF: usize = 65536;

#[derive(Debug, thiserror::Error)]
pub enum UdpProxyError {
    #[error(transparent)]
    Toxic(#[from] UdpToxicError),
    #[error("the listen socket has no address: {0}")]
    Socket(std::io::Error),
}

/// What a UDP proxy does. [`UdpProxyConfig::new`]: no toxic, seed 0, no recording, and the
/// default bounds.
#[derive(Debug, Clone)]
pub struct UdpProxyConfig {
    pub upstream: SocketAddr,
    pub toxics: Vec<UdpToxic>,
    pub seed: u64,
    pub record: Option<DatagramSink>,
    pub max_clients: usize,
    pub idle_timeout: Duration,
    pub max_pending: usize,
    pub max_held_bytes: usize,
}

impl UdpProxyConfig {
    pub fn new(upstream: SocketAddr) -> UdpProxyConfig {
        UdpProxyConfig {
            upstream,
            toxics: Vec::new(),
            seed: 0,
            record: None,
            max_clients: DEFAULT_MAX_CLIENTS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_pending: DEFAULT_MAX_PENDING,
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
        }
    }
}

/// Counters of a running proxy.
#[derive(Debug, Default)]
struct Stats {
    clients_seen: AtomicU64,
    active: AtomicUsize,
    peak: AtomicUsize,
    evicted: AtomicU64,
    expired: AtomicU64,
    overflow: AtomicU64,
}

struct Shared {
    listen: Arc<UdpSocket>,
    upstream: SocketAddr,
    stages: [Stages; 2],
    seed: u64,
    record: Option<DatagramSink>,
    max_clients: usize,
    idle_timeout: Duration,
    max_pending: usize,
    budget: Arc<HeldBytes>,
    start: Instant,
    stats: Stats,
}

impl Shared {
    fn micros(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn overflow(&self, client: u64, dir: Direction, len: usize) {
        self.stats.overflow.fetch_add(1, Ordering::Relaxed);
        if let Some(sink) = &self.record {
            sink.push(DatagramEvent {
                client,
                dir,
                seq: u64::MAX,
                action: Action::Overflow,
                len,
                copy: 0,
                truncated_from: None,
                delay_us: 0,
                t_us: self.micros(),
                data: None,
            });
        }
    }
}

/// One client mapping.
struct Entry {
    index: u64,
    /// Microseconds since the proxy's start of the client's last datagram.
    last_seen: Arc<AtomicU64>,
    /// Datagrams from the client, with the time the listen socket received each.
    tx: mpsc::Sender<(Instant, Vec<u8>)>,
    cancel: CancellationToken,
}

/// Starts UDP proxies.
pub struct UdpProxy;

impl UdpProxy {
    /// Serves `socket` until [`UdpProxyHandle::shutdown`]. Must be called within a tokio
    /// runtime. Invalid toxics (a type twice in a direction) are an error.
    pub fn start(
        socket: UdpSocket,
        config: UdpProxyConfig,
    ) -> Result<UdpProxyHandle, UdpProxyError> {
        let stages = [
            Stages::for_direction(&config.toxics, Direction::Up)?,
            Stages::for_direction(&config.toxics, Direction::Down)?,
        ];
        let addr = socket.local_addr().map_err(UdpProxyError::Socket)?;
        let shared = Arc::new(Shared {
            listen: Arc::new(socket),
            upstream: config.upstream,
            stages,
            seed: config.seed,
            record: config.record,
            max_clients: config.max_clients.max(1),
            idle_timeout: config.idle_timeout.max(Duration::from_millis(1)),
            max_pending: config.max_pending.max(1),
            budget: Arc::new(HeldBytes {
                held: AtomicUsize::new(0),
                limit: config.max_held_bytes,
            }),
            start: Instant::now(),
            stats: Stats::default(),
        });
        let cancel = CancellationToken::new();
        let task = tokio::spawn(listen_loop(shared.clone(), cancel.clone()));
        Ok(UdpProxyHandle {
            addr,
            shared,
            cancel,
            task: Mutex::new(Some(task)),
        })
    }
}

async fn listen_loop(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut clients: HashMap<SocketAddr, Entry> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; BUF];
    let sweep_every =
        (shared.idle_timeout / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
    let mut sweep = tokio::time::interval(sweep_every);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = sweep.tick() => expire(&shared, &mut clients),
            r = shared.listen.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let arrived = Instant::now();
                    let now = shared.micros();
                    if !clients.contains_key(&from) {
                        match open_client(&shared, from, &mut clients, &mut tasks, &cancel).await {
                            Ok(()) => {}
                            Err(e) => {
                                tracing::warn!(client = %from, error = %e, "cannot open an upstream socket");
                                continue;
                            }
                        }
                    }
                    let Some(entry) = clients.get(&from) else { continue };
                    entry.last_seen.store(now, Ordering::Relaxed);
                    if !shared.budget.take(n) {
                        shared.overflow(entry.index, Direction::Up, n);
                        continue;
                    }
                    if entry.tx.try_send((arrived, buf[..n].to_vec())).is_err() {
                        shared.budget.give(n);
                        shared.overflow(entry.index, Direction::Up, n);
                    }
                }
                // An ICMP error for an earlier datagram to a client, and the like.
                Err(e) => tracing::debug!(error = %e, "UDP proxy receive failed"),
            },
        }
    }
    for (_, entry) in clients.drain() {
        entry.cancel.cancel();
    }
    while tasks.join_next().await.is_some() {}
    if let Some(sink) = &shared.record {
        let _ = sink.flush();
    }
}

/// Closes mappings idle for longer than the idle timeout.
fn expire(shared: &Shared, clients: &mut HashMap<SocketAddr, Entry>) {
    let now = shared.micros();
    let idle = shared.idle_timeout.as_micros() as u64;
    clients.retain(|_, e| {
        let keep = now.saturating_sub(e.last_seen.load(Ordering::Relaxed)) < idle;
        if !keep {
            e.cancel.cancel();
            shared.stats.expired.fetch_add(1, Ordering::Relaxed);
        }
        keep
    });
    shared.stats.active.store(clients.len(), Ordering::Relaxed);
}

async fn open_client(
    shared: &Arc<Shared>,
    from: SocketAddr,
    clients: &mut HashMap<SocketAddr, Entry>,
    tasks: &mut JoinSet<()>,
    cancel: &CancellationToken,
) -> std::io::Result<()> {
    if clients.len() >= shared.max_clients {
        let oldest = clients
            .iter()
            .min_by_key(|(_, e)| e.last_seen.load(Ordering::Relaxed))
            .map(|(a, _)| *a);
        if let Some(entry) = oldest.and_then(|a| clients.remove(&a)) {
            entry.cancel.cancel();
            shared.stats.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }
    let local: SocketAddr = if shared.upstream.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let upstream = UdpSocket::bind(local).await?;
    upstream.connect(shared.upstream).await?;
    let index = shared.stats.clients_seen.fetch_add(1, Ordering::SeqCst);
    let (tx, rx) = mpsc::channel(QUEUE);
    let last_seen = Arc::new(AtomicU64::new(shared.micros()));
    let token = cancel.child_token();
    let lanes = [Direction::Up, Direction::Down].map(|dir| {
        DatagramLane::new(
            index,
            dir,
            shared.stages[dir as usize].clone(),
            derive(
                shared.seed,
                Stream::Lane {
                    conn: index,
                    lane: dir as u64,
                },
            )
            .rng(),
            shared.max_pending,
            shared.budget.clone(),
            shared.record.clone(),
            shared.start,
        )
    });
    tasks.spawn(serve_client(
        shared.clone(),
        index,
        from,
        upstream,
        rx,
        lanes,
        last_seen.clone(),
        token.clone(),
    ));
    clients.insert(
        from,
        Entry {
            index,
            last_seen,
            tx,
            cancel: token,
        },
    );
    let n = clients.len();
    shared.stats.active.store(n, Ordering::Relaxed);
    shared.stats.peak.fetch_max(n, Ordering::Relaxed);
    Ok(())
}

/// Runs both lanes of one client until its mapping is closed.
#[allow(clippy::too_many_arguments)]
async fn serve_client(
    shared: Arc<Shared>,
    index: u64,
    client: SocketAddr,
    upstream: UdpSocket,
    mut rx: mpsc::Receiver<(Instant, Vec<u8>)>,
    lanes: [DatagramLane; 2],
    last_seen: Arc<AtomicU64>,
    cancel: CancellationToken,
) {
    let [mut up, mut down] = lanes;
    loop {
        let deadline = match (up.next_deadline(), down.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            d = rx.recv() => match d {
                // Delays count from the arrival at the proxy, not from this task's wake-up.
                Some((arrived, data)) => up.accept(data, arrived),
                None => break,
            },
            r = upstream.readable() => {
                if r.is_err() {
                    break;
                }
                let mut buf = vec![0u8; BUF];
                match upstream.try_recv(&mut buf) {
                    Ok(n) => {
                        last_seen.fetch_max(shared.micros(), Ordering::Relaxed);
                        if shared.budget.take(n) {
                            buf.truncate(n);
                            buf.shrink_to_fit();
                            down.accept(buf, Instant::now());
                        } else {
                            shared.overflow(index, Direction::Down, n);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    // The server's port is closed (ICMP): the client will time out, as without us.
                    Err(e) => tracing::debug!(%client, error = %e, "upstream receive failed"),
                }
            }
            _ = sleep_until_some(deadline), if deadline.is_some() => {}
        }
        let now = Instant::now();
        for out in up.due(now) {
            if let Err(e) = upstream.send(&out.data).await {
                tracing::debug!(%client, error = %e, "send upstream failed");
            }
        }
        for out in down.due(now) {
            if let Err(e) = shared.listen.send_to(&out.data, client).await {
                tracing::debug!(%client, error = %e, "send to client failed");
            }
        }
    }
    up.release_all();
    down.release_all();
    while let Ok((_, data)) = rx.try_recv() {
        shared.budget.give(data.len());
    }
}

/// A running UDP proxy.
pub struct UdpProxyHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl UdpProxyHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Stops, closes every mapping, and waits until all are gone.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// Events recorded so far, when recording in memory (empty otherwise).
    pub fn events(&self) -> Vec<DatagramEvent> {
        self.shared
            .record
            .as_ref()
            .map(|r| r.events())
            .unwrap_or_default()
    }

    /// Clients seen so far (mappings ever opened).
    pub fn clients_seen(&self) -> u64 {
        self.shared.stats.clients_seen.load(Ordering::SeqCst)
    }

    /// Client mappings open now.
    pub fn active_clients(&self) -> usize {
        self.shared.stats.active.load(Ordering::Relaxed)
    }

    /// The most client mappings ever open at once.
    pub fn peak_clients(&self) -> usize {
        self.shared.stats.peak.load(Ordering::Relaxed)
    }

    /// Mappings closed to make room for a new client.
    pub fn evicted(&self) -> u64 {
        self.shared.stats.evicted.load(Ordering::Relaxed)
    }

    /// Mappings closed for being idle.
    pub fn expired(&self) -> u64 {
        self.shared.stats.expired.load(Ordering::Relaxed)
    }

    /// Datagrams dropped because a bound was reached.
    pub fn overflows(&self) -> u64 {
        self.shared.stats.overflow.load(Ordering::Relaxed)
    }

    /// Bytes of datagrams held inside the proxy now.
    pub fn held_bytes(&self) -> usize {
        self.shared.budget.held.load(Ordering::Relaxed)
    }
}

impl Drop for UdpProxyHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
