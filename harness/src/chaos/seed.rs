//! The one derivation of every random stream from a run seed.
//!
//! A run seed fans out two ways, both through [`derive()`]:
//! - a named stream — a conformance case (`ready/split-down/large`) or a UDP matrix cell — gets
//!   its own seed, the run seed mixed with the name (FNV-1a);
//! - lane `k` of connection (or UDP client) `i` draws from ChaCha20 keyed by the seed, stream
//!   `4i + k` (TCP: 0/1 the piece draws of up/down, 2/3 the toxicity draws; UDP: 0/1 the lanes).
//!
//! ```
//! use stickler::chaos::seed::{derive, Stream};
//! let case = derive(7, Stream::Named("ready/split-down/large")).seed;
//! let up = derive(case, Stream::Lane { conn: 0, lane: 0 });
//! assert_eq!((up.seed, up.stream), (case, 0));
//! assert_ne!(case, derive(8, Stream::Named("ready/split-down/large")).seed);
//! ```

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// What a seed is derived for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream<'a> {
    /// A conformance case or a UDP matrix cell, by its id.
    Named(&'a str),
    /// Lane `lane` (0..4) of connection or client `conn`.
    Lane { conn: u64, lane: u64 },
}

/// A derived seed: a ChaCha20 key seed and the stream number within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Derived {
    /// The seed (for a named stream: the seed handed on to its proxies).
    pub seed: u64,
    /// The ChaCha20 stream (0 for a named stream).
    pub stream: u64,
}

impl Derived {
    /// The random generator of this stream.
    pub fn rng(self) -> ChaCha20Rng {
        let mut rng = ChaCha20Rng::seed_from_u64(self.seed);
        rng.set_stream(self.stream);
        rng
    }
}

/// Derives the seed of `stream` from `seed`.
pub fn derive(seed: u64, stream: Stream<'_>) -> Derived {
    match stream {
        Stream::Named(id) => {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
            for b in id.bytes() {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            Derived { seed: h, stream: 0 }
        }
        Stream::Lane { conn, lane } => Derived {
            seed,
            stream: conn.wrapping_mul(4).wrapping_add(lane),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn named_streams_differ_by_seed_and_name() {
        let a = derive(1, Stream::Named("a")).seed;
        assert_ne!(a, derive(2, Stream::Named("a")).seed);
        assert_ne!(a, derive(1, Stream::Named("b")).seed);
        // FNV-1a of "a" over the offset basis xor 1: pinned, committed cases depend on it.
        assert_eq!(
            a,
            (0xcbf2_9ce4_8422_2325u64 ^ 1 ^ 0x61).wrapping_mul(0x0100_0000_01b3)
        );
    }

    #[test]
    fn lanes_are_chacha_streams() {
        let mut want = ChaCha20Rng::seed_from_u64(9);
        want.set_stream(4 * 3 + 1);
        let mut got = derive(9, Stream::Lane { conn: 3, lane: 1 }).rng();
        assert_eq!(got.next_u64(), want.next_u64());
    }
}
