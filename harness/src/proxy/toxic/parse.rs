//! The command-line syntax of a toxic.
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

use super::{Side, ToxicError, ToxicKind, ToxicSpec};

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

fn syntax(spec: &str, reason: impl Into<String>) -> ToxicError {
    ToxicError::Syntax {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

/// `250us`, `10ms`, `2s`, `1.5ms`; a bare number is milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "ms"),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 250us, 10ms, 2s)"))?;
    let scale = match unit {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (use us, ms or s)")),
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > super::MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "{s:?} is over the limit of {:?}",
            super::MAX_DURATION
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `512`, `64k`, `1m`, `1g` (k = 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 512, 64k, 1m)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn parse_usize(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    usize::try_from(n).map_err(|_| format!("{s:?} is too large"))
}

impl FromStr for ToxicSpec {
    type Err = ToxicError;

    fn from_str(spec: &str) -> Result<ToxicSpec, ToxicError> {
        let (side, rest) = match spec.split_once(':') {
            Some(("up", r)) => (Side::Up, r),
            Some(("down", r)) => (Side::Down, r),
            Some(("both", r)) => (Side::Both, r),
            Some((d, _)) => {
                return Err(syntax(
                    spec,
                    format!("direction {d:?}: use up, down or both"),
                ))
            }
            None => (Side::Down, spec),
        };
        let mut kind_kv: Option<(&str, &str)> = None;
        let mut opts: Vec<(&str, &str)> = Vec::new();
        for part in rest.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| syntax(spec, format!("{part:?} is not KEY=VALUE")))?;
            let (k, v) = (k.trim(), v.trim());
            if kind_kv.is_none() && !matches!(k, "toxicity" | "name") {
                kind_kv = Some((k, v));
            } else {
                opts.push((k, v));
            }
        }
        let (ty, value) = kind_kv.ok_or_else(|| syntax(spec, "no toxic type given"))?;
        let mut name = None;
        let mut toxicity = 1.0;
        let mut take = |key: &str| -> Option<&str> {
            let i = opts.iter().position(|(k, _)| *k == key)?;
            Some(opts.remove(i).1)
        };
        if let Some(t) = take("toxicity") {
            toxicity = t
                .parse::<f64>()
                .map_err(|_| syntax(spec, format!("toxicity {t:?} is not a number")))?;
        }
        if let Some(n) = take("name") {
            name = Some(n.to_string());
        }
        let e = |r: String| syntax(spec, r);
        let dur_opt = |v: Option<&str>| -> Result<Duration, ToxicError> {
            v.map(parse_duration)
                .transpose()
                .map(|d| d.unwrap_or(Duration::ZERO))
                .map_err(e)
        };
        let kind = match ty {
            "split" => {
                let (min, max) = match value.split_once("..") {
                    Some((a, b)) => (parse_usize(a).map_err(e)?, parse_usize(b).map_err(e)?),
                    None => {
                        let n = parse_usize(value).map_err(e)?;
                        (n, n)
                    }
                };
                let gap = dur_opt(take("gap"))?;
                ToxicKind::Split { min, max, gap }
            }
            "slicer" => {
                let avg = parse_usize(value).map_err(e)?;
                let var = take("variation").map(parse_usize).transpose().map_err(e)?;
                let var = var.unwrap_or(0);
                let gap = dur_opt(take("gap"))?;
                ToxicKind::Split {
                    min: avg.saturating_sub(var).max(1),
                    max: avg.saturating_add(var),
                    gap,
                }
            }
            "coalesce" => {
                let window = parse_duration(value).map_err(e)?;
                let max = take("max").map(parse_usize).transpose().map_err(e)?;
                ToxicKind::Coalesce {
                    window,
                    max: max.unwrap_or(DEFAULT_COALESCE_MAX),
                }
            }
            "latency" => ToxicKind::Latency {
                latency: parse_duration(value).map_err(e)?,
                jitter: dur_opt(take("jitter"))?,
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
        if let Some((k, _)) = opts.first() {
            return Err(syntax(spec, format!("unknown option {k:?} for {ty}")));
        }
        let mut t = ToxicSpec::new(side, kind);
        t.toxicity = toxicity;
        if let Some(n) = name {
            t.name = n;
        }
        t.validate()?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_millis(10));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("99999999s").is_err());
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert!(parse_size("99999999999999999999").is_err());
    }

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
        for bad in [
            "sideways:split=1",
            "down:explode=1",
            "down:bandwidth=0",
            "down:coalesce=1ms,max=1g",
            "down:split=5..2",
            "down:split=1..4,foo=1",
            "down:latency=1ms,toxicity=2",
            "down:latency",
            "",
        ] {
            assert!(bad.parse::<ToxicSpec>().is_err(), "{bad}");
        }
    }
}
