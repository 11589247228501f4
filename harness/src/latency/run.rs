//! Running a sweep: servers with the wanted `TCP_NODELAY`, one delaying proxy per lane and
//! point, and lanes of lockstep exchanges interleaved so that none waits for another.
//!
//! A *lane* is one connection doing lockstep exchanges: one per framing, a `ping` lane (a
//! 1-byte request to a `naive` server running `echo`: one write each way, nothing to parse)
//! that measures the round trip of the delayed path itself, and a `direct` lane (the same ping
//! straight to that server, no proxy) that measures the round trip without the proxy. At each
//! point (delay, size) every lane runs the same number of exchanges, interleaved by a
//! [`Schedule`]; the warm-up exchanges are run and thrown away first.
//!
//! The servers, the proxies and the clients of a sweep share one thread of their own
//! ([`super::run_sweep`]): a delayed byte then costs one timer wake-up per crossing of the
//! proxy, and nothing else of the process competes with the lanes for that thread. Its timers
//! wake a little early and spin to their deadline ([`crate::chaos::timer::set_spin_ahead`]),
//! and it asks for short time slices while lanes take turns ([`short_slices`]). Memory freed by
//! one exchange is kept for the next ([`keep_freed_memory`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::chaos::timer;
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

/// Size of each read of the `struct`, `json`, `framed` and `ready` clients (after the digits):
/// a 1 MiB reply then takes 16 reads, not the 1024 of the tutorials' `recv(1024)`, which would
/// measure the client's system calls rather than the path. `naive` keeps its one 1024-byte read
/// (its reply is the 6-byte one only).
pub const READ_SIZE: usize = 64 << 10;

/// What a lane talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    /// The ping server, straight (no proxy).
    Direct,
    /// The ping server, through the delaying proxy.
    Ping,
    Framing(Framing),
}

impl Lane {
    pub fn name(self) -> &'static str {
        match self {
            Lane::Direct => "direct",
            Lane::Ping => "ping",
            Lane::Framing(f) => f.name(),
        }
    }
}

/// The servers of a sweep, by lane: one per framing (`cmd`) and the ping server (`naive` +
/// `echo`, also the `direct` lane's), with the wanted `TCP_NODELAY`.
pub async fn start_servers(
    framings: &[Framing],
    nodelay: bool,
) -> Result<Pool<Lane>, LatencyError> {
    let lanes = std::iter::once(Lane::Ping).chain(framings.iter().map(|f| Lane::Framing(*f)));
    let configs = lanes.map(|lane| {
        let config = match lane {
            Lane::Direct | Lane::Ping => ServerConfig::new(Framing::Naive, Service::Echo),
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

/// The per-direction queue of the sweep's proxies for replies of `reply_bytes`
/// ([`ProxyConfig::queue_cap`]): room for the whole reply twice over, and never less than the
/// proxy's default. A direction holds what it read for `d` before writing it; with a queue
/// smaller than a reply, the proxy stops reading until the reply's first pieces leave, and the
/// end of the reply comes one more `d` late — a cost of the proxy, not of the framing.
pub fn queue_cap_for(reply_bytes: usize) -> usize {
    crate::proxy::pipeline::QUEUE_CAP.max(reply_bytes.saturating_mul(2))
}

async fn start_proxy(
    upstream: SocketAddr,
    delay: Duration,
    nodelay: bool,
    reply_bytes: usize,
) -> Result<ProxyHandle, LatencyError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(LatencyError::Setup)?;
    let mut config = ProxyConfig::new(upstream);
    config.toxics.extend(delay_toxic(delay));
    config.nodelay = nodelay;
    config.queue_cap = queue_cap_for(reply_bytes);
    Ok(Proxy::start(listener, config))
}

/// Latencies at the quantiles `qs` of `samples` (nearest rank; all 0 when empty).
pub fn quantiles<const N: usize>(samples: &[u64], qs: [f64; N]) -> [u64; N] {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    qs.map(|q| {
        if sorted.is_empty() {
            return 0;
        }
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    })
}

/// One lane of one point: its proxy (none for `direct`), connection, request and expected reply.
struct LaneRun {
    lane: Lane,
    proxy: Option<ProxyHandle>,
    addr: SocketAddr,
    client: Option<Client>,
    config: ClientConfig,
    request: Vec<u8>,
    expected: Vec<u8>,
    /// Every measured latency in µs, in order.
    samples: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// Largest latency recorded: one minute, in µs.
const HIST_MAX_US: u64 = 60_000_000;
/// A lane gives up after this many failed exchanges in one point.
const MAX_ERRORS: u64 = 10;

impl LaneRun {
    /// Connects if not connected (outside the timed part).
    async fn connect(&mut self) -> Result<(), String> {
        if self.client.is_none() {
            let c = Client::connect(self.addr, self.config.clone())
                .await
                .map_err(|e| e.to_string())?;
            self.client = Some(c);
        }
        Ok(())
    }

    /// One exchange, timed from before the request is written to the end of the reply.
    async fn exchange(&mut self) -> Result<Duration, String> {
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| "not connected".to_string())?;
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

    /// Runs `n` exchanges, each started at this lane's next slot when `slots` are given;
    /// records them unless `warmup`. Returns the time taken.
    async fn run(mut self, n: usize, warmup: bool, slots: Option<Slots>) -> (LaneRun, Duration) {
        let start = Instant::now();
        for _ in 0..n {
            if self.errors >= MAX_ERRORS {
                break;
            }
            let result = match self.connect().await {
                Ok(()) => {
                    if let Some(s) = slots {
                        timer::sleep_until(s.next(tokio::time::Instant::now())).await;
                    }
                    self.exchange().await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(took) if !warmup => {
                    let us = (took.as_micros() as u64).clamp(1, HIST_MAX_US);
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
        let s = &self.samples;
        let chunk = s.len().div_ceil(batches.max(1)).max(1);
        let batch_p50_us = s.chunks(chunk).map(|c| quantiles(c, [0.5])[0]).collect();
        let [p50_us, p90_us, p99_us, max_us] = quantiles(s, [0.5, 0.9, 0.99, 1.0]);
        LaneStats {
            lane: self.lane.name().to_string(),
            exchanges: s.len() as u64,
            p50_us,
            p90_us,
            p99_us,
            max_us,
            mean_us: if s.is_empty() {
                0.0
            } else {
                s.iter().sum::<u64>() as f64 / s.len() as f64
            },
            batch_p50_us,
            errors: self.errors,
            first_error: self.first_error.clone(),
        }
    }
}

/// The times a lane may start an exchange: `first`, then every `period`.
#[derive(Debug, Clone, Copy)]
struct Slots {
    first: tokio::time::Instant,
    period: Duration,
}

impl Slots {
    /// The first slot at or after `now`.
    fn next(self, now: tokio::time::Instant) -> tokio::time::Instant {
        if now <= self.first {
            return self.first;
        }
        let period = self.period.as_nanos().max(1);
        let k = (now - self.first).as_nanos().div_ceil(period);
        self.first + Duration::from_nanos((k * period).min(u64::MAX as u128) as u64)
    }
}

/// How the lanes of a point share the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// All lanes at once, lane `i` of `k` starting its exchanges only at `i/k` of a period past
    /// a multiple of it. With the period equal to the one-way delay, every crossing of the
    /// proxy happens a whole number of delays after its exchange started, so the lanes' wake-ups
    /// fall `period/k` apart instead of together (lanes started at the same moment with the same
    /// delay would otherwise wake at the same instants, each waiting for the others).
    Staggered { period: Duration },
    /// One exchange per lane in turn: at d = 0 (no delay to interleave with, every exchange is
    /// all processing) and for 1 MiB replies (a bulk transfer takes the CPU from the lanes next
    /// to it, which would then measure the machine instead of the path).
    InTurn,
}

impl Schedule {
    pub fn for_point(delay: Duration, size: ReplySize) -> Schedule {
        if size == ReplySize::Huge || delay.is_zero() {
            Schedule::InTurn
        } else {
            Schedule::Staggered { period: delay }
        }
    }

    /// `staggered` or `in turn`, for the report.
    pub fn label(self) -> &'static str {
        match self {
            Schedule::Staggered { .. } => "staggered",
            Schedule::InTurn => "in turn",
        }
    }
}

/// Runs every lane for `n` exchanges; returns them and the time one exchange of every lane
/// took (the slowest lane's time when staggered, the sum of the turns when in turn).
async fn run_lanes(
    lanes: Vec<LaneRun>,
    n: usize,
    warmup: bool,
    schedule: Schedule,
) -> (Vec<LaneRun>, Duration) {
    match schedule {
        Schedule::InTurn => {
            let start = Instant::now();
            let mut lanes = lanes;
            for _ in 0..n {
                let mut next = Vec::with_capacity(lanes.len());
                for lane in lanes {
                    next.push(lane.run(1, warmup, None).await.0);
                }
                lanes = next;
            }
            (lanes, start.elapsed())
        }
        Schedule::Staggered { period } => staggered(lanes, n, warmup, period).await,
    }
}

/// The time slice the sweep's thread asks the scheduler for while lanes take turns: the
/// shortest Linux allows.
pub const SHORT_SLICE: Duration = Duration::from_micros(100);

/// Asks the scheduler for time slices of [`SHORT_SLICE`] on the calling thread (`short`), or
/// for its default ones again, keeping the thread's policy and nice value (`sched_setattr`,
/// Linux 6.12 and later, no privilege needed; elsewhere, or if refused, a no-op).
///
/// Where lanes take turns, an exchange is milliseconds of work (a 1 MiB reply) followed by
/// sleeps; on a busy machine, the thread's next wake-ups then waited for the running task's
/// whole slice (1–3 ms more on the next lane's round trip). With short slices it gets the CPU
/// back sooner, and no more of it. Staggered lanes wake for a few µs at a time, spinning to
/// their deadline (`chaos::timer::set_spin_ahead`); there short slices cut the spin short and
/// made the round trips later, so they keep the default.
pub fn short_slices(short: bool) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: an all-zero sched_attr is a valid value of this plain C struct.
        let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::sched_attr>() as u32;
        // SAFETY: sched_getattr writes at most `size` bytes into `attr`, which has that size.
        let got = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr, size, 0) };
        let fair = [libc::SCHED_OTHER, libc::SCHED_BATCH].contains(&(attr.sched_policy as i32));
        if got != 0 || !fair {
            return;
        }
        attr.size = size;
        attr.sched_flags = 0;
        // Zero asks for the default slice again.
        attr.sched_runtime = if short {
            SHORT_SLICE.as_nanos() as u64
        } else {
            0
        };
        // SAFETY: `attr` is a valid, initialised sched_attr of `size` bytes.
        let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0) };
        if set != 0 {
            tracing::debug!(
                "time slices of {SHORT_SLICE:?} refused: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = short;
}

/// Freed bytes the sweep's process keeps at the top of its heap ([`keep_freed_memory`]).
const KEEP_FREED: i32 = 256 << 20;
/// Blocks up to this size come from the heap rather than a mapping of their own: the largest
/// glibc allows ([`keep_freed_memory`]).
const HEAP_UP_TO: i32 = 32 << 20;

/// Keeps memory the process frees for its next allocations instead of handing it back to the
/// kernel (glibc: `M_TRIM_THRESHOLD` and `M_MMAP_THRESHOLD`; elsewhere a no-op).
///
/// A 1 MiB exchange allocates and frees a few MiB (the reply, the client's buffers, what the
/// proxy holds). With glibc's defaults, when nothing else lives above those blocks the freed top
/// of the heap goes back to the kernel, and the next exchange faults every page in again: a
/// `ready` lane swept alone (`--framings ready --sizes huge --delays 0`, 200 exchanges) took
/// 4.7–5.2 ms per exchange with 137,189 page faults in the run, and 3.2–3.4 ms with 1,574 when
/// freed memory is kept (other lanes between its exchanges had hidden it: what they hold keeps
/// the heap's top in use). The sweep measures the path, not the allocator. Process-wide and never
/// undone: what is kept is at most what the process has used.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes two of the allocator's tunables; any value is valid input.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP_FREED);
        libc::mallopt(libc::M_MMAP_THRESHOLD, HEAP_UP_TO);
    }
}

/// How far ahead of now the first slots are: room for every lane's task to start.
const STAGGER_LEAD: Duration = Duration::from_micros(500);

async fn staggered(
    lanes: Vec<LaneRun>,
    n: usize,
    warmup: bool,
    period: Duration,
) -> (Vec<LaneRun>, Duration) {
    let k = lanes.len().max(1) as u32;
    let origin = tokio::time::Instant::now() + STAGGER_LEAD;
    let mut set = tokio::task::JoinSet::new();
    for (i, lane) in lanes.into_iter().enumerate() {
        let slots = Slots {
            first: origin + period * i as u32 / k,
            period,
        };
        set.spawn(async move { (i, lane.run(n, warmup, Some(slots)).await) });
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

/// Measures one point: every lane (direct, ping and each framing that can read `size`), each
/// but `direct` through its own proxy delaying by `delay` each way.
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
    let lanes: Vec<Lane> = [Lane::Direct, Lane::Ping]
        .into_iter()
        .chain(config.framings_for(size).into_iter().map(Lane::Framing))
        .collect();
    let mut runs = Vec::new();
    for lane in lanes {
        let server = match lane {
            Lane::Direct => Lane::Ping,
            other => other,
        };
        let upstream = servers
            .addr(server)
            .ok_or_else(|| LatencyError::Config(format!("no server for {}", lane.name())))?;
        let (framing, request, expected) = match lane {
            Lane::Direct | Lane::Ping => (Framing::Naive, PING.to_vec(), PING.to_vec()),
            Lane::Framing(f) => (f, size.request().as_bytes().to_vec(), expected.clone()),
        };
        let mut client = ClientConfig::new(framing).timeout(config.timeout);
        client.nodelay = config.nodelay;
        if framing != Framing::Naive {
            client.read_size = READ_SIZE;
        }
        let proxy = match lane {
            Lane::Direct => None,
            _ => Some(start_proxy(upstream, delay, config.nodelay, expected.len()).await?),
        };
        runs.push(LaneRun {
            lane,
            addr: proxy.as_ref().map_or(upstream, |p| p.local_addr()),
            proxy,
            client: None,
            config: client,
            request,
            expected,
            samples: Vec::new(),
            errors: 0,
            first_error: None,
        });
    }
    let schedule = Schedule::for_point(delay, size);
    let warmup = config.warmup.max(1);
    let (runs, warm) = run_lanes(runs, warmup, true, schedule).await;
    let per_exchange = warm / warmup as u32;
    let n = exchanges_for(config, budget_left, points_left, per_exchange);
    let started = Instant::now();
    let (runs, _) = run_lanes(runs, n, false, schedule).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let mut point = Point {
        delay_us: delay.as_micros() as u64,
        size,
        reply_bytes: expected.len(),
        exchanges: n,
        warmup,
        elapsed_ms,
        nodelay: config.nodelay,
        schedule: schedule.label().to_string(),
        direct: None,
        ping: None,
        framings: Vec::new(),
        cost: None,
    };
    for run in &runs {
        let stats = run.stats(config.batches);
        match run.lane {
            Lane::Direct => point.direct = Some(stats),
            Lane::Ping => point.ping = Some(stats),
            Lane::Framing(_) => point.framings.push(stats),
        }
    }
    for run in runs {
        if let Some(proxy) = run.proxy {
            proxy.shutdown().await;
        }
    }
    point.cost = super::cost::ready_cost(&point);
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let s = [5, 1, 4, 2, 3];
        assert_eq!(quantiles(&s, [0.5, 0.9, 1.0, 0.0]), [3, 5, 5, 1]);
        assert_eq!(quantiles(&[7, 9], [0.5]), [7]);
        assert_eq!(quantiles(&[], [0.5]), [0]);
    }

    #[test]
    fn slots_come_every_period_from_the_first() {
        let first = tokio::time::Instant::now();
        let s = Slots {
            first,
            period: Duration::from_micros(1000),
        };
        let us = Duration::from_micros;
        assert_eq!(s.next(first - us(300)), first);
        assert_eq!(s.next(first), first);
        assert_eq!(s.next(first + us(1)), first + us(1000));
        assert_eq!(s.next(first + us(1000)), first + us(1000));
        assert_eq!(s.next(first + us(2500)), first + us(3000));
    }

    #[test]
    fn stagger_only_where_there_is_a_delay_and_no_bulk_transfer() {
        let ms = Duration::from_millis(1);
        assert_eq!(
            Schedule::for_point(ms, ReplySize::Small),
            Schedule::Staggered { period: ms }
        );
        assert_eq!(
            Schedule::for_point(ms, ReplySize::Large),
            Schedule::Staggered { period: ms }
        );
        assert_eq!(Schedule::for_point(ms, ReplySize::Huge), Schedule::InTurn);
        assert_eq!(
            Schedule::for_point(Duration::ZERO, ReplySize::Small),
            Schedule::InTurn
        );
    }
}
