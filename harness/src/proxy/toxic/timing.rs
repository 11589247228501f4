//! Toxics that move piece times: [`Latency`] (order kept) and [`Bandwidth`].

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha20Rng;
use tokio::time::Instant;

use super::{Piece, Toxic, ToxicOutput};

/// Delays every piece by `latency` ± a uniform draw in `[-jitter, jitter]`, never reordering.
#[derive(Debug)]
pub struct Latency {
    latency: Duration,
    jitter: Duration,
    last: Option<Instant>,
}

impl Latency {
    pub fn new(latency: Duration, jitter: Duration) -> Latency {
        Latency {
            latency,
            jitter,
            last: None,
        }
    }
}

impl Toxic for Latency {
    fn name(&self) -> &'static str {
        "latency"
    }

    fn push(
        &mut self,
        now: Instant,
        mut piece: Piece,
        rng: &mut ChaCha20Rng,
        out: &mut ToxicOutput,
    ) {
        let base = self.latency.as_micros() as i64;
        let j = self.jitter.as_micros() as i64;
        let delay = if j > 0 {
            base + rng.gen_range(-j..=j)
        } else {
            base
        };
        let arrival = now.max(piece.at);
        let mut at = arrival + Duration::from_micros(delay.max(0) as u64);
        if let Some(last) = self.last {
            at = at.max(last);
        }
        self.last = Some(at);
        piece.at = at;
        if piece.toxic == "none" {
            piece.toxic = "latency";
        }
        out.pieces.push(piece);
    }
}

/// Throttles to `rate` KB/s: each piece leaves once it and the bytes before it have had their
/// time on the wire.
/// Pieces are cut to at most a tenth of a second's worth, so the pace is even.
#[derive(Debug)]
pub struct Bandwidth {
    bytes_per_sec: u64,
    next_free: Option<Instant>,
}

impl Bandwidth {
    pub fn new(rate_kb: u64) -> Bandwidth {
        Bandwidth {
            bytes_per_sec: rate_kb.max(1) * 1000,
            next_free: None,
        }
    }
}

impl Toxic for Bandwidth {
    fn name(&self) -> &'static str {
        "bandwidth"
    }

    fn push(&mut self, now: Instant, piece: Piece, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        let step = (self.bytes_per_sec / 10).max(1) as usize;
        let arrival = now.max(piece.at);
        let mut data = piece.data;
        while !data.is_empty() {
            let part = data.split_to(step.min(data.len()));
            let cost = Duration::from_nanos(part.len() as u64 * 1_000_000_000 / self.bytes_per_sec);
            let at = self.next_free.map_or(arrival, |f| f.max(arrival)) + cost;
            self.next_free = Some(at);
            out.pieces.push(Piece {
                data: part,
                at,
                gap: piece.gap,
                toxic: if piece.toxic == "none" {
                    "bandwidth"
                } else {
                    piece.toxic
                },
            });
        }
    }
}
