//! `stickler attack`: a catalogue of named malformed inputs (and a seeded mutation mode) fired at
//! a server, with proof after every case that the server still answers a valid request.
//!
//! ```text
//! for each case:  fresh connection(s) ── hostile bytes ──▶ target     (observe: reply, close,
//!                                                                      reset or silence)
//!                 health probe: Client ── valid request ──▶ target    (correct reply in time?)
//! ```
//!
//! - [`cases`]: the catalogue, each case a named [`Script`] built from the target's [`Shape`].
//! - [`run`]: executes a script and observes the target's [`Reaction`].
//! - [`probe`]: the health probe and the [`Outcome`] it gives.
//! - [`mutate`]: seeded mutants of valid requests, for a time budget.
//! - [`sys`]: resident memory of a process (`--pid`) and the descriptor limit.
//! - [`report`]: table, JSON and JUnit, like `stickler check`.
//! - [`spec`]: the cases of a framing description (`length:u16be`, `dns`, `mqtt`, ...), built
//!   from a recorded session whose first exchange is then the health probe.

pub mod cases;
pub mod mutate;
pub mod probe;
pub mod report;
pub mod run;
pub mod script;
pub mod spec;
pub mod sys;
pub mod wire;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use cases::{catalogue, Case};
pub use probe::Outcome;
pub use run::Reaction;
pub use script::{End, Script};
pub use spec::{SessionTarget, SpecCase};
pub use wire::{Shape, Wire};

use crate::codec::framed::HeaderKind;
use crate::codec::length::LengthField;
use crate::codec::ready::DEFAULT_TOKEN;
use crate::codec::{Framing, DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_JSON_HEADER};
use crate::service::Service;

/// Default memory growth (of `--pid`) that counts as breaking the target: 64 MiB.
pub const DEFAULT_MAX_GROWTH: u64 = 64 << 20;

/// What to attack and how hard. [`AttackConfig::new`] gives the CLI's defaults.
#[derive(Debug, Clone)]
pub struct AttackConfig {
    pub target: SocketAddr,
    pub framing: Framing,
    /// Header of `framed` (default `struct`).
    pub header_kind: HeaderKind,
    /// The service the target runs: the probe's expected reply follows it.
    pub service: Service,
    pub length_field: LengthField,
    /// `ready` token.
    pub token: Bytes,
    /// Limits the target is expected to enforce (for the "over the limit" cases).
    pub max_frame_length: usize,
    pub max_json_header: usize,
    /// How long a hostile connection is watched for the target's reaction (default 1 s).
    pub observe: Duration,
    /// How long the probe may take, retries included (default 5 s).
    pub probe_timeout: Duration,
    /// Slowloris: one byte per this (default 1 s).
    pub slow_interval: Duration,
    /// Connections of `idle-connections` (default 10,000; clamped to the descriptor limit).
    pub idle_connections: usize,
    /// Connections of `flood-huge-announce` and `flood-frames-one-short` (default 1,000).
    pub flood_connections: usize,
    /// Most cut points of `body-cut-every` (default 256).
    pub max_cuts: usize,
    /// Process whose resident memory is watched.
    pub pid: Option<u32>,
    /// Growth of the watched process that breaks the target (default 64 MiB).
    pub max_growth: u64,
    pub seed: u64,
    /// A framing description's target: its message and the session's first exchange, which
    /// replaces the built-in probe (`framing` and the fields above it that shape requests are
    /// then not used).
    pub session: Option<SessionTarget>,
}

impl AttackConfig {
    pub fn new(target: SocketAddr, framing: Framing) -> Self {
        AttackConfig {
            target,
            framing,
            header_kind: HeaderKind::Struct,
            service: Service::Cmd,
            length_field: LengthField::I32_LE,
            token: Bytes::from_static(DEFAULT_TOKEN),
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            max_json_header: DEFAULT_MAX_JSON_HEADER,
            observe: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(5),
            slow_interval: Duration::from_secs(1),
            idle_connections: 10_000,
            flood_connections: 1_000,
            max_cuts: 256,
            pid: None,
            max_growth: DEFAULT_MAX_GROWTH,
            seed: 1,
            session: None,
        }
    }

    /// The framing as reports name it: the built-in framing, or the description.
    pub fn framing_name(&self) -> String {
        match &self.session {
            Some(t) => t.spec.to_string(),
            None => self.framing.name().to_string(),
        }
    }

    pub fn shape(&self) -> Shape {
        Shape {
            wire: Wire::of(self.framing, self.header_kind),
            field: self.length_field,
            max_frame_length: self.max_frame_length,
            max_json_header: self.max_json_header,
            token: self.token.clone(),
            seed: self.seed,
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseResult {
    pub name: String,
    pub about: String,
    pub outcome: Outcome,
    /// How the target treated the hostile connection(s).
    pub reaction: Reaction,
    /// What the probe saw, and anything else worth knowing.
    pub detail: String,
    /// Resident memory growth of `--pid` over the case (peak minus before), bytes.
    pub rss_growth: Option<i64>,
    pub elapsed_ms: u64,
}

impl CaseResult {
    /// Whether the target came through: the probe passed and memory stayed in bounds.
    pub fn survived(&self) -> bool {
        self.outcome == Outcome::Survived
    }
}

/// A whole run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttackReport {
    pub target: SocketAddr,
    /// The built-in framing's name, or the framing description.
    pub framing: String,
    pub wire: Wire,
    pub seed: u64,
    pub results: Vec<CaseResult>,
    pub elapsed_ms: u64,
}

impl AttackReport {
    pub fn broken(&self) -> usize {
        self.results.iter().filter(|r| !r.survived()).count()
    }
}

/// Why an attack could not run.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    #[error("bad --cases glob: {0}")]
    Glob(#[from] globset::Error),
    #[error("no case of the catalogue matches {globs:?} for the {wire:?} wire")]
    NoCase { globs: Vec<String>, wire: Wire },
    #[error("no case for the framing description {spec} matches {globs:?} (see --list)")]
    NoSpecCase { globs: Vec<String>, spec: String },
    #[error("the target at {addr} does not answer a valid request before the attack: {why}")]
    NotHealthy { addr: SocketAddr, why: String },
    #[error("a framing description's cases need a session target (AttackConfig::session)")]
    NoSession,
}

/// The glob set of `--cases` (`None` when there is none: everything matches).
pub(crate) fn glob_set(globs: &[String]) -> Result<Option<globset::GlobSet>, AttackError> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        b.add(globset::Glob::new(g)?);
    }
    Ok(Some(b.build()?))
}

/// The catalogue's cases that apply to the target and match `globs` (all when empty).
pub fn select(config: &AttackConfig, globs: &[String]) -> Result<Vec<Case>, AttackError> {
    let wire = config.shape().wire;
    let set = glob_set(globs)?;
    let cases: Vec<Case> = catalogue()
        .into_iter()
        .filter(|c| c.applies(wire))
        .filter(|c| set.as_ref().is_none_or(|s| s.is_match(c.name)))
        .collect();
    if cases.is_empty() {
        return Err(AttackError::NoCase {
            globs: globs.to_vec(),
            wire,
        });
    }
    Ok(cases)
}

/// Checks the target answers before attacking it (a dead target would "break" every case).
pub async fn preflight(config: &AttackConfig) -> Result<(), AttackError> {
    probe::probe_until(config, Instant::now() + config.probe_timeout)
        .await
        .map(|_| ())
        .map_err(|e| AttackError::NotHealthy {
            addr: config.target,
            why: e.to_string(),
        })
}

/// Runs `cases` one after another; `on_done` sees each result as it comes.
pub async fn run_cases(
    config: &AttackConfig,
    cases: &[Case],
    on_done: impl FnMut(&CaseResult),
) -> AttackReport {
    let shape = config.shape();
    let scripts = cases.iter().map(|case| {
        (
            case.name.to_string(),
            case.about.to_string(),
            (case.build)(&shape),
        )
    });
    run_scripts(config, shape.wire, scripts, on_done).await
}

/// Runs named scripts one after another (the one runner of the catalogue and of description
/// cases); `on_done` sees each result as it comes.
pub(crate) async fn run_scripts(
    config: &AttackConfig,
    wire: Wire,
    scripts: impl Iterator<Item = (String, String, Script)>,
    mut on_done: impl FnMut(&CaseResult),
) -> AttackReport {
    let start = Instant::now();
    let mut results = Vec::new();
    for (name, about, script) in scripts {
        let result = run::run_case(config, &name, &about, &script).await;
        on_done(&result);
        results.push(result);
    }
    AttackReport {
        target: config.target,
        framing: config.framing_name(),
        wire,
        seed: config.seed,
        results,
        elapsed_ms: start.elapsed().as_millis() as u64,
    }
}
