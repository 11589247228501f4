//! A chaos proxy for your own integration tests: [`ChaosProxy`], started with a builder, on a
//! free 127.0.0.1 port in front of your server.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use stickler::proxy::builder::ChaosProxy;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // Your server (here: one that echoes what it reads).
//! let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let upstream = server.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((mut s, _)) = server.accept().await {
//!         tokio::spawn(async move {
//!             let (mut r, mut w) = s.split();
//!             let _ = tokio::io::copy(&mut r, &mut w).await;
//!         });
//!     }
//! });
//!
//! let proxy = ChaosProxy::builder(upstream)
//!     .seed(1)
//!     .toxic("down:split=1..4")?
//!     .record(true)
//!     .start()
//!     .await?;
//! let mut client = tokio::net::TcpStream::connect(proxy.addr()).await?;
//! client.write_all(b"hello, sticky world").await?;
//! let mut echoed = [0u8; 19];
//! client.read_exact(&mut echoed).await?; // arrives in pieces of 1 to 4 bytes
//! assert_eq!(&echoed, b"hello, sticky world");
//!
//! let down: Vec<_> = proxy.recorded().into_iter().filter(|e| e.dir.name() == "down").collect();
//! assert!(down.iter().all(|e| e.len <= 4 && e.toxic == "split"));
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Toxics are written in the grammar of `stickler proxy --toxic` (`[DIR:]TYPE=VALUE,...`, see
//! [`crate::proxy::toxic::parse`]), or given as [`ToxicSpec`]s (e.g. drawn by
//! `stickler::strategies::toxic_specs` under the `proptest` feature). While traffic flows,
//! [`ChaosProxy::add_toxic`] and [`ChaosProxy::remove_toxic`] change them through
//! [`ProxyHandle::update_toxics`], the path the toxiproxy HTTP API ([`crate::proxy::api`]) takes:
//! open connections switch between two pieces, none is stalled or dropped by the change.
//!
//! Dropping a [`ChaosProxy`] stops it without waiting: the listener and every proxied
//! connection are closed by the proxy's task the next time the runtime runs it (at once, when
//! the runtime itself is being shut down). Call [`ChaosProxy::shutdown`] to wait until the port
//! is released and every connection is closed.

use std::net::{Ipv4Addr, SocketAddr};

use super::record::{PieceEvent, PieceSchedule, RecordSink};
use super::toxic::{ToxicError, ToxicSpec};
use super::{Proxy, ProxyConfig, ProxyHandle};
use crate::chaos::Direction;

/// What went wrong building, starting or changing a [`ChaosProxy`].
#[derive(Debug, thiserror::Error)]
pub enum ChaosProxyError {
    /// A toxic that does not parse or is out of range.
    #[error(transparent)]
    Toxic(#[from] ToxicError),
    /// Two toxics of one proxy with the same name (name them with `name=NAME`).
    #[error("a toxic named {0:?} is already there: give the new one another name with name=NAME")]
    DuplicateName(String),
    /// No toxic of that name to remove.
    #[error("no toxic named {name:?} (the proxy has: {have})")]
    NoSuchToxic { name: String, have: String },
    /// The listening port could not be bound.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[from] std::io::Error),
}

/// Configures a [`ChaosProxy`]; made by [`ChaosProxy::builder`]. Defaults: no toxic, seed 0, no
/// recording, a budget of 64 MiB queued.
///
/// ```
/// use stickler::proxy::builder::ChaosProxy;
/// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap())
///     .toxic("down:split=1..4")
///     .unwrap();
/// assert!(b.clone().toxic("down:split=0").is_err()); // out of range
/// assert!(b.toxic("down:split=2").is_err()); // default name split_down taken
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .start().await"]
pub struct ChaosProxyBuilder {
    config: ProxyConfig,
    /// Record in memory at start: `Some(with_bytes)` (a fresh sink per proxy started, so that
    /// two proxies of one cloned builder never share a recording).
    record: Option<bool>,
}

fn check_unique(list: &[ToxicSpec], new: &ToxicSpec) -> Result<(), ChaosProxyError> {
    match list.iter().any(|t| t.name == new.name) {
        true => Err(ChaosProxyError::DuplicateName(new.name.clone())),
        false => Ok(()),
    }
}

impl ChaosProxyBuilder {
    /// The seed of every random choice (piece sizes, delays, toxicity draws): the same seed and
    /// the same bytes give the same pieces.
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap()).seed(7);
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Adds a toxic written as `stickler proxy --toxic` takes it, e.g. `down:split=1..4,gap=1ms`
    /// or `up:coalesce=5ms,name=merge`. Refused when it does not parse, is out of range, or its
    /// name (by default `TYPE_DIR`, e.g. `split_down`) is taken.
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap())
    ///     .toxic("down:split=1..4")?
    ///     .toxic("up:coalesce=5ms")?
    ///     .toxic("both:latency=1ms,jitter=1ms")?;
    /// # Ok::<(), stickler::proxy::builder::ChaosProxyError>(())
    /// ```
    pub fn toxic(self, spec: &str) -> Result<Self, ChaosProxyError> {
        let t: ToxicSpec = spec.parse()?;
        self.toxic_spec(t)
    }

    /// Adds a toxic given as a [`ToxicSpec`] (validated; its name must be new).
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// use stickler::chaos::Side;
    /// use stickler::proxy::toxic::{ToxicKind, ToxicSpec};
    /// let kind = ToxicKind::Split { min: 1, max: 1, gap: Default::default() };
    /// let split = ToxicSpec::new(Side::Up, kind);
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap()).toxic_spec(split)?;
    /// # Ok::<(), stickler::proxy::builder::ChaosProxyError>(())
    /// ```
    pub fn toxic_spec(mut self, spec: ToxicSpec) -> Result<Self, ChaosProxyError> {
        spec.validate()?;
        check_unique(&self.config.toxics, &spec)?;
        self.config.toxics.push(spec);
        Ok(self)
    }

    /// Adds several toxics ([`toxic_spec`](Self::toxic_spec) each, in order).
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// use stickler::proxy::toxic::ToxicSpec;
    /// let list: Vec<ToxicSpec> = ["down:split=1..4", "up:split=2"]
    ///     .iter().map(|s| s.parse().unwrap()).collect();
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap()).toxics(list)?;
    /// # Ok::<(), stickler::proxy::builder::ChaosProxyError>(())
    /// ```
    pub fn toxics(
        mut self,
        specs: impl IntoIterator<Item = ToxicSpec>,
    ) -> Result<Self, ChaosProxyError> {
        for t in specs {
            self = self.toxic_spec(t)?;
        }
        Ok(self)
    }

    /// Records every piece written, in memory, for [`ChaosProxy::recorded`]: connection,
    /// direction, offset, length, time and the toxic that shaped it (not the bytes: see
    /// [`record_bytes`](Self::record_bytes)). Off by default. A recording proxy never takes the
    /// splice fast path.
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap()).record(true);
    /// ```
    pub fn record(mut self, on: bool) -> Self {
        self.record = on.then_some(false);
        self
    }

    /// Like [`record`](Self::record), and each [`PieceEvent`] keeps its bytes too
    /// ([`PieceEvent::bytes`]). Memory grows with the traffic: for tests, not for load.
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap()).record_bytes(true);
    /// ```
    pub fn record_bytes(mut self, on: bool) -> Self {
        self.record = on.then_some(true);
        self
    }

    /// Replays a schedule instead of drawing pieces: connection `i`, direction `d` is written in
    /// exactly the pieces (and gaps) the schedule gives, e.g. one recorded by an earlier run
    /// ([`ChaosProxy::schedule`]).
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// use stickler::chaos::Direction;
    /// use stickler::proxy::record::{PieceSchedule, SchedPiece};
    /// let mut s = PieceSchedule::default();
    /// s.set(0, Direction::Down, [1, 1, 2].map(SchedPiece::len).to_vec());
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap()).replay(s);
    /// ```
    pub fn replay(mut self, schedule: PieceSchedule) -> Self {
        self.config.replay = Some(schedule);
        self
    }

    /// The budget of bytes the proxy holds read but not yet written, across all its connections
    /// and both directions ([`ProxyConfig::max_queued`], 64 MiB by default): a direction that
    /// finds it spent stops reading until writes free room, except for a small floor of its own
    /// ([`QUEUE_FLOOR`](crate::proxy::pipeline::QUEUE_FLOOR)) that keeps a fresh connection
    /// moving. [`ProxyHandle::queued_bytes`] tells what is held.
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap()).max_queued(8 << 20);
    /// ```
    pub fn max_queued(mut self, bytes: usize) -> Self {
        self.config.max_queued = bytes;
        self
    }

    /// What one direction of one connection may hold before it stops reading
    /// ([`ProxyConfig::queue_cap`], 1 MiB by default). Under a latency toxic of `d` a direction
    /// moves at most this much per `d`: raise it to time exchanges of messages larger than it.
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap())
    ///     .toxic("both:latency=5ms")
    ///     .unwrap()
    ///     .queue_cap(4 << 20);
    /// ```
    pub fn queue_cap(mut self, bytes: usize) -> Self {
        self.config.queue_cap = bytes;
        self
    }

    /// The whole [`ProxyConfig`] for what the builder does not set (TCP_NODELAY, fast-path
    /// mode, a recording to a JSON-lines file); the upstream stays the builder's, and
    /// [`record`](Self::record) wins over the config's recording.
    ///
    /// ```
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap())
    ///     .configure(|c| c.nodelay = false);
    /// ```
    pub fn configure(mut self, f: impl FnOnce(&mut ProxyConfig)) -> Self {
        let upstream = self.config.upstream;
        f(&mut self.config);
        self.config.upstream = upstream;
        self
    }

    /// Binds a free port on 127.0.0.1 and starts relaying to the upstream. Must be awaited
    /// within a tokio runtime; the upstream is dialled per connection, so it need not be up yet
    /// (a connection it refuses is reset).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap()).start().await?;
    /// println!("connect to {}", proxy.addr());
    /// # Ok(()) }
    /// ```
    pub async fn start(mut self) -> Result<ChaosProxy, ChaosProxyError> {
        let mut seen: Vec<ToxicSpec> = Vec::new();
        for t in &self.config.toxics {
            t.validate()?;
            check_unique(&seen, t)?;
            seen.push(t.clone());
        }
        if let Some(with_bytes) = self.record {
            self.config.record = Some(RecordSink::memory(with_bytes));
        }
        let listener = super::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let handle = Proxy::start(listener, self.config);
        Ok(ChaosProxy { handle })
    }
}

/// A running chaos proxy on 127.0.0.1, in front of one upstream server: connect your client to
/// [`addr`](Self::addr). Start one with [`ChaosProxy::builder`].
///
/// Stopped by [`shutdown`](Self::shutdown) (which waits until the port is free and every
/// connection closed) or by dropping it (which does not wait: the proxy's task closes the
/// listener and the connections when the runtime next runs it). No task outlives either.
pub struct ChaosProxy {
    handle: ProxyHandle,
}

impl std::fmt::Debug for ChaosProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaosProxy")
            .field("addr", &self.addr())
            .field("upstream", &self.handle.upstream())
            .field("toxics", &self.toxics())
            .finish_non_exhaustive()
    }
}

impl ChaosProxy {
    /// A builder of a proxy in front of `upstream` (your server's address).
    ///
    /// ```
    /// use stickler::proxy::builder::ChaosProxy;
    /// let b = ChaosProxy::builder("127.0.0.1:9000".parse().unwrap());
    /// ```
    pub fn builder(upstream: SocketAddr) -> ChaosProxyBuilder {
        ChaosProxyBuilder {
            config: ProxyConfig::new(upstream),
            record: None,
        }
    }

    /// Where clients connect: 127.0.0.1 and the port the kernel picked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).start().await?;
    /// assert!(proxy.addr().ip().is_loopback());
    /// assert_ne!(proxy.addr().port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// Adds a toxic while traffic flows, written as `stickler proxy --toxic` takes it, under
    /// `name` (which replaces any `name=` in `spec`). Open connections take it from their next
    /// piece on; the name must be new.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).start().await?;
    /// proxy.add_toxic("bytewise", "down:split=1")?;
    /// assert!(proxy.add_toxic("bytewise", "up:split=1").is_err()); // name taken
    /// assert_eq!(proxy.toxics()[0].name, "bytewise");
    /// # Ok(()) }
    /// ```
    pub fn add_toxic(&self, name: &str, spec: &str) -> Result<(), ChaosProxyError> {
        let mut t: ToxicSpec = spec.parse()?;
        t.name = name.to_string();
        self.add_toxic_spec(t)
    }

    /// Adds a toxic given as a [`ToxicSpec`] while traffic flows (its name must be new).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).start().await?;
    /// proxy.add_toxic_spec("up:latency=1ms".parse()?)?;
    /// assert_eq!(proxy.toxics()[0].name, "latency_up");
    /// # Ok(()) }
    /// ```
    pub fn add_toxic_spec(&self, spec: ToxicSpec) -> Result<(), ChaosProxyError> {
        spec.validate()?;
        let mut duplicate = false;
        let added = self.handle.update_toxics(|list| {
            if list.iter().any(|t| t.name == spec.name) {
                // Refused inside the update, so that a refusal changes nothing (no toxic of an
                // open connection is rebuilt).
                duplicate = true;
                return Err(unchanged());
            }
            list.push(spec.clone());
            Ok(())
        });
        match (added, duplicate) {
            (_, true) => Err(ChaosProxyError::DuplicateName(spec.name)),
            (r, false) => Ok(r?),
        }
    }

    /// Removes the toxic named `name` while traffic flows and returns it; what it holds is
    /// released at once (a coalesce's held bytes are written).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap())
    ///     .toxic("down:split=1..4")?
    ///     .start()
    ///     .await?;
    /// let removed = proxy.remove_toxic("split_down")?;
    /// assert_eq!(removed.kind.type_name(), "split");
    /// assert!(proxy.toxics().is_empty());
    /// assert!(proxy.remove_toxic("split_down").is_err());
    /// # Ok(()) }
    /// ```
    pub fn remove_toxic(&self, name: &str) -> Result<ToxicSpec, ChaosProxyError> {
        let removed =
            self.handle
                .update_toxics(|list| match list.iter().position(|t| t.name == name) {
                    Some(i) => Ok(list.remove(i)),
                    None => Err(unchanged()),
                });
        removed.map_err(|_| ChaosProxyError::NoSuchToxic {
            name: name.to_string(),
            have: names(&self.toxics()),
        })
    }

    /// The toxics in force now, in order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap())
    ///     .toxic("up:split=2,name=pairs")?
    ///     .start()
    ///     .await?;
    /// assert_eq!(proxy.toxics()[0].name, "pairs");
    /// # Ok(()) }
    /// ```
    pub fn toxics(&self) -> Vec<ToxicSpec> {
        self.handle.toxics()
    }

    /// Every piece written so far (both directions, every connection, in write order) when
    /// started with [`record`](ChaosProxyBuilder::record) or
    /// [`record_bytes`](ChaosProxyBuilder::record_bytes); empty otherwise. A piece is recorded
    /// once written to the receiving socket, so one the peer has read is already there.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).record(true).start().await?;
    /// assert!(proxy.recorded().is_empty()); // nothing sent yet
    /// # Ok(()) }
    /// ```
    pub fn recorded(&self) -> Vec<PieceEvent> {
        self.handle.events()
    }

    /// The recording as piece lengths and gaps per connection and direction: what
    /// [`replay`](ChaosProxyBuilder::replay) takes to write the same pieces again.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).record(true).start().await?;
    /// assert!(proxy.schedule().streams.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn schedule(&self) -> PieceSchedule {
        PieceSchedule::from_events(&self.recorded())
    }

    /// Connections accepted so far.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).start().await?;
    /// assert_eq!(proxy.connections(), 0);
    /// # Ok(()) }
    /// ```
    pub fn connections(&self) -> u64 {
        self.handle.connections()
    }

    /// Bytes written so far in direction `dir` (`Up`: to your server; `Down`: to the client).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// use stickler::chaos::Direction;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).start().await?;
    /// assert_eq!(proxy.bytes(Direction::Up), 0);
    /// # Ok(()) }
    /// ```
    pub fn bytes(&self, dir: Direction) -> u64 {
        self.handle.bytes(dir)
    }

    /// The underlying [`ProxyHandle`], for the rest (open connections, refused dials, changing
    /// the upstream).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).start().await?;
    /// assert_eq!(proxy.handle().active(), 0);
    /// # Ok(()) }
    /// ```
    pub fn handle(&self) -> &ProxyHandle {
        &self.handle
    }

    /// Stops accepting, closes every connection and waits until all are gone and the port is
    /// released.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), stickler::proxy::builder::ChaosProxyError> {
    /// # use stickler::proxy::builder::ChaosProxy;
    /// let proxy = ChaosProxy::builder("127.0.0.1:9".parse().unwrap()).start().await?;
    /// proxy.shutdown().await; // the port is free again
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

/// What an update that changes nothing returns, so that the list is not replaced.
fn unchanged() -> ToxicError {
    ToxicError::Syntax {
        spec: String::new(),
        reason: "unchanged".to_string(),
    }
}

fn names(list: &[ToxicSpec]) -> String {
    match list.is_empty() {
        true => "none".to_string(),
        false => list
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}
