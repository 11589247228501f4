//! `stickler attack`: the bad-input catalogue (or seeded mutants) against a server, with a health
//! probe after every case.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use stickler::attack::{self, mutate, report, AttackConfig, CaseResult};
use stickler::codec::framed::HeaderKind;
use stickler::codec::Framing;
use stickler::service::Service;
use stickler::units::{parse_duration, parse_size};

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

fn size(s: &str) -> Result<u64, String> {
    parse_size(s)
}

#[derive(Debug, Args)]
#[command(
    after_help = "Cases (see --list): the length field (negative, 2^31-1, over the \
    limit, cut after 1-3 bytes, wrong byte order or width), the stream (cut at every point, \
    reset mid-frame, slowloris, garbage, 10,000 idle connections, 1,000 connections announcing \
    1 TB), the JSON header (not JSON, not an object, invalid UTF-8, size missing, disagreeing, a \
    string or float, md5 mismatch), upload names (../x, /etc/passwd, empty, NUL), the ready \
    token (wrong, too long, never sent) and commands (empty, NUL, oversize).\n\
    After each case a fresh client sends a valid request and must get the correct reply.\n\
    Exit status: 0 the target survived every case, 1 some case broke it, 2 usage or setup error."
)]
pub struct AttackArgs {
    /// The server to attack.
    #[arg(long, value_name = "ADDR", required_unless_present = "list")]
    target: Option<SocketAddr>,
    /// The framing the server speaks.
    #[arg(long, value_enum, required_unless_present = "list")]
    framing: Option<Framing>,
    /// Service the server runs (the probe's expected reply follows it).
    #[arg(long, value_enum, default_value = "cmd")]
    service: Service,
    /// Header of the `framed` framing.
    #[arg(long, value_enum, default_value_t = HeaderKind::Struct)]
    header: HeaderKind,
    /// Token of the `ready` framing.
    #[arg(long, default_value = "ready")]
    token: String,
    /// Only cases whose name matches a glob (repeatable), e.g. 'json-*'.
    #[arg(long = "cases", value_name = "GLOB")]
    cases: Vec<String>,
    /// Watch this process's resident memory (Linux); growth over --max-growth breaks it.
    #[arg(long)]
    pid: Option<u32>,
    /// Memory growth of --pid, per case, that counts as breaking the target (e.g. 64m).
    #[arg(long, value_parser = size, default_value = "64m")]
    max_growth: u64,
    /// Fire seeded mutants of valid requests for --budget (after the selected cases, if any
    /// --cases is given; instead of the catalogue otherwise).
    #[arg(long)]
    mutate: bool,
    /// Time budget of --mutate (e.g. 10s).
    #[arg(long, value_parser = duration, default_value = "10s")]
    budget: Duration,
    /// Seed of every random choice: the same seed replays the same bytes and mutants.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How long each hostile connection is watched for the target's reaction.
    #[arg(long, value_parser = duration, default_value = "1s")]
    observe: Duration,
    /// How long the health probe may take, retries included.
    #[arg(long, value_parser = duration, default_value = "5s")]
    probe_timeout: Duration,
    /// Slowloris speed: one byte per this.
    #[arg(long, value_parser = duration, default_value = "1s")]
    slow_interval: Duration,
    /// Connections of `idle-connections` (clamped to the open-file limit).
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// Connections of `flood-huge-announce`.
    #[arg(long, default_value_t = 1_000)]
    flood_connections: usize,
    /// Largest frame body the server should accept (for `len-over-limit`).
    #[arg(long, value_parser = size, default_value = "8m")]
    max_frame_length: u64,
    /// Largest JSON header the server should accept (for `len-over-limit`).
    #[arg(long, value_parser = size, default_value = "64k")]
    max_json_header: u64,
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write JUnit XML (one testcase per case).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// List the cases that apply (to --framing, or all) and exit.
    #[arg(long)]
    list: bool,
    /// No line per case while running.
    #[arg(long)]
    quiet: bool,
}

fn list(framing: Option<Framing>, header: HeaderKind) {
    let wire = framing.map(|f| attack::Wire::of(f, header));
    for case in attack::catalogue() {
        if wire.is_none_or(|w| case.applies(w)) {
            println!("{:<24} {}", case.name, case.about);
        }
    }
}

pub fn run(args: AttackArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        list(args.framing, args.header);
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(target), Some(framing)) = (args.target, args.framing) else {
        bail!("--target and --framing are required");
    };
    let usize_of = |v: u64, what: &str| {
        usize::try_from(v).with_context(|| format!("{what} {v} does not fit this machine"))
    };
    let mut config = AttackConfig::new(target, framing);
    config.service = args.service;
    config.header_kind = args.header;
    config.token = args.token.clone().into_bytes().into();
    config.pid = args.pid;
    config.max_growth = args.max_growth;
    config.seed = args.seed;
    config.observe = args.observe;
    config.probe_timeout = args.probe_timeout.max(Duration::from_millis(10));
    config.slow_interval = args.slow_interval;
    config.idle_connections = args.idle_connections;
    config.flood_connections = args.flood_connections;
    config.max_frame_length = usize_of(args.max_frame_length, "--max-frame-length")?;
    config.max_json_header = usize_of(args.max_json_header, "--max-json-header")?;
    if let Some(pid) = args.pid {
        if !attack::sys::alive(pid) {
            bail!("--pid {pid}: no such process");
        }
        if attack::sys::rss_bytes(pid).is_none() {
            bail!("--pid {pid}: cannot read its memory (/proc/{pid}/status)");
        }
    }
    let run_catalogue = !args.mutate || !args.cases.is_empty();
    let cases = if run_catalogue {
        attack::select(&config, &args.cases)?
    } else {
        Vec::new()
    };
    if cases.iter().any(|c| c.name == "idle-connections") {
        let (_, clamped) = attack::sys::connection_budget(config.idle_connections);
        if let Some(why) = clamped {
            eprintln!("stickler: idle-connections: {why}");
        }
    }
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = rt.block_on(async {
        attack::preflight(&config).await?;
        let quiet = args.quiet;
        let print = |r: &CaseResult| {
            if !quiet {
                eprintln!(
                    "{:<24} {:<9} {}",
                    r.name,
                    r.outcome.name(),
                    r.reaction.summary()
                );
            }
        };
        let mut report = attack::run_cases(&config, &cases, print).await;
        if args.mutate {
            let start = std::time::Instant::now();
            let mutants = mutate::run_mutants(&config, args.budget, |r| {
                if !r.survived() {
                    print(r);
                }
            })
            .await;
            report.results.extend(mutants);
            report.elapsed_ms += start.elapsed().as_millis() as u64;
        }
        anyhow::Ok(report)
    })?;
    println!(
        "{}",
        report::table(&report, std::io::stdout().is_terminal())
    );
    println!("{}", report::summary(&report));
    if let Some(path) = &args.json {
        super::write_json(path, &report)?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if report.broken() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
