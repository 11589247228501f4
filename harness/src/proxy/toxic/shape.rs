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
        if self.held.is_empty() {
            // Let the block go with its last piece.
            self.held = BytesMut::new();
        }
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

    fn held(&self) -> usize {
        self.held.len()
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
        if self.held.is_empty() {
            // Let the block go with its last piece.
            self.held = BytesMut::new();
        }
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

    fn lens(out: &ToxicOutput) -> Vec<usize> {
        out.pieces.iter().map(|p| p.data.len()).collect()
    }

    #[test]
    fn split_cuts_whole_pieces_gap_apart_and_holds_the_rest() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut s = Split::new(3, 3, ms(1));
        assert_eq!(s.name(), "split");
        assert_eq!(s.deadline(), None);
        let mut out = ToxicOutput::default();
        // Exactly one piece's worth is written at once.
        s.push(now, piece(b"abc", now), &mut rng, &mut out);
        assert_eq!(lens(&out), [3]);
        assert_eq!(s.deadline(), None);
        s.push(now, piece(b"defg", now), &mut rng, &mut out);
        assert_eq!(lens(&out), [3, 3]);
        let at: Vec<Instant> = out.pieces.iter().map(|p| p.at).collect();
        assert_eq!(at, [now, now + ms(1)]);
        assert!(out
            .pieces
            .iter()
            .all(|p| p.toxic == "split" && p.gap == ms(1)));
        // One byte held: due at the next slot.
        assert_eq!(s.held(), 1);
        assert_eq!(s.deadline(), Some(now + ms(2)));
        s.poll(now + ms(2) - Duration::from_micros(1), &mut rng, &mut out);
        assert_eq!(lens(&out), [3, 3]);
        s.poll(now + ms(2), &mut rng, &mut out);
        assert_eq!(lens(&out), [3, 3, 1]);
        assert_eq!(&out.pieces[2].data[..], b"g");
        assert_eq!((s.deadline(), s.held()), (None, 0));
        // The cut point stays where it was drawn: two more bytes finish the piece of three.
        s.push(now + ms(2), piece(b"hi", now), &mut rng, &mut out);
        assert_eq!(lens(&out), [3, 3, 1, 2]);
        assert_eq!(out.pieces[3].at, now + ms(3));
        // Nothing held: flushing writes nothing.
        s.flush(now + ms(9), &mut out);
        assert_eq!(lens(&out), [3, 3, 1, 2]);
    }

    #[test]
    fn split_holds_from_the_first_held_byte_and_flushes_the_rest() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut s = Split::new(0, 0, ms(5));
        let mut out = ToxicOutput::default();
        // min and max are at least 1: every byte is its own piece.
        s.push(now, piece(b"ab", now), &mut rng, &mut out);
        assert_eq!(lens(&out), [1, 1]);
        let mut s = Split::new(4, 2, Duration::ZERO);
        let mut out = ToxicOutput::default();
        // max is at least min: pieces of four.
        s.push(now, piece(b"abcdefghij", now), &mut rng, &mut out);
        assert_eq!(lens(&out), [4, 4]);
        // Held bytes are due from when the first of them arrived.
        let mut s = Split::new(8, 8, Duration::ZERO);
        let mut out = ToxicOutput::default();
        s.push(now + ms(1), piece(b"ab", now), &mut rng, &mut out);
        s.push(now + ms(3), piece(b"cd", now), &mut rng, &mut out);
        assert_eq!(s.deadline(), Some(now + ms(1)));
        s.flush(now + ms(4), &mut out);
        assert_eq!(lens(&out), [4]);
        assert_eq!(out.pieces[0].at, now + ms(4));
        // A flush starts a new cut: the next piece is a whole one.
        s.push(now + ms(4), piece(b"12345678", now), &mut rng, &mut out);
        assert_eq!(lens(&out), [4, 8]);
    }

    #[test]
    fn coalesce_releases_exactly_max_and_times_out_from_the_first_byte() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut c = Coalesce::new(ms(10), 3);
        assert_eq!(c.name(), "coalesce");
        assert_eq!(c.deadline(), None);
        let mut out = ToxicOutput::default();
        c.push(now, piece(b"abc", now), &mut rng, &mut out);
        assert_eq!(lens(&out), [3]);
        assert_eq!(c.deadline(), None);
        assert!(out
            .pieces
            .iter()
            .all(|p| p.toxic == "coalesce" && p.gap.is_zero()));
        c.push(now + ms(2), piece(b"d", now), &mut rng, &mut out);
        c.push(now + ms(4), piece(b"e", now), &mut rng, &mut out);
        assert_eq!(c.deadline(), Some(now + ms(12)));
        assert_eq!(c.held(), 2);
        c.poll(now + ms(12) - Duration::from_micros(1), &mut rng, &mut out);
        assert_eq!(lens(&out), [3]);
        c.poll(now + ms(12), &mut rng, &mut out);
        assert_eq!(lens(&out), [3, 2]);
        assert_eq!(c.held(), 0);
        assert_eq!(out.pieces[1].at, now + ms(12));
        c.flush(now + ms(20), &mut out);
        assert_eq!(lens(&out), [3, 2], "nothing held, nothing flushed");
        c.push(now + ms(20), piece(b"f", now), &mut rng, &mut out);
        c.flush(now + ms(21), &mut out);
        assert_eq!(lens(&out), [3, 2, 1]);
        // max is at least 1.
        let mut c = Coalesce::new(ms(10), 0);
        let mut out = ToxicOutput::default();
        c.push(now, piece(b"xy", now), &mut rng, &mut out);
        assert_eq!(lens(&out), [1, 1]);
    }
}
