//! `stickler latency`: lockstep exchanges per framing through a delaying proxy, and the cost of
//! the `ready` handshake in round trips next to the theory.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use stickler::codec::Framing;
use stickler::latency::{latency_section, report, run_sweep, LatencyConfig, ReplySize};
use stickler::present::{write_dir, Section};

#[derive(Debug, Args)]
#[command(
    after_help = "Sizes: small = `echo hello` (6 B), large = `seq 1 2000` (8893 B), \
    huge = `seq 1000000 1131071` (1 MiB exactly). naive runs at small only (its client reads \
    one 1024-byte read as the whole reply).\n\
    Exit status: 0 measured (whatever the figures), 2 usage or setup error."
)]
pub struct LatencyArgs {
    /// One-way delays in ms, each direction (RTT = 2 × delay).
    #[arg(long, value_delimiter = ',', default_value = "0,0.5,1,2,5,10")]
    pub delays: Vec<f64>,
    /// Framings to measure.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "naive,ready,struct,json,framed"
    )]
    pub framings: Vec<Framing>,
    /// Reply sizes.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "small,large,huge"
    )]
    pub sizes: Vec<ReplySize>,
    /// Most measured exchanges per lane and point (fewer when the time budget says so).
    #[arg(long, value_name = "N")]
    pub exchanges: Option<usize>,
    /// Time budget for the measured exchanges, in seconds.
    #[arg(long, value_name = "SECS")]
    pub budget: Option<f64>,
    /// The bounded sweep of the main job (fewer exchanges, about 20 s).
    #[arg(long)]
    pub quick: bool,
    /// TCP_NODELAY off on the servers, proxies and clients (Nagle's algorithm on).
    #[arg(long)]
    pub no_nodelay: bool,
    /// Skip the TCP_NODELAY on/off probe.
    #[arg(long)]
    pub no_probe: bool,
    /// Wake the delay line's timers this many µs early and spin until the deadline (0: plain
    /// timer wake-ups, late by the machine's wake-up latency). At most 1000.
    #[arg(long, value_name = "US", default_value_t = 50)]
    pub spin_ahead: u64,
    /// Write the sweep as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write index.html and report.md (tables, SVG charts) into DIR.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Builds the sweep config from the flags.
fn config(args: &LatencyArgs) -> anyhow::Result<LatencyConfig> {
    let mut config = if args.quick {
        LatencyConfig::quick()
    } else {
        LatencyConfig::default()
    };
    let mut delays = Vec::new();
    for &ms in &args.delays {
        if !ms.is_finite() || !(0.0..=1000.0).contains(&ms) {
            bail!("--delays: {ms} is not a delay between 0 and 1000 ms");
        }
        delays.push(Duration::from_micros((ms * 1000.0).round() as u64));
    }
    config.delays = delays;
    config.framings = args.framings.clone();
    config.sizes = args.sizes.clone();
    if let Some(n) = args.exchanges {
        if n == 0 {
            bail!("--exchanges must be at least 1");
        }
        config.exchanges = n;
        config.min_exchanges = config.min_exchanges.min(n);
    }
    if let Some(s) = args.budget {
        if !s.is_finite() || !(0.0..=86_400.0).contains(&s) {
            bail!("--budget: {s} is not a number of seconds between 0 and 86400");
        }
        config.budget = Duration::from_secs_f64(s);
    }
    if args.spin_ahead > 1000 {
        bail!(
            "--spin-ahead: {} µs is over the 1000 allowed",
            args.spin_ahead
        );
    }
    config.spin_ahead = Duration::from_micros(args.spin_ahead);
    config.nodelay = !args.no_nodelay;
    config.nodelay_probe = !args.no_probe;
    config.progress = !args.quiet;
    config.validate()?;
    Ok(config)
}

/// A runtime to wait on the sweep with (the sweep runs on a thread of its own).
fn waiting_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(args: LatencyArgs) -> anyhow::Result<ExitCode> {
    let config = config(&args)?;
    let sweep = waiting_runtime()?.block_on(run_sweep(&config))?;
    println!("{}", report::table(&sweep, std::io::stdout().is_terminal()));
    if let Some(path) = &args.json {
        super::write_json(path, &sweep)?;
    }
    if let Some(dir) = &args.report {
        write_dir(dir, "stickler latency", &[latency_section(&sweep)])
            .with_context(|| format!("cannot write the report into {}", dir.display()))?;
        println!("report written to {}", dir.join("index.html").display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The main job's latency part: the quick sweep, its JSON in `dir/latency.json`, the table on
/// stdout, and the report section to add to the page.
pub fn main_job_section(dir: &Path) -> anyhow::Result<Section> {
    let config = LatencyConfig::quick();
    let sweep = waiting_runtime()?.block_on(run_sweep(&config))?;
    println!("{}", report::table(&sweep, std::io::stdout().is_terminal()));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    super::write_json(&dir.join("latency.json"), &sweep)?;
    Ok(latency_section(&sweep))
}
