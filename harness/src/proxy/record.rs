//! Recording what the proxy wrote, and schedules to replay.
//!
//! Every piece written is one [`PieceEvent`] (connection, direction, offset, length, time, the
//! toxic that shaped it, and optionally the bytes), kept in memory or written as JSON lines.
//! [`PieceSchedule::from_events`] turns events into the piece lengths and gaps per connection and
//! direction; a proxy given that schedule writes exactly those piece boundaries again. A schedule
//! is plain data, easy to build and edit by hand:
//!
//! ```
//! use stickler::proxy::record::{PieceSchedule, SchedPiece};
//! use stickler::chaos::Direction;
//! let mut s = PieceSchedule::default();
//! s.set(0, Direction::Down, [3, 1, 4].map(SchedPiece::len).to_vec());
//! s.merge_adjacent(0, Direction::Down, 0); // pieces are now 4, 4
//! assert_eq!(s.pieces(0, Direction::Down).unwrap().iter().map(|p| p.len).collect::<Vec<_>>(), [4, 4]);
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::chaos::Direction;
#[cfg(test)]
use crate::codec::hex;
/// One piece of a schedule (defined with the replay stage that plays it).
pub use crate::proxy::toxic::replay::SchedPiece;

/// One piece the proxy wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PieceEvent {
    /// Connection index, 0, 1, 2… in accept order.
    pub conn: u64,
    pub dir: Direction,
    /// Offset of the piece's first byte in this direction's stream.
    pub offset: u64,
    pub len: usize,
    /// Microseconds from the proxy's start to the write.
    pub t_us: u64,
    /// Microseconds since the previous piece of this connection and direction (0 for the first).
    pub gap_us: u64,
    /// The toxic that shaped the piece (`none`, `split`, `coalesce`, `latency`, `replay`…).
    pub toxic: String,
    /// The bytes, as lowercase hex, when recording with bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

impl PieceEvent {
    /// The recorded bytes, if any.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        let hex = self.data.as_ref()?;
        if hex.len() % 2 != 0 {
            return None;
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect()
    }
}

/// The TCP proxy's recording: one [`PieceEvent`] per piece written.
pub type RecordSink = crate::chaos::Sink<PieceEvent>;

/// Reads a JSON-lines recording.
pub fn read_events(path: &Path) -> Result<Vec<PieceEvent>, RecordError> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| RecordError::BadLine {
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("line {line} of the recording is not a piece event: {reason}")]
    BadLine { line: usize, reason: String },
    #[error("schedule is not valid JSON: {0}")]
    BadSchedule(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The piece boundaries of one connection and direction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stream {
    pub conn: u64,
    pub dir: Direction,
    pub pieces: Vec<SchedPiece>,
    /// The least time, in µs, between the last piece and the bytes past the schedule; 0 (the
    /// default) lets them follow as they come. A replay that must keep the boundary after its
    /// last piece sets it, as every case replay does ([`crate::check::minimise::paced`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rest_gap_us: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Stream {
    /// `pieces` of one connection and direction, the bytes past them following as they come.
    pub fn new(conn: u64, dir: Direction, pieces: Vec<SchedPiece>) -> Stream {
        Stream {
            conn,
            dir,
            pieces,
            rest_gap_us: 0,
        }
    }
}

/// Piece boundaries (and gaps) per connection and direction, to replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PieceSchedule {
    pub streams: Vec<Stream>,
}

impl PieceSchedule {
    /// Pieces in all, every connection and direction.
    pub fn piece_count(&self) -> usize {
        self.streams.iter().map(|st| st.pieces.len()).sum()
    }

    /// The pieces written, in order, per connection and direction. Events need not be sorted.
    pub fn from_events(events: &[PieceEvent]) -> PieceSchedule {
        let mut by: BTreeMap<(u64, Direction), Vec<&PieceEvent>> = BTreeMap::new();
        for e in events {
            by.entry((e.conn, e.dir)).or_default().push(e);
        }
        let streams = by
            .into_iter()
            .map(|((conn, dir), mut evs)| {
                evs.sort_by_key(|e| e.offset);
                let pieces = evs
                    .iter()
                    .map(|e| SchedPiece {
                        len: e.len,
                        gap_us: e.gap_us,
                    })
                    .collect();
                Stream::new(conn, dir, pieces)
            })
            .collect();
        PieceSchedule { streams }
    }

    /// The stream of one connection and direction, if the schedule lists it.
    pub fn stream(&self, conn: u64, dir: Direction) -> Option<&Stream> {
        self.streams.iter().find(|s| s.conn == conn && s.dir == dir)
    }

    fn stream_mut(&mut self, conn: u64, dir: Direction) -> Option<&mut Stream> {
        self.streams
            .iter_mut()
            .find(|s| s.conn == conn && s.dir == dir)
    }

    pub fn pieces(&self, conn: u64, dir: Direction) -> Option<&[SchedPiece]> {
        self.stream(conn, dir).map(|s| &s.pieces[..])
    }

    /// Sets (replaces) the pieces of one connection and direction.
    pub fn set(&mut self, conn: u64, dir: Direction, pieces: Vec<SchedPiece>) {
        match self.stream_mut(conn, dir) {
            Some(s) => s.pieces = pieces,
            None => self.streams.push(Stream::new(conn, dir, pieces)),
        }
    }

    /// Merges piece `i` with piece `i + 1` (keeping the first's gap). False if there is none.
    pub fn merge_adjacent(&mut self, conn: u64, dir: Direction, i: usize) -> bool {
        let Some(s) = self.stream_mut(conn, dir) else {
            return false;
        };
        if i + 1 >= s.pieces.len() {
            return false;
        }
        let next = s.pieces.remove(i + 1);
        s.pieces[i].len += next.len;
        true
    }

    /// Cuts piece `i` in two, the first `at` bytes long (0 < at < len); the second keeps no
    /// gap. False if there is no such piece or cut.
    pub fn split_piece(&mut self, conn: u64, dir: Direction, i: usize, at: usize) -> bool {
        let Some(s) = self.stream_mut(conn, dir) else {
            return false;
        };
        match s.pieces.get_mut(i) {
            Some(p) if at > 0 && at < p.len => {
                let rest = p.len - at;
                p.len = at;
                s.pieces.insert(i + 1, SchedPiece::len(rest));
                true
            }
            _ => false,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("schedule serializes")
    }

    pub fn from_json(text: &str) -> Result<PieceSchedule, RecordError> {
        serde_json::from_str(text).map_err(|e| RecordError::BadSchedule(e.to_string()))
    }

    /// Reads a schedule file: a schedule in JSON, or a JSON-lines recording.
    pub fn load(path: &Path) -> Result<PieceSchedule, RecordError> {
        let text = std::fs::read_to_string(path)?;
        match PieceSchedule::from_json(&text) {
            Ok(s) => Ok(s),
            Err(_) => Ok(PieceSchedule::from_events(&read_events(path)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_a_schedule() {
        let mut s = PieceSchedule::default();
        s.set(
            1,
            Direction::Down,
            vec![SchedPiece::len(5), SchedPiece::len(2)],
        );
        assert!(s.split_piece(1, Direction::Down, 0, 3));
        assert!(!s.split_piece(1, Direction::Down, 0, 3));
        assert!(!s.split_piece(0, Direction::Down, 0, 1));
        assert!(s.merge_adjacent(1, Direction::Down, 1));
        assert!(!s.merge_adjacent(1, Direction::Down, 1));
        let lens: Vec<usize> = s
            .pieces(1, Direction::Down)
            .unwrap()
            .iter()
            .map(|p| p.len)
            .collect();
        assert_eq!(lens, [3, 4]);
        assert_eq!(PieceSchedule::from_json(&s.to_json()).unwrap(), s);
        assert!(PieceSchedule::from_json("{").is_err());
    }

    #[test]
    fn hex_round_trip() {
        let e = PieceEvent {
            conn: 0,
            dir: Direction::Up,
            offset: 0,
            len: 3,
            t_us: 0,
            gap_us: 0,
            toxic: "none".into(),
            data: Some(hex(b"\x00\xffa")),
        };
        assert_eq!(e.bytes().unwrap(), b"\x00\xffa");
    }
}
