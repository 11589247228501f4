//! The cost of the `ready` handshake in round trips, measured against the theory.
//!
//! Method: at each point, `ready` and `struct` run the same request side by side, each on its
//! own connection through its own proxy with the same delay. The cost is
//! `(p50(ready) − p50(struct)) / RTT`, in two units:
//! - the RTT asked for, `2d` (the theory's unit: the handshake costs 1.0 of these), and
//! - the RTT of the path as measured by the `ping` lane next to them (1 byte each way through
//!   the same kind of proxy), which includes whatever the proxy really added.
//!
//! The spread is the range of the same ratio over consecutive batches of exchanges (the median
//! of each batch), so a drift or a noisy stretch of the run shows as a wide range.
//!
//! The handshake's round trip crosses the whole path, so even a perfect delay line gives
//! `(2d + direct RTT) / 2d`, a little over 1.0: the `direct` lane's p50 is that RTT.

use serde::{Deserialize, Serialize};

use super::Point;

/// The theory: the handshake is one whole round trip, whatever the reply size.
pub const THEORY_RTTS: f64 = 1.0;
/// The target: within ±3% of the theory (and the ping lane within 3% of 2d + the direct
/// RTT)…
pub const TOLERANCE: f64 = 0.03;
/// …for one-way delays of at least 1 ms.
pub const TARGET_FROM_US: u64 = 1000;

/// The measured ready cost at one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// p50(ready) − p50(struct), µs.
    pub delta_us: i64,
    /// 2d, µs.
    pub nominal_rtt_us: u64,
    /// p50 of the ping lane, µs.
    pub path_rtt_us: u64,
    /// delta / 2d (none at d = 0).
    pub rtts: Option<f64>,
    /// Range of delta / 2d over the batches.
    pub rtts_spread: Option<(f64, f64)>,
    /// delta / path RTT.
    pub path_rtts: Option<f64>,
    pub path_rtts_spread: Option<(f64, f64)>,
    pub theory: f64,
    /// The point is under the target (d ≥ 1 ms) and `rtts` is more than [`TOLERANCE`] off the
    /// theory.
    pub off_target: bool,
    /// The point is under the target and `path_rtts` is more than [`TOLERANCE`] off the theory.
    pub path_off_target: bool,
}

fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// The ready cost at `point`, when both `ready` and `struct` were measured there.
pub fn ready_cost(point: &Point) -> Option<Cost> {
    let ready = point.lane("ready").filter(|l| l.exchanges > 0)?;
    let plain = point.lane("struct").filter(|l| l.exchanges > 0)?;
    let delta_us = ready.p50_us as i64 - plain.p50_us as i64;
    let nominal = point.nominal_rtt_us();
    let batch_deltas: Vec<f64> = ready
        .batch_p50_us
        .iter()
        .zip(&plain.batch_p50_us)
        .map(|(r, s)| *r as f64 - *s as f64)
        .collect();
    let (rtts, rtts_spread) = if nominal > 0 {
        let n = nominal as f64;
        (
            Some(delta_us as f64 / n),
            range(batch_deltas.iter().map(|d| d / n)),
        )
    } else {
        (None, None)
    };
    let ping = point
        .ping
        .as_ref()
        .filter(|p| p.exchanges > 0 && p.p50_us > 0);
    let path_rtt_us = ping.map_or(0, |p| p.p50_us);
    let path_rtts = ping.map(|p| delta_us as f64 / p.p50_us as f64);
    let path_rtts_spread = ping.and_then(|p| {
        range(
            batch_deltas
                .iter()
                .zip(&p.batch_p50_us)
                .filter(|(_, r)| **r > 0)
                .map(|(d, r)| d / *r as f64),
        )
    });
    let judged = point.delay_us >= TARGET_FROM_US;
    let off = |v: Option<f64>| judged && v.is_some_and(|v| (v - THEORY_RTTS).abs() > TOLERANCE);
    Some(Cost {
        delta_us,
        nominal_rtt_us: nominal,
        path_rtt_us,
        rtts,
        rtts_spread,
        path_rtts,
        path_rtts_spread,
        theory: THEORY_RTTS,
        off_target: off(rtts),
        path_off_target: off(path_rtts),
    })
}

/// How far `v` is from the theory, as a signed percentage.
pub fn deviation_pct(v: f64) -> f64 {
    (v - THEORY_RTTS) / THEORY_RTTS * 100.0
}

/// Whether the ping lane of `point` is judged (d ≥ 1 ms) and more than [`TOLERANCE`] off
/// 2d + the direct RTT.
pub fn ping_off_target(point: &Point) -> Option<bool> {
    if point.delay_us < TARGET_FROM_US {
        return None;
    }
    let expected = point.expected_ping_us()? as f64;
    let excess = point.ping_excess_us()? as f64;
    Some(excess.abs() > TOLERANCE * expected)
}

/// Replies from this size on have their transfer compared with d = 0 in [`explain`].
const LARGE_REPLY: usize = 64 << 10;

/// Why a point's measured cost is off the theory, from what else was measured there: how much
/// more than 2d + the direct RTT the ping lane's round trip took, the spread over batches, and
/// for large replies what `undelayed` (the same size at d = 0, when swept) says the transfer
/// costs.
pub fn explain(point: &Point, undelayed: Option<&Point>) -> Option<String> {
    let cost = point.cost.as_ref()?;
    if !cost.off_target && !cost.path_off_target {
        return None;
    }
    let rtts = cost.rtts?;
    let pct = |v: f64| format!("{:+.1}%", deviation_pct(v));
    let mut text = format!(
        "measured {rtts:.3} RTTs of 2d = {} µs, {} from the theory",
        cost.nominal_rtt_us,
        pct(rtts)
    );
    if let (Some(direct), Some(excess)) = (point.direct.as_ref(), point.ping_excess_us()) {
        let floor = (cost.nominal_rtt_us + direct.p50_us) as f64 / cost.nominal_rtt_us as f64;
        text.push_str(&format!(
            ". A perfect delay line gives (2d + the direct RTT) / 2d = {floor:.3} here (direct \
             p50 {} µs); the 1-byte ping through the same kind of proxy took {} µs, {excess:+} \
             µs beyond 2d + direct",
            direct.p50_us, cost.path_rtt_us
        ));
        if excess as f64 > TOLERANCE * cost.nominal_rtt_us as f64 {
            text.push_str(
                ": the delayed path itself costs more than asked (the proxy's own work on each \
                 crossing, and on a loaded machine the wait for the CPU once its timer fires), \
                 and the handshake pays one more such round trip",
            );
        }
    }
    if let Some(p) = cost.path_rtts {
        text.push_str(&format!(
            ". In round trips of the path as measured, the cost is {p:.3} ({})",
            pct(p)
        ));
    }
    if let Some((lo, hi)) = cost.rtts_spread {
        text.push_str(&format!(
            "; over batches of consecutive exchanges it ranged {lo:.2}–{hi:.2}"
        ));
        if hi - lo > 2.0 * TOLERANCE {
            text.push_str(" (a noisy run: the spread is wider than the target band)");
        }
    }
    // A large reply's transfer takes time of its own, which a small d may hide in part: how
    // many d each lane took over its own p50 at d = 0 (2 and 4 in theory) says whether it did.
    if point.reply_bytes >= LARGE_REPLY {
        let extra = |name: &str| -> Option<(f64, u64)> {
            let at_d = point.lane(name).filter(|l| l.exchanges > 0)?;
            let at_0 = undelayed?.lane(name).filter(|l| l.exchanges > 0)?;
            let d = point.delay_us.max(1) as f64;
            Some(((at_d.p50_us as f64 - at_0.p50_us as f64) / d, at_0.p50_us))
        };
        if let (Some((r, _)), Some((s, s0))) = (extra("ready"), extra("struct")) {
            text.push_str(&format!(
                ". Over their p50 at d = 0, ready took {r:.2} d more here and struct {s:.2} d \
                 (4 and 2 in theory; struct's exchange at d = 0 is {s0} µs of transfer and \
                 work, against the 2d = {} µs measured here)",
                cost.nominal_rtt_us
            ));
        }
    }
    text.push('.');
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::{LaneStats, ReplySize};

    fn lane(name: &str, p50_us: u64, batches: Vec<u64>) -> LaneStats {
        LaneStats {
            lane: name.into(),
            exchanges: 100,
            p50_us,
            p90_us: p50_us,
            p99_us: p50_us,
            max_us: p50_us,
            mean_us: p50_us as f64,
            batch_p50_us: batches,
            errors: 0,
            first_error: None,
        }
    }

    fn point(delay_us: u64, direct: u64, ping: u64, ready: u64, plain: u64) -> Point {
        let mut p = Point {
            delay_us,
            size: ReplySize::Small,
            reply_bytes: 6,
            exchanges: 100,
            warmup: 3,
            elapsed_ms: 1,
            nodelay: true,
            schedule: "staggered".into(),
            direct: Some(lane("direct", direct, vec![direct])),
            ping: Some(lane("ping", ping, vec![ping])),
            framings: vec![
                lane("ready", ready, vec![ready]),
                lane("struct", plain, vec![plain]),
            ],
            cost: None,
        };
        p.cost = ready_cost(&p);
        p
    }

    #[test]
    fn the_ping_is_judged_against_2d_plus_the_direct_rtt() {
        // 2d + direct = 2020 µs; 3% of it is 60.6 µs.
        assert_eq!(ping_off_target(&point(1000, 20, 2080, 0, 0)), Some(false));
        assert_eq!(ping_off_target(&point(1000, 20, 2081, 0, 0)), Some(true));
        assert_eq!(ping_off_target(&point(1000, 20, 1959, 0, 0)), Some(true));
        // Not judged under 1 ms.
        assert_eq!(ping_off_target(&point(500, 20, 5000, 0, 0)), None);
        let mut no_direct = point(1000, 20, 2080, 0, 0);
        no_direct.direct = None;
        assert_eq!(ping_off_target(&no_direct), None);
    }

    #[test]
    fn the_cost_is_judged_within_three_percent_of_one_rtt() {
        let within = point(1000, 20, 2050, 4100, 2050);
        let c = within.cost.as_ref().unwrap();
        assert_eq!(c.delta_us, 2050);
        assert!(!c.off_target, "{c:?}");
        assert!(explain(&within, None).is_none());
        let off = point(1000, 20, 2050, 4120, 2050);
        let c = off.cost.as_ref().unwrap();
        assert!(c.off_target, "{c:?}");
        let why = explain(&off, None).expect("explained");
        assert!(why.contains("1.035 RTTs"), "{why}");
        assert!(why.contains("+30 µs beyond 2d + direct"), "{why}");
    }
}
