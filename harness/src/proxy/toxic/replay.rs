//! Replays recorded piece boundaries: the stage that stands in for the shaping toxics of a
//! connection and direction that a [`PieceSchedule`](crate::proxy::record::PieceSchedule) covers.
//!
//! Each scheduled piece is written once all its bytes arrived, and no sooner than its gap after
//! the previous piece. A piece whose bytes do not all come within `hold_max` is written short
//! (the rest of it then stays as the next piece). Bytes beyond the schedule pass as they come.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use rand_chacha::ChaCha20Rng;
use tokio::time::Instant;

use super::{Piece, Toxic, ToxicOutput};

/// One piece to write: its length, and the least time since the previous piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchedPiece {
    pub len: usize,
    #[serde(default)]
    pub gap_us: u64,
}

impl SchedPiece {
    /// A piece of `len` bytes with no gap.
    pub fn len(len: usize) -> SchedPiece {
        SchedPiece { len, gap_us: 0 }
    }
}

/// How long a scheduled piece waits for its bytes before it is written short.
pub const DEFAULT_HOLD_MAX: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Replay {
    pieces: VecDeque<SchedPiece>,
    /// The gap before the first bytes past the schedule (then 0: they follow as they come).
    rest_gap_us: u64,
    held: BytesMut,
    held_at: Instant,
    hold_max: Duration,
}

impl Replay {
    pub fn new(pieces: &[SchedPiece], hold_max: Duration) -> Replay {
        Replay {
            pieces: pieces.iter().copied().filter(|p| p.len > 0).collect(),
            rest_gap_us: 0,
            held: BytesMut::new(),
            held_at: Instant::now(),
            hold_max,
        }
    }

    /// The same replay, writing the first bytes past the schedule at least `gap_us` after its
    /// last piece, so that the boundary after that piece reaches a reader that comes late.
    pub fn with_rest_gap(mut self, gap_us: u64) -> Replay {
        self.rest_gap_us = gap_us;
        self
    }

    fn emit(
        &mut self,
        len: usize,
        arrival: Instant,
        gap_us: u64,
        toxic: &'static str,
        out: &mut ToxicOutput,
    ) {
        out.pieces.push(Piece {
            data: self.held.split_to(len).freeze(),
            at: arrival,
            gap: Duration::from_micros(gap_us),
            toxic,
        });
    }

    fn drain(&mut self, arrival: Instant, out: &mut ToxicOutput) {
        while let Some(p) = self.pieces.front().copied() {
            if self.held.len() < p.len {
                return;
            }
            self.pieces.pop_front();
            self.emit(p.len, arrival, p.gap_us, "replay", out);
        }
        if !self.held.is_empty() {
            let gap = std::mem::take(&mut self.rest_gap_us);
            self.emit(self.held.len(), arrival, gap, "none", out);
        }
    }
}

impl Toxic for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn push(&mut self, now: Instant, piece: Piece, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        let arrival = now.max(piece.at);
        if self.held.is_empty() {
            self.held_at = arrival;
        }
        self.held.extend_from_slice(&piece.data);
        self.drain(arrival, out);
    }

    fn deadline(&self) -> Option<Instant> {
        (!self.held.is_empty()).then(|| self.held_at + self.hold_max)
    }

    fn poll(&mut self, now: Instant, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        if self.deadline().is_some_and(|d| d <= now) {
            let len = self.held.len();
            let gap = match self.pieces.front_mut() {
                Some(p) => {
                    p.len -= len.min(p.len);
                    let g = p.gap_us;
                    if p.len == 0 {
                        self.pieces.pop_front();
                    }
                    g
                }
                None => 0,
            };
            self.emit(len, now, gap, "replay", out);
        }
    }

    fn flush(&mut self, now: Instant, out: &mut ToxicOutput) {
        if !self.held.is_empty() {
            let len = self.held.len();
            self.emit(len, now, 0, "replay", out);
        }
    }

    fn held(&self) -> usize {
        self.held.len()
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

    fn sched(len: usize, gap_us: u64) -> SchedPiece {
        SchedPiece { len, gap_us }
    }

    fn seen(out: &ToxicOutput) -> Vec<(usize, u64, &'static str)> {
        out.pieces
            .iter()
            .map(|p| (p.data.len(), p.gap.as_micros() as u64, p.toxic))
            .collect()
    }

    #[test]
    fn replays_the_schedule_then_passes_the_rest() {
        let now = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut r = Replay::new(
            &[sched(3, 10), sched(0, 99), sched(2, 20)],
            DEFAULT_HOLD_MAX,
        );
        assert_eq!(r.name(), "replay");
        let mut out = ToxicOutput::default();
        r.push(now, piece(b"abc", now), &mut rng, &mut out);
        assert_eq!(seen(&out), [(3, 10, "replay")]);
        assert_eq!(r.deadline(), None);
        r.push(now, piece(b"d", now), &mut rng, &mut out);
        assert_eq!(out.pieces.len(), 1, "waits for the whole piece");
        assert_eq!(r.held(), 1);
        r.push(now, piece(b"e", now), &mut rng, &mut out);
        assert_eq!(seen(&out)[1], (2, 20, "replay"));
        assert_eq!(r.held(), 0);
        r.push(now, piece(b"fghi", now), &mut rng, &mut out);
        assert_eq!(seen(&out)[2], (4, 0, "none"));
        assert_eq!(out.pieces.len(), 3);
        r.flush(now, &mut out);
        assert_eq!(out.pieces.len(), 3, "nothing held, nothing flushed");
    }

    #[test]
    fn the_bytes_past_the_schedule_wait_the_rest_gap_once() {
        let now = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut r = Replay::new(&[sched(1, 0)], DEFAULT_HOLD_MAX).with_rest_gap(50_000);
        let mut out = ToxicOutput::default();
        r.push(now, piece(b"abcd", now), &mut rng, &mut out);
        assert_eq!(seen(&out), [(1, 0, "replay"), (3, 50_000, "none")]);
        r.push(now, piece(b"ef", now), &mut rng, &mut out);
        assert_eq!(
            seen(&out)[2],
            (2, 0, "none"),
            "later bytes follow as they come"
        );
    }

    #[test]
    fn a_piece_short_of_bytes_is_written_short_at_the_hold_limit() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut r = Replay::new(&[sched(5, 7), sched(1, 8)], ms(50));
        let mut out = ToxicOutput::default();
        r.push(now + ms(1), piece(b"ab", now), &mut rng, &mut out);
        r.push(now + ms(2), piece(b"c", now), &mut rng, &mut out);
        assert_eq!(r.deadline(), Some(now + ms(51)));
        r.poll(now + ms(51) - Duration::from_micros(1), &mut rng, &mut out);
        assert!(out.pieces.is_empty());
        r.poll(now + ms(51), &mut rng, &mut out);
        assert_eq!(seen(&out), [(3, 7, "replay")]);
        assert_eq!(out.pieces[0].at, now + ms(51));
        assert_eq!(r.deadline(), None);
        // The rest of the piece is still due: two bytes, then the next piece.
        r.push(now + ms(60), piece(b"de", now), &mut rng, &mut out);
        assert_eq!(seen(&out)[1], (2, 7, "replay"));
        r.push(now + ms(60), piece(b"f", now), &mut rng, &mut out);
        assert_eq!(seen(&out)[2], (1, 8, "replay"));
        // Flushed bytes are written whatever the schedule says.
        let mut r = Replay::new(&[sched(5, 7)], ms(50));
        let mut out = ToxicOutput::default();
        r.push(now, piece(b"ab", now), &mut rng, &mut out);
        r.flush(now + ms(3), &mut out);
        assert_eq!(seen(&out), [(2, 0, "replay")]);
        assert_eq!(out.pieces[0].at, now + ms(3));
    }
}
