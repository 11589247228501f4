//! Toxics: one small type per kind of chaos, all behind the [`Toxic`] trait, composed per
//! direction into a [`Pipeline`](super::pipeline::Pipeline).
//!
//! A toxic sees the byte stream of one direction as [`Piece`]s: bytes plus the earliest time they
//! may be written. It may cut a piece ([`shape::Split`]), hold pieces and merge them
//! ([`shape::Coalesce`]), move their time ([`timing::Latency`], [`timing::Bandwidth`]), or ask for
//! the connection to be closed or reset ([`cut`]). Every random choice comes from the direction's
//! ChaCha stream passed in, so one seed replays one run.
//!
//! What the user writes is a [`ToxicSpec`] (see [`parse`] for the command-line syntax, and
//! [`crate::proxy::api_model`] for the toxiproxy names and attributes).

pub mod cut;
pub mod parse;
pub mod replay;
pub mod shape;
pub mod timing;

use std::time::Duration;

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use tokio::time::Instant;

/// The directions, from the chaos core (kept here for the toxics' users).
pub use crate::chaos::{Direction, Side};

/// Bytes on their way through a pipeline, and the earliest time they may be written.
#[derive(Debug, Clone)]
pub struct Piece {
    pub data: Bytes,
    pub at: Instant,
    /// Least time between the previous write and this one (kept at the real write times, so a
    /// late timer never lets two pieces leave back to back).
    pub gap: Duration,
    /// The last toxic that shaped this piece (`"none"` if none did).
    pub toxic: &'static str,
}

/// What a toxic asks of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Teardown {
    /// Write what is already through, then close both sides (FIN).
    Close,
    /// Close both sides at once with RST (SO_LINGER 0).
    Reset,
}

/// What a toxic produced: pieces for the next stage, and perhaps a teardown.
#[derive(Debug, Default)]
pub struct ToxicOutput {
    pub pieces: Vec<Piece>,
    pub teardown: Option<Teardown>,
}

impl ToxicOutput {
    /// Asks for `v`; of two asks, a reset wins over a close.
    pub fn teardown(&mut self, v: Teardown) {
        self.teardown = self.teardown.max(Some(v));
    }
}

/// One kind of chaos on one direction of one connection.
///
/// `push` takes each piece as it arrives (`now` is its arrival time); a toxic that holds bytes
/// says when it wants to be woken with `deadline`, and releases them in `poll` or `flush`
/// (end of stream, or the toxic list changed).
pub trait Toxic: Send + std::fmt::Debug {
    fn name(&self) -> &'static str;
    fn push(&mut self, now: Instant, piece: Piece, rng: &mut ChaCha20Rng, out: &mut ToxicOutput);
    fn deadline(&self) -> Option<Instant> {
        None
    }
    fn poll(&mut self, _now: Instant, _rng: &mut ChaCha20Rng, _out: &mut ToxicOutput) {}
    fn flush(&mut self, _now: Instant, _out: &mut ToxicOutput) {}
    /// Bytes held inside, not yet passed on (the proxy's budget of queued bytes counts them).
    fn held(&self) -> usize {
        0
    }
    /// How long to wait, after the stream ended and everything was written, before closing.
    fn close_delay(&self) -> Duration {
        Duration::ZERO
    }
}

/// Largest `max` of a split, and `max bytes` of a coalesce: what one connection may hold.
pub const MAX_HOLD_BYTES: usize = 4 << 20;
/// Largest time attribute (latency, jitter, window, gap, delays): one hour.
pub use crate::units::MAX_DURATION;

/// A toxic's kind and parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToxicKind {
    /// Cut every chunk into pieces of `min..=max` bytes, `gap` apart.
    Split {
        min: usize,
        max: usize,
        gap: Duration,
    },
    /// Hold bytes until `window` after the first held byte, or until `max` bytes are held.
    Coalesce { window: Duration, max: usize },
    /// Delay every piece by `latency` ± `jitter`, order kept.
    Latency { latency: Duration, jitter: Duration },
    /// Throttle to `rate` KB/s (1 KB = 1000 bytes, as toxiproxy counts).
    Bandwidth { rate: u64 },
    /// Delay the close by `delay`.
    SlowClose { delay: Duration },
    /// Drop all data; close after `timeout` (zero = never: a black hole).
    Timeout { timeout: Duration },
    /// Reset the connection (RST) `timeout` after the toxic took effect.
    ResetPeer { timeout: Duration },
    /// Close after `bytes` bytes went through.
    LimitData { bytes: u64 },
}

impl ToxicKind {
    /// The type name, as in the command-line syntax and the HTTP API.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Split { .. } => "split",
            ToxicKind::Coalesce { .. } => "coalesce",
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::LimitData { .. } => "limit_data",
        }
    }

    /// Whether the toxic changes piece boundaries or times (replay replaces these).
    pub fn shapes(&self) -> bool {
        matches!(
            self,
            ToxicKind::Split { .. }
                | ToxicKind::Coalesce { .. }
                | ToxicKind::Latency { .. }
                | ToxicKind::Bandwidth { .. }
        )
    }

    /// Checks the parameters: a clear message for anything out of range.
    pub fn validate(&self) -> Result<(), ToxicError> {
        let dur = |what: &'static str, d: Duration| {
            if d > MAX_DURATION {
                Err(ToxicError::OutOfRange {
                    what,
                    detail: format!("{d:?} is over the limit of {MAX_DURATION:?}"),
                })
            } else {
                Ok(())
            }
        };
        match *self {
            ToxicKind::Split { min, max, gap } => {
                if min == 0 || min > max || max > MAX_HOLD_BYTES {
                    return Err(ToxicError::OutOfRange {
                        what: "split size",
                        detail: format!(
                            "{min}..{max}: need 1 <= min <= max <= {MAX_HOLD_BYTES} bytes"
                        ),
                    });
                }
                dur("split gap", gap)
            }
            ToxicKind::Coalesce { window, max } => {
                if max == 0 || max > MAX_HOLD_BYTES {
                    return Err(ToxicError::OutOfRange {
                        what: "coalesce max",
                        detail: format!("{max} bytes: need 1..={MAX_HOLD_BYTES}"),
                    });
                }
                dur("coalesce window", window)
            }
            ToxicKind::Latency { latency, jitter } => {
                dur("latency", latency)?;
                dur("jitter", jitter)
            }
            ToxicKind::Bandwidth { rate } => {
                if rate == 0 || rate > 100_000_000 {
                    return Err(ToxicError::OutOfRange {
                        what: "bandwidth rate",
                        detail: format!(
                            "{rate} KB/s: need 1..=100000000 (use timeout=0 to stop data)"
                        ),
                    });
                }
                Ok(())
            }
            ToxicKind::SlowClose { delay } => dur("slow_close delay", delay),
            ToxicKind::Timeout { timeout } => dur("timeout", timeout),
            ToxicKind::ResetPeer { timeout } => dur("reset_peer timeout", timeout),
            ToxicKind::LimitData { .. } => Ok(()),
        }
    }

    /// A fresh toxic of this kind, taking effect at `now`.
    pub fn build(&self, now: Instant) -> Box<dyn Toxic> {
        match *self {
            ToxicKind::Split { min, max, gap } => Box::new(shape::Split::new(min, max, gap)),
            ToxicKind::Coalesce { window, max } => Box::new(shape::Coalesce::new(window, max)),
            ToxicKind::Latency { latency, jitter } => {
                Box::new(timing::Latency::new(latency, jitter))
            }
            ToxicKind::Bandwidth { rate } => Box::new(timing::Bandwidth::new(rate)),
            ToxicKind::SlowClose { delay } => Box::new(cut::SlowClose::new(delay)),
            ToxicKind::Timeout { timeout } => Box::new(cut::Timeout::new(now, timeout)),
            ToxicKind::ResetPeer { timeout } => Box::new(cut::ResetPeer::new(now, timeout)),
            ToxicKind::LimitData { bytes } => Box::new(cut::LimitData::new(bytes)),
        }
    }
}

/// A named toxic on one or both directions, applied to each connection with probability
/// `toxicity`. The command-line form is described in [`parse`]:
///
/// ```
/// use stickler::chaos::Direction;
/// use stickler::proxy::toxic::{ToxicKind, ToxicSpec};
/// let t: ToxicSpec = "down:split=1..16,gap=1ms".parse().unwrap();
/// assert!(t.side.applies_to(Direction::Down));
/// assert!(matches!(t.kind, ToxicKind::Split { min: 1, max: 16, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToxicSpec {
    pub name: String,
    pub side: Side,
    pub toxicity: f64,
    pub kind: ToxicKind,
}

impl ToxicSpec {
    /// A toxic with toxicity 1 and the default name (`TYPE_SIDE`, e.g. `split_down`).
    pub fn new(side: Side, kind: ToxicKind) -> ToxicSpec {
        ToxicSpec {
            name: format!("{}_{}", kind.type_name(), side.name()),
            side,
            toxicity: 1.0,
            kind,
        }
    }

    pub fn validate(&self) -> Result<(), ToxicError> {
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(ToxicError::OutOfRange {
                what: "toxicity",
                detail: format!("{}: need 0.0..=1.0", self.toxicity),
            });
        }
        self.kind.validate()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToxicError {
    #[error("unknown toxic type {0:?} (known: {known})", known = parse::type_names())]
    UnknownType(String),
    #[error("{what} out of range: {detail}")]
    OutOfRange { what: &'static str, detail: String },
    #[error("bad toxic {spec:?}: {reason}")]
    Syntax { spec: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    const OVER: Duration = MAX_DURATION.checked_add(Duration::from_nanos(1)).unwrap();

    fn every_kind() -> [ToxicKind; 8] {
        let ms = Duration::from_millis(1);
        [
            ToxicKind::Split {
                min: 1,
                max: 2,
                gap: ms,
            },
            ToxicKind::Coalesce { window: ms, max: 8 },
            ToxicKind::Latency {
                latency: ms,
                jitter: ms,
            },
            ToxicKind::Bandwidth { rate: 10 },
            ToxicKind::SlowClose { delay: ms },
            ToxicKind::Timeout { timeout: ms },
            ToxicKind::ResetPeer { timeout: ms },
            ToxicKind::LimitData { bytes: 10 },
        ]
    }

    #[test]
    fn a_reset_wins_over_a_close_in_either_order() {
        let mut out = ToxicOutput::default();
        assert_eq!(out.teardown, None);
        out.teardown(Teardown::Close);
        assert_eq!(out.teardown, Some(Teardown::Close));
        out.teardown(Teardown::Reset);
        assert_eq!(out.teardown, Some(Teardown::Reset));
        out.teardown(Teardown::Close);
        assert_eq!(out.teardown, Some(Teardown::Reset));
    }

    #[test]
    fn kinds_name_themselves_and_build_the_toxic_of_that_name() {
        let now = Instant::now();
        let names: Vec<&str> = every_kind().iter().map(ToxicKind::type_name).collect();
        assert_eq!(
            names,
            [
                "split",
                "coalesce",
                "latency",
                "bandwidth",
                "slow_close",
                "timeout",
                "reset_peer",
                "limit_data"
            ]
        );
        for kind in every_kind() {
            assert_eq!(kind.build(now).name(), kind.type_name());
            assert_eq!(kind.build(now).held(), 0, "{kind:?} holds nothing yet");
            assert_eq!(kind.validate(), Ok(()), "{kind:?}");
        }
        let shaping: Vec<bool> = every_kind().iter().map(ToxicKind::shapes).collect();
        assert_eq!(
            shaping,
            [true, true, true, true, false, false, false, false]
        );
    }

    #[test]
    fn toxics_that_pass_pieces_on_hold_nothing() {
        use rand::SeedableRng;
        let now = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(0);
        for kind in [
            ToxicKind::Latency {
                latency: Duration::from_millis(5),
                jitter: Duration::ZERO,
            },
            ToxicKind::Bandwidth { rate: 1 },
            ToxicKind::SlowClose {
                delay: Duration::ZERO,
            },
            ToxicKind::Timeout {
                timeout: Duration::ZERO,
            },
            ToxicKind::LimitData { bytes: 2 },
        ] {
            let mut t = kind.build(now);
            let mut out = ToxicOutput::default();
            let piece = Piece {
                data: Bytes::from_static(b"abc"),
                at: now,
                gap: Duration::ZERO,
                toxic: "none",
            };
            t.push(now, piece, &mut rng, &mut out);
            assert_eq!(t.held(), 0, "{kind:?}");
        }
    }

    #[test]
    fn only_slow_close_delays_the_close() {
        let now = Instant::now();
        for kind in every_kind() {
            let want = match kind {
                ToxicKind::SlowClose { delay } => delay,
                _ => Duration::ZERO,
            };
            assert_eq!(kind.build(now).close_delay(), want, "{kind:?}");
        }
    }

    fn refused(kind: ToxicKind) -> &'static str {
        match kind.validate() {
            Err(ToxicError::OutOfRange { what, .. }) => what,
            other => panic!("{kind:?} validated as {other:?}"),
        }
    }

    #[test]
    fn sizes_are_checked_at_their_bounds() {
        let gap = Duration::ZERO;
        let split = |min, max| ToxicKind::Split { min, max, gap };
        assert_eq!(split(1, 1).validate(), Ok(()));
        assert_eq!(split(1, MAX_HOLD_BYTES).validate(), Ok(()));
        assert_eq!(split(MAX_HOLD_BYTES, MAX_HOLD_BYTES).validate(), Ok(()));
        assert_eq!(refused(split(0, 4)), "split size");
        assert_eq!(refused(split(3, 2)), "split size");
        assert_eq!(refused(split(1, MAX_HOLD_BYTES + 1)), "split size");
        let coalesce = |max| ToxicKind::Coalesce { window: gap, max };
        assert_eq!(coalesce(1).validate(), Ok(()));
        assert_eq!(coalesce(MAX_HOLD_BYTES).validate(), Ok(()));
        assert_eq!(refused(coalesce(0)), "coalesce max");
        assert_eq!(refused(coalesce(MAX_HOLD_BYTES + 1)), "coalesce max");
        let bandwidth = |rate| ToxicKind::Bandwidth { rate };
        assert_eq!(bandwidth(1).validate(), Ok(()));
        assert_eq!(bandwidth(100_000_000).validate(), Ok(()));
        assert_eq!(refused(bandwidth(0)), "bandwidth rate");
        assert_eq!(refused(bandwidth(100_000_001)), "bandwidth rate");
        assert_eq!(ToxicKind::LimitData { bytes: 0 }.validate(), Ok(()));
    }

    #[test]
    fn every_time_is_checked_at_its_bound() {
        type Kind = fn(Duration) -> ToxicKind;
        let cases: [(Kind, &str); 7] = [
            (
                |d| ToxicKind::Split {
                    min: 1,
                    max: 1,
                    gap: d,
                },
                "split gap",
            ),
            (
                |d| ToxicKind::Coalesce { window: d, max: 1 },
                "coalesce window",
            ),
            (
                |d| ToxicKind::Latency {
                    latency: d,
                    jitter: Duration::ZERO,
                },
                "latency",
            ),
            (
                |d| ToxicKind::Latency {
                    latency: Duration::ZERO,
                    jitter: d,
                },
                "jitter",
            ),
            (|d| ToxicKind::SlowClose { delay: d }, "slow_close delay"),
            (|d| ToxicKind::Timeout { timeout: d }, "timeout"),
            (
                |d| ToxicKind::ResetPeer { timeout: d },
                "reset_peer timeout",
            ),
        ];
        for (kind, what) in cases {
            assert_eq!(kind(MAX_DURATION).validate(), Ok(()), "{what}");
            assert_eq!(refused(kind(OVER)), what);
        }
    }

    #[test]
    fn a_spec_is_named_by_type_and_side_and_checks_its_toxicity() {
        let mut t = ToxicSpec::new(Side::Down, ToxicKind::Bandwidth { rate: 1 });
        assert_eq!((t.name.as_str(), t.toxicity), ("bandwidth_down", 1.0));
        assert_eq!(t.validate(), Ok(()));
        for ok in [0.0, 0.5, 1.0] {
            t.toxicity = ok;
            assert_eq!(t.validate(), Ok(()), "{ok}");
        }
        for bad in [-0.01, 1.01, f64::NAN] {
            t.toxicity = bad;
            match t.validate() {
                Err(ToxicError::OutOfRange { what, .. }) => assert_eq!(what, "toxicity"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        // A good toxicity does not hide a bad kind.
        t.toxicity = 1.0;
        t.kind = ToxicKind::Bandwidth { rate: 0 };
        assert!(t.validate().is_err());
    }
}
