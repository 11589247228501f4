//! Running a whole matrix against the servers of each framing (the built-in ones, started by
//! [`Pool`](crate::peer::pool::Pool), or a target): cases in parallel, progress, minimised
//! repros for failing cells.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::codec::Framing;
use crate::present::progress_bar;

use super::external::{run_client_case, ExternalClient};
use super::matrix::CaseId;
use super::minimise::{minimise, Budget};
use super::run::{run_case, RunConfig};
use super::{CellResult, MatrixReport};

/// Where minimised case files go, and how hard to search.
#[derive(Debug, Clone)]
pub struct MinimiseTo {
    pub dir: PathBuf,
    pub budget: Budget,
}

/// How a matrix is run.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    pub run: RunConfig,
    /// Cases measured at once (1 for an external target).
    pub concurrency: usize,
    pub minimise: Option<MinimiseTo>,
    pub progress: bool,
    /// What is tested, for the report.
    pub subject: String,
    /// An external client to judge instead of our own (run against our servers).
    pub client: Option<ExternalClient>,
    /// Pause after a failing case (for an external target, which may need a moment).
    pub settle: bool,
}

/// Measures `cases`, each against `upstream(framing)`, and minimises failing ones if asked.
pub async fn run_matrix(
    cases: Vec<CaseId>,
    upstream: impl Fn(Framing) -> Option<SocketAddr>,
    config: &MatrixConfig,
) -> std::io::Result<MatrixReport> {
    let started = Instant::now();
    let bar = progress_bar(cases.len() as u64, config.progress, "check");
    let limit = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (index, case) in cases.iter().copied().enumerate() {
        let addr = upstream(case.framing).ok_or_else(|| {
            std::io::Error::other(format!("no server for framing {}", case.framing))
        })?;
        let limit = limit.clone();
        let cfg = config.run.clone();
        let minimise_to = config.minimise.clone();
        let client = config.client.clone();
        let settle = config.settle;
        let bar = bar.clone();
        set.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            bar.set_message(case.to_string());
            let mut run = match &client {
                Some(c) => run_client_case(case, addr, c, &cfg).await?,
                None => run_case(case, addr, &cfg).await?,
            };
            // Minimising replays our own client: an external client is judged as it ran.
            if let (Some(to), Some(f), None) = (minimise_to, run.result.failure.as_mut(), &client) {
                let file = minimise(
                    case,
                    addr,
                    &cfg,
                    run.result.seed,
                    &run.events,
                    f.connection,
                    f.verdict,
                    to.budget,
                )
                .await;
                f.minimised = Some(file.describe());
                let path = file.save(&to.dir)?;
                f.repro_command = format!("stickler replay {}", path.display());
                f.repro = Some(path.display().to_string());
            }
            if settle && !run.result.counts.passed() {
                // A failing case leaves the target in an unknown state: give it a moment.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            bar.inc(1);
            Ok::<_, std::io::Error>((index, run.result))
        });
    }
    let mut cells: Vec<(usize, CellResult)> = Vec::with_capacity(cases.len());
    while let Some(joined) = set.join_next().await {
        cells.push(joined.map_err(std::io::Error::other)??);
    }
    bar.finish_and_clear();
    cells.sort_by_key(|(i, _)| *i);
    Ok(MatrixReport {
        subject: config.subject.clone(),
        seed: config.run.seed,
        elapsed_ms: started.elapsed().as_millis() as u64,
        cells: cells.into_iter().map(|(_, c)| c).collect(),
    })
}
