//! The `cut-up` and `cut-down` profiles: every message cut once, at one point, on a connection
//! of its own — the bytes before the point, a pause, the rest. A reader that takes one `recv()`
//! for a whole message (or a whole length prefix) is caught at the first such cut, every time,
//! where random 1..4-byte splits find it only by luck.
//!
//! A cut is played by the proxy's replay stage: the cut side's stream is scheduled as one piece
//! per turn, with the cut turn written as two pieces `cut_gap` apart.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;

use crate::codec::decode_chunks;
use crate::codec::spec::{FrameSpec, SpecCodec, VARINT_MAX_BYTES};
use crate::proxy::record::SchedPiece;

/// Cut points per message at most.
pub const MAX_CUTS: usize = 64;
/// Bytes at the start of a message cut at every point when no framing says where its header
/// ends: every common length prefix, type byte or magic fits in them.
pub const HEADER_GUESS: usize = 8;

/// One message of a turn: where it starts in the turn, its length, and its header's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    pub start: usize,
    pub len: usize,
    pub header: usize,
}

/// One cut: turn `turn` (counted among the cut side's turns) written as `at` bytes, a pause,
/// and the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cut {
    pub turn: usize,
    pub at: usize,
    pub len: usize,
}

impl Cut {
    pub fn describe(&self, side: &str) -> String {
        format!(
            "{side} turn {} cut after byte {} of {}",
            self.turn, self.at, self.len
        )
    }
}

/// The points one message is cut at (offsets within it, 1..len): every point inside its header
/// and the header/body boundary always, then points drawn from `rng`, `max` in all.
pub fn points(msg: &Message, max: usize, rng: &mut ChaCha20Rng) -> Vec<usize> {
    if msg.len < 2 {
        return Vec::new();
    }
    let header = msg.header.clamp(1, msg.len - 1);
    let mut always: Vec<usize> = (1..=header).collect();
    let mut rest: Vec<usize> = (header + 1..msg.len).collect();
    rest.shuffle(rng);
    always.truncate(max);
    let room = max - always.len();
    always.extend(rest.into_iter().take(room));
    always.sort_unstable();
    always
}

/// Every cut of a side's turns: `messages(i)` splits turn `i` into its messages.
pub fn cuts(
    turn_lens: &[usize],
    messages: impl Fn(usize) -> Vec<Message>,
    max: usize,
    rng: &mut ChaCha20Rng,
) -> Vec<Cut> {
    let mut out = Vec::new();
    for (turn, &len) in turn_lens.iter().enumerate() {
        for msg in messages(turn) {
            for k in points(&msg, max, rng) {
                out.push(Cut {
                    turn,
                    at: msg.start + k,
                    len,
                });
            }
        }
    }
    out
}

/// The whole turn as one message with the guessed header (no framing known).
pub fn whole_turn(len: usize) -> Vec<Message> {
    vec![Message {
        start: 0,
        len,
        header: HEADER_GUESS,
    }]
}

/// The messages of one turn under a framing description, each with its header (offset and
/// length field; for a varint its longest form; for a delimiter the guess), or `None` when the
/// turn is not a whole number of messages.
pub fn framed_messages(spec: &FrameSpec, turn: &[u8]) -> Option<Vec<Message>> {
    let header = match spec {
        FrameSpec::Length(h) => h.header_len(),
        FrameSpec::Varint { offset, .. } => offset + VARINT_MAX_BYTES,
        FrameSpec::Delimiter { .. } => HEADER_GUESS,
    };
    let decoded = decode_chunks(&mut SpecCodec::new(spec.clone()), [turn]);
    if decoded.error.is_some() {
        return None;
    }
    let mut start = 0;
    let mut out = Vec::new();
    for item in decoded.items {
        out.push(Message {
            start,
            len: item.len(),
            header,
        });
        start += item.len();
    }
    (start == turn.len()).then_some(out)
}

/// The cut side's pieces for `cut`: one per turn up to the cut turn, which is two pieces `gap`
/// apart. Bytes after it pass as they come.
pub fn pieces(turn_lens: &[usize], cut: &Cut, gap: Duration) -> Vec<SchedPiece> {
    let mut out: Vec<SchedPiece> = turn_lens[..cut.turn.min(turn_lens.len())]
        .iter()
        .map(|&len| SchedPiece::len(len))
        .collect();
    out.push(SchedPiece::len(cut.at));
    out.push(SchedPiece {
        len: cut.len - cut.at,
        gap_us: gap.as_micros() as u64,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_short_message_is_cut_everywhere_and_a_long_one_in_its_header_always() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let short = Message {
            start: 0,
            len: 6,
            header: 8,
        };
        assert_eq!(points(&short, 64, &mut rng), vec![1, 2, 3, 4, 5]);
        let long = Message {
            start: 0,
            len: 1000,
            header: 4,
        };
        let p = points(&long, 64, &mut rng);
        assert_eq!(p.len(), 64);
        assert_eq!(&p[..4], &[1, 2, 3, 4]);
        assert!(p.windows(2).all(|w| w[0] < w[1]) && *p.last().unwrap() < 1000);
        assert!(points(
            &Message {
                start: 0,
                len: 1,
                header: 1
            },
            64,
            &mut rng
        )
        .is_empty());
    }

    #[test]
    fn cuts_land_inside_the_messages_of_their_turn() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let c = cuts(
            &[3, 10],
            |t| match t {
                0 => whole_turn(3),
                _ => vec![
                    Message {
                        start: 0,
                        len: 5,
                        header: 2,
                    },
                    Message {
                        start: 5,
                        len: 5,
                        header: 2,
                    },
                ],
            },
            64,
            &mut rng,
        );
        let at: Vec<(usize, usize)> = c.iter().map(|c| (c.turn, c.at)).collect();
        assert_eq!(
            at,
            vec![
                (0, 1),
                (0, 2),
                (1, 1),
                (1, 2),
                (1, 3),
                (1, 4),
                (1, 6),
                (1, 7),
                (1, 8),
                (1, 9)
            ]
        );
    }

    #[test]
    fn a_cut_is_one_piece_per_earlier_turn_then_two() {
        let p = pieces(
            &[4, 9, 7],
            &Cut {
                turn: 1,
                at: 3,
                len: 9,
            },
            Duration::from_millis(10),
        );
        assert_eq!(
            p,
            vec![
                SchedPiece::len(4),
                SchedPiece::len(3),
                SchedPiece {
                    len: 6,
                    gap_us: 10_000
                }
            ]
        );
    }
}
