//! What all connections of one server share: the budget of buffered request bytes
//! ([`ServerConfig::max_buffered`]) and the quota of stored uploads
//! ([`ServerConfig::max_storage`]). Each connection holds a [`Share`] of the budget and each
//! upload in progress a [`Claim`] on the quota; both give back what they hold when dropped, so
//! no error path can leak budget or quota.
//!
//! ```text
//! connection buffer   [ allowance (4 KiB, its own) | share of the server-wide budget ... ]
//!                       a read is at most what the buffer may still take; with no room at all
//!                       the connection waits for budget (the peer's writes back up meanwhile)
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

use super::config::ServerConfig;

/// Bytes every connection may buffer without drawing on the shared budget: a small request is
/// always read and answered, even while other connections hold the whole budget. The faithful
/// servers' one read of `read_size` (1024) bytes fits in it.
pub const CONN_ALLOWANCE: usize = 4 << 10;

/// What the connections of one server share.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub budget: Budget,
    pub quota: Arc<Quota>,
}

impl Limits {
    pub fn new(config: &ServerConfig) -> Self {
        Limits {
            budget: Budget::new(config.max_buffered),
            quota: Arc::new(Quota::new(config.max_storage)),
        }
    }
}

/// The server-wide budget of buffered request bytes: a semaphore of bytes.
#[derive(Debug, Clone)]
pub(super) struct Budget {
    bytes: Arc<Semaphore>,
}

impl Budget {
    pub fn new(bytes: usize) -> Self {
        Budget {
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A connection's share, holding nothing yet.
    pub fn share(&self) -> Share {
        Share {
            bytes: self.bytes.clone(),
            held: 0,
        }
    }

    /// Bytes of the budget no connection holds.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

/// One connection's part of the budget: its buffer may hold [`CONN_ALLOWANCE`] plus
/// [`held`](Share::held) bytes. Given back when dropped.
#[derive(Debug)]
pub(super) struct Share {
    bytes: Arc<Semaphore>,
    held: usize,
}

impl Share {
    /// Bytes of the budget held.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Bytes a buffer holding `buffered` may still take.
    pub fn room(&self, buffered: usize) -> usize {
        (CONN_ALLOWANCE + self.held).saturating_sub(buffered)
    }

    /// Room for up to `want` more bytes in a buffer holding `buffered`, taking from the budget
    /// what is free now (never waiting): the size of the next read, 0 when there is no room.
    pub fn take_free(&mut self, buffered: usize, want: usize) -> usize {
        let room = self.room(buffered);
        if room >= want {
            return want;
        }
        let more = (want - room)
            .min(self.bytes.available_permits())
            .min(u32::MAX as usize);
        if more > 0 {
            if let Ok(permit) = self.bytes.try_acquire_many(more as u32) {
                permit.forget();
                self.held += more;
                return room + more;
            }
        }
        room
    }

    /// Waits until `want` bytes of the budget are free and takes them (waiters are served in
    /// order). Cancel-safe: dropped while waiting, it takes nothing.
    pub async fn wait_for(&mut self, want: usize) {
        let want = want.clamp(1, u32::MAX as usize);
        // The semaphore is never closed.
        if let Ok(permit) = self.bytes.acquire_many(want as u32).await {
            permit.forget();
            self.held += want;
        }
    }

    /// Gives back what a buffer holding `buffered` no longer needs.
    pub fn release_to(&mut self, buffered: usize) {
        let keep = buffered.saturating_sub(CONN_ALLOWANCE);
        if self.held > keep {
            self.bytes.add_permits(self.held - keep);
            self.held = keep;
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.release_to(0);
    }
}

/// The quota of stored uploads: bytes of the files this server stored (a file stored again
/// under the same name counts once) plus those of uploads in progress.
#[derive(Debug)]
pub(super) struct Quota {
    max: u64,
    state: Mutex<QuotaState>,
}

#[derive(Debug, Default)]
struct QuotaState {
    used: u64,
    /// Size of each file stored, by name.
    stored: HashMap<String, u64>,
}

/// Why an upload was refused by the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaFull {
    pub size: u64,
    pub used: u64,
    pub max: u64,
}

impl Quota {
    pub fn new(max: u64) -> Self {
        Quota {
            max,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, QuotaState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims `size` bytes for an upload, or says why not.
    pub fn claim(self: &Arc<Self>, size: u64) -> Result<Claim, QuotaFull> {
        let mut state = self.state();
        if state.used.saturating_add(size) > self.max {
            return Err(QuotaFull {
                size,
                used: state.used,
                max: self.max,
            });
        }
        state.used += size;
        Ok(Claim {
            quota: self.clone(),
            size,
            kept: false,
        })
    }

    /// Bytes counted against the quota now.
    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.state().used
    }
}

/// Bytes of the quota an upload in progress holds: given back when dropped, unless kept.
#[derive(Debug)]
pub(super) struct Claim {
    quota: Arc<Quota>,
    size: u64,
    kept: bool,
}

impl Claim {
    /// The upload was stored as `name`: its bytes stay counted, and a file stored earlier under
    /// the same name (now replaced) no longer counts.
    pub fn keep(mut self, name: &str) {
        let mut state = self.quota.state();
        if let Some(old) = state.stored.insert(name.to_owned(), self.size) {
            state.used = state.used.saturating_sub(old);
        }
        self.kept = true;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.kept {
            let mut state = self.quota.state();
            state.used = state.used.saturating_sub(self.size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_take_what_is_free_and_give_it_all_back() {
        let budget = Budget::new(10_000);
        let mut a = budget.share();
        assert_eq!(a.take_free(0, 100), 100, "within the allowance");
        assert_eq!(budget.available(), 10_000);
        assert_eq!(a.take_free(CONN_ALLOWANCE, 6_000), 6_000);
        assert_eq!(budget.available(), 4_000);
        let mut b = budget.share();
        // Only 4,000 are free: a read of at most what is held.
        assert_eq!(b.take_free(CONN_ALLOWANCE, 6_000), 4_000);
        assert_eq!(budget.available(), 0);
        assert_eq!(b.take_free(CONN_ALLOWANCE + 4_000, 10), 0, "no room");
        a.release_to(CONN_ALLOWANCE + 1_000);
        assert_eq!(a.held(), 1_000);
        assert_eq!(budget.available(), 5_000);
        drop(a);
        drop(b);
        assert_eq!(budget.available(), 10_000, "nothing leaks");
    }

    #[tokio::test]
    async fn a_waiting_share_gets_budget_once_another_gives_it_back() {
        let budget = Budget::new(1_000);
        let mut a = budget.share();
        assert_eq!(a.take_free(CONN_ALLOWANCE, 1_000), 1_000);
        let mut b = budget.share();
        let waiting = tokio::spawn(async move {
            b.wait_for(600).await;
            b.held()
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        assert_eq!(waiting.await.unwrap(), 600);
        assert_eq!(
            budget.available(),
            1_000,
            "b's share went back when its task ended"
        );
    }

    #[test]
    fn huge_budgets_are_clamped_not_a_panic() {
        let budget = Budget::new(usize::MAX);
        let mut s = budget.share();
        assert_eq!(s.take_free(0, 1 << 20), 1 << 20);
    }

    #[test]
    fn claims_are_refused_past_the_quota_and_given_back_unless_kept() {
        let quota = Arc::new(Quota::new(100));
        let a = quota.claim(60).unwrap();
        let full = quota.claim(41).unwrap_err();
        assert_eq!(
            full,
            QuotaFull {
                size: 41,
                used: 60,
                max: 100
            }
        );
        drop(a);
        assert_eq!(quota.used(), 0);
        quota.claim(60).unwrap().keep("f");
        assert_eq!(quota.used(), 60);
        // Stored again under the same name: the old file no longer counts.
        quota.claim(30).unwrap().keep("f");
        assert_eq!(quota.used(), 30);
        quota.claim(70).unwrap().keep("g");
        assert!(quota.claim(1).is_err());
    }
}
