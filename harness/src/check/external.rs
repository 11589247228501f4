//! An external client as the subject: the harness runs its own server behind the proxy, runs
//! the client command once per connection with `{addr}` and `{cmds}` filled in (never through a
//! shell), and compares what the client printed with the replies it should have received.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::codec::json::md5_hex;

use super::engine::{measure, Cell, Judged, Player, Shaping};
use super::matrix::CaseId;
use super::run::{show, CaseRun, RunConfig};
use super::verdict::Verdict;
use super::workload::{steps, Step};
use super::{CellResult, Failure};

/// How the client prints each reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientOutput {
    /// The reply bytes, back to back.
    Raw,
    /// One `LEN MD5HEX` line per reply.
    Digest,
}

/// The client command: words as a shell would split them, with `{addr}` and `{cmds}`.
#[derive(Debug, Clone)]
pub struct ExternalClient {
    pub words: Vec<String>,
    pub output: ClientOutput,
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("cannot split the client command: {0}")]
    Split(String),
    #[error("the client command is empty")]
    Empty,
    #[error("the client command has no {{addr}}: it could not be pointed at the proxy")]
    NoAddr,
}

impl ExternalClient {
    pub fn parse(command: &str, output: ClientOutput) -> Result<ExternalClient, ExternalError> {
        let words = shell_words::split(command).map_err(|e| ExternalError::Split(e.to_string()))?;
        if words.is_empty() {
            return Err(ExternalError::Empty);
        }
        if !words.iter().any(|w| w.contains("{addr}")) {
            return Err(ExternalError::NoAddr);
        }
        Ok(ExternalClient { words, output })
    }

    /// The argument vector for one run: `{addr}` replaced inside words, a word `{cmds}`
    /// replaced by one argument per command.
    pub fn argv(&self, addr: SocketAddr, cmds: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for w in &self.words {
            if w == "{cmds}" {
                out.extend(cmds.iter().cloned());
            } else {
                out.push(w.replace("{addr}", &addr.to_string()));
            }
        }
        out
    }
}

/// How long a client process may take to move its first byte before it counts as hung.
const STARTUP_GRACE: Duration = Duration::from_secs(15);

/// What a client process did.
pub(crate) struct ClientRun {
    pub stdout: Vec<u8>,
    pub stderr_tail: String,
    /// `None` when it was killed at the time limit.
    pub status: Option<std::process::ExitStatus>,
}

/// Runs the client until it exits, or until `idle` passes with no byte moving through the
/// proxy (`moved` counts them): a slow exchange is no hang.
pub(crate) async fn run_process(
    argv: &[String],
    idle: Duration,
    moved: impl Fn() -> u64,
) -> std::io::Result<ClientRun> {
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot run {:?}: {e}", argv[0])))?;
    // Output is read to the end (bounded by the time limit); 16 MiB is far above any workload.
    let mut stdout = child.stdout.take().expect("piped stdout").take(16 << 20);
    let mut stderr = child.stderr.take().expect("piped stderr").take(1 << 20);
    let mut out = Vec::new();
    let mut err = Vec::new();
    let io = async {
        let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        a.and(b)
    };
    let mut finished = Box::pin(async {
        io.await?;
        child.wait().await
    });
    let mut last = (moved(), Instant::now());
    let first = last.0;
    let status = loop {
        tokio::select! {
            status = &mut finished => break Some(status?),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                let now = moved();
                // Until its first byte moves, a client may still be starting up (an
                // interpreter importing its libraries on a loaded machine): no hang yet.
                let limit = if now == first { idle.max(STARTUP_GRACE) } else { idle };
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() >= limit {
                    break None;
                }
            }
        }
    };
    drop(finished);
    if status.is_none() {
        let _ = child.kill().await;
    }
    let tail = String::from_utf8_lossy(&err[err.len().saturating_sub(400)..])
        .trim()
        .to_string();
    Ok(ClientRun {
        stdout: out,
        stderr_tail: tail,
        status,
    })
}

/// One verdict per expected reply, from the client's output.
fn judge(expected: &[Vec<u8>], run: &ClientRun, output: ClientOutput) -> Vec<(Verdict, String)> {
    let ended = match run.status {
        None => Verdict::Hang,
        Some(s) if !s.success() => Verdict::Crashed,
        Some(_) => Verdict::ClosedEarly,
    };
    let ending = match run.status {
        None => "killed: nothing moved through the proxy for the timeout".to_string(),
        Some(s) => format!("{s}; stderr: {}", run.stderr_tail),
    };
    let mut out = Vec::new();
    match output {
        ClientOutput::Digest => {
            let text = String::from_utf8_lossy(&run.stdout);
            let mut lines = text.lines();
            for e in expected {
                let want = format!("{} {}", e.len(), md5_hex(e));
                let Some(line) = lines.next() else {
                    out.push((ended, format!("no line ({ending})")));
                    break;
                };
                // A digest cannot tell a cut reply from another one: any mismatch is wrong output.
                let v = if line.trim() == want {
                    Verdict::Ok
                } else {
                    Verdict::WrongReply
                };
                out.push((v, format!("printed {line:?}, expected {want:?}")));
            }
        }
        ClientOutput::Raw => {
            let mut rest = &run.stdout[..];
            for e in expected {
                if rest.starts_with(e) {
                    rest = &rest[e.len()..];
                    out.push((Verdict::Ok, show(e)));
                } else if rest.is_empty() {
                    out.push((ended, format!("nothing more printed ({ending})")));
                    break;
                } else {
                    out.push((Verdict::WrongReply, format!("printed {}", show(rest))));
                    rest = &[];
                }
            }
        }
    }
    if run.status.is_none_or(|s| !s.success()) && out.iter().all(|(v, _)| *v == Verdict::Ok) {
        out.push((ended, ending));
    }
    out
}

/// An external client command as the player: run once per connection, judged by what it
/// printed against the replies it should have received.
pub struct Command<'a> {
    pub client: &'a ExternalClient,
    /// The commands, one argument each, and the reply each must print.
    pub words: Vec<String>,
    pub expected: Vec<Vec<u8>>,
    /// Time without a byte moving through the proxy before the client counts as hung.
    pub idle: Duration,
}

/// What explains an external client's failing reply.
#[derive(Debug, Clone)]
pub struct Printed {
    pub request: String,
    pub expected_len: usize,
    pub observed: String,
}

impl Player for Command<'_> {
    type Detail = Printed;

    async fn play(&mut self, cell: &Cell, _run: usize) -> std::io::Result<Judged<Printed>> {
        let argv = self.client.argv(cell.addr(), &self.words);
        let run = run_process(&argv, self.idle, || cell.moved()).await?;
        let items = judge(&self.expected, &run, self.client.output);
        Ok(Judged::from_items(items.into_iter().enumerate().map(
            |(i, (v, observed))| {
                let printed = Printed {
                    request: self.words.get(i).cloned().unwrap_or_default(),
                    expected_len: self.expected.get(i).map_or(0, Vec::len),
                    observed,
                };
                (v, printed)
            },
        )))
    }
}

/// Measures one cell with the external client against our server at `upstream`.
pub async fn run_client_case(
    case: CaseId,
    upstream: SocketAddr,
    client: &ExternalClient,
    cfg: &RunConfig,
) -> std::io::Result<CaseRun> {
    let seed = case.seed(cfg.seed);
    let cmds: Vec<Vec<u8>> = match steps(case.workload, cfg.service, seed) {
        Some(steps) if steps.iter().all(|s| matches!(s, Step::Lockstep(_))) => steps
            .into_iter()
            .filter_map(|s| match s {
                Step::Lockstep(r) => Some(r),
                _ => None,
            })
            .collect(),
        _ => {
            return Err(std::io::Error::other(format!(
                "workload {} cannot be given to an external client",
                case.workload.name()
            )))
        }
    };
    let mut player = Command {
        client,
        words: cmds
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect(),
        expected: cmds.iter().map(|c| cfg.service.reply(c)).collect(),
        idle: cfg.timeout,
    };
    let shaping = Shaping::profile(case.profile)?;
    let runs = cfg.connections as usize;
    let m = measure(upstream, seed, shaping, runs, &mut player, &|| {}).await?;
    let failure = m.failure.map(|f| Failure {
        connection: f.run,
        exchange: f.index,
        verdict: f.verdict,
        request: f.detail.request,
        expected_len: f.detail.expected_len,
        observed: f.detail.observed,
        reads: Vec::new(),
        transcript: f.transcript,
        minimised: None,
        repro: None,
        ladder: None,
        repro_command: format!(
            "stickler check --framing {} --client {:?} --cases '{case}' --seed {}",
            case.framing,
            shell_words::join(&client.words),
            cfg.seed
        ),
    });
    Ok(CaseRun {
        result: CellResult {
            case,
            seed,
            counts: m.counts,
            elapsed_ms: m.elapsed.as_millis() as u64,
            failure,
        },
        events: m.events,
    })
}
