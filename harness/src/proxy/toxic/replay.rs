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
use crate::proxy::record::SchedPiece;

/// How long a scheduled piece waits for its bytes before it is written short.
pub const DEFAULT_HOLD_MAX: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Replay {
    pieces: VecDeque<SchedPiece>,
    held: BytesMut,
    held_at: Instant,
    hold_max: Duration,
}

impl Replay {
    pub fn new(pieces: &[SchedPiece], hold_max: Duration) -> Replay {
        Replay {
            pieces: pieces.iter().copied().filter(|p| p.len > 0).collect(),
            held: BytesMut::new(),
            held_at: Instant::now(),
            hold_max,
        }
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
            self.emit(self.held.len(), arrival, 0, "none", out);
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
}
