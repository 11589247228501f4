//! The recording proxy behind `stickler record`: a transparent relay (no toxic, nothing changed
//! or held back beyond one copy) between a real client and a real server that keeps each
//! connection's turns.
//!
//! Each direction is a plain read/append/write loop: the bytes read are appended to the
//! connection's turn list ([`Connection::push`]: to the last turn while the same side keeps
//! talking, a new turn once the other side has spoken) and then written on. Connections are
//! numbered in the order their upstream connection succeeds. Memory is bounded by
//! [`RecordConfig::max_bytes`]: past it the relay keeps forwarding and stops recording.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::format::{Connection, Session, Side};

/// Default cap on what is kept in memory: a full recording's file (base64 is 4/3 of the bytes)
/// still loads under [`super::format::DEFAULT_MAX_FILE_SIZE`].
pub const DEFAULT_MAX_BYTES: u64 = 32 << 20;
/// What each connection and each turn costs towards [`RecordConfig::max_bytes`] besides its
/// bytes, so that many tiny turns or empty connections are bounded too.
pub const ENTRY_COST: u64 = 64;
/// How long dialling the upstream may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of each read.
const READ_SIZE: usize = 64 * 1024;

/// The note on a connection still open when recording stopped.
pub const STILL_OPEN: &str = "still open when recording stopped";
/// The note on a connection whose later bytes went past the recording cap.
pub const CAPPED: &str = "bytes past the recording cap (--max-bytes) were forwarded, not recorded";

/// Something the recorder reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A recorded connection ended.
    Closed {
        conn: usize,
        turns: usize,
        client_bytes: usize,
        server_bytes: usize,
        /// Why the conversation is not whole, if it is not.
        incomplete: Option<String>,
    },
    /// The cap was reached: forwarding goes on, recording stops.
    CapReached { max_bytes: u64 },
    /// A client connected but the upstream could not be reached; the client was reset and
    /// nothing recorded.
    UpstreamFailed { peer: SocketAddr, error: String },
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Closed {
                conn,
                turns,
                client_bytes,
                server_bytes,
                incomplete,
            } => {
                write!(
                    f,
                    "connection {conn} closed: {turns} turns, {client_bytes} bytes from the \
                     client, {server_bytes} from the server"
                )?;
                match incomplete {
                    Some(why) => write!(f, " (incomplete: {why})"),
                    None => Ok(()),
                }
            }
            Progress::CapReached { max_bytes } => write!(
                f,
                "recorded {max_bytes} bytes (--max-bytes): still forwarding, no longer recording"
            ),
            Progress::UpstreamFailed { peer, error } => write!(
                f,
                "connection from {peer}: upstream unreachable ({error}); client reset, not recorded"
            ),
        }
    }
}

/// Called with each [`Progress`] as it happens.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// What to record. [`RecordConfig::new`] gives: no connection limit, [`DEFAULT_MAX_BYTES`], no
/// progress reports.
#[derive(Clone)]
pub struct RecordConfig {
    /// The real server.
    pub upstream: SocketAddr,
    /// Stop once this many recorded connections have closed (`None`: only when stopped).
    pub connections: Option<usize>,
    /// Cap on recorded bytes (plus [`ENTRY_COST`] per connection and turn).
    pub max_bytes: u64,
    pub progress: Option<ProgressFn>,
}

impl RecordConfig {
    pub fn new(upstream: SocketAddr) -> RecordConfig {
        RecordConfig {
            upstream,
            connections: None,
            max_bytes: DEFAULT_MAX_BYTES,
            progress: None,
        }
    }

    fn report(&self, p: Progress) {
        if let Some(f) = &self.progress {
            f(&p);
        }
    }
}

/// Why [`record`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// [`RecordConfig::connections`] connections closed.
    Connections,
    /// The stop future completed (Ctrl-C, SIGTERM).
    Stopped,
}

/// What [`record`] kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The recorded connections in order (no name, notes, framing or masks: the caller adds
    /// what it knows).
    pub session: Session,
    pub ending: Ending,
    /// Connections still open when recording stopped, kept as recorded so far.
    pub still_open: usize,
    /// Whether the cap was reached.
    pub capped: bool,
    /// Connections forwarded after the cap, not recorded at all.
    pub unrecorded: usize,
}

struct Slot {
    conn: Connection,
    open: bool,
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    /// Bytes plus [`ENTRY_COST`]s charged so far.
    charged: u64,
    capped: bool,
    closed: usize,
    unrecorded: usize,
    /// Set when [`record`] has taken the slots: a relay task still winding down on another
    /// thread then records nothing more.
    finished: bool,
}

struct Shared {
    config: RecordConfig,
    state: Mutex<State>,
    closed: Notify,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charges `cost` against the cap; false (and recording off from then on) if it does not
    /// fit.
    fn charge(&self, st: &mut State, cost: u64) -> bool {
        if st.capped {
            return false;
        }
        if st.charged.saturating_add(cost) > self.config.max_bytes {
            st.capped = true;
            self.config.report(Progress::CapReached {
                max_bytes: self.config.max_bytes,
            });
            return false;
        }
        st.charged += cost;
        true
    }

    /// A new connection's slot, or `None` past the cap.
    fn open(&self) -> Option<usize> {
        let mut st = self.state();
        if st.finished {
            return None;
        }
        if !self.charge(&mut st, ENTRY_COST) {
            st.unrecorded += 1;
            return None;
        }
        st.slots.push(Slot {
            conn: Connection::default(),
            open: true,
        });
        Some(st.slots.len() - 1)
    }

    fn append(&self, slot: Option<usize>, from: Side, bytes: &[u8]) {
        let Some(i) = slot else { return };
        let mut st = self.state();
        if st.finished {
            return;
        }
        let new_turn = st.slots[i].conn.turns.last().map(|t| t.from) != Some(from);
        let cost = bytes.len() as u64 + if new_turn { ENTRY_COST } else { 0 };
        if self.charge(&mut st, cost) {
            st.slots[i].conn.push(from, bytes);
        } else {
            st.slots[i]
                .conn
                .incomplete
                .get_or_insert_with(|| CAPPED.to_owned());
        }
    }

    fn close(&self, slot: Option<usize>, error: Option<std::io::Error>) {
        let mut st = self.state();
        st.closed += 1;
        if let Some(i) = slot.filter(|_| !st.finished) {
            let s = &mut st.slots[i];
            s.open = false;
            if let Some(e) = error {
                s.conn
                    .incomplete
                    .get_or_insert_with(|| format!("ended by an error: {e}"));
            }
            self.config.report(Progress::Closed {
                conn: i,
                turns: s.conn.turns.len(),
                client_bytes: s.conn.bytes_from(Side::Client),
                server_bytes: s.conn.bytes_from(Side::Server),
                incomplete: s.conn.incomplete.clone(),
            });
        }
        drop(st);
        self.closed.notify_one();
    }
}

/// Relays connections accepted on `listener` to the upstream, recording them, until
/// `config.connections` have closed or `stop` completes; then returns what was recorded
/// (connections still open are kept as they are, marked [`STILL_OPEN`], and their relaying
/// ends when the returned future's tasks are dropped).
pub async fn record(
    listener: TcpListener,
    config: RecordConfig,
    stop: impl Future<Output = ()>,
) -> Recording {
    let shared = Arc::new(Shared {
        config,
        state: Mutex::new(State::default()),
        closed: Notify::new(),
    });
    let mut tasks = JoinSet::new();
    tokio::pin!(stop);
    let enough = |st: &State| shared.config.connections.is_some_and(|n| st.closed >= n);
    let ending = loop {
        if enough(&shared.state()) {
            break Ending::Connections;
        }
        tokio::select! {
            _ = &mut stop => break Ending::Stopped,
            _ = shared.closed.notified() => {}
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    tasks.spawn(relay(client, peer, shared.clone()));
                }
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    };
    tasks.abort_all();
    let mut st = shared.state();
    st.finished = true;
    let mut still_open = 0;
    let connections = std::mem::take(&mut st.slots)
        .into_iter()
        .map(|mut s| {
            if s.open {
                still_open += 1;
                s.conn
                    .incomplete
                    .get_or_insert_with(|| STILL_OPEN.to_owned());
            }
            s.conn
        })
        .collect();
    Recording {
        session: Session {
            connections,
            ..Session::default()
        },
        ending,
        still_open,
        capped: st.capped,
        unrecorded: st.unrecorded,
    }
}

/// Sets SO_LINGER 0 so that closing sends RST, passing a reset on.
fn reset(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
}

async fn relay(mut client: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let upstream = shared.config.upstream;
    let server = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(s)) => s,
        failed => {
            let error = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {CONNECT_TIMEOUT:?}"),
            };
            shared
                .config
                .report(Progress::UpstreamFailed { peer, error });
            reset(&client);
            shared.close(None, None);
            return;
        }
    };
    let mut server = server;
    // Forward each read as soon as it is read, as the peers wrote it.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let slot = shared.open();
    let result = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        tokio::try_join!(
            pump(cr, sw, Side::Client, slot, &shared),
            pump(sr, cw, Side::Server, slot, &shared)
        )
    };
    let error = result.err();
    if error.is_some() {
        reset(&client);
        reset(&server);
    }
    shared.close(slot, error);
}

/// One direction: read, record, write on; end of stream is passed on as a half-close.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    side: Side,
    slot: Option<usize>,
    shared: &Shared,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // The peer may already be gone; that is not this side's error.
            let _ = to.shutdown().await;
            return Ok(());
        }
        shared.append(slot, side, &buf[..n]);
        to.write_all(&buf[..n]).await?;
    }
}
