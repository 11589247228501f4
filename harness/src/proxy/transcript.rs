//! A recorded direction shown through a codec: each piece written, annotated with the frames it
//! carries. The frames come from the project's own decoders ([`crate::codec`]): this module
//! only feeds them the recorded pieces in order and notes where each frame ended.
//!
//! ```
//! use stickler::codec::length::LengthCodec;
//! use stickler::proxy::record::{PieceEvent, RecordSink};
//! use stickler::proxy::transcript::transcript;
//! use stickler::proxy::toxic::Direction;
//! // Two frames, "hi" and "yo", written as pieces of 3, 4 and 5 bytes.
//! let wire = b"\x02\x00\x00\x00hi\x02\x00\x00\x00yo";
//! let mut events = Vec::new();
//! let mut off = 0;
//! for len in [3, 4, 5] {
//!     events.push(PieceEvent { conn: 0, dir: Direction::Down, offset: off as u64, len,
//!         t_us: 0, gap_us: 0, toxic: "split".into(),
//!         data: Some(wire[off..off + len].iter().map(|b| format!("{b:02x}")).collect()) });
//!     off += len;
//! }
//! let t = transcript(&events, 0, Direction::Down, LengthCodec::default()).unwrap();
//! assert_eq!(t.frame_ends, [6, 12]);
//! assert_eq!(t.pieces[1].frames, 0..2); // the second piece ends frame 0 and starts frame 1
//! ```

use std::fmt;
use std::ops::Range;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::record::PieceEvent;
use super::toxic::Direction;
use crate::codec::framed::HeaderKind;
use crate::codec::spec::{FramingChoice, SpecCodec};
use crate::codec::{AnyItem, FormatConfig};

/// One piece, and the frames it carries bytes of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptPiece {
    pub offset: u64,
    pub len: usize,
    pub t_us: u64,
    pub toxic: String,
    /// Indexes of the frames this piece holds bytes of (empty range: none, e.g. trailing bytes).
    pub frames: Range<usize>,
}

/// A direction's pieces and frame boundaries.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub conn: u64,
    pub dir: Direction,
    pub pieces: Vec<TranscriptPiece>,
    /// Stream offset just past each decoded frame.
    pub frame_ends: Vec<u64>,
    /// What stopped the decoder, if anything (a truncated frame, a bad header…).
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("no recorded pieces for connection {conn} {dir}")]
    Empty { conn: u64, dir: Direction },
    #[error("piece at offset {offset} was recorded without its bytes (record with bytes)")]
    NoBytes { offset: u64 },
}

/// Decodes the recorded bytes of `conn`/`dir` with `decoder`, piece by piece; every item the
/// decoder yields ends a frame.
pub fn transcript<D: Decoder>(
    events: &[PieceEvent],
    conn: u64,
    dir: Direction,
    decoder: D,
) -> Result<Transcript, TranscriptError>
where
    D::Error: fmt::Display,
{
    transcript_by(events, conn, dir, decoder, |_| true)
}

/// The transcript of `conn`/`dir` under a framing's own decoder for that direction
/// ([`Framing::formats`](crate::codec::Framing::formats), `framed` with its default header): replies (down) in the framing's
/// reply format; requests (up) are unframed (one read = one message) except under `framed` and
/// `upload`. Only items that complete a message end a frame. A description frames both
/// directions, each frame a whole message.
pub fn transcript_for(
    events: &[PieceEvent],
    conn: u64,
    dir: Direction,
    framing: &FramingChoice,
) -> Result<Transcript, TranscriptError> {
    let framing = match framing {
        FramingChoice::Builtin(f) => *f,
        FramingChoice::Spec(spec) => {
            return transcript(events, conn, dir, SpecCodec::new(spec.clone()))
        }
    };
    let formats = framing.formats(HeaderKind::default());
    let format = match dir {
        Direction::Up => formats.request,
        Direction::Down => formats.reply,
    };
    let decoder = format.decoder(&FormatConfig::default());
    transcript_by(events, conn, dir, decoder, AnyItem::ends_message)
}

/// Like [`transcript`], where only the items `ends_frame` accepts end a frame (a streaming
/// decoder yields several items per frame).
pub fn transcript_by<D: Decoder>(
    events: &[PieceEvent],
    conn: u64,
    dir: Direction,
    mut decoder: D,
    ends_frame: impl Fn(&D::Item) -> bool,
) -> Result<Transcript, TranscriptError>
where
    D::Error: fmt::Display,
{
    let mut evs: Vec<&PieceEvent> = events
        .iter()
        .filter(|e| e.conn == conn && e.dir == dir)
        .collect();
    if evs.is_empty() {
        return Err(TranscriptError::Empty { conn, dir });
    }
    evs.sort_by_key(|e| e.offset);
    let mut buf = BytesMut::new();
    let mut fed = 0u64;
    let mut frame_ends = Vec::new();
    let mut error = None;
    for e in &evs {
        let bytes = e
            .bytes()
            .ok_or(TranscriptError::NoBytes { offset: e.offset })?;
        buf.extend_from_slice(&bytes);
        fed += bytes.len() as u64;
        while error.is_none() {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => {
                    if ends_frame(&item) {
                        frame_ends.push(fed - buf.len() as u64);
                    }
                }
                Ok(None) => break,
                Err(err) => error = Some(err.to_string()),
            }
        }
    }
    while error.is_none() {
        match decoder.decode_eof(&mut buf) {
            Ok(Some(item)) => {
                if ends_frame(&item) {
                    frame_ends.push(fed - buf.len() as u64);
                }
            }
            Ok(None) => break,
            Err(err) => error = Some(err.to_string()),
        }
    }
    let pieces = evs
        .iter()
        .map(|e| {
            let (start, end) = (e.offset, e.offset + e.len as u64);
            // Frame i spans [end of i-1, end of i).
            let first = frame_ends.partition_point(|&fe| fe <= start);
            let last = frame_ends.partition_point(|&fe| fe < end);
            let last = if last < frame_ends.len() {
                last + 1
            } else {
                frame_ends.len()
            };
            TranscriptPiece {
                offset: e.offset,
                len: e.len,
                t_us: e.t_us,
                toxic: e.toxic.clone(),
                frames: first..last.max(first),
            }
        })
        .collect();
    Ok(Transcript {
        conn,
        dir,
        pieces,
        frame_ends,
        error,
    })
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "connection {} {}: {} pieces, {} frames",
            self.conn,
            self.dir,
            self.pieces.len(),
            self.frame_ends.len()
        )?;
        for p in &self.pieces {
            let frames = match p.frames.len() {
                0 => "no whole frame".to_string(),
                1 => format!("frame {}", p.frames.start),
                _ => format!("frames {}..={}", p.frames.start, p.frames.end - 1),
            };
            writeln!(
                f,
                "  @{:>8} +{:<6} t={:>9}us {:<9} {}",
                p.offset, p.len, p.t_us, p.toxic, frames
            )?;
        }
        if let Some(e) = &self.error {
            writeln!(f, "  decoder stopped: {e}")?;
        }
        Ok(())
    }
}
