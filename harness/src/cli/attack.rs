//! `stickler attack`: the bad-input catalogue (or seeded mutants) against a server, with a health
//! probe after every case.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use stickler::attack::{self, mutate, report, AttackConfig, CaseResult, SessionTarget, SpecCase};
use stickler::codec::framed::HeaderKind;
use stickler::codec::spec::{FrameSpec, FramingChoice};
use stickler::codec::Framing;
use stickler::service::Service;
use stickler::session::Session;
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
    After each case a fresh client sends a valid request and must get the correct reply.\n\n\
    Any other length-prefixed or delimited protocol: give --framing a description (length:TYPE\
    [,offset=N,adjust=N,max=SIZE], varint, delimiter:SEQ, or a preset: dns modbus mqtt \
    postgres kafka thrift tls lines crlf; see `stickler framings`) and --session FILE, a \
    recorded session of the server (`stickler record`, docs/sessions.md). The hostile inputs \
    are its first client message with the length field replaced (a huge length, -1 and the \
    least value where the field is signed, the field's largest value, one over max=, 0, the \
    other byte order; the offset bytes before the field kept as recorded), the header cut \
    after each of its bytes then closed, cut inside the length then the rest after a pause \
    (--slow-interval), garbage, ...; for a delimiter: max+1 bytes without the delimiter, the \
    message without it, every cut. After each case the probe replays the session's first \
    exchange on a fresh connection (the first client turn, then the reply read up to the \
    recorded server turn's length) and compares it with the recording outside the session's \
    masks; bytes that differ between two clean probes before the attack are masked too. \
    Without --framing the session's `framing` is used; when both are given and differ, \
    --framing wins (with a note). --session with a built-in framing is refused; with a \
    description --service, --header, --token, --max-frame-length, --max-json-header are not \
    used (max= is the limit), and --mutate is not supported.\n\n\
    Exit status: 0 the target survived every case, 1 some case broke it, 2 usage or setup error."
)]
pub struct AttackArgs {
    /// The server to attack.
    #[arg(long, value_name = "ADDR", required_unless_present = "list", value_parser = super::addr)]
    target: Option<SocketAddr>,
    /// The framing the server speaks: naive, ready, struct, json, framed, upload, or a
    /// framing description (length:u16be, varint, delimiter:\r\n, dns, modbus, mqtt,
    /// postgres, ...; see `stickler framings`), which needs --session.
    #[arg(long, value_name = "FRAMING|SPEC")]
    framing: Option<FramingChoice>,
    /// A recorded session of the server (docs/sessions.md), for a framing description: the
    /// hostile inputs are built from its first client message, and the health probe replays
    /// its first exchange. Its `framing` is used when --framing is not given.
    #[arg(long, value_name = "FILE")]
    session: Option<PathBuf>,
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
    /// Slowloris speed: one byte per this (and the pause of a description's `header-pause`).
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
    /// Most connections of one every-cut case (`body-cut-every`, `message-cut-every`,
    /// `header-cut-every`).
    #[arg(long, default_value_t = 256)]
    max_cuts: usize,
    /// List the cases that apply (to --framing, or all) and exit.
    #[arg(long)]
    list: bool,
    /// No line per case while running.
    #[arg(long)]
    quiet: bool,
}

/// What is attacked: a built-in framing (the catalogue and the built-in probe), or a
/// description with the session its cases are built from.
enum Plan {
    Builtin(Framing),
    Spec {
        spec: FrameSpec,
        session: Box<Session>,
        path: PathBuf,
    },
}

/// Resolves --framing and --session (and the session's `framing`) into what to attack.
fn plan(args: &AttackArgs) -> anyhow::Result<Plan> {
    let session = match &args.session {
        // The error names the file and the problem once (its source is in its message).
        Some(path) => Some((
            Session::load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
            path.clone(),
        )),
        None => None,
    };
    Ok(match (&args.framing, session) {
        (Some(FramingChoice::Builtin(f)), None) => Plan::Builtin(*f),
        (Some(FramingChoice::Builtin(f)), Some(_)) => bail!(
            "--session is for framing descriptions: the built-in framing `{f}` is probed with \
             stickler's own valid request. Drop --session, or give --framing a description \
             (e.g. --framing length:u16be)"
        ),
        (Some(FramingChoice::Spec(spec)), None) => bail!(
            "--framing gives a framing description ({spec}): add --session FILE, a recorded \
             session of this server (`stickler record`, docs/sessions.md); its first exchange \
             is the valid request the attack is built from and the health probe"
        ),
        (Some(FramingChoice::Spec(spec)), Some((session, path))) => {
            match session
                .framing
                .as_deref()
                .map(|t| (t, t.parse::<FrameSpec>()))
            {
                Some((_, Ok(theirs))) if theirs != *spec => eprintln!(
                    "stickler: note: {} says its framing is {theirs}; using --framing {spec}",
                    path.display()
                ),
                Some((text, Err(_))) => eprintln!(
                    "stickler: note: {} names its framing {text:?}, not a description; using \
                     --framing {spec}",
                    path.display()
                ),
                _ => {}
            }
            Plan::Spec {
                spec: spec.clone(),
                session: Box::new(session),
                path,
            }
        }
        (None, Some((session, path))) => {
            let Some(text) = session.framing.clone() else {
                bail!(
                    "--framing is required: {} does not name its framing (give --framing \
                     length:u16be, dns, ... or add \"framing\" to the session)",
                    path.display()
                );
            };
            let spec: FrameSpec = text.parse().with_context(|| {
                format!(
                    "{}: its framing {text:?} is not a framing description; give --framing",
                    path.display()
                )
            })?;
            Plan::Spec {
                spec,
                session: Box::new(session),
                path,
            }
        }
        (None, None) => bail!(
            "--framing is required: a built-in framing (naive, ready, struct, json, framed, \
             upload), or a description (length:u16be, dns, ...) with --session FILE"
        ),
    })
}

fn list(args: &AttackArgs) -> anyhow::Result<()> {
    let framing = match (&args.framing, &args.session) {
        (None, Some(_)) => match plan(args)? {
            Plan::Builtin(f) => Some(FramingChoice::Builtin(f)),
            Plan::Spec { spec, .. } => Some(FramingChoice::Spec(spec)),
        },
        (framing, _) => framing.clone(),
    };
    match framing {
        Some(FramingChoice::Spec(spec)) => {
            for case in attack::spec::cases(&spec) {
                println!("{:<24} {}", case.name, case.about);
            }
        }
        Some(FramingChoice::Builtin(f)) => print_catalogue(Some(attack::Wire::of(f, args.header))),
        None => print_catalogue(None),
    }
    Ok(())
}

fn print_catalogue(wire: Option<attack::Wire>) {
    for case in attack::catalogue() {
        if wire.is_none_or(|w| case.applies(w)) {
            println!("{:<24} {}", case.name, case.about);
        }
    }
}

/// The cases to run: the catalogue's, or a description's.
enum Cases {
    Catalogue(Vec<attack::Case>),
    Spec(Vec<SpecCase>),
}

impl Cases {
    fn has(&self, name: &str) -> bool {
        match self {
            Cases::Catalogue(c) => c.iter().any(|c| c.name == name),
            Cases::Spec(c) => c.iter().any(|c| c.name == name),
        }
    }
}

pub fn run(args: AttackArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        list(&args)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(target) = args.target else {
        bail!("--target is required");
    };
    let plan = plan(&args)?;
    let usize_of = |v: u64, what: &str| {
        usize::try_from(v).with_context(|| format!("{what} {v} does not fit this machine"))
    };
    let framing = match &plan {
        Plan::Builtin(f) => *f,
        // Not used: the session target's probe replaces the built-in one.
        Plan::Spec { .. } => Framing::Framed,
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
    config.max_cuts = args.max_cuts.max(1);
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
    let cases = match &plan {
        Plan::Builtin(_) => {
            let run_catalogue = !args.mutate || !args.cases.is_empty();
            Cases::Catalogue(if run_catalogue {
                attack::select(&config, &args.cases)?
            } else {
                Vec::new()
            })
        }
        Plan::Spec {
            spec,
            session,
            path,
        } => {
            if args.mutate {
                bail!(
                    "--mutate works with the built-in framings only; with a framing \
                     description, run the description's cases (see --list --framing {spec})"
                );
            }
            let t = SessionTarget::new(session, spec.clone())
                .with_context(|| format!("{}", path.display()))?;
            config.session = Some(t);
            Cases::Spec(attack::spec::select(spec, &args.cases)?)
        }
    };
    if cases.has("idle-connections") {
        let (_, clamped) = attack::sys::connection_budget(config.idle_connections);
        if let Some(why) = clamped {
            eprintln!("stickler: idle-connections: {why}");
        }
    }
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = rt.block_on(async {
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
        let cases = match cases {
            Cases::Catalogue(cases) => {
                attack::preflight(&config).await?;
                cases
            }
            Cases::Spec(cases) => {
                for note in attack::spec::calibrate(&mut config).await? {
                    if !quiet {
                        eprintln!("stickler: {note}");
                    }
                }
                return anyhow::Ok(attack::spec::run_cases(&config, &cases, print).await?);
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
