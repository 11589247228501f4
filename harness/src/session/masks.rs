//! Masks: byte ranges of a turn whose content is allowed to differ (timestamps, random ids),
//! derived from two clean runs or given by hand, and the comparison of expected against got
//! bytes under them.
//!
//! All pure: no IO, no time.

use std::fmt;
use std::ops::Range;

use super::format::{Connection, Side};
use crate::present::preview;

/// A short readable view of bytes, as the reports show them.
fn show(bytes: &[u8]) -> String {
    format!("\"{}\"", preview(bytes, 48))
}

pub use super::mask::{ranges_for, Mask, MaskSyntaxError, AUTO_REASON, MASK_SYNTAX, USER_REASON};

/// Two clean runs that differ in more than masked bytes: the target does not repeat itself
/// as set up, and no mask can fix that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmaskable {
    #[error("the two clean runs made {first} and {second} connections")]
    Connections { first: usize, second: usize },
    #[error("connection {conn}: the two clean runs had {first} and {second} turns")]
    Turns {
        conn: usize,
        first: usize,
        second: usize,
    },
    #[error("connection {conn} turn {turn}: from the {first} in one clean run, the {second} in the other")]
    Side {
        conn: usize,
        turn: usize,
        first: Side,
        second: Side,
    },
    #[error(
        "connection {conn} turn {turn}: {first} bytes in one clean run, {second} in the other \
         (a length that changes between clean runs cannot be masked)"
    )]
    Length {
        conn: usize,
        turn: usize,
        first: usize,
        second: usize,
    },
}

/// The maximal ranges where two equally long byte strings differ.
///
/// # Panics
/// Never; bytes past the shorter one's end are ignored (callers compare lengths first).
pub fn differing_ranges(a: &[u8], b: &[u8]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for (i, _) in a.iter().zip(b).enumerate().filter(|(_, (x, y))| x != y) {
        match out.last_mut() {
            Some(r) if r.end == i => r.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

/// Masks covering every byte that differs between two clean runs of the same session, each
/// with the reason [`AUTO_REASON`]; or the first difference no mask can cover (a different
/// number of connections or turns, a turn from the other side, a turn of another length).
pub fn derive_masks(first: &[Connection], second: &[Connection]) -> Result<Vec<Mask>, Unmaskable> {
    if first.len() != second.len() {
        return Err(Unmaskable::Connections {
            first: first.len(),
            second: second.len(),
        });
    }
    let mut masks = Vec::new();
    for (conn, (a, b)) in first.iter().zip(second).enumerate() {
        if a.turns.len() != b.turns.len() {
            return Err(Unmaskable::Turns {
                conn,
                first: a.turns.len(),
                second: b.turns.len(),
            });
        }
        for (turn, (x, y)) in a.turns.iter().zip(&b.turns).enumerate() {
            if x.from != y.from {
                return Err(Unmaskable::Side {
                    conn,
                    turn,
                    first: x.from,
                    second: y.from,
                });
            }
            if x.bytes.len() != y.bytes.len() {
                return Err(Unmaskable::Length {
                    conn,
                    turn,
                    first: x.bytes.len(),
                    second: y.bytes.len(),
                });
            }
            masks.extend(
                differing_ranges(&x.bytes, &y.bytes)
                    .into_iter()
                    .map(|r| Mask {
                        conn,
                        turn,
                        start: r.start,
                        end: r.end,
                        reason: Some(AUTO_REASON.to_owned()),
                    }),
            );
        }
    }
    Ok(masks)
}

/// What [`compare`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// Equal lengths, and every unmasked byte equal.
    Match,
    Differs(Difference),
}

/// The first unmasked byte where got differs from expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Offset of the first differing byte (or where the shorter side ended).
    pub offset: usize,
    /// The expected byte there; `None` when expected ended there.
    pub expected: Option<u8>,
    /// The byte got there; `None` when got ended there.
    pub got: Option<u8>,
    /// Expected bytes around the offset, shown readably.
    pub expected_around: String,
    /// Got bytes around the offset, shown readably.
    pub got_around: String,
}

/// How many bytes either side of the differing offset a [`Difference`] shows.
pub const CONTEXT: usize = 16;

fn byte_at(b: Option<u8>) -> String {
    match b {
        Some(b) => format!("0x{b:02x}"),
        None => "the end".to_owned(),
    }
}

/// `bytes A..B of N: <preview>`: the window of `bytes` around `offset`.
fn around(bytes: &[u8], offset: usize) -> String {
    let start = offset.saturating_sub(CONTEXT).min(bytes.len());
    let end = offset.saturating_add(CONTEXT).min(bytes.len());
    format!(
        "bytes {start}..{end} of {}: {}",
        bytes.len(),
        show(&bytes[start..end])
    )
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "first difference at offset {}: expected {}, got {}; expected {}; got {}",
            self.offset,
            byte_at(self.expected),
            byte_at(self.got),
            self.expected_around,
            self.got_around
        )
    }
}

/// Compares got against expected, skipping bytes inside `masked` (ranges past either end are
/// harmless). Lengths always count: a shorter or longer got differs where the shorter ends,
/// unless an unmasked byte differs before.
pub fn compare(expected: &[u8], got: &[u8], masked: &[Range<usize>]) -> Comparison {
    let is_masked = |i: usize| masked.iter().any(|r| r.contains(&i));
    let first_unmasked_difference = expected
        .iter()
        .zip(got)
        .enumerate()
        .find(|&(i, (e, g))| e != g && !is_masked(i))
        .map(|(i, _)| i);
    let offset = match first_unmasked_difference {
        Some(i) => i,
        None if expected.len() == got.len() => return Comparison::Match,
        None => expected.len().min(got.len()),
    };
    Comparison::Differs(Difference {
        offset,
        expected: expected.get(offset).copied(),
        got: got.get(offset).copied(),
        expected_around: around(expected, offset),
        got_around: around(got, offset),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::format::Turn;

    fn conn(turns: &[(Side, &[u8])]) -> Connection {
        Connection {
            turns: turns
                .iter()
                .map(|&(from, b)| Turn {
                    from,
                    bytes: b.to_vec(),
                })
                .collect(),
            incomplete: None,
        }
    }

    #[test]
    fn parses_the_flag() {
        let m: Mask = "2:1:8..16".parse().unwrap();
        assert_eq!(
            m,
            Mask {
                conn: 2,
                turn: 1,
                start: 8,
                end: 16,
                reason: Some(USER_REASON.into())
            }
        );
        assert_eq!(m.to_string(), "connection 2 turn 1 bytes 8..16 (user)");
        for (bad, why) in [
            ("1:2", "three parts"),
            ("1:2:3:4..5", "three parts"),
            ("a:1:0..1", "CONN \"a\""),
            ("0:x:0..1", "TURN"),
            ("0:1:5", "'..'"),
            ("0:1:..5", "START \"\""),
            ("0:1:-1..5", "START"),
            ("0:1:5..5", "empty"),
            ("0:1:6..5", "empty"),
            ("0:1:0..99999999999999999999999", "END"),
        ] {
            let e = bad.parse::<Mask>().unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains("CONN:TURN:START..END"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn differing_ranges_are_maximal() {
        assert_eq!(differing_ranges(b"abcdef", b"abcdef").len(), 0);
        assert_eq!(differing_ranges(b"abcdef", b"xbcyzf"), vec![0..1, 3..5]);
        assert_eq!(differing_ranges(b"abc", b"xyz"), vec![0..3]);
        assert_eq!(differing_ranges(b"", b"").len(), 0);
    }

    #[test]
    fn derives_masks_from_two_clean_runs() {
        use Side::*;
        let a = [
            conn(&[(Client, b"time?"), (Server, b"t=12:00:01 id=7")]),
            conn(&[(Server, b"hello")]),
        ];
        let b = [
            conn(&[(Client, b"time?"), (Server, b"t=12:00:09 id=4")]),
            conn(&[(Server, b"hello")]),
        ];
        let masks = derive_masks(&a, &b).unwrap();
        let ranges: Vec<_> = masks.iter().map(|m| (m.conn, m.turn, m.range())).collect();
        assert_eq!(ranges, vec![(0, 1, 9..10), (0, 1, 14..15)]);
        assert!(masks
            .iter()
            .all(|m| m.reason.as_deref() == Some(AUTO_REASON)));
        assert!(derive_masks(&a, &a).unwrap().is_empty());
    }

    #[test]
    fn unmaskable_differences_are_named() {
        use Side::*;
        let base = [conn(&[(Client, b"q"), (Server, b"abc")])];
        let cases = [
            (
                vec![],
                Unmaskable::Connections {
                    first: 1,
                    second: 0,
                },
            ),
            (
                vec![conn(&[(Client, b"q")])],
                Unmaskable::Turns {
                    conn: 0,
                    first: 2,
                    second: 1,
                },
            ),
            (
                vec![conn(&[(Server, b"q"), (Client, b"abc")])],
                Unmaskable::Side {
                    conn: 0,
                    turn: 0,
                    first: Client,
                    second: Server,
                },
            ),
            (
                vec![conn(&[(Client, b"q"), (Server, b"abcd")])],
                Unmaskable::Length {
                    conn: 0,
                    turn: 1,
                    first: 3,
                    second: 4,
                },
            ),
        ];
        for (other, want) in cases {
            assert_eq!(derive_masks(&base, &other), Err(want));
        }
        let text = Unmaskable::Length {
            conn: 0,
            turn: 1,
            first: 3,
            second: 4,
        }
        .to_string();
        assert!(text.contains("cannot be masked"), "{text}");
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one mask is the case under test
    fn compare_honours_masks_but_not_lengths() {
        assert_eq!(compare(b"abc", b"abc", &[]), Comparison::Match);
        assert_eq!(compare(b"", b"", &[]), Comparison::Match);
        assert_eq!(compare(b"t=01;", b"t=09;", &[3..4]), Comparison::Match);
        // A mask past the end is harmless.
        assert_eq!(compare(b"t=01;", b"t=09;", &[3..100]), Comparison::Match);
        let Comparison::Differs(d) = compare(b"t=01;x", b"t=09;y", &[3..4]) else {
            panic!("must differ")
        };
        assert_eq!((d.offset, d.expected, d.got), (5, Some(b'x'), Some(b'y')));
        // A masked tail does not hide a missing byte.
        let Comparison::Differs(d) = compare(b"abcd", b"abc", &[3..4]) else {
            panic!("must differ")
        };
        assert_eq!((d.offset, d.expected, d.got), (3, Some(b'd'), None));
        let Comparison::Differs(d) = compare(b"ab", b"abX", &[]) else {
            panic!("must differ")
        };
        assert_eq!((d.offset, d.expected, d.got), (2, None, Some(b'X')));
        assert!(d.to_string().contains("expected the end, got 0x58"), "{d}");
    }

    #[test]
    fn a_difference_shows_both_sides_around_it() {
        let expected: Vec<u8> =
            b"HTTP/1.1 200 OK\r\nDate: Mon\r\n\r\nhello, world and more".to_vec();
        let mut got = expected.clone();
        got[40] = 0x00;
        let Comparison::Differs(d) = compare(&expected, &got, &[]) else {
            panic!("must differ")
        };
        assert_eq!(d.offset, 40);
        assert_eq!(
            d.expected_around,
            format!("bytes 24..{} of 51: {}", 51, show(&expected[24..51]))
        );
        assert!(d.got_around.contains(r"\0"), "{}", d.got_around);
        assert!(d.expected_around.contains("world"), "{}", d.expected_around);
        let text = d.to_string();
        assert!(
            text.starts_with("first difference at offset 40: expected 0x6c, got 0x00;"),
            "{text}"
        );
        assert!(!text.contains('\r'), "control bytes are escaped: {text}");
    }
}
