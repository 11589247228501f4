//! The UDP proxy's toxics: what may happen to a datagram, and their command-line syntax (the UDP
//! proxy's vocabulary of the one toxic grammar, [`crate::chaos::grammar`]).
//!
//! ```text
//! [DIR:]TYPE=VALUE[,KEY=VALUE]
//! DIR: up (client -> server), down (server -> client, the default) or both
//!   drop=P[,burst=N]          drop with probability P; a drop takes N datagrams in a row (default 1)
//!   dup=P                     send a datagram twice with probability P
//!   reorder=W[,hold=DUR]      hold up to W datagrams, release a random one when full; what is
//!                             held longer than DUR (default 10ms) is released in random order
//!   delay=DUR[,jitter=DUR]    delay every datagram by DUR +- jitter (jitter reorders)
//!   truncate=SIZE             cut datagrams longer than SIZE to SIZE bytes (a smaller receiver)
//! ```
//!
//! Stages run in the order truncate, drop, dup, reorder, delay, whatever the order given; each
//! type may appear once per direction.
//!
//! ```
//! use stickler::udp::toxic::UdpToxic;
//! for s in ["drop=0.1,burst=3", "dup=0.05", "both:reorder=4", "delay=2ms,jitter=1ms", "up:truncate=512"] {
//!     s.parse::<UdpToxic>().unwrap();
//! }
//! assert!("drop=1.5".parse::<UdpToxic>().is_err());
//! ```

use std::str::FromStr;
use std::time::Duration;

use crate::chaos::grammar::{self, GrammarError, Parsed, Vocabulary};
use crate::chaos::{Direction, Side};
use crate::units::{parse_duration, parse_size};

use super::MAX_DATAGRAM;

/// The syntax, for `--help`.
pub const UDP_SYNTAX_HELP: &str = "\
Toxic syntax: [DIR:]TYPE=VALUE[,KEY=VALUE]
  DIR: up (client->server), down (server->client, default) or both
  drop=P[,burst=N]         drop a datagram with probability P (0..1); each drop takes N in a row (default 1)
  dup=P                    send a datagram twice with probability P
  reorder=W[,hold=DUR]     hold up to W datagrams and release a random one when full; held longer than DUR (default 10ms): all released in random order
  delay=DUR[,jitter=DUR]   delay every datagram by DUR+-jitter (jitter reorders)
  truncate=SIZE            cut datagrams longer than SIZE bytes to SIZE (a receiver with a SIZE-byte buffer)
  stages run truncate, drop, dup, reorder, delay; one toxic of each type per direction
  DUR: 250us, 10ms, 2s (bare number = ms); SIZE: 512, 64k
Examples: both:drop=0.1,burst=3  dup=0.05  up:reorder=4  both:delay=2ms,jitter=1ms  truncate=512";

/// Largest reorder window (datagrams held per client and direction).
pub const MAX_REORDER_WINDOW: usize = 1024;
/// Largest drop burst.
pub const MAX_BURST: u32 = 1 << 16;
/// Default time a reorder window holds a datagram.
pub const DEFAULT_HOLD: Duration = Duration::from_millis(10);
/// Longest delay, jitter or hold.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UdpToxicError {
    #[error("bad UDP toxic {spec:?}: {reason}")]
    Syntax { spec: String, reason: String },
    #[error("two {kind} toxics on the {dir} direction: give one")]
    Twice { kind: &'static str, dir: Direction },
}

/// What a toxic does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UdpToxicKind {
    Drop { probability: f64, burst: u32 },
    Duplicate { probability: f64 },
    Reorder { window: usize, hold: Duration },
    Delay { delay: Duration, jitter: Duration },
    Truncate { len: usize },
}

impl UdpToxicKind {
    pub fn name(&self) -> &'static str {
        match self {
            UdpToxicKind::Drop { .. } => "drop",
            UdpToxicKind::Duplicate { .. } => "dup",
            UdpToxicKind::Reorder { .. } => "reorder",
            UdpToxicKind::Delay { .. } => "delay",
            UdpToxicKind::Truncate { .. } => "truncate",
        }
    }
}

/// A toxic and the directions it applies to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UdpToxic {
    pub side: Side,
    pub kind: UdpToxicKind,
}

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a probability (0..1)"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("probability {p} is outside 0..1"));
    }
    Ok(p)
}

fn duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d > MAX_DELAY {
        return Err(format!("{s:?} is over the limit of {MAX_DELAY:?}"));
    }
    Ok(d)
}

/// The UDP toxic types, and the options each takes.
pub const UDP_TYPES: &[(&str, &[&str])] = &[
    ("drop", &["burst"]),
    ("dup", &[]),
    ("reorder", &["hold"]),
    ("delay", &["jitter"]),
    ("truncate", &[]),
];

/// The UDP proxy's toxics as a vocabulary of the toxic grammar.
impl Vocabulary for UdpToxic {
    type Error = UdpToxicError;
    const COMMON: &'static [&'static str] = &[];

    fn options(ty: &str) -> Option<&'static [&'static str]> {
        UDP_TYPES.iter().find(|(t, _)| *t == ty).map(|(_, o)| *o)
    }

    fn grammar_error(spec: &str, e: GrammarError) -> UdpToxicError {
        let reason = match e {
            GrammarError::Syntax(reason) => reason,
            GrammarError::UnknownType(ty) => {
                let known: Vec<&str> = UDP_TYPES.iter().map(|(t, _)| *t).collect();
                format!("unknown type {ty:?} ({})", known.join(", "))
            }
        };
        UdpToxicError::Syntax {
            spec: spec.to_string(),
            reason,
        }
    }

    fn build(p: &Parsed<'_>) -> Result<UdpToxic, UdpToxicError> {
        let err = |reason: String| UdpToxicError::Syntax {
            spec: p.spec.to_string(),
            reason,
        };
        let value = p.value;
        let kind = match p.ty {
            "drop" => {
                let burst = match p.option("burst") {
                    None => 1,
                    Some(b) => b
                        .parse::<u32>()
                        .ok()
                        .filter(|b| (1..=MAX_BURST).contains(b))
                        .ok_or_else(|| err(format!("burst {b:?} is not 1..={MAX_BURST}")))?,
                };
                UdpToxicKind::Drop {
                    probability: probability(value).map_err(err)?,
                    burst,
                }
            }
            "dup" => UdpToxicKind::Duplicate {
                probability: probability(value).map_err(err)?,
            },
            "reorder" => {
                let window = value
                    .parse::<usize>()
                    .ok()
                    .filter(|w| (1..=MAX_REORDER_WINDOW).contains(w))
                    .ok_or_else(|| {
                        err(format!("window {value:?} is not 1..={MAX_REORDER_WINDOW}"))
                    })?;
                let hold = p
                    .option("hold")
                    .map(duration)
                    .transpose()
                    .map_err(err)?
                    .unwrap_or(DEFAULT_HOLD);
                UdpToxicKind::Reorder { window, hold }
            }
            "delay" => UdpToxicKind::Delay {
                delay: duration(value).map_err(err)?,
                jitter: p
                    .option("jitter")
                    .map(duration)
                    .transpose()
                    .map_err(err)?
                    .unwrap_or_default(),
            },
            _ => {
                let len = parse_size(value).map_err(err)?;
                if len > MAX_DATAGRAM as u64 {
                    return Err(err(format!(
                        "{len} is over the largest datagram ({MAX_DATAGRAM})"
                    )));
                }
                UdpToxicKind::Truncate { len: len as usize }
            }
        };
        Ok(UdpToxic { side: p.side, kind })
    }
}

impl FromStr for UdpToxic {
    type Err = UdpToxicError;

    fn from_str(spec: &str) -> Result<UdpToxic, UdpToxicError> {
        grammar::parse(spec)
    }
}

/// The toxics of one direction, one of each type at most.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stages {
    pub truncate: Option<usize>,
    /// (probability, burst)
    pub drop: Option<(f64, u32)>,
    pub dup: Option<f64>,
    /// (window, hold)
    pub reorder: Option<(usize, Duration)>,
    /// (delay, jitter)
    pub delay: Option<(Duration, Duration)>,
}

impl Stages {
    /// The stages of `dir` from a toxic list; an error when a type appears twice there.
    pub fn for_direction(toxics: &[UdpToxic], dir: Direction) -> Result<Stages, UdpToxicError> {
        let mut s = Stages::default();
        for t in toxics.iter().filter(|t| t.side.applies_to(dir)) {
            let twice = || UdpToxicError::Twice {
                kind: t.kind.name(),
                dir,
            };
            let taken = match t.kind {
                UdpToxicKind::Truncate { len } => s.truncate.replace(len).is_some(),
                UdpToxicKind::Drop { probability, burst } => {
                    s.drop.replace((probability, burst)).is_some()
                }
                UdpToxicKind::Duplicate { probability } => s.dup.replace(probability).is_some(),
                UdpToxicKind::Reorder { window, hold } => {
                    s.reorder.replace((window, hold)).is_some()
                }
                UdpToxicKind::Delay { delay, jitter } => s.delay.replace((delay, jitter)).is_some(),
            };
            if taken {
                return Err(twice());
            }
        }
        Ok(s)
    }

    /// Checks a whole toxic list (both directions).
    pub fn validate(toxics: &[UdpToxic]) -> Result<(), UdpToxicError> {
        for dir in Direction::BOTH {
            Stages::for_direction(toxics, dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let t: UdpToxic = "both:drop=0.1,burst=3".parse().unwrap();
        assert_eq!(t.side, Side::Both);
        assert_eq!(
            t.kind,
            UdpToxicKind::Drop {
                probability: 0.1,
                burst: 3
            }
        );
        let t: UdpToxic = "reorder=4".parse().unwrap();
        assert_eq!(
            t.kind,
            UdpToxicKind::Reorder {
                window: 4,
                hold: DEFAULT_HOLD
            }
        );
        assert_eq!(t.side, Side::Down);
        for bad in [
            "drop=2",
            "drop=0.1,burst=0",
            "dup=x",
            "reorder=0",
            "reorder=99999",
            "delay=2ms,hold=1ms",
            "truncate=70000",
            "side:drop=0.1",
            "nope=1",
            "drop",
            "delay=100s",
            "drop=0.1,burst=2,burst=3",
        ] {
            assert!(bad.parse::<UdpToxic>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn one_of_each_type_per_direction() {
        let a: UdpToxic = "both:dup=0.1".parse().unwrap();
        let b: UdpToxic = "down:dup=0.2".parse().unwrap();
        let c: UdpToxic = "up:delay=1ms".parse().unwrap();
        assert!(Stages::validate(&[a, c]).is_ok());
        assert!(matches!(
            Stages::validate(&[a, b]),
            Err(UdpToxicError::Twice { kind: "dup", .. })
        ));
    }
}
