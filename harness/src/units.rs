//! Durations and sizes as the command line writes them: the one parser of each.
//!
//! ```
//! use std::time::Duration;
//! use stickler::units::{parse_duration, parse_size};
//! assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
//! assert_eq!(parse_duration("10").unwrap(), Duration::from_millis(10));
//! assert_eq!(parse_size("64k").unwrap(), 65536);
//! ```

use std::time::Duration;

/// Longest duration [`parse_duration`] accepts: one hour.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// `250us`, `10ms`, `2s`, `1.5ms`; a bare number is milliseconds. At most [`MAX_DURATION`].
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
    if !secs.is_finite() || secs > MAX_DURATION.as_secs_f64() {
        return Err(format!("{s:?} is over the limit of {MAX_DURATION:?}"));
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

/// A [`parse_size`] that fits in memory sizes (`usize`).
pub fn parse_usize(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    usize::try_from(n).map_err(|_| format!("{s:?} is too large"))
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
}
