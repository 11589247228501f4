//! A mask: a byte range of one turn that is not compared, and its `CONN:TURN:START..END` form.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The reason given to masks derived by [`derive_masks`](super::masks::derive_masks).
pub const AUTO_REASON: &str = "auto: differs between two clean runs";
/// The reason given to masks parsed from the command line.
pub const USER_REASON: &str = "user";
/// The `--mask` syntax, for help texts.
pub const MASK_SYNTAX: &str = "CONN:TURN:START..END: bytes START (included) to END (excluded) \
                               of turn TURN of connection CONN, all counted from 0 \
                               (e.g. 0:1:8..16)";

/// A byte range `start..end` of turn `turn` of connection `conn` (all counted from 0) whose
/// content is not compared. The length of a turn is always compared: a mask never hides bytes
/// that are missing or extra.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mask {
    pub conn: usize,
    pub turn: usize,
    pub start: usize,
    pub end: usize,
    /// Why the range is masked: [`AUTO_REASON`], [`USER_REASON`], or a note of the user's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Mask {
    /// A mask given by the user (reason [`USER_REASON`]): bytes `bytes` of turn `turn` of
    /// connection `conn`.
    pub fn user(conn: usize, turn: usize, bytes: Range<usize>) -> Mask {
        Mask {
            conn,
            turn,
            start: bytes.start,
            end: bytes.end,
            reason: Some(USER_REASON.to_string()),
        }
    }

    /// The masked bytes as a range.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

impl fmt::Display for Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connection {} turn {} bytes {}..{}",
            self.conn, self.turn, self.start, self.end
        )?;
        match &self.reason {
            Some(r) => write!(f, " ({r})"),
            None => Ok(()),
        }
    }
}

/// A `--mask` flag that does not follow [`MASK_SYNTAX`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mask {given:?}: {why}; the syntax is {MASK_SYNTAX}")]
pub struct MaskSyntaxError {
    pub given: String,
    pub why: String,
}

impl FromStr for Mask {
    type Err = MaskSyntaxError;

    /// Parses `CONN:TURN:START..END` (see [`MASK_SYNTAX`]); the reason is [`USER_REASON`].
    fn from_str(s: &str) -> Result<Mask, MaskSyntaxError> {
        let err = |why: &str| MaskSyntaxError {
            given: s.to_owned(),
            why: why.to_owned(),
        };
        let num = |part: &str, what: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| err(&format!("{what} {part:?} is not a number")))
        };
        let parts: Vec<&str> = s.split(':').collect();
        let [conn, turn, range] = parts[..] else {
            return Err(err("expected three parts separated by ':'"));
        };
        let Some((start, end)) = range.split_once("..") else {
            return Err(err("the byte range needs '..' between START and END"));
        };
        let mask = Mask {
            conn: num(conn, "CONN")?,
            turn: num(turn, "TURN")?,
            start: num(start, "START")?,
            end: num(end, "END")?,
            reason: Some(USER_REASON.to_owned()),
        };
        if mask.start >= mask.end {
            return Err(err(
                "the byte range is empty (END must be greater than START)",
            ));
        }
        Ok(mask)
    }
}

/// The masks that apply to one turn, as ranges.
pub fn ranges_for(masks: &[Mask], conn: usize, turn: usize) -> Vec<Range<usize>> {
    masks
        .iter()
        .filter(|m| m.conn == conn && m.turn == turn)
        .map(Mask::range)
        .collect()
}
