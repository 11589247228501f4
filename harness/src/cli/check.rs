//! `stickler check`: the conformance matrix, against the built-in servers or a target server.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use stickler::check::drive::{run_matrix, MatrixConfig, MinimiseTo};
use stickler::check::expect::ExpectTable;
use stickler::check::external::{ClientOutput, ExternalClient};
use stickler::check::matrix::{cases, select, Workload};
use stickler::check::minimise::{Budget, CaseFile};
use stickler::check::report;
use stickler::check::run::RunConfig;
use stickler::check::MatrixReport;
use stickler::codec::framed::HeaderKind;
use stickler::codec::spec::FramingChoice;
use stickler::codec::Framing;
use stickler::peer::pool::Pool;
use stickler::service::Service;

/// The expected verdicts of the built-in servers, every cell (docs/verdicts.md#expected-tables).
pub const BUILTIN_EXPECTED: &str = include_str!("../../expected/builtin.txt");

/// Default of `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Args)]
#[command(
    after_help = "Case IDs are FRAMING/PROFILE/WORKLOAD, e.g. struct/split-up/large; \
    profiles: none, split-down, split-up, coalesce-down, coalesce-up, latency, combined; \
    workloads: small, large, pipelined, upload.\n\
    Exit status: 0 every case passed (or, with --expect, the matrix matched), 1 some case \
    failed (or did not match), 2 usage or setup error."
)]
pub struct CheckArgs {
    /// Check with a recorded (or hand-written) session instead of the built-in workloads: each
    /// connection replayed under every profile against --target (a server) or --client (a
    /// client, stickler playing the recorded server). See docs/sessions.md.
    #[arg(long, value_name = "FILE")]
    pub session: Option<PathBuf>,
    /// With --session: the profiles to play, comma-separated (default all nine: none,
    /// split-down, split-up, coalesce-down, coalesce-up, latency, combined, cut-up, cut-down).
    #[arg(long, value_name = "LIST", value_delimiter = ',', requires = "session")]
    pub profiles: Vec<String>,
    /// With --session: bytes not compared, CONN:TURN:START..END (repeatable), e.g. 0:1:2..4.
    #[arg(long, value_name = "MASK", requires = "session")]
    pub mask: Vec<String>,
    /// Test the server at ADDR instead of the built-in servers (needs --framing, one value).
    #[arg(long, value_name = "ADDR", value_parser = super::addr)]
    pub target: Option<SocketAddr>,
    /// Judge an external client: a command line (split like a shell would, never run by one)
    /// with {addr} (host:port to connect to) and {cmds} (the commands, one argument each),
    /// run against the built-in server of --framing behind the proxy (with --session: against
    /// the recorded server).
    #[arg(long, value_name = "COMMAND", conflicts_with = "target")]
    pub client: Option<String>,
    /// How the external client prints replies: raw bytes, or one `LEN MD5HEX` line each.
    #[arg(long, value_enum, default_value = "raw")]
    pub client_output: ClientOutput,
    /// Framings to test: built-in names (comma-separated or repeated; default all of them), or
    /// with --target one description the server's requests and replies follow
    /// (length:u32be, dns, lines, ...; see `stickler framings`). With --session: the
    /// session's framing, if the file has none.
    #[arg(long, value_name = "FRAMING")]
    pub framing: Vec<String>,
    /// Service the target runs (requests and expected replies follow it).
    #[arg(long, value_enum, default_value = "cmd")]
    pub service: Service,
    /// Header of the target's `framed` requests and replies (with --target).
    #[arg(long, value_enum, default_value_t = HeaderKind::Struct, requires = "target")]
    pub header: HeaderKind,
    /// Token the target's `ready` server waits for (with --target).
    #[arg(long, default_value = "ready", requires = "target")]
    pub token: String,
    /// Only cases whose ID matches a glob (repeatable), e.g. 'struct/*/large'.
    #[arg(long = "cases", value_name = "GLOB")]
    pub cases: Vec<String>,
    /// Seed for every random choice of the proxy: the same seed replays the same chaos.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fresh connections per case; each runs the workload once.
    #[arg(long, default_value_t = 2)]
    pub connections: u64,
    /// How long a reply may go without a byte before the exchange counts as a hang (e.g. 3s,
    /// 500ms).
    #[arg(long, value_name = "DURATION", value_parser = super::duration, default_value = "3s")]
    pub timeout: Duration,
    /// The same in milliseconds (the old spelling).
    #[arg(long, value_name = "MS", hide = true, conflicts_with = "timeout")]
    pub timeout_ms: Option<u64>,
    /// Cases measured at once (default 16 for built-in servers, 1 for a target).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Minimise each failing case and write a replayable case file into DIR (with --session
    /// against a server, by default into the --report directory's cases/).
    #[arg(long, value_name = "DIR")]
    pub cases_dir: Option<PathBuf>,
    /// Compare the measured pass/fail matrix with an expected table (`CASE pass|fail` lines).
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// Compare with the built-in servers' expected table (harness/expected/builtin.txt).
    #[arg(long, conflicts_with = "expect")]
    pub expect_builtin: bool,
    /// Write the measured pass/fail matrix as an expected table.
    #[arg(long, value_name = "FILE")]
    pub write_expect: Option<PathBuf>,
    /// Write the matrix as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write JUnit XML (one testsuite per framing).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write index.html and report.md (matrix, failures, repro commands, charts) into DIR.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl CheckArgs {
    /// `--timeout`, or the old `--timeout-ms`.
    pub fn timeout(&self) -> Duration {
        self.timeout_ms
            .map_or(self.timeout, |ms| Duration::from_millis(ms.max(1)))
    }
}

/// A setup error (exit 2) unless a connection to `target` opens within 3 s: every case
/// against a server that is not there would only say `reset`.
async fn reachable(target: SocketAddr) -> anyhow::Result<()> {
    let wait = Duration::from_secs(3);
    match tokio::time::timeout(wait, tokio::net::TcpStream::connect(target)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => bail!("cannot connect to the target {target}: {e}; is the server running?"),
        Err(_) => bail!("cannot connect to the target {target}: no answer within {wait:?}"),
    }
}

/// The values of `--framing`: built-in names (a value may list several, comma-separated) or
/// descriptions (whose own commas separate options).
pub fn framing_choices(values: &[String]) -> anyhow::Result<Vec<FramingChoice>> {
    let mut out = Vec::new();
    for value in values {
        let names: Option<Vec<Framing>> = value
            .split(',')
            .map(|n| Framing::ALL.into_iter().find(|f| f.name() == n.trim()))
            .collect();
        match names {
            Some(names) => out.extend(names.into_iter().map(FramingChoice::Builtin)),
            None => out.push(
                value
                    .parse::<FramingChoice>()
                    .with_context(|| format!("bad --framing {value:?}"))?,
            ),
        }
    }
    Ok(out)
}

/// Measures the matrix as `args` asks; returns it with the expected table to compare, if any.
pub async fn measure(args: &CheckArgs) -> anyhow::Result<(MatrixReport, Option<ExpectTable>)> {
    let expect = match (&args.expect, args.expect_builtin) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read expected table {}", path.display()))?;
            Some(
                ExpectTable::parse(&text)
                    .with_context(|| format!("bad expected table {}", path.display()))?,
            )
        }
        (None, true) => {
            Some(ExpectTable::parse(BUILTIN_EXPECTED).context("built-in expected table")?)
        }
        (None, false) => None,
    };
    let choices = framing_choices(&args.framing)?;
    let mut run = RunConfig {
        seed: args.seed,
        connections: args.connections.max(1),
        timeout: args.timeout(),
        service: args.service,
        spec: None,
        target: args.target,
        header: args.header,
        token: args.token.clone().into_bytes().into(),
    };
    let minimise = args.cases_dir.clone().map(|dir| MinimiseTo {
        dir,
        budget: Budget::default(),
    });
    if let Some(target) = args.target {
        let [choice] = &choices[..] else {
            bail!(
                "--target needs exactly one --framing (the framing the server at {target} speaks)"
            );
        };
        // A description is spoken as `framed` with that header.
        let framing = match choice {
            FramingChoice::Builtin(f) => *f,
            FramingChoice::Spec(spec) => {
                run.spec = Some(spec.clone());
                Framing::Framed
            }
        };
        reachable(target).await?;
        let all = select(cases(&[framing]), &args.cases).context("bad --cases glob")?;
        let all: Vec<_> = all
            .into_iter()
            .filter(|c| stickler::check::workload::steps(c.workload, args.service, 0).is_some())
            .collect();
        if all.is_empty() {
            bail!(
                "no case matches --cases {:?} for framing {framing}",
                args.cases
            );
        }
        let config = MatrixConfig {
            run,
            concurrency: args.concurrency.unwrap_or(1),
            minimise,
            progress: !args.quiet,
            subject: match choice {
                FramingChoice::Builtin(_) => {
                    format!("server at {target} ({framing}, {})", args.service.name())
                }
                FramingChoice::Spec(spec) => format!(
                    "server at {target} (framed by {spec}, {})",
                    args.service.name()
                ),
            },
            client: None,
            settle: true,
        };
        let report = run_matrix(all, |_| Some(target), &config).await?;
        return Ok((report, expect));
    }
    if args.service != Service::Cmd {
        bail!("the built-in servers run the cmd service; --service applies to --target");
    }
    let mut framings = Vec::new();
    for choice in choices {
        match choice {
            FramingChoice::Builtin(f) => framings.push(f),
            FramingChoice::Spec(spec) => bail!(
                "--framing {spec} is a description: the built-in servers speak the built-in \
                 framings only. Check a server of yours with --target ADDR --framing '{spec}' \
                 (`stickler serve --framing '{spec}'` starts one)"
            ),
        }
    }
    if framings.is_empty() {
        framings = Framing::ALL.to_vec();
    }
    let client = match &args.client {
        None => None,
        Some(command) => {
            let [framing] = framings[..] else {
                bail!("--client needs exactly one --framing (the framing the client speaks)");
            };
            if framing == Framing::Upload {
                bail!("--client supports the command framings, not upload");
            }
            Some(ExternalClient::parse(command, args.client_output).context("bad --client")?)
        }
    };
    let all = select(cases(&framings), &args.cases).context("bad --cases glob")?;
    // An external client gets its commands on its command line: lockstep workloads only.
    let all: Vec<_> = all
        .into_iter()
        .filter(|c| client.is_none() || matches!(c.workload, Workload::Small | Workload::Large))
        .collect();
    if all.is_empty() {
        bail!("no case matches --cases {:?}", args.cases);
    }
    let servers = Pool::start(&framings, Service::Cmd)
        .await
        .context("cannot start the built-in servers")?;
    let config = MatrixConfig {
        run,
        concurrency: args.concurrency.unwrap_or(16),
        minimise,
        progress: !args.quiet,
        subject: match &args.client {
            Some(c) => format!("client `{c}` ({})", framings[0]),
            None => "built-in servers".into(),
        },
        client,
        settle: false,
    };
    let report = run_matrix(all, |f| servers.addr(f), &config).await;
    // A server that stopped with an error has logged it; the report says what it did.
    let _ = servers.stop().await;
    Ok((report?, expect))
}

/// Writes every output `args` asks for, prints the table, and returns the exit code.
pub fn conclude(
    args: &CheckArgs,
    report: &MatrixReport,
    expect: Option<&ExpectTable>,
    extra: Vec<stickler::present::Section>,
) -> anyhow::Result<ExitCode> {
    println!("{}", report::table(report, std::io::stdout().is_terminal()));
    // With an expected table the failures are the point; what differs from it is listed below.
    if expect.is_none() {
        for line in report::failure_lines(report) {
            println!("{line}");
        }
    }
    let failed = report.cells.iter().filter(|c| !c.counts.passed()).count();
    println!(
        "{} cases, {} passed, {} failed, in {:.1} s (seed {})",
        report.cells.len(),
        report.cells.len() - failed,
        failed,
        report.elapsed_ms as f64 / 1000.0,
        report.seed
    );
    if let Some(path) = &args.json {
        super::write_json(path, report)?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.write_expect {
        let table = ExpectTable(report.outcomes().into_iter().collect());
        std::fs::write(path, table.render())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.report {
        // The page opens with what the expected table says and whether the matrix matches it.
        let source = args
            .expect
            .clone()
            .unwrap_or_else(|| PathBuf::from("harness/expected/builtin.txt"));
        let mut sections: Vec<_> = expect
            .map(|table| report::expectation_section(report, table, &source))
            .into_iter()
            .collect();
        sections.push(report::section(report));
        sections.extend(extra);
        stickler::present::write_dir(dir, "stickler report", &sections)
            .with_context(|| format!("cannot write the report into {}", dir.display()))?;
        println!("report written to {}", dir.join("index.html").display());
    }
    match expect {
        Some(table) => {
            let diffs = table.compare(&report.outcomes());
            if diffs.is_empty() {
                println!(
                    "the measured matrix matches the expected table ({} cases)",
                    report.cells.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                println!("the measured matrix differs from the expected table:");
                for d in &diffs {
                    println!("  {d}");
                }
                Ok(ExitCode::from(1))
            }
        }
        None if failed == 0 => Ok(ExitCode::SUCCESS),
        None => Ok(ExitCode::from(1)),
    }
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let (report, expect) = rt.block_on(measure(&args))?;
    conclude(&args, &report, expect.as_ref(), Vec::new())
}

/// Committed minimised cases of the built-in servers (`stickler check --cases-dir`).
const CASES_DIR: &str = "fixtures/cases";

/// Points each failing cell at its committed minimised case, when there is one.
fn link_committed_cases(report: &mut MatrixReport) {
    for cell in &mut report.cells {
        let Some(f) = cell.failure.as_mut() else {
            continue;
        };
        let path = PathBuf::from(CASES_DIR)
            .join(format!("{}.json", cell.case.to_string().replace('/', "_")));
        if let Ok(file) = CaseFile::load(&path) {
            f.minimised = Some(format!(
                "{} — committed as {}",
                file.describe(),
                path.display()
            ));
            f.repro = Some(path.display().to_string());
            f.repro_command = format!("stickler replay {}", path.display());
        }
    }
}

/// The main job: the built-in servers' matrix (one connection per case) compared with
/// harness/expected/builtin.txt, failing cells linked to their committed minimised repros, the
/// UDP matrix compared with harness/expected/udp.txt, the latency sweep, and the report in
/// `report/` (docs/verdicts.md#expected-tables).
pub fn main_job() -> anyhow::Result<ExitCode> {
    let args = CheckArgs {
        session: None,
        profiles: Vec::new(),
        mask: Vec::new(),
        target: None,
        client: None,
        client_output: ClientOutput::Raw,
        framing: Vec::new(),
        service: Service::Cmd,
        header: HeaderKind::Struct,
        token: "ready".into(),
        cases: Vec::new(),
        seed: 1,
        connections: 1,
        timeout: DEFAULT_TIMEOUT,
        timeout_ms: None,
        concurrency: None,
        cases_dir: None,
        expect: None,
        expect_builtin: true,
        write_expect: None,
        json: Some(PathBuf::from("report/matrix.json")),
        junit: Some(PathBuf::from("report/junit.xml")),
        report: Some(PathBuf::from("report")),
        quiet: false,
    };
    std::fs::create_dir_all("report").context("cannot create report/")?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    eprintln!("stickler: measuring the conformance matrix of the built-in servers …");
    let (mut report, expect) = rt.block_on(measure(&args))?;
    drop(rt);
    link_committed_cases(&mut report);
    eprintln!("stickler: measuring the UDP matrix …");
    let (udp, udp_diffs) = super::udp::main_job_section()?;
    eprintln!("stickler: measuring latency through a delaying proxy (the ready round trip) …");
    let latency = super::latency::main_job_section(std::path::Path::new("report"))?;
    let code = conclude(&args, &report, expect.as_ref(), vec![udp, latency])?;
    if !udp_diffs.is_empty() {
        println!("the measured UDP matrix differs from the expected table:");
        for d in &udp_diffs {
            println!("  {d}");
        }
        return Ok(ExitCode::from(1));
    }
    println!("the measured UDP matrix matches the expected table (harness/expected/udp.txt)");
    Ok(code)
}
