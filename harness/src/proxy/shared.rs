//! State the parts of a proxy share: the proxy's ([`Shared`], read by every connection) and a
//! connection's ([`Conn`], read by its two directions). Both the connection code
//! ([`super::conn`]) and each direction's loop ([`super::pipeline`]) read it; neither reaches into
//! the other.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::record::{PieceSchedule, RecordSink};
use super::toxic::{Teardown, ToxicSpec};
use super::FastMode;

/// State shared by a proxy's connections.
pub(crate) struct Shared {
    pub upstream: Mutex<SocketAddr>,
    pub toxics: watch::Sender<Arc<Vec<ToxicSpec>>>,
    pub seed: u64,
    pub record: Option<RecordSink>,
    pub replay: Option<PieceSchedule>,
    pub nodelay: bool,
    pub fast_mode: FastMode,
    pub start: Instant,
    /// Bytes written, per direction (up, down).
    pub bytes: [AtomicU64; 2],
    /// Bytes read, per direction (up, down): more than written when a toxic drops bytes.
    pub received: [AtomicU64; 2],
    pub accepted: AtomicU64,
    pub active: AtomicU64,
    pub refused: AtomicU64,
}

impl Shared {
    /// Where new connections go.
    pub fn upstream(&self) -> SocketAddr {
        *self.upstream.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends new connections to `addr`.
    pub fn set_upstream(&self, addr: SocketAddr) {
        *self.upstream.lock().unwrap_or_else(|e| e.into_inner()) = addr;
    }
}

/// One proxied connection, as its two directions see it.
pub(crate) struct Conn {
    /// Connection index, 0, 1, 2… in accept order.
    pub index: u64,
    pub shared: Arc<Shared>,
    cancel: CancellationToken,
    /// 0 open, 1 closing (FIN), 2 resetting (RST).
    ending: AtomicU8,
}

impl Conn {
    /// Connection `index`, ended when `cancel` is.
    pub fn new(index: u64, shared: Arc<Shared>, cancel: CancellationToken) -> Conn {
        Conn {
            index,
            shared,
            cancel,
            ending: AtomicU8::new(0),
        }
    }

    /// Ends the connection: both directions stop, both sockets close.
    pub fn close(&self, how: Teardown) {
        let code = match how {
            Teardown::Close => 1,
            Teardown::Reset => 2,
        };
        self.ending.fetch_max(code, Ordering::SeqCst);
        self.cancel.cancel();
    }

    /// Whether the connection is ending (by a toxic, a peer or the proxy's shutdown).
    pub fn is_closing(&self) -> bool {
        self.ending.load(Ordering::SeqCst) != 0
    }

    /// Whether the connection ends with a reset.
    pub fn is_resetting(&self) -> bool {
        self.ending.load(Ordering::SeqCst) == 2
    }

    /// Completes once the connection is ending.
    pub async fn ended(&self) {
        self.cancel.cancelled().await
    }
}
