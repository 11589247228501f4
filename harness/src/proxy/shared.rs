//! State the parts of a proxy share: the proxy's ([`Shared`], read by every connection, with its
//! [`Budget`] of queued bytes) and a connection's ([`Conn`], read by its two directions). Both
//! the connection code ([`super::conn`]) and each direction's loop ([`super::pipeline`],
//! [`super::fastpath`]) read it; neither reaches into the other.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::futures::Notified;
use tokio::sync::{watch, Notify};
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
    /// What one direction may hold before it stops reading ([`super::ProxyConfig::queue_cap`]).
    pub queue_cap: usize,
    pub start: Instant,
    /// Bytes written, per direction (up, down).
    pub bytes: [AtomicU64; 2],
    /// Bytes read, per direction (up, down): more than written when a toxic drops bytes.
    pub received: [AtomicU64; 2],
    pub accepted: AtomicU64,
    pub active: AtomicU64,
    pub refused: AtomicU64,
    /// What every direction of every connection holds read but not yet written.
    pub budget: Arc<Budget>,
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

/// Waiting directions are woken once this much room is free again (or half the limit, if less):
/// a read's worth, so that one byte freed does not wake every waiting direction.
const WAKE_ROOM: usize = 64 << 10;

/// The proxy-wide budget of queued bytes: what all directions of all connections hold read but
/// not yet written, counted as memory (see [`Lane`](super::pipeline::Lane)'s charge: bytes, queue
/// slots, what the toxics hold; on the fast path, the read in flight). Directions hold their
/// part through a [`Share`], which gives it back when dropped.
///
/// A read is reserved before it is made, up to the room left; what the toxics then make of it
/// (a split into 1-byte pieces costs 161 times its bytes) is taken even past the limit, and no
/// further read starts until the total is back under it. A direction that holds less than
/// [`QUEUE_FLOOR`](super::pipeline::QUEUE_FLOOR) may read even then (see there).
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    freed: Notify,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// What is held now (over the limit when reads grew in the toxics, or by the floors).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether no room is left.
    pub fn spent(&self) -> bool {
        self.used() >= self.limit
    }

    /// Completes once room has been freed. Create it before looking at [`Budget::spent`]: a
    /// release in between still wakes it.
    pub fn freed(&self) -> Notified<'_> {
        self.freed.notified()
    }

    /// Takes what is left, up to `want`; 0 when spent.
    fn take_up_to(&self, want: usize) -> usize {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let n = want.min(self.limit.saturating_sub(cur));
            if n == 0 {
                return 0;
            }
            match self
                .used
                .compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return n,
                Err(now) => cur = now,
            }
        }
    }

    /// Takes `n` whatever is left.
    fn force(&self, n: usize) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    fn give(&self, n: usize) {
        let before = self.used.fetch_sub(n, Ordering::AcqRel);
        let wake_at = self.limit - WAKE_ROOM.min(self.limit / 2);
        if before > wake_at && before - n <= wake_at {
            self.freed.notify_waiters();
        }
    }
}

/// What one direction holds of a [`Budget`]; given back when dropped, so that a connection that
/// ends in any way (end of stream, error, reset, the proxy's shutdown) leaves nothing behind.
#[derive(Debug)]
pub(crate) struct Share {
    budget: Arc<Budget>,
    held: usize,
}

impl Share {
    pub fn new(budget: Arc<Budget>) -> Share {
        Share { budget, held: 0 }
    }

    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// Reserves room for a read of at most `want` bytes, on top of what is held: what the budget
    /// has left, or when it is spent, `floor` bytes past it. Returns the room (0: no read now).
    pub fn reserve(&mut self, want: usize, floor: usize) -> usize {
        let mut n = self.budget.take_up_to(want);
        if n == 0 && floor > 0 {
            n = floor.min(want);
            self.budget.force(n);
        }
        self.held += n;
        n
    }

    /// Holds exactly `n`: takes what more is needed (past the limit if it must) or gives back
    /// the rest.
    pub fn set(&mut self, n: usize) {
        if n > self.held {
            self.budget.force(n - self.held);
        } else if n < self.held {
            self.budget.give(self.held - n);
        }
        self.held = n;
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        if self.held > 0 {
            self.budget.give(self.held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::{Context, Waker};

    #[test]
    fn a_share_reserves_within_the_limit_then_on_its_floor() {
        let b = Arc::new(Budget::new(100));
        let mut a = Share::new(b.clone());
        assert_eq!(a.reserve(60, 10), 60);
        let mut c = Share::new(b.clone());
        assert_eq!(c.reserve(60, 10), 40, "what is left");
        assert!(b.spent());
        assert_eq!(c.reserve(60, 10), 10, "the floor, past the limit");
        assert_eq!(c.reserve(60, 0), 0, "no floor: no read");
        assert_eq!(b.used(), 110);
        c.set(5);
        assert_eq!(b.used(), 65);
        a.set(200);
        assert_eq!(
            b.used(),
            205,
            "what the toxics made of a read is taken whatever is left"
        );
        drop(a);
        drop(c);
        assert_eq!(b.used(), 0, "dropped shares give everything back");
    }

    #[test]
    fn room_freed_wakes_a_waiting_direction() {
        let b = Arc::new(Budget::new(1 << 20));
        let mut a = Share::new(b.clone());
        a.set(2 << 20);
        let freed = b.freed();
        tokio::pin!(freed);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(freed.as_mut().poll(&mut cx).is_pending());
        a.set((1 << 20) - 1);
        assert!(
            freed.as_mut().poll(&mut cx).is_pending(),
            "not a read's worth yet"
        );
        a.set(0);
        assert!(freed.as_mut().poll(&mut cx).is_ready());
    }
}
