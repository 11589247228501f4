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

use serde::{Deserialize, Serialize};

use super::Point;

/// The theory: the handshake is one whole round trip, whatever the reply size.
pub const THEORY_RTTS: f64 = 1.0;
/// The target: within ±5% of the theory…
pub const TOLERANCE: f64 = 0.05;
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
    /// The point is under the target (d ≥ 1 ms) and `rtts` is more than 5% off the theory.
    pub off_target: bool,
    /// The point is under the target and `path_rtts` is more than 5% off the theory.
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

/// Why a point's measured cost is off the theory, from what else was measured there: how much
/// more than 2d the ping lane's round trip took (`base_us`: the ping at d = 0, when swept).
pub fn explain(point: &Point, base_us: Option<u64>) -> Option<String> {
    let cost = point.cost.as_ref()?;
    if !cost.off_target && !cost.path_off_target {
        return None;
    }
    let rtts = cost.rtts?;
    let mut text = format!(
        "measured {rtts:.2} RTTs of 2d = {} µs, {:+.0}% from the theory",
        cost.nominal_rtt_us,
        deviation_pct(rtts)
    );
    if cost.path_rtt_us > 0 {
        let base = base_us.unwrap_or(0);
        let excess = cost.path_rtt_us as i64 - cost.nominal_rtt_us as i64 - base as i64;
        let undelayed = if base_us.is_some() {
            format!(" and the {base} µs of the undelayed path")
        } else {
            String::new()
        };
        text.push_str(&format!(
            ". The 1-byte ping through the same proxy took {} µs per round trip, {excess:+} µs \
             beyond the 2d asked for{undelayed}",
            cost.path_rtt_us
        ));
        if excess as f64 > TOLERANCE * cost.nominal_rtt_us as f64 {
            text.push_str(
                ": the delayed path itself costs more than 2d (wake-ups of the proxy and of \
                 the peers on a shared machine come on top of the delay), and the handshake \
                 pays one more such round trip",
            );
        }
        if let Some(p) = cost.path_rtts {
            text.push_str(&format!(
                ". In round trips of the path as measured, the cost is {p:.2} ({:+.0}%)",
                deviation_pct(p)
            ));
            if cost.path_off_target {
                text.push_str(
                    ", still off: the ready exchange's extra round trip does not take what a \
                     ping takes at this point",
                );
                let cap = crate::proxy::pipeline::QUEUE_CAP;
                if point.reply_bytes + 64 >= cap {
                    text.push_str(&format!(
                        ". The reply is as large as the proxy's per-direction queue ({cap} \
                         bytes held at most): once full, the proxy stops reading until its first \
                         pieces leave, d later, so a reply over the queue pays one more one-way \
                         delay. struct's reply ({} bytes of body plus its 4-byte header) goes \
                         over; ready's body, sent alone after the handshake, just fits. That \
                         takes about d (half an RTT) off the difference",
                        point.reply_bytes
                    ));
                } else {
                    text.push_str(" (a noisy run shows as a wide spread)");
                }
            }
        }
    }
    text.push('.');
    Some(text)
}
