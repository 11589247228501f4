//! What a latency sweep measures: one-way delays, framings, reply sizes, and how many exchanges
//! each point gets within a time budget.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec::Framing;

/// A reply size of the sweep, with the `cmd` request that produces it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ReplySize {
    /// 6 bytes: `echo hello`.
    Small,
    /// 8893 bytes: `seq 1 2000` (a 4-digit length).
    Large,
    /// 1 MiB exactly: `seq 1000000 1131071`, 131072 lines of 7 digits and a newline.
    Huge,
}

impl ReplySize {
    pub const ALL: [ReplySize; 3] = [ReplySize::Small, ReplySize::Large, ReplySize::Huge];

    pub fn name(self) -> &'static str {
        match self {
            ReplySize::Small => "small",
            ReplySize::Large => "large",
            ReplySize::Huge => "huge",
        }
    }

    /// The `cmd` request whose reply has this size.
    pub fn request(self) -> &'static str {
        match self {
            ReplySize::Small => "echo hello",
            ReplySize::Large => "seq 1 2000",
            ReplySize::Huge => "seq 1000000 1131071",
        }
    }

    /// The reply's size in bytes (checked against every reply received).
    pub fn bytes(self) -> usize {
        match self {
            ReplySize::Small => 6,
            ReplySize::Large => 8893,
            ReplySize::Huge => 1 << 20,
        }
    }

    /// `6 B`, `8893 B`, `1 MiB`.
    pub fn label(self) -> &'static str {
        match self {
            ReplySize::Small => "6 B",
            ReplySize::Large => "8893 B",
            ReplySize::Huge => "1 MiB",
        }
    }

    /// Whether `framing`'s client can read this reply at all: `naive` takes one read of at most
    /// 1024 bytes as the whole reply, so it only works for small replies.
    pub fn fits(self, framing: Framing) -> bool {
        match framing {
            Framing::Naive => self.bytes() <= crate::codec::naive::DEFAULT_READ_SIZE,
            Framing::Upload => false,
            _ => true,
        }
    }
}

impl std::fmt::Display for ReplySize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// The framings a sweep measures by default.
pub const DEFAULT_FRAMINGS: [Framing; 5] = [
    Framing::Naive,
    Framing::Ready,
    Framing::Struct,
    Framing::Json,
    Framing::Framed,
];

/// The default one-way delays: 0, 0.5, 1, 2, 5, 10 ms.
pub fn default_delays() -> Vec<Duration> {
    [0, 500, 1000, 2000, 5000, 10_000]
        .into_iter()
        .map(Duration::from_micros)
        .collect()
}

/// The default [`LatencyConfig::spin_ahead`]: past the 20–40 µs (p50–p90) a timer took to wake
/// its thread on a 2-core VM, so a crossing of the proxy is not late by that much.
pub const DEFAULT_SPIN_AHEAD: Duration = Duration::from_micros(50);

/// How a sweep runs. [`LatencyConfig::default`] is the full sweep of `stickler latency`;
/// [`LatencyConfig::quick`] is the bounded one of the main job.
#[derive(Debug, Clone)]
pub struct LatencyConfig {
    /// One-way delays injected in both directions (RTT = 2 × delay).
    pub delays: Vec<Duration>,
    /// Framings measured (`naive` only where a reply fits its one read; `upload` never).
    pub framings: Vec<Framing>,
    pub sizes: Vec<ReplySize>,
    /// Most measured rounds per point; a round is one exchange of every framing and one ping.
    pub exchanges: usize,
    /// Fewest measured rounds per point, whatever the budget says.
    pub min_exchanges: usize,
    /// Rounds run and thrown away before measuring each point.
    pub warmup: usize,
    /// Time for all measured rounds; each point gets its share of what is left.
    pub budget: Duration,
    /// Consecutive groups of rounds a point is cut into, for the spread of the ready cost.
    pub batches: usize,
    /// `TCP_NODELAY` on the servers, the proxies and the clients.
    pub nodelay: bool,
    /// Also measure one point with `TCP_NODELAY` off everywhere, next to the same point on.
    pub nodelay_probe: bool,
    /// Time one reply may take without progress before the exchange counts as failed.
    pub timeout: Duration,
    /// How early the delay line's timers wake, to spin until their deadline
    /// ([`crate::chaos::timer::set_spin_ahead`]; zero: plain timer wake-ups).
    pub spin_ahead: Duration,
    /// A progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            delays: default_delays(),
            framings: DEFAULT_FRAMINGS.to_vec(),
            sizes: ReplySize::ALL.to_vec(),
            exchanges: 2000,
            min_exchanges: 100,
            warmup: 10,
            budget: Duration::from_secs(90),
            batches: 10,
            nodelay: true,
            nodelay_probe: true,
            timeout: Duration::from_secs(5),
            spin_ahead: DEFAULT_SPIN_AHEAD,
            progress: true,
        }
    }
}

impl LatencyConfig {
    /// The main job's sweep: the default points with fewer exchanges, about 20 s in all.
    pub fn quick() -> Self {
        LatencyConfig {
            exchanges: 500,
            min_exchanges: 20,
            warmup: 3,
            budget: Duration::from_secs(10),
            batches: 5,
            ..LatencyConfig::default()
        }
    }

    /// The framings measured at `size`, in sweep order.
    pub fn framings_for(&self, size: ReplySize) -> Vec<Framing> {
        let mut out: Vec<Framing> = self
            .framings
            .iter()
            .copied()
            .filter(|f| size.fits(*f))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Checks the config before anything starts.
    pub fn validate(&self) -> Result<(), super::LatencyError> {
        use super::LatencyError::Config;
        if self.delays.is_empty() {
            return Err(Config("no delay to measure".into()));
        }
        if let Some(d) = self.delays.iter().find(|d| **d > Duration::from_secs(1)) {
            return Err(Config(format!(
                "delay {d:?} is over 1 s: this sweep measures lockstep exchanges, use at most 1000 ms"
            )));
        }
        if self.framings.contains(&Framing::Upload) {
            return Err(Config(
                "upload has no command exchange to time; use naive, ready, struct, json or framed"
                    .into(),
            ));
        }
        if self.sizes.is_empty() {
            return Err(Config("no reply size to measure".into()));
        }
        if self.sizes.iter().all(|s| self.framings_for(*s).is_empty()) {
            return Err(Config(
                "no framing can read any of the sizes asked for (naive reads small replies only)"
                    .into(),
            ));
        }
        if self.spin_ahead > crate::chaos::timer::MAX_SPIN_AHEAD {
            return Err(Config(format!(
                "spin-ahead {:?} is over the {:?} allowed",
                self.spin_ahead,
                crate::chaos::timer::MAX_SPIN_AHEAD
            )));
        }
        if self.exchanges == 0 || self.batches == 0 {
            return Err(Config("exchanges and batches must be at least 1".into()));
        }
        Ok(())
    }
}
