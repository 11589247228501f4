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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rand::{RngCore, SeedableRng};

    fn piece(data: Bytes, at: Instant, toxic: &'static str) -> Piece {
        Piece {
            data,
            at,
            gap: Duration::from_micros(3),
            toxic,
        }
    }

    #[test]
    fn latency_without_jitter_adds_exactly_the_latency_and_draws_nothing() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Latency::new(ms(10), Duration::ZERO);
        assert_eq!(t.name(), "latency");
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut out = ToxicOutput::default();
        t.push(
            now,
            piece(Bytes::from_static(b"a"), now, "none"),
            &mut rng,
            &mut out,
        );
        // A piece due later than it arrived is delayed from its due time.
        t.push(
            now,
            piece(Bytes::from_static(b"b"), now + ms(5), "split"),
            &mut rng,
            &mut out,
        );
        let at: Vec<Instant> = out.pieces.iter().map(|p| p.at).collect();
        assert_eq!(at, [now + ms(10), now + ms(15)]);
        let toxics: Vec<&str> = out.pieces.iter().map(|p| p.toxic).collect();
        assert_eq!(
            toxics,
            ["latency", "split"],
            "a shaping toxic's name is kept"
        );
        assert_eq!(out.pieces[0].gap, Duration::from_micros(3));
        assert_eq!(
            rng.next_u64(),
            ChaCha20Rng::seed_from_u64(3).next_u64(),
            "no jitter, no draw"
        );
    }

    #[test]
    fn latency_jitter_is_drawn_around_the_latency() {
        let now = Instant::now();
        let (base, jitter) = (10_000i64, 2_000i64);
        let mut t = Latency::new(
            Duration::from_micros(base as u64),
            Duration::from_micros(2000),
        );
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut same = ChaCha20Rng::seed_from_u64(9);
        let mut out = ToxicOutput::default();
        let mut differ = false;
        for i in 0..20u64 {
            // Pieces a second apart: order never holds one back.
            let arrival = now + Duration::from_secs(i);
            t.push(
                arrival,
                piece(Bytes::from_static(b"x"), arrival, "none"),
                &mut rng,
                &mut out,
            );
            let delay = base + same.gen_range(-jitter..=jitter);
            assert_eq!(
                out.pieces[i as usize].at,
                arrival + Duration::from_micros(delay as u64)
            );
            differ |= delay != base;
        }
        assert!(differ);
    }

    #[test]
    fn latency_never_reorders() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut t = Latency::new(ms(10), Duration::ZERO);
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut out = ToxicOutput::default();
        t.push(
            now,
            piece(Bytes::from_static(b"a"), now + ms(100), "none"),
            &mut rng,
            &mut out,
        );
        t.push(
            now,
            piece(Bytes::from_static(b"b"), now, "none"),
            &mut rng,
            &mut out,
        );
        assert_eq!(out.pieces[0].at, now + ms(110));
        assert_eq!(out.pieces[1].at, now + ms(110));
    }

    #[test]
    fn bandwidth_cuts_tenths_of_a_second_and_paces_them() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        // 1 KB/s: 1000 bytes a second, pieces of at most 100 bytes.
        let mut t = Bandwidth::new(1);
        assert_eq!(t.name(), "bandwidth");
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut out = ToxicOutput::default();
        let data = Bytes::from((0..250u8).collect::<Vec<u8>>());
        t.push(now, piece(data.clone(), now, "none"), &mut rng, &mut out);
        let lens: Vec<usize> = out.pieces.iter().map(|p| p.data.len()).collect();
        assert_eq!(lens, [100, 100, 50]);
        let at: Vec<Instant> = out.pieces.iter().map(|p| p.at).collect();
        assert_eq!(at, [now + ms(100), now + ms(200), now + ms(250)]);
        let joined: Vec<u8> = out.pieces.iter().flat_map(|p| p.data.to_vec()).collect();
        assert_eq!(joined, data);
        assert!(out.pieces.iter().all(|p| p.toxic == "bandwidth"));
        assert!(out.pieces.iter().all(|p| p.gap == Duration::from_micros(3)));
        // The next piece waits for the wire; a later one starts from its own arrival.
        out.pieces.clear();
        t.push(
            now,
            piece(Bytes::from_static(b"0123456789"), now, "split"),
            &mut rng,
            &mut out,
        );
        assert_eq!(out.pieces[0].at, now + ms(260));
        assert_eq!(out.pieces[0].toxic, "split");
        t.push(
            now + ms(1000),
            piece(Bytes::from_static(b"0123456789"), now, "none"),
            &mut rng,
            &mut out,
        );
        assert_eq!(out.pieces[1].at, now + ms(1010));
    }

    #[test]
    fn bandwidth_steps_scale_with_the_rate() {
        let now = Instant::now();
        // 20 KB/s: 2000-byte pieces, each 100 ms on the wire.
        let mut t = Bandwidth::new(20);
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        let mut out = ToxicOutput::default();
        t.push(
            now,
            piece(Bytes::from(vec![0u8; 5000]), now, "none"),
            &mut rng,
            &mut out,
        );
        let lens: Vec<usize> = out.pieces.iter().map(|p| p.data.len()).collect();
        assert_eq!(lens, [2000, 2000, 1000]);
        assert_eq!(out.pieces[2].at, now + Duration::from_millis(250));
        // An empty piece takes no time and yields nothing.
        t.push(now, piece(Bytes::new(), now, "none"), &mut rng, &mut out);
        assert_eq!(out.pieces.len(), 3);
    }
}
