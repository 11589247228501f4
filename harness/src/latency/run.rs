//! Running a sweep: servers with the wanted `TCP_NODELAY`, one delaying proxy per lane and
//! point, and lanes of lockstep exchanges running side by side.
//!
//! A *lane* is one connection doing lockstep exchanges: one per framing, plus a `ping` lane
//! (a 1-byte request to a `naive` server running `echo`: one write each way, nothing to parse)
//! that measures the round trip of the delayed path itself. At each point (delay, size) every
//! lane runs the same number of exchanges, side by side: at the same time, so all framings see
//! the same machine, or (1 MiB replies) taking turns exchange by exchange ([`Schedule`]). The
//! warm-up exchanges are run and thrown away first.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::net::TcpListener;

use crate::codec::Framing;
use crate::peer::client::{Client, ClientConfig};
use crate::peer::pool::Pool;
use crate::peer::server::ServerConfig;
use crate::proxy::{Proxy, ProxyConfig, ProxyHandle, ToxicSpec};
use crate::service::Service;

use super::config::{LatencyConfig, ReplySize};
use super::{LaneStats, LatencyError, Point};

/// The ping lane's request (echoed back unchanged).
pub const PING: &[u8] = b"p";

/// What a lane talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    Ping,
    Framing(Framing),
}

impl Lane {
    pub fn name(self) -> &'static str {
        match self {
            Lane::Ping => "ping",
            Lane::Framing(f) => f.name(),
        }
    }
}

/// The servers of a sweep, by lane: one per framing (`cmd`) and the ping server (`naive` +
/// `echo`), with the wanted `TCP_NODELAY`.
pub async fn start_servers(
    framings: &[Framing],
    nodelay: bool,
) -> Result<Pool<Lane>, LatencyError> {
    let lanes = std::iter::once(Lane::Ping).chain(framings.iter().map(|f| Lane::Framing(*f)));
    let configs = lanes.map(|lane| {
        let config = match lane {
            Lane::Ping => ServerConfig::new(Framing::Naive, Service::Echo),
            Lane::Framing(f) => ServerConfig::new(f, Service::Cmd),
        };
        (lane, config.nodelay(nodelay))
    });
    Pool::of(configs).await.map_err(LatencyError::Setup)
}

/// The proxy toxic for a one-way delay in both directions (`None` at zero: a plain relay).
pub fn delay_toxic(delay: Duration) -> Option<ToxicSpec> {
    if delay.is_zero() {
        return None;
    }
    let spec = format!("both:latency={}us", delay.as_micros());
    Some(
        spec.parse()
            .expect("a latency toxic in microseconds parses"),
    )
}

async fn start_proxy(
    upstream: SocketAddr,
    delay: Duration,
    nodelay: bool,
) -> Result<ProxyHandle, LatencyError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(LatencyError::Setup)?;
    let mut config = ProxyConfig::new(upstream);
    config.toxics.extend(delay_toxic(delay));
    config.nodelay = nodelay;
    Ok(Proxy::start(listener, config))
}

/// One lane of one point: its proxy, connection, request and expected reply.
struct LaneRun {
    lane: Lane,
    proxy: ProxyHandle,
    client: Option<Client>,
    config: ClientConfig,
    request: Vec<u8>,
    expected: Vec<u8>,
    hist: Histogram<u64>,
    /// Every measured latency in µs, in order (for the per-batch medians).
    samples: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// Largest latency recorded: one minute, in µs.
const HIST_MAX_US: u64 = 60_000_000;
/// A lane gives up after this many failed exchanges in one point.
const MAX_ERRORS: u64 = 10;

impl LaneRun {
    async fn exchange(&mut self) -> Result<Duration, String> {
        if self.client.is_none() {
            let addr = self.proxy.local_addr();
            let c = Client::connect(addr, self.config.clone())
                .await
                .map_err(|e| e.to_string())?;
            self.client = Some(c);
        }
        let client = self.client.as_mut().expect("connected above");
        let start = Instant::now();
        let result = client.exchange(&self.request).await;
        let took = start.elapsed();
        match result {
            Ok(reply) if reply.body[..] == self.expected[..] => Ok(took),
            Ok(reply) => {
                self.client = None;
                Err(format!(
                    "wrong reply: {} bytes instead of the {} expected",
                    reply.body.len(),
                    self.expected.len()
                ))
            }
            Err(e) => {
                self.client = None;
                Err(e.to_string())
            }
        }
    }

    /// Runs `n` exchanges; records them unless `warmup`. Returns the time taken.
    async fn run(mut self, n: usize, warmup: bool) -> (LaneRun, Duration) {
        let start = Instant::now();
        for _ in 0..n {
            if self.errors >= MAX_ERRORS {
                break;
            }
            match self.exchange().await {
                Ok(took) if !warmup => {
                    let us = (took.as_micros() as u64).clamp(1, HIST_MAX_US);
                    self.hist.saturating_record(us);
                    self.samples.push(us);
                }
                Ok(_) => {}
                Err(e) => {
                    self.errors += 1;
                    self.first_error.get_or_insert(e);
                }
            }
        }
        (self, start.elapsed())
    }

    fn stats(&self, batches: usize) -> LaneStats {
        let h = &self.hist;
        let chunk = self.samples.len().div_ceil(batches.max(1)).max(1);
        let batch_p50_us = self
            .samples
            .chunks(chunk)
            .map(|c| {
                let mut c = c.to_vec();
                c.sort_unstable();
                c[c.len() / 2]
            })
            .collect();
        let q = |p: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(p)
            }
        };
        LaneStats {
            lane: self.lane.name().to_string(),
            exchanges: h.len(),
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            max_us: if h.is_empty() { 0 } else { h.max() },
            mean_us: if h.is_empty() { 0.0 } else { h.mean() },
            batch_p50_us,
            errors: self.errors,
            first_error: self.first_error.clone(),
        }
    }
}

/// How the lanes of a point share the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// All lanes at once, each on its own task (replies that cost little CPU).
    Together,
    /// One exchange per lane in turn (1 MiB replies: a bulk transfer takes the CPU from the
    /// lanes next to it, which would then measure the machine instead of the path).
    InTurn,
}

impl Schedule {
    pub fn for_size(size: ReplySize) -> Schedule {
        if size == ReplySize::Huge {
            Schedule::InTurn
        } else {
            Schedule::Together
        }
    }
}

/// Runs every lane for `n` exchanges; returns them and the time one exchange of every lane
/// took (the slowest lane's time when together, the sum of the turns when in turn).
async fn run_lanes(
    lanes: Vec<LaneRun>,
    n: usize,
    warmup: bool,
    schedule: Schedule,
) -> (Vec<LaneRun>, Duration) {
    if schedule == Schedule::InTurn {
        let start = Instant::now();
        let mut lanes = lanes;
        for _ in 0..n {
            let mut next = Vec::with_capacity(lanes.len());
            for lane in lanes {
                next.push(lane.run(1, warmup).await.0);
            }
            lanes = next;
        }
        return (lanes, start.elapsed());
    }
    together(lanes, n, warmup).await
}

async fn together(lanes: Vec<LaneRun>, n: usize, warmup: bool) -> (Vec<LaneRun>, Duration) {
    let mut set = tokio::task::JoinSet::new();
    for (i, lane) in lanes.into_iter().enumerate() {
        set.spawn(async move { (i, lane.run(n, warmup).await) });
    }
    let mut out: Vec<(usize, LaneRun)> = Vec::new();
    let mut slowest = Duration::ZERO;
    while let Some(joined) = set.join_next().await {
        // A lane task only panics on a bug; its exchanges are lost, the others are kept.
        if let Ok((i, (lane, took))) = joined {
            slowest = slowest.max(took);
            out.push((i, lane));
        }
    }
    out.sort_by_key(|(i, _)| *i);
    (out.into_iter().map(|(_, l)| l).collect(), slowest)
}

/// How many exchanges a point gets: its share of the budget left, divided by what one
/// exchange of its slowest lane took in the warm-up, between the configured bounds.
pub fn exchanges_for(
    config: &LatencyConfig,
    budget_left: Duration,
    points_left: usize,
    slowest_exchange: Duration,
) -> usize {
    let share = budget_left.as_secs_f64() / points_left.max(1) as f64;
    let per = slowest_exchange.as_secs_f64().max(1e-6);
    let n = (share / per) as usize;
    n.clamp(config.min_exchanges.min(config.exchanges), config.exchanges)
}

/// Measures one point: every lane (ping and each framing that can read `size`) through its
/// own proxy delaying by `delay` each way.
pub async fn measure_point(
    servers: &Pool<Lane>,
    config: &LatencyConfig,
    delay: Duration,
    size: ReplySize,
    budget_left: Duration,
    points_left: usize,
) -> Result<Point, LatencyError> {
    let expected = Service::Cmd.reply(size.request().as_bytes());
    if expected.len() != size.bytes() {
        return Err(LatencyError::Config(format!(
            "`{}` replied {} bytes, not {}",
            size.request(),
            expected.len(),
            size.bytes()
        )));
    }
    let lanes: Vec<Lane> = std::iter::once(Lane::Ping)
        .chain(config.framings_for(size).into_iter().map(Lane::Framing))
        .collect();
    let mut runs = Vec::new();
    for lane in lanes {
        let upstream = servers
            .addr(lane)
            .ok_or_else(|| LatencyError::Config(format!("no server for {}", lane.name())))?;
        let (framing, request, expected) = match lane {
            Lane::Ping => (Framing::Naive, PING.to_vec(), PING.to_vec()),
            Lane::Framing(f) => (f, size.request().as_bytes().to_vec(), expected.clone()),
        };
        let mut client = ClientConfig::new(framing).timeout(config.timeout);
        client.nodelay = config.nodelay;
        runs.push(LaneRun {
            lane,
            proxy: start_proxy(upstream, delay, config.nodelay).await?,
            client: None,
            config: client,
            request,
            expected,
            hist: Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds"),
            samples: Vec::new(),
            errors: 0,
            first_error: None,
        });
    }
    let schedule = Schedule::for_size(size);
    let (runs, warm) = run_lanes(runs, config.warmup.max(1), true, schedule).await;
    let per_exchange = warm / config.warmup.max(1) as u32;
    let n = exchanges_for(config, budget_left, points_left, per_exchange);
    let started = Instant::now();
    let (runs, _) = run_lanes(runs, n, false, schedule).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let mut point = Point {
        delay_us: delay.as_micros() as u64,
        size,
        reply_bytes: expected.len(),
        exchanges: n,
        warmup: config.warmup.max(1),
        elapsed_ms,
        nodelay: config.nodelay,
        ping: None,
        framings: Vec::new(),
        cost: None,
    };
    for run in &runs {
        let stats = run.stats(config.batches);
        match run.lane {
            Lane::Ping => point.ping = Some(stats),
            Lane::Framing(_) => point.framings.push(stats),
        }
    }
    for run in runs {
        run.proxy.shutdown().await;
    }
    point.cost = super::cost::ready_cost(&point);
    Ok(point)
}
