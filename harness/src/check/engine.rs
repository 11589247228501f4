//! The one engine every check runs on: a cell is a fresh chaos proxy in front of the subject,
//! shaped by a profile's toxics or by a piece schedule (a cut profile, a replayed case), and a
//! number of runs, each one connection played through it by a [`Player`] that judges what it
//! saw. The engine counts the verdicts, keeps the first failure with the proxy's transcript of
//! that connection, and hands back every piece the proxy wrote, so the failure can be shrunk
//! ([`super::minimise::shrink`]) and replayed with the same player.
//!
//! The players: the tutorial client of a built-in framing running a workload
//! ([`super::run::Tutorial`]), an external client command judged by what it prints
//! ([`super::external::Command`]), a recorded session played against a server
//! ([`super::session::ServerPlayer`]), and a client played against the recorded server
//! ([`super::session::client`]).

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::chaos::Direction;
use crate::proxy::record::PieceSchedule;
use crate::proxy::{PieceEvent, Proxy, ProxyConfig, ProxyHandle, RecordSink, ToxicSpec};

use super::matrix::profile;
use super::minimise::Reproduce;
use super::verdict::{Counts, Verdict};

/// How a cell's proxy shapes the bytes.
#[derive(Debug, Clone)]
pub enum Shaping {
    /// A profile's toxics, drawing from the cell's seed.
    Toxics(Vec<ToxicSpec>),
    /// Recorded or planned piece boundaries per connection (cut profiles, replays); bytes past
    /// the schedule pass as they come.
    Schedule(PieceSchedule),
}

impl Shaping {
    /// The toxics of the named chaos profile.
    pub fn profile(name: &str) -> std::io::Result<Shaping> {
        profile_toxics(name)
            .map(Shaping::Toxics)
            .map_err(std::io::Error::other)
    }
}

/// The toxics of a profile, parsed.
pub fn profile_toxics(name: &str) -> Result<Vec<ToxicSpec>, String> {
    let p = profile(name).ok_or_else(|| format!("unknown profile {name:?}"))?;
    p.toxics
        .iter()
        .map(|t| {
            t.parse::<ToxicSpec>()
                .map_err(|e| format!("profile {name}: {e}"))
        })
        .collect()
}

/// A cell's proxy, recording every piece it writes.
pub struct Cell {
    proxy: ProxyHandle,
    record: RecordSink,
}

impl Cell {
    /// Starts a proxy on a free loopback port in front of `upstream`.
    pub async fn start(upstream: SocketAddr, seed: u64, shaping: Shaping) -> std::io::Result<Cell> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let record = RecordSink::memory(true);
        let mut config = ProxyConfig::new(upstream);
        config.seed = seed;
        config.record = Some(record.clone());
        match shaping {
            Shaping::Toxics(toxics) => config.toxics = toxics,
            Shaping::Schedule(s) => config.replay = Some(s),
        }
        Ok(Cell {
            proxy: Proxy::start(listener, config),
            record,
        })
    }

    /// Where a run connects.
    pub fn addr(&self) -> SocketAddr {
        self.proxy.local_addr()
    }

    /// Bytes the proxy has moved, both ways: while this changes, a slow run is no hang.
    pub fn moved(&self) -> u64 {
        Direction::BOTH.iter().map(|d| self.proxy.bytes(*d)).sum()
    }
}

/// One played connection, judged: a verdict per judged exchange or turn, and the first that
/// failed with what explains it.
#[derive(Debug, Clone)]
pub struct Judged<D> {
    pub verdicts: Vec<Verdict>,
    pub first: Option<(usize, Verdict, D)>,
}

impl<D> Judged<D> {
    /// Judged items in order, each with its verdict and detail; the first failure is kept.
    pub fn from_items(items: impl IntoIterator<Item = (Verdict, D)>) -> Judged<D> {
        let mut judged = Judged {
            verdicts: Vec::new(),
            first: None,
        };
        for (i, (v, d)) in items.into_iter().enumerate() {
            if v != Verdict::Ok && judged.first.is_none() {
                judged.first = Some((i, v, d));
            }
            judged.verdicts.push(v);
        }
        judged
    }

    /// The first verdict that is not ok.
    pub fn failed(&self) -> Option<Verdict> {
        self.first.as_ref().map(|(_, v, _)| *v)
    }
}

/// Plays one connection through a cell and judges it.
pub trait Player {
    /// What explains a failure (the exchange, what arrived instead, …).
    type Detail: Send;
    /// Plays run `run` (the proxy's connection index) through `cell`.
    fn play(
        &mut self,
        cell: &Cell,
        run: usize,
    ) -> impl Future<Output = std::io::Result<Judged<Self::Detail>>> + Send;
}

/// The first failure of a cell.
#[derive(Debug, Clone)]
pub struct FirstFailure<D> {
    /// The run (the proxy's connection index).
    pub run: u64,
    /// The judged exchange or turn within it.
    pub index: usize,
    pub verdict: Verdict,
    pub detail: D,
    /// The proxy's pieces on that connection, one line each.
    pub transcript: Vec<String>,
}

/// What a cell measured.
#[derive(Debug, Clone)]
pub struct Measured<D> {
    pub counts: Counts,
    pub failure: Option<FirstFailure<D>>,
    /// Every piece the proxy wrote, with bytes.
    pub events: Vec<PieceEvent>,
    pub elapsed: Duration,
}

/// Lines of transcript kept for a failure.
const TRANSCRIPT_LINES: usize = 24;

/// Measures one cell: `runs` connections played by `player` through a fresh proxy in front of
/// `upstream`; `tick` is called after each.
pub async fn measure<P: Player>(
    upstream: SocketAddr,
    seed: u64,
    shaping: Shaping,
    runs: usize,
    player: &mut P,
    tick: &(dyn Fn() + Sync),
) -> std::io::Result<Measured<P::Detail>> {
    let started = Instant::now();
    let cell = Cell::start(upstream, seed, shaping).await?;
    let mut counts = Counts::default();
    let mut first = None;
    let mut result = Ok(());
    for run in 0..runs {
        match player.play(&cell, run).await {
            Ok(judged) => {
                judged.verdicts.iter().for_each(|v| counts.add(*v));
                if let (Some(f), None) = (judged.first, &first) {
                    first = Some((run as u64, f));
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        tick();
    }
    cell.proxy.shutdown().await;
    result?;
    let events = cell.record.events();
    let failure = first.map(|(run, (index, verdict, detail))| FirstFailure {
        run,
        index,
        verdict,
        detail,
        transcript: super::run::transcript_lines(&events, run, TRANSCRIPT_LINES),
    });
    Ok(Measured {
        counts,
        failure,
        events,
        elapsed: started.elapsed(),
    })
}

/// Replays a schedule on one fresh connection with `player`: the judged run.
pub async fn replay<P: Player>(
    upstream: SocketAddr,
    seed: u64,
    schedule: &PieceSchedule,
    player: &mut P,
) -> std::io::Result<Judged<P::Detail>> {
    let cell = Cell::start(upstream, seed, Shaping::Schedule(schedule.clone())).await?;
    let judged = player.play(&cell, 0).await;
    cell.proxy.shutdown().await;
    judged
}

/// A failure to reproduce with any player: a replay fails when `want` comes back first.
pub struct Replay<'a, P> {
    pub upstream: SocketAddr,
    pub seed: u64,
    pub player: &'a mut P,
    pub want: Verdict,
}

impl<P: Player + Send> Reproduce for Replay<'_, P> {
    async fn fails(&mut self, schedule: &PieceSchedule) -> bool {
        matches!(
            replay(self.upstream, self.seed, schedule, self.player).await,
            Ok(j) if j.failed() == Some(self.want)
        )
    }
}
