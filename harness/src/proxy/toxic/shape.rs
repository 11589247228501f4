//! Toxics that move piece boundaries: [`Split`] cuts, [`Coalesce`] merges.
//!
//! Split draws its cut points in the byte stream's offsets, not per read: a piece left short at
//! the end of a read is held until the rest arrives or until its write slot (the previous piece's
//! time plus the gap) comes. The gap is waited anyway, so holding costs nothing, and the same
//! bytes with the same seed give the same cut points however the source's reads fell.

use std::time::Duration;

use bytes::BytesMut;
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use tokio::time::Instant;

use super::{Piece, Toxic, ToxicOutput};

/// Cuts the stream into pieces of `min..=max` bytes written `gap` apart.
#[derive(Debug)]
pub struct Split {
    min: usize,
    max: usize,
    gap: Duration,
    held: BytesMut,
    held_at: Instant,
    /// Bytes still to go in the current piece (drawn when the piece starts).
    target: Option<usize>,
    /// Earliest time of the next piece.
    next_slot: Option<Instant>,
}

impl Split {
    pub fn new(min: usize, max: usize, gap: Duration) -> Split {
        Split {
            min: min.max(1),
            max: max.max(min.max(1)),
            gap,
            held: BytesMut::new(),
            held_at: Instant::now(),
            target: None,
            next_slot: None,
        }
    }

    fn emit(&mut self, len: usize, arrival: Instant, out: &mut ToxicOutput) {
        let at = self.next_slot.map_or(arrival, |s| s.max(arrival));
        out.pieces.push(Piece {
            data: self.held.split_to(len).freeze(),
            at,
            gap: self.gap,
            toxic: "split",
        });
        self.next_slot = Some(at + self.gap);
    }
}

impl Toxic for Split {
    fn name(&self) -> &'static str {
        "split"
    }

    fn push(&mut self, now: Instant, piece: Piece, rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        let arrival = now.max(piece.at);
        if self.held.is_empty() {
            self.held_at = arrival;
        }
        self.held.extend_from_slice(&piece.data);
        loop {
            let (min, max) = (self.min, self.max);
            let target = *self.target.get_or_insert_with(|| rng.gen_range(min..=max));
            if self.held.len() < target {
                break;
            }
            self.target = None;
            self.emit(target, arrival, out);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        if self.held.is_empty() {
            return None;
        }
        Some(self.next_slot.map_or(self.held_at, |s| s.max(self.held_at)))
    }

    fn poll(&mut self, now: Instant, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        if self.deadline().is_some_and(|d| d <= now) {
            let len = self.held.len();
            if let Some(t) = self.target.as_mut() {
                *t -= len.min(*t);
                if *t == 0 {
                    self.target = None;
                }
            }
            self.emit(len, now, out);
        }
    }

    fn flush(&mut self, now: Instant, out: &mut ToxicOutput) {
        if !self.held.is_empty() {
            self.target = None;
            self.emit(self.held.len(), now, out);
        }
    }
}

/// Holds bytes until `window` after the first held byte arrived, or until `max` bytes are held,
/// then releases them as one piece.
#[derive(Debug)]
pub struct Coalesce {
    window: Duration,
    max: usize,
    held: BytesMut,
    first: Instant,
}

impl Coalesce {
    pub fn new(window: Duration, max: usize) -> Coalesce {
        Coalesce {
            window,
            max: max.max(1),
            held: BytesMut::new(),
            first: Instant::now(),
        }
    }

    fn release(&mut self, len: usize, at: Instant, out: &mut ToxicOutput) {
        out.pieces.push(Piece {
            data: self.held.split_to(len).freeze(),
            at,
            gap: Duration::ZERO,
            toxic: "coalesce",
        });
    }
}

impl Toxic for Coalesce {
    fn name(&self) -> &'static str {
        "coalesce"
    }

    fn push(&mut self, now: Instant, piece: Piece, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        let arrival = now.max(piece.at);
        if self.held.is_empty() {
            self.first = arrival;
        }
        self.held.extend_from_slice(&piece.data);
        while self.held.len() >= self.max {
            self.release(self.max, arrival, out);
            self.first = arrival;
        }
    }

    fn deadline(&self) -> Option<Instant> {
        (!self.held.is_empty()).then(|| self.first + self.window)
    }

    fn poll(&mut self, now: Instant, _rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        if self.deadline().is_some_and(|d| d <= now) {
            self.release(self.held.len(), now, out);
        }
    }

    fn flush(&mut self, now: Instant, out: &mut ToxicOutput) {
        if !self.held.is_empty() {
            self.release(self.held.len(), now, out);
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

    #[test]
    fn split_cut_points_do_not_depend_on_reads() {
        let now = Instant::now();
        let data: Vec<u8> = (0..200u8).collect();
        let cuts = |reads: &[usize]| {
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            let mut s = Split::new(1, 9, Duration::from_millis(1));
            let mut out = ToxicOutput::default();
            let mut off = 0;
            for &r in reads {
                let chunk = Bytes::copy_from_slice(&data[off..off + r]);
                off += r;
                s.push(
                    now,
                    Piece {
                        data: chunk,
                        at: now,
                        gap: Duration::ZERO,
                        toxic: "none",
                    },
                    &mut rng,
                    &mut out,
                );
            }
            s.flush(now, &mut out);
            let lens: Vec<usize> = out.pieces.iter().map(|p| p.data.len()).collect();
            assert_eq!(lens.iter().sum::<usize>(), 200);
            assert!(lens.iter().all(|&l| (1..=9).contains(&l)));
            lens
        };
        assert_eq!(cuts(&[200]), cuts(&[7, 50, 1, 142]));
    }

    #[test]
    fn coalesce_merges_within_window_and_caps() {
        let now = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut c = Coalesce::new(Duration::from_millis(10), 4);
        let mut out = ToxicOutput::default();
        c.push(now, piece(b"ab", now), &mut rng, &mut out);
        c.push(now, piece(b"c", now), &mut rng, &mut out);
        assert!(out.pieces.is_empty());
        assert_eq!(c.deadline(), Some(now + Duration::from_millis(10)));
        c.push(now, piece(b"defgh", now), &mut rng, &mut out);
        assert_eq!(&out.pieces[0].data[..], b"abcd");
        c.poll(now + Duration::from_millis(10), &mut rng, &mut out);
        assert_eq!(&out.pieces[1].data[..], b"efgh");
    }
}
