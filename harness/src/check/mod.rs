//! The conformance harness: runs the matrix of framings × chaos profiles × workloads on live
//! sockets, names what went wrong in every exchange, and minimises failing cases.
//!
//! - [`engine`]: the cell — a fresh chaos proxy, runs played through it by a player, verdicts
//!   counted, the first failure kept — that every check below runs on.
//! - [`matrix`]: profiles, workloads, case IDs.
//! - [`verdict`]: what happened to one exchange.
//! - [`workload`]: what the client sends, and what a correct server answers.
//! - [`run`]: the built-in workloads, played by the tutorial client of each framing.
//! - [`minimise`]: shrinks a failing cell's chaos schedule into a replayable case file.
//! - [`external`]: an external client as the subject, judged by what it prints.
//! - [`drive`]: the built-in servers and a whole matrix run.
//! - [`expect`]: expected verdict tables, compared like snapshots.
//! - [`report`]: terminal table, JSON, JUnit, Markdown/HTML with SVG charts.

pub mod drive;
pub mod engine;
pub mod expect;
pub mod external;
pub mod ladder;
pub mod matrix;
pub mod minimise;
pub mod report;
pub mod run;
pub mod session;
pub mod verdict;
pub mod workload;

use serde::{Deserialize, Serialize};

use matrix::CaseId;
use verdict::{Counts, Verdict};

/// The measured result of one cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    pub case: CaseId,
    /// The case's seed (derived from the run seed and the case ID).
    pub seed: u64,
    pub counts: Counts,
    pub elapsed_ms: u64,
    /// The first failing exchange, with what is needed to replay it.
    pub failure: Option<Failure>,
}

/// The first failing exchange of a cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    /// Index of the connection (run) within the case; the proxy derives its randomness from
    /// (case seed, connection index).
    pub connection: u64,
    pub exchange: usize,
    pub verdict: Verdict,
    pub request: String,
    pub expected_len: usize,
    /// What arrived instead, shortened.
    pub observed: String,
    /// Sizes of the client's reads for this reply.
    pub reads: Vec<usize>,
    /// The proxy's pieces for this connection, one line each.
    pub transcript: Vec<String>,
    /// How far the chaos schedule was minimised, when it was.
    pub minimised: Option<String>,
    /// The case file written for it, if any.
    pub repro: Option<String>,
    pub repro_command: String,
    /// What the failure's ladder diagram draws: the failing connection's requests and pieces
    /// (bounded) and the client's reads of the failing exchange, on the proxy's clock, with
    /// where each expected reply ends in the down stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<crate::present::ladder::Ladder>,
}

impl Failure {
    pub fn describe(&self) -> String {
        format!(
            "connection {} exchange {} ({:?}): {}; expected {} bytes, got {}; client reads {:?}",
            self.connection,
            self.exchange,
            self.request,
            self.verdict,
            self.expected_len,
            self.observed,
            self.reads
        )
    }
}

/// A whole measured matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixReport {
    /// What was tested: "built-in servers", "server at ADDR (struct/cmd)", "client `…`".
    pub subject: String,
    pub seed: u64,
    pub elapsed_ms: u64,
    pub cells: Vec<CellResult>,
}

impl MatrixReport {
    /// (case, passed) for every cell, for comparison with an expected table.
    pub fn outcomes(&self) -> Vec<(CaseId, bool)> {
        self.cells
            .iter()
            .map(|c| (c.case, c.counts.passed()))
            .collect()
    }
}
