//! What a framing's safety costs in time: lockstep exchanges through a proxy that delays every
//! byte by `d` each way (RTT = 2d), per framing, delay and reply size, and the cost of the
//! `ready` handshake in round trips next to the theory (one RTT, whatever the reply size).
//!
//! - [`config`]: the sweep (delays, framings, sizes, exchanges, warm-up, time budget).
//! - [`run`]: servers, proxies and lanes of exchanges, interleaved on a thread of their own.
//! - [`cost`]: the ready cost in RTTs, its spread, and how far it is from the theory.
//! - [`report`]: terminal table, and the report section with SVG charts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stickler::latency::LatencyError> {
//! use stickler::latency::{run_sweep, LatencyConfig};
//! let report = run_sweep(&LatencyConfig::quick()).await?;
//! println!("{}", stickler::latency::report::table(&report, false));
//! # Ok(()) }
//! ```

pub mod config;
pub mod cost;
pub mod report;
pub mod run;

pub use config::{LatencyConfig, ReplySize, DEFAULT_SPIN_AHEAD};
pub use cost::Cost;
pub use report::latency_section;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::codec::Framing;
use crate::present::progress_bar;
use run::{measure_point, short_slices, start_servers, Schedule};

#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    #[error("bad latency sweep: {0}")]
    Config(String),
    #[error("cannot start the servers or proxies of the sweep: {0}")]
    Setup(std::io::Error),
}

/// One lane's latencies at one point (µs; warm-up excluded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneStats {
    /// `ping` or a framing.
    pub lane: String,
    pub exchanges: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// Median of each consecutive batch of exchanges.
    pub batch_p50_us: Vec<u64>,
    /// Exchanges that failed (timed out, wrong reply); not in the figures.
    pub errors: u64,
    pub first_error: Option<String>,
}

/// Every lane at one (delay, size).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// One-way delay asked of the proxy, each direction.
    pub delay_us: u64,
    pub size: ReplySize,
    /// The exact reply size (checked on every reply).
    pub reply_bytes: usize,
    /// Measured exchanges per lane.
    pub exchanges: usize,
    pub warmup: usize,
    pub elapsed_ms: u64,
    pub nodelay: bool,
    /// How the lanes shared the thread: `staggered` or `in turn` ([`run::Schedule`]).
    #[serde(default)]
    pub schedule: String,
    /// The round trip without the proxy (the ping's 1 byte each way, straight to its server).
    #[serde(default)]
    pub direct: Option<LaneStats>,
    /// The round trip of the delayed path itself (1 byte each way).
    pub ping: Option<LaneStats>,
    pub framings: Vec<LaneStats>,
    pub cost: Option<Cost>,
}

impl Point {
    pub fn lane(&self, name: &str) -> Option<&LaneStats> {
        self.framings.iter().find(|l| l.lane == name)
    }

    /// The RTT asked for: twice the one-way delay.
    pub fn nominal_rtt_us(&self) -> u64 {
        2 * self.delay_us
    }

    /// What the ping lane should measure: 2d plus the direct round trip (when both measured).
    pub fn expected_ping_us(&self) -> Option<u64> {
        let direct = self.direct.as_ref().filter(|l| l.exchanges > 0)?;
        Some(self.nominal_rtt_us() + direct.p50_us)
    }

    /// How far the ping lane's p50 is from 2d plus the direct round trip, in µs.
    pub fn ping_excess_us(&self) -> Option<i64> {
        let ping = self.ping.as_ref().filter(|l| l.exchanges > 0)?;
        Some(ping.p50_us as i64 - self.expected_ping_us()? as i64)
    }
}

/// The same points with `TCP_NODELAY` on and off everywhere, measured back to back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodelayProbe {
    pub on: Vec<Point>,
    pub off: Vec<Point>,
}

/// A whole sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyReport {
    pub delays_us: Vec<u64>,
    pub framings: Vec<Framing>,
    pub sizes: Vec<ReplySize>,
    pub max_exchanges: usize,
    pub budget_ms: u64,
    pub nodelay: bool,
    /// How early the delay line's timers woke to spin until their deadline, µs (0: they did
    /// not).
    #[serde(default)]
    pub spin_ahead_us: u64,
    pub points: Vec<Point>,
    pub nodelay_probe: Option<NodelayProbe>,
    pub elapsed_ms: u64,
}

/// The delay the `TCP_NODELAY` probe runs at: the smallest swept delay of at least 1 ms.
fn probe_delay(config: &LatencyConfig) -> Duration {
    let ms = Duration::from_millis(1);
    config
        .delays
        .iter()
        .copied()
        .filter(|d| *d >= ms)
        .min()
        .unwrap_or(ms)
}

/// Runs the sweep: points in order of delay then size, each given its share of the budget left.
///
/// Servers, proxies and clients run on a thread of their own with a single-threaded runtime,
/// whatever runtime the caller's is: every byte then crosses the delayed path with one timer
/// wake-up per crossing of the proxy and no hand-off between threads, and nothing else of the
/// process competes with the lanes. Its timers wake [`LatencyConfig::spin_ahead`] early to
/// spin until their deadline, and it asks for short time slices where lanes take turns
/// ([`run::Schedule`]). Dropping the returned future stops the sweep.
pub async fn run_sweep(config: &LatencyConfig) -> Result<LatencyReport, LatencyError> {
    config.validate()?;
    let config = config.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("stickler-latency".into())
        .spawn(move || {
            crate::chaos::timer::set_spin_ahead(config.spin_ahead);
            run::keep_freed_memory();
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(LatencyError::Setup(e)));
                    return;
                }
            };
            let mut tx = tx;
            let result = rt.block_on(async {
                tokio::select! {
                    r = sweep(&config) => Some(r),
                    // The caller gave up: stop here (servers and proxies go with the runtime).
                    _ = tx.closed() => None,
                }
            });
            if let Some(r) = result {
                let _ = tx.send(r);
            }
        })
        .map_err(LatencyError::Setup)?;
    rx.await.unwrap_or_else(|_| {
        Err(LatencyError::Setup(std::io::Error::other(
            "the sweep's thread stopped before it finished",
        )))
    })
}

async fn sweep(config: &LatencyConfig) -> Result<LatencyReport, LatencyError> {
    let started = Instant::now();
    let mut delays = config.delays.clone();
    delays.sort();
    delays.dedup();
    let mut sizes = config.sizes.clone();
    sizes.sort();
    sizes.dedup();
    let grid: Vec<(Duration, ReplySize)> = delays
        .iter()
        .flat_map(|d| {
            sizes
                .iter()
                .filter(|s| !config.framings_for(**s).is_empty())
                .map(move |s| (*d, *s))
        })
        .collect();
    // The probe runs at the swept sizes under 1 MiB (small if none).
    let mut probe_sizes: Vec<ReplySize> = sizes
        .iter()
        .copied()
        .filter(|s| *s != ReplySize::Huge && !config.framings_for(*s).is_empty())
        .collect();
    if probe_sizes.is_empty() && !config.framings_for(ReplySize::Small).is_empty() {
        probe_sizes.push(ReplySize::Small);
    }
    let probe_len = if config.nodelay_probe {
        2 * probe_sizes.len()
    } else {
        0
    };
    let bar = progress_bar((grid.len() + probe_len) as u64, config.progress, "latency");
    let mut all = config.framings.clone();
    all.sort();
    all.dedup();
    let servers = start_servers(&all, config.nodelay).await?;
    let mut points = Vec::new();
    let mut result = Ok(());
    for (i, (delay, size)) in grid.iter().copied().enumerate() {
        bar.set_message(format!("d={:?} {}", delay, size.label()));
        let left = config.budget.saturating_sub(started.elapsed());
        short_slices(Schedule::for_point(delay, size) == Schedule::InTurn);
        match measure_point(&servers, config, delay, size, left, grid.len() - i).await {
            Ok(p) => points.push(p),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        bar.inc(1);
    }
    // A server that stopped with an error has logged it; the points measured stand.
    let _ = servers.stop().await;
    result?;

    let nodelay_probe = if config.nodelay_probe && !probe_sizes.is_empty() {
        let delay = probe_delay(config);
        let mut probe = NodelayProbe {
            on: Vec::new(),
            off: Vec::new(),
        };
        for nodelay in [true, false] {
            let cfg = LatencyConfig {
                nodelay,
                ..config.clone()
            };
            let servers = start_servers(&all, nodelay).await?;
            for &size in &probe_sizes {
                bar.set_message(format!("TCP_NODELAY {} {}", on_off(nodelay), size.label()));
                // No budget: the fewest exchanges allowed.
                short_slices(Schedule::for_point(delay, size) == Schedule::InTurn);
                let p = measure_point(&servers, &cfg, delay, size, Duration::ZERO, 1).await;
                match p {
                    Ok(p) if nodelay => probe.on.push(p),
                    Ok(p) => probe.off.push(p),
                    Err(e) => {
                        let _ = servers.stop().await;
                        return Err(e);
                    }
                }
                bar.inc(1);
            }
            let _ = servers.stop().await;
        }
        Some(probe)
    } else {
        None
    };
    bar.finish_and_clear();
    Ok(LatencyReport {
        delays_us: delays.iter().map(|d| d.as_micros() as u64).collect(),
        framings: all,
        sizes,
        max_exchanges: config.exchanges,
        budget_ms: config.budget.as_millis() as u64,
        nodelay: config.nodelay,
        spin_ahead_us: config.spin_ahead.as_micros() as u64,
        points,
        nodelay_probe,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}
