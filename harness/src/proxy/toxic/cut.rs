//! Toxics that end connections: [`SlowClose`], [`Timeout`], [`ResetPeer`], [`LimitData`].

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use tokio::time::Instant;

use super::{Piece, Teardown, Toxic, ToxicOutput};

/// Delays the close (the FIN, once everything before it is written) by `delay`.
#[derive(Debug)]
pub struct SlowClose {
    delay: Duration,
}

impl SlowClose {
    pub fn new(delay: Duration) -> SlowClose {
        SlowClose { delay }
    }
}

impl Toxic for SlowClose {
    fn name(&self) -> &'static str {
        "slow_close"
    }
    fn push(&mut self, _now: Instant, piece: Piece, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        out.pieces.push(piece);
    }
    fn close_delay(&self) -> Duration {
        self.delay
    }
}

/// Drops every byte; closes the connection `timeout` after taking effect (never if zero).
#[derive(Debug)]
pub struct Timeout {
    fire_at: Option<Instant>,
}

impl Timeout {
    pub fn new(now: Instant, timeout: Duration) -> Timeout {
        Timeout {
            fire_at: (!timeout.is_zero()).then(|| now + timeout),
        }
    }
}

impl Toxic for Timeout {
    fn name(&self) -> &'static str {
        "timeout"
    }
    fn push(
        &mut self,
        _now: Instant,
        _piece: Piece,
        _rng: &mut ChaCha20Rng,
        _out: &mut ToxicOutput,
    ) {
    }
    fn deadline(&self) -> Option<Instant> {
        self.fire_at
    }
    fn poll(&mut self, now: Instant, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        if self.fire_at.is_some_and(|t| t <= now) {
            self.fire_at = None;
            out.teardown(Teardown::Close);
        }
    }
}

/// Resets the connection (RST, as SO_LINGER 0 gives) `timeout` after taking effect.
#[derive(Debug)]
pub struct ResetPeer {
    fire_at: Option<Instant>,
}

impl ResetPeer {
    pub fn new(now: Instant, timeout: Duration) -> ResetPeer {
        ResetPeer {
            fire_at: Some(now + timeout),
        }
    }
}

impl Toxic for ResetPeer {
    fn name(&self) -> &'static str {
        "reset_peer"
    }
    fn push(&mut self, _now: Instant, piece: Piece, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        out.pieces.push(piece);
    }
    fn deadline(&self) -> Option<Instant> {
        self.fire_at
    }
    fn poll(&mut self, now: Instant, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        if self.fire_at.is_some_and(|t| t <= now) {
            self.fire_at = None;
            out.teardown(Teardown::Reset);
        }
    }
}

/// Lets `bytes` bytes through, then closes the connection.
#[derive(Debug)]
pub struct LimitData {
    remaining: u64,
}

impl LimitData {
    pub fn new(bytes: u64) -> LimitData {
        LimitData { remaining: bytes }
    }
}

impl Toxic for LimitData {
    fn name(&self) -> &'static str {
        "limit_data"
    }
    fn push(
        &mut self,
        _now: Instant,
        mut piece: Piece,
        _rng: &mut ChaCha20Rng,
        out: &mut ToxicOutput,
    ) {
        let len = piece.data.len() as u64;
        if len >= self.remaining {
            piece.data.truncate(self.remaining as usize);
            self.remaining = 0;
            if !piece.data.is_empty() {
                out.pieces.push(piece);
            }
            out.teardown(Teardown::Close);
        } else {
            self.remaining -= len;
            out.pieces.push(piece);
        }
    }
}
