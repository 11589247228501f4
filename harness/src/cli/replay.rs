//! `stickler replay FILE`: re-runs a minimised case file and says whether its failure came back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use stickler::check::engine::Judged;
use stickler::check::minimise::{read_case_file, replay_once, CaseFile};
use stickler::check::run::RunConfig;
use stickler::check::session::case::{replay_case, SessionCase};
use stickler::check::session::client_case::{replay_client_case, ClientCase};
use stickler::check::verdict::Verdict;
use stickler::codec::framed::HeaderKind;
use stickler::peer::pool::Pool;
use stickler::service::Service;

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 the recorded verdict came back, 1 it did not, 2 usage or setup error."
)]
pub struct ReplayArgs {
    /// A case file written by `stickler check --cases-dir DIR` (a built-in case, or a session
    /// case of `check --session … --target` or `--client`).
    pub file: PathBuf,
    /// Replay against the server at ADDR instead of the one the case failed against (a
    /// built-in server, the case's target, or for a session case the recorded server).
    #[arg(long, value_name = "ADDR", value_parser = super::addr)]
    pub target: Option<SocketAddr>,
    /// Service the target runs (default: the case's, `cmd` for the built-in servers).
    #[arg(long, value_enum)]
    pub service: Option<Service>,
    /// Header of the target's `framed` requests and replies (default: the case's, `struct`).
    #[arg(long, value_enum)]
    pub header: Option<HeaderKind>,
    /// Token the target's `ready` server waits for (default: the case's, `ready`).
    #[arg(long)]
    pub token: Option<String>,
    /// How long a reply may go without a byte before the exchange counts as a hang (e.g. 3s).
    #[arg(long, value_name = "DURATION", value_parser = super::duration, default_value = "3s")]
    pub timeout: Duration,
    /// The same in milliseconds (the old spelling).
    #[arg(long, value_name = "MS", hide = true, conflicts_with = "timeout")]
    pub timeout_ms: Option<u64>,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    match case_kind(&args.file)? {
        Kind::Session => return replay_session(&args),
        Kind::Client => return replay_client(&args),
        Kind::Builtin => {}
    }
    let file = CaseFile::load(&args.file).map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let (upstream, servers) = match args.target.or(file.target) {
            Some(target) => (target, None),
            None => {
                let pool = Pool::start(&[file.case.framing], Service::Cmd)
                    .await
                    .context("cannot start the built-in server")?;
                let addr = pool
                    .addr(file.case.framing)
                    .context("built-in server missing")?;
                (addr, Some(pool))
            }
        };
        let cfg = RunConfig {
            seed: file.run_seed,
            timeout: args
                .timeout_ms
                .map_or(args.timeout, |ms| Duration::from_millis(ms.max(1))),
            service: args.service.unwrap_or(file.service),
            spec: file.spec.clone(),
            target: args.target.or(file.target),
            header: args.header.or(file.header).unwrap_or_default(),
            token: args
                .token
                .clone()
                .or_else(|| file.token.clone())
                .map_or_else(|| RunConfig::default().token, |t| t.into_bytes().into()),
            ..RunConfig::default()
        };
        let result = replay_once(&file.case, upstream, &cfg, file.case_seed, &file.schedule).await;
        if let Some(s) = servers {
            // A server that stopped with an error has logged it; the replay's result stands.
            let _ = s.stop().await;
        }
        let (first, outcomes) = result.context("replay failed to run")?;
        println!("{}: {}", file.case, file.describe());
        for (i, o) in outcomes.iter().enumerate() {
            println!(
                "  exchange {i} {:?}: {} — {}",
                o.request, o.verdict, o.observed
            );
        }
        if first == Some(file.verdict) {
            println!("reproduced: {}", file.verdict);
            Ok(ExitCode::SUCCESS)
        } else {
            println!(
                "not reproduced: expected {}, got {}",
                file.verdict,
                first.map_or("all ok".to_string(), |v| v.to_string())
            );
            Ok(ExitCode::from(1))
        }
    })
}

/// What a case file replays.
enum Kind {
    /// A built-in workload against a server.
    Builtin,
    /// A session connection against a server.
    Session,
    /// A client against the recorded server.
    Client,
}

/// Which kind of case the file is; refuses a file too large for any case by its size before
/// reading.
fn case_kind(path: &std::path::Path) -> anyhow::Result<Kind> {
    let text = read_case_file(path).map_err(anyhow::Error::msg)?;
    Ok(if SessionCase::is_one(&text) {
        Kind::Session
    } else if ClientCase::is_one(&text) {
        Kind::Client
    } else {
        Kind::Builtin
    })
}

/// A minimised client cell: the client run again against the recorded server.
fn replay_client(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    if args.target.is_some() {
        anyhow::bail!("--target does not apply to a client case: stickler plays the server");
    }
    let (case, session) = ClientCase::load(&args.file).map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let judged = rt
        .block_on(replay_client_case(&case, &session))
        .with_context(|| format!("cannot replay {}", args.file.display()))?;
    println!(
        "client `{}` with {} under {}: {}",
        shell_words::join(&case.client),
        case.source,
        case.profile,
        case.describe()
    );
    Ok(reproduced(&judged, case.verdict))
}

/// A minimised session cell, played again against its server (or --target).
fn replay_session(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let loaded = SessionCase::load(&args.file).map_err(anyhow::Error::msg)?;
    let target = args.target.unwrap_or(loaded.case.target);
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let judged = rt
        .block_on(replay_case(&loaded, target))
        .with_context(|| format!("cannot replay against {target}"))?;
    let case = &loaded.case;
    println!(
        "{} connection {} / {} against {target}: {}",
        case.source,
        case.connection,
        case.profile,
        case.describe()
    );
    for (i, v) in judged.verdicts.iter().enumerate() {
        println!("  server turn {i}: {v}");
    }
    Ok(reproduced(&judged, case.verdict))
}

/// Says whether the replay brought `want` back first: exit 0 if so, 1 if not.
fn reproduced(judged: &Judged<String>, want: Verdict) -> ExitCode {
    match &judged.first {
        Some((_, v, detail)) if *v == want => {
            println!("reproduced: {v}: {detail}");
            ExitCode::SUCCESS
        }
        first => {
            println!(
                "not reproduced: expected {want}, got {}",
                first
                    .as_ref()
                    .map_or("all ok".to_string(), |(_, v, d)| format!("{v}: {d}"))
            );
            ExitCode::from(1)
        }
    }
}
