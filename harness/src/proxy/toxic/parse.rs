//! The command-line syntax of a TCP toxic: the TCP proxy's vocabulary of the one toxic grammar
//! ([`crate::chaos::grammar`]).
//!
//! ```text
//! [DIR:]TYPE=VALUE[,KEY=VALUE]...
//!
//! DIR    up (client → server), down (server → client, the default) or both
//! TYPE=VALUE and its keys:
//!   split=MIN..MAX[,gap=DUR]        pieces of MIN..MAX bytes (or split=N for exactly N), DUR apart
//!   slicer=AVG[,variation=N][,gap=DUR]   toxiproxy's slicer: pieces of AVG±N bytes
//!   coalesce=WINDOW[,max=SIZE]      hold bytes WINDOW after the first, or until SIZE (default 64k)
//!   latency=DUR[,jitter=DUR]        delay every chunk, order kept
//!   bandwidth=KBPS                  throttle to KBPS KB/s
//!   slow_close=DUR                  delay the close
//!   timeout=DUR                     drop data, close after DUR (0 = never: black hole)
//!   reset_peer=DUR                  RST after DUR
//!   limit_data=SIZE                 close after SIZE bytes
//! Options on any toxic: toxicity=P (0..1, per connection), name=NAME.
//! DUR: 250us, 10ms, 2s (a bare number is milliseconds). SIZE: 512, 64k, 1m (k = 1024).
//! ```
//!
//! ```
//! use stickler::proxy::toxic::ToxicSpec;
//! for s in ["down:split=1..16,gap=1ms", "up:coalesce=10ms,max=64k",
//!           "both:latency=5ms,jitter=1ms", "down:bandwidth=100",
//!           "down:reset_peer=50ms,toxicity=0.5"] {
//!     s.parse::<ToxicSpec>().unwrap();
//! }
//! assert!("down:split=0..4".parse::<ToxicSpec>().is_err());
//! ```

use std::str::FromStr;
use std::time::Duration;

use super::{ToxicError, ToxicKind, ToxicSpec};
use crate::chaos::grammar::{self, GrammarError, Parsed, Vocabulary};
use crate::units::{parse_duration, parse_size, parse_usize};

/// The syntax, for `--help`.
pub const SYNTAX_HELP: &str = "\
Toxic syntax: [DIR:]TYPE=VALUE[,KEY=VALUE]...
  DIR: up (client->server), down (server->client, default) or both
  split=MIN..MAX[,gap=DUR]       cut every chunk into pieces of MIN..MAX bytes (split=N: exactly N), DUR apart
  slicer=AVG[,variation=N][,gap=DUR]  toxiproxy's slicer: pieces of AVG+-N bytes
  coalesce=WINDOW[,max=SIZE]     hold bytes until WINDOW after the first held byte or SIZE held (default 64k), then one write
  latency=DUR[,jitter=DUR]       delay every chunk by DUR+-jitter, order kept
  bandwidth=KBPS                 throttle to KBPS KB/s
  slow_close=DUR                 delay the close by DUR
  timeout=DUR                    stop data, close after DUR (0 = black hole)
  reset_peer=DUR                 reset (RST) the connection after DUR
  limit_data=SIZE                close after SIZE bytes
  any toxic: toxicity=P (probability per connection, 0..1), name=NAME
  DUR: 250us, 10ms, 2s (bare number = ms); SIZE: 512, 64k, 1m
Examples: down:split=1..16,gap=1ms  up:coalesce=10ms,max=64k  both:latency=5ms,jitter=1ms";

/// Default `max` of a coalesce.
pub const DEFAULT_COALESCE_MAX: usize = 64 << 10;

/// The toxic types of the command line, and the options each takes.
pub const TYPES: &[(&str, &[&str])] = &[
    ("split", &["gap"]),
    ("coalesce", &["max"]),
    ("latency", &["jitter"]),
    ("bandwidth", &[]),
    ("slow_close", &[]),
    ("timeout", &[]),
    ("reset_peer", &[]),
    ("limit_data", &[]),
    ("slicer", &["variation", "gap"]),
];

/// The type names, comma-separated, as the unknown-type error lists them.
pub fn type_names() -> String {
    TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
}

/// The TCP proxy's toxics as a vocabulary of the toxic grammar.
impl Vocabulary for ToxicSpec {
    type Error = ToxicError;
    const COMMON: &'static [&'static str] = &["toxicity", "name"];

    fn options(ty: &str) -> Option<&'static [&'static str]> {
        TYPES.iter().find(|(t, _)| *t == ty).map(|(_, o)| *o)
    }

    fn grammar_error(spec: &str, e: GrammarError) -> ToxicError {
        match e {
            GrammarError::Syntax(reason) => syntax(spec, reason),
            GrammarError::UnknownType(ty) => ToxicError::UnknownType(ty),
        }
    }

    fn build(p: &Parsed<'_>) -> Result<ToxicSpec, ToxicError> {
        let e = |r: String| syntax(p.spec, r);
        let dur_opt = |key: &str| -> Result<Duration, ToxicError> {
            p.option(key)
                .map(parse_duration)
                .transpose()
                .map(|d| d.unwrap_or(Duration::ZERO))
                .map_err(e)
        };
        let value = p.value;
        let kind = match p.ty {
            "split" => {
                let (min, max) = match value.split_once("..") {
                    Some((a, b)) => (parse_usize(a).map_err(e)?, parse_usize(b).map_err(e)?),
                    None => {
                        let n = parse_usize(value).map_err(e)?;
                        (n, n)
                    }
                };
                ToxicKind::Split {
                    min,
                    max,
                    gap: dur_opt("gap")?,
                }
            }
            "slicer" => {
                let avg = parse_usize(value).map_err(e)?;
                let var = p.option("variation").map(parse_usize).transpose();
                let var = var.map_err(e)?.unwrap_or(0);
                ToxicKind::Split {
                    min: avg.saturating_sub(var).max(1),
                    max: avg.saturating_add(var),
                    gap: dur_opt("gap")?,
                }
            }
            "coalesce" => {
                let window = parse_duration(value).map_err(e)?;
                let max = p.option("max").map(parse_usize).transpose().map_err(e)?;
                ToxicKind::Coalesce {
                    window,
                    max: max.unwrap_or(DEFAULT_COALESCE_MAX),
                }
            }
            "latency" => ToxicKind::Latency {
                latency: parse_duration(value).map_err(e)?,
                jitter: dur_opt("jitter")?,
            },
            "bandwidth" => ToxicKind::Bandwidth {
                rate: value
                    .parse()
                    .map_err(|_| e(format!("rate {value:?} is not a whole number of KB/s")))?,
            },
            "slow_close" => ToxicKind::SlowClose {
                delay: parse_duration(value).map_err(e)?,
            },
            "timeout" => ToxicKind::Timeout {
                timeout: parse_duration(value).map_err(e)?,
            },
            "reset_peer" => ToxicKind::ResetPeer {
                timeout: parse_duration(value).map_err(e)?,
            },
            "limit_data" => ToxicKind::LimitData {
                bytes: parse_size(value).map_err(e)?,
            },
            other => return Err(ToxicError::UnknownType(other.to_string())),
        };
        let mut t = ToxicSpec::new(p.side, kind);
        if let Some(v) = p.option("toxicity") {
            t.toxicity = v
                .parse::<f64>()
                .map_err(|_| e(format!("toxicity {v:?} is not a number")))?;
        }
        if let Some(n) = p.option("name") {
            t.name = n.to_string();
        }
        t.validate()?;
        Ok(t)
    }
}

fn syntax(spec: &str, reason: impl Into<String>) -> ToxicError {
    ToxicError::Syntax {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

impl FromStr for ToxicSpec {
    type Err = ToxicError;

    fn from_str(spec: &str) -> Result<ToxicSpec, ToxicError> {
        grammar::parse(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::Side;

    #[test]
    fn specs() {
        let t: ToxicSpec = "up:coalesce=10ms,max=1k,toxicity=0.25,name=c"
            .parse()
            .unwrap();
        assert_eq!(t.side, Side::Up);
        assert_eq!(t.name, "c");
        assert_eq!(t.toxicity, 0.25);
        assert_eq!(
            t.kind,
            ToxicKind::Coalesce {
                window: Duration::from_millis(10),
                max: 1024
            }
        );
        let t: ToxicSpec = "both:toxicity=0.5,latency=1ms".parse().unwrap();
        assert_eq!((t.side, t.toxicity), (Side::Both, 0.5));
        for (bad, says) in [
            ("sideways:split=1", "direction \"sideways\""),
            ("down:explode=1", "unknown toxic type \"explode\""),
            ("down:bandwidth=0", "bandwidth rate out of range"),
            ("down:coalesce=1ms,max=1g", "coalesce max out of range"),
            ("down:split=5..2", "split size out of range"),
            ("down:split=1..4,foo=1", "unknown option \"foo\" for split"),
            ("down:split=1..4,gap=1ms,gap=2ms", "\"gap\" given twice"),
            ("down:latency=1ms,toxicity=2", "toxicity out of range"),
            (
                "down:latency=1ms,toxicity=x",
                "toxicity \"x\" is not a number",
            ),
            ("down:latency", "\"latency\" is not KEY=VALUE"),
            ("down:name=x", "no toxic type given"),
            ("", "is not KEY=VALUE"),
        ] {
            let e = bad.parse::<ToxicSpec>().unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn type_names_and_defaults() {
        assert_eq!(DEFAULT_COALESCE_MAX, 64 * 1024);
        assert_eq!(
            type_names(),
            "split, coalesce, latency, bandwidth, slow_close, timeout, reset_peer, limit_data, slicer"
        );
        assert_eq!(
            <ToxicSpec as Vocabulary>::options("slicer"),
            Some(&["variation", "gap"][..])
        );
        assert_eq!(
            <ToxicSpec as Vocabulary>::options("bandwidth"),
            Some(&[][..])
        );
        assert_eq!(<ToxicSpec as Vocabulary>::options("explode"), None);
        let t: ToxicSpec = "coalesce=5ms".parse().unwrap();
        assert_eq!(
            (t.side, t.name.as_str(), t.toxicity),
            (Side::Down, "coalesce_down", 1.0)
        );
        assert_eq!(
            t.kind,
            ToxicKind::Coalesce {
                window: Duration::from_millis(5),
                max: DEFAULT_COALESCE_MAX
            }
        );
    }

    #[test]
    fn each_type_reads_its_value() {
        let kind = |s: &str| {
            s.parse::<ToxicSpec>()
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .kind
        };
        let ms = Duration::from_millis;
        assert_eq!(
            kind("split=4"),
            ToxicKind::Split {
                min: 4,
                max: 4,
                gap: Duration::ZERO
            }
        );
        assert_eq!(
            kind("up:split=2..9,gap=3ms"),
            ToxicKind::Split {
                min: 2,
                max: 9,
                gap: ms(3)
            }
        );
        assert_eq!(
            kind("slicer=10,variation=3,gap=1ms"),
            ToxicKind::Split {
                min: 7,
                max: 13,
                gap: ms(1)
            }
        );
        assert_eq!(
            kind("slicer=2,variation=5"),
            ToxicKind::Split {
                min: 1,
                max: 7,
                gap: Duration::ZERO
            }
        );
        assert_eq!(
            kind("slicer=6"),
            ToxicKind::Split {
                min: 6,
                max: 6,
                gap: Duration::ZERO
            }
        );
        assert_eq!(
            kind("latency=5,jitter=250us"),
            ToxicKind::Latency {
                latency: ms(5),
                jitter: Duration::from_micros(250)
            }
        );
        assert_eq!(kind("bandwidth=100"), ToxicKind::Bandwidth { rate: 100 });
        assert_eq!(
            kind("slow_close=2s"),
            ToxicKind::SlowClose { delay: ms(2000) }
        );
        assert_eq!(
            kind("timeout=0"),
            ToxicKind::Timeout {
                timeout: Duration::ZERO
            }
        );
        assert_eq!(
            kind("reset_peer=7ms"),
            ToxicKind::ResetPeer { timeout: ms(7) }
        );
        assert_eq!(kind("limit_data=1k"), ToxicKind::LimitData { bytes: 1024 });
        for (bad, says) in [
            ("split=a..2", "bad toxic \"split=a..2\""),
            ("split=x", "bad toxic"),
            ("slicer=4,variation=x", "bad toxic"),
            (
                "bandwidth=fast",
                "rate \"fast\" is not a whole number of KB/s",
            ),
            ("coalesce=x", "bad toxic"),
            ("coalesce=1ms,max=x", "bad toxic"),
            ("limit_data=x", "bad toxic"),
            ("latency=1ms,jitter=x", "bad toxic"),
        ] {
            let e = bad.parse::<ToxicSpec>().unwrap_err();
            assert!(matches!(e, ToxicError::Syntax { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
        assert_eq!(
            "explode=1".parse::<ToxicSpec>(),
            Err(ToxicError::UnknownType("explode".into()))
        );
    }
}
