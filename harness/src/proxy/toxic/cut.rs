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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rand::SeedableRng;

    fn piece(data: &'static [u8], at: Instant) -> Piece {
        Piece {
            data: Bytes::from_static(data),
            at,
            gap: Duration::ZERO,
            toxic: "none",
        }
    }

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(1)
    }

    #[test]
    fn slow_close_passes_data_and_delays_only_the_close() {
        let now = Instant::now();
        let mut t = SlowClose::new(Duration::from_millis(7));
        let mut out = ToxicOutput::default();
        t.push(now, piece(b"abc", now), &mut rng(), &mut out);
        assert_eq!(&out.pieces[0].data[..], b"abc");
        assert_eq!(
            (t.name(), t.close_delay()),
            ("slow_close", Duration::from_millis(7))
        );
        assert_eq!((t.deadline(), out.teardown), (None, None));
    }

    #[test]
    fn timeout_drops_data_and_closes_once_at_its_time() {
        let now = Instant::now();
        let ms = Duration::from_millis(5);
        let mut t = Timeout::new(now, ms);
        assert_eq!(t.name(), "timeout");
        let mut out = ToxicOutput::default();
        t.push(now, piece(b"abc", now), &mut rng(), &mut out);
        assert!(out.pieces.is_empty());
        assert_eq!(t.deadline(), Some(now + ms));
        t.poll(now + ms - Duration::from_micros(1), &mut rng(), &mut out);
        assert_eq!(out.teardown, None);
        t.poll(now + ms, &mut rng(), &mut out);
        assert_eq!(out.teardown, Some(Teardown::Close));
        assert_eq!(t.deadline(), None, "fires once");
    }

    #[test]
    fn a_zero_timeout_is_a_black_hole_that_never_closes() {
        let now = Instant::now();
        let mut t = Timeout::new(now, Duration::ZERO);
        assert_eq!(t.deadline(), None);
        let mut out = ToxicOutput::default();
        t.poll(now + Duration::from_secs(3600), &mut rng(), &mut out);
        assert_eq!(out.teardown, None);
    }

    #[test]
    fn reset_peer_passes_data_then_resets_once_at_its_time() {
        let now = Instant::now();
        let ms = Duration::from_millis(5);
        let mut t = ResetPeer::new(now, ms);
        assert_eq!(t.name(), "reset_peer");
        let mut out = ToxicOutput::default();
        t.push(now, piece(b"abc", now), &mut rng(), &mut out);
        assert_eq!(&out.pieces[0].data[..], b"abc");
        assert_eq!(t.deadline(), Some(now + ms));
        t.poll(now + ms - Duration::from_micros(1), &mut rng(), &mut out);
        assert_eq!(out.teardown, None);
        t.poll(now + ms, &mut rng(), &mut out);
        assert_eq!(out.teardown, Some(Teardown::Reset));
        assert_eq!(t.deadline(), None, "fires once");
        // Zero: resets at the first poll.
        let mut t = ResetPeer::new(now, Duration::ZERO);
        let mut out = ToxicOutput::default();
        t.poll(now, &mut rng(), &mut out);
        assert_eq!(out.teardown, Some(Teardown::Reset));
    }

    fn through(limit: u64, pieces: &[&'static [u8]]) -> (Vec<Vec<u8>>, Option<Teardown>) {
        let now = Instant::now();
        let mut t = LimitData::new(limit);
        assert_eq!(t.name(), "limit_data");
        let mut out = ToxicOutput::default();
        let mut seen = Vec::new();
        for p in pieces {
            t.push(now, piece(p, now), &mut rng(), &mut out);
            seen.extend(out.pieces.drain(..).map(|p| p.data.to_vec()));
        }
        (seen, out.teardown)
    }

    #[test]
    fn limit_data_lets_exactly_its_bytes_through_then_closes() {
        let v = |s: &[&[u8]]| s.iter().map(|b| b.to_vec()).collect::<Vec<_>>();
        assert_eq!(through(5, &[b"abc"]), (v(&[b"abc"]), None));
        assert_eq!(
            through(5, &[b"abc", b"defg"]),
            (v(&[b"abc", b"de"]), Some(Teardown::Close))
        );
        // Exactly the limit: all of it, and the close.
        assert_eq!(
            through(5, &[b"ab", b"cde"]),
            (v(&[b"ab", b"cde"]), Some(Teardown::Close))
        );
        assert_eq!(
            through(5, &[b"a", b"b", b"c", b"d"]),
            (v(&[b"a", b"b", b"c", b"d"]), None)
        );
        // Nothing left: no empty piece, just the close.
        assert_eq!(through(0, &[b"abc"]), (v(&[]), Some(Teardown::Close)));
        assert_eq!(
            through(3, &[b"abc", b"d"]),
            (v(&[b"abc"]), Some(Teardown::Close))
        );
    }
}
