//! What one attack does on the wire, as data: the runner ([`super::run`]) executes it, the
//! mutation mode produces it, and the proxy tests replay its bytes from the server side.

use std::time::Duration;

/// How a hostile connection ends once its bytes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    /// Half-close (FIN) and wait for the target's reaction.
    Fin,
    /// Keep the connection open, silent, while the target is probed.
    Hold,
    /// Reset (RST, SO_LINGER 0).
    Reset,
}

/// One attack.
#[derive(Debug, Clone)]
pub enum Script {
    /// One connection: each part is one write, `gap` apart; then `end`.
    Send {
        parts: Vec<Vec<u8>>,
        gap: Duration,
        end: End,
    },
    /// One connection writing `bytes` one byte per `interval` (slowloris) while the target is
    /// probed.
    Trickle { bytes: Vec<u8> },
    /// Every cut of `bytes` (at most `max` of them, evenly spread), each on its own connection
    /// followed by FIN.
    EveryCut { bytes: Vec<u8> },
    /// `ready`: send `command`, wait for the digits, then send `token` (none: stay silent, or
    /// with `end` = Fin, end the stream instead).
    Ready {
        command: Vec<u8>,
        token: Option<Vec<u8>>,
        end: End,
    },
    /// `count` connections at once, each writing `bytes` (may be empty), held open; the target
    /// is probed while they are held when `probe_while_held`, and again once they are gone.
    Many {
        count: Count,
        bytes: Vec<u8>,
        probe_while_held: bool,
    },
}

/// Which configured connection count a [`Script::Many`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// `--idle-connections` (default 10,000).
    Idle,
    /// `--flood-connections` (default 1,000).
    Flood,
}

impl Script {
    /// One write then `end`.
    pub fn once(bytes: Vec<u8>, end: End) -> Script {
        Script::Send {
            parts: vec![bytes],
            gap: Duration::ZERO,
            end,
        }
    }

    /// All the bytes the script writes on one connection, in order (for replaying it as a
    /// hostile server's reply); `None` for scripts that are about many connections.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Script::Send { parts, .. } => Some(parts.concat()),
            Script::Trickle { bytes } => Some(bytes.clone()),
            Script::EveryCut { bytes } => Some(bytes[..bytes.len() / 2].to_vec()),
            Script::Ready { .. } | Script::Many { .. } => None,
        }
    }

    /// How the connection ends (FIN for scripts that do not say).
    pub fn end(&self) -> End {
        match self {
            Script::Send { end, .. } | Script::Ready { end, .. } => *end,
            Script::Trickle { .. } | Script::Many { .. } => End::Hold,
            Script::EveryCut { .. } => End::Fin,
        }
    }
}

/// The cut points of a `len`-byte request: all of 1..len, or `max` spread evenly.
pub fn cut_points(len: usize, max: usize) -> Vec<usize> {
    if len < 2 {
        return Vec::new();
    }
    let all = len - 1;
    let n = all.min(max.max(1));
    let mut points: Vec<usize> = (0..n).map(|i| 1 + i * all / n).collect();
    points.dedup();
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_cover_every_point_or_spread() {
        assert_eq!(cut_points(5, 100), vec![1, 2, 3, 4]);
        assert_eq!(cut_points(1, 100), Vec::<usize>::new());
        let spread = cut_points(1001, 10);
        assert_eq!(spread.len(), 10);
        assert_eq!(spread[0], 1);
        assert!(spread.iter().all(|&p| (1..1001).contains(&p)));
    }
}
