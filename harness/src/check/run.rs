//! The built-in workloads on the engine: the tutorial client of each framing drives a server
//! through the cell's proxy, and every exchange is classified from what the client observed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::framed::HeaderKind;
use crate::codec::ready::DEFAULT_TOKEN;
use crate::codec::spec::{FrameSpec, FramingChoice};
use crate::codec::Framing;
use crate::peer::client::{Client, ClientConfig, ClientError, ReadEvent, Reply};
use crate::proxy::PieceEvent;
use crate::service::Service;

use super::engine::{measure, Cell, Judged, Player, Shaping};
use super::ladder::ladder_of;
use super::matrix::CaseId;
use super::verdict::{classify, Observed, Verdict};
use super::workload::{expected_stream, steps, Step};
use super::{CellResult, Failure};

/// How cases are run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The run seed; each case derives its own ([`CaseId::seed`]).
    pub seed: u64,
    /// Connections per case (each runs the workload once).
    pub connections: u64,
    /// Time one reply may take before the exchange is a hang.
    pub timeout: Duration,
    /// Service the server runs (the built-in servers run `cmd`).
    pub service: Service,
    /// The target's requests and replies are framed by this description (its cases run the
    /// `framed` workloads with that header).
    pub spec: Option<FrameSpec>,
    /// The server checked when it is not a built-in one: repro commands name it.
    pub target: Option<SocketAddr>,
    /// Header of `framed` requests and replies (default `struct`).
    pub header: HeaderKind,
    /// Token the `ready` client sends (default `ready`).
    pub token: Bytes,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            seed: 0,
            connections: 2,
            timeout: Duration::from_millis(3000),
            service: Service::Cmd,
            spec: None,
            target: None,
            header: HeaderKind::Struct,
            token: Bytes::from_static(DEFAULT_TOKEN),
        }
    }
}

impl RunConfig {
    /// The flags a `stickler check` repro of `case` needs besides `--cases` and `--seed`: the
    /// target, its framing and service, a timeout other than the default.
    pub fn repro_flags(&self, case: &CaseId) -> String {
        let mut flags = String::new();
        if let Some(target) = self.target {
            let framing = match &self.spec {
                Some(spec) => spec.to_string(),
                None => case.framing.to_string(),
            };
            flags += &format!(" --target {target} --framing '{framing}'");
            if self.service != Service::Cmd {
                flags += &format!(" --service {}", self.service.name());
            }
            if self.header != HeaderKind::Struct {
                flags += " --header json";
            }
            if self.token != DEFAULT_TOKEN {
                let token = String::from_utf8_lossy(&self.token).into_owned();
                flags += &format!(" --token {}", shell_words::quote(&token));
            }
        }
        if self.timeout != RunConfig::default().timeout {
            flags += &format!(" --timeout {}ms", self.timeout.as_millis());
        }
        flags
    }
}

/// One classified exchange.
#[derive(Debug, Clone)]
pub struct ExchangeOutcome {
    pub verdict: Verdict,
    pub request: String,
    pub expected_len: usize,
    pub observed: String,
    pub reads: Vec<usize>,
    /// The reads again, each with its time: microseconds since the connection started.
    pub reads_at: Vec<(u64, usize)>,
    /// When the request was written, in microseconds since the connection started.
    pub sent_us: Option<u64>,
    /// Offset in the down stream of this exchange's first read (bytes the client read before).
    pub down_from: u64,
}

/// A shortened, printable view of bytes, with their count: `N bytes: "…"`.
pub fn show(bytes: &[u8]) -> String {
    format!(
        "{} bytes: \"{}\"",
        bytes.len(),
        crate::present::preview(bytes, 48)
    )
}

fn outcome(
    expected: &[u8],
    stream: &[u8],
    request: String,
    result: &Result<Reply, ClientError>,
) -> ExchangeOutcome {
    let (obs, observed, reads) = match result {
        Ok(r) => (
            Observed::Reply {
                body: &r.body,
                declared_len: r.declared_len,
            },
            show(&r.body),
            reads_at(&r.reads),
        ),
        Err(e) => {
            let obs = match e {
                ClientError::Timeout { .. } => Observed::Timeout,
                ClientError::ClosedEarly { .. } => Observed::ClosedEarly,
                ClientError::Protocol { .. } => Observed::HeaderError,
                _ => Observed::Reset,
            };
            (
                obs,
                format!("{e} (received {})", show(e.received())),
                reads_at(e.reads()),
            )
        }
    };
    ExchangeOutcome {
        verdict: classify(expected, stream, &obs),
        request,
        expected_len: expected.len(),
        observed,
        reads: reads.iter().map(|r| r.1).collect(),
        reads_at: reads,
        sent_us: None,
        down_from: 0,
    }
}

/// Reads with their times in microseconds (since the exchange started, until
/// [`run_connection`] places them on the connection's clock).
fn reads_at(reads: &[ReadEvent]) -> Vec<(u64, usize)> {
    reads
        .iter()
        .map(|r| (r.at.as_micros() as u64, r.len))
        .collect()
}

/// An upload is ok when the status says so and carries our md5.
fn upload_outcome(
    data: &[u8],
    request: String,
    result: &Result<Reply, ClientError>,
) -> ExchangeOutcome {
    let md5 = crate::codec::json::md5_hex(data);
    match result {
        Ok(r) => {
            let status: Option<serde_json::Value> = serde_json::from_slice(&r.body).ok();
            let ok = status
                .as_ref()
                .is_some_and(|s| s["ok"] == true && s["md5"] == md5.as_str());
            ExchangeOutcome {
                verdict: if ok { Verdict::Ok } else { Verdict::WrongReply },
                request,
                expected_len: data.len(),
                observed: show(&r.body),
                reads: r.reads.iter().map(|e| e.len).collect(),
                reads_at: reads_at(&r.reads),
                sent_us: None,
                down_from: 0,
            }
        }
        Err(_) => outcome(&[], &[], request, result),
    }
}

/// Runs `steps` on one fresh connection to `addr`. Stops early when the connection can no
/// longer be trusted to carry anything (hang, reset, early close).
pub async fn run_connection(
    addr: SocketAddr,
    config: ClientConfig,
    service: Service,
    steps: &[Step],
) -> Vec<ExchangeOutcome> {
    let stream = expected_stream(steps, service);
    let mut out: Vec<ExchangeOutcome> = Vec::new();
    let framing = config.framing;
    let t0 = Instant::now();
    let since = move |t: Instant| t.duration_since(t0).as_micros() as u64;
    // Places an outcome on the connection's clock: sent at `sent`, its reads timed from `from`.
    let place = |mut o: ExchangeOutcome, sent: Instant, from: Instant, down_from: u64| {
        o.sent_us = Some(since(sent));
        o.down_from = down_from;
        let base = since(from);
        o.reads_at.iter_mut().for_each(|r| r.0 += base);
        o
    };
    let mut down = 0u64;
    let mut client = match Client::connect(addr, config).await {
        Ok(c) => c,
        Err(e) => {
            out.push(outcome(b"", b"", "connect".into(), &Err(e)));
            return out;
        }
    };
    'steps: for step in steps {
        let sent = Instant::now();
        let results: Vec<ExchangeOutcome> = match step {
            Step::Lockstep(req) => {
                let r = client.exchange(req).await;
                let o = outcome(&service.reply(req), &stream, step.describe(), &r);
                vec![place(o, sent, sent, down)]
            }
            Step::Upload { name, data } => {
                let r = client.upload(name, data).await;
                vec![place(
                    upload_outcome(data, step.describe(), &r),
                    sent,
                    sent,
                    down,
                )]
            }
            Step::Pipelined(reqs) => {
                let written = if framing == Framing::Framed {
                    let mut written = Ok(());
                    for r in reqs {
                        written = written.and(client.send(r).await);
                    }
                    written
                } else {
                    client.send(&reqs.concat()).await
                };
                if let Err(e) = written {
                    vec![outcome(b"", b"", step.describe(), &Err(e))]
                } else {
                    let mut v = Vec::new();
                    let mut at = down;
                    for req in reqs {
                        let from = Instant::now();
                        let r = client.receive().await;
                        let o = outcome(
                            &service.reply(req),
                            &stream,
                            String::from_utf8_lossy(req).into(),
                            &r,
                        );
                        let o = place(o, sent, from, at);
                        at += o.reads.iter().sum::<usize>() as u64;
                        let dead = is_dead(o.verdict);
                        v.push(o);
                        if dead {
                            break;
                        }
                    }
                    v
                }
            }
        };
        for o in results {
            let dead = is_dead(o.verdict);
            down += o.reads.iter().sum::<usize>() as u64;
            out.push(o);
            if dead {
                break 'steps;
            }
        }
    }
    out
}

/// Verdicts after which the connection carries nothing more worth measuring.
fn is_dead(v: Verdict) -> bool {
    matches!(
        v,
        Verdict::Hang | Verdict::Reset | Verdict::ClosedEarly | Verdict::Crashed
    )
}

/// One line per piece the proxy wrote on connection `conn` (at most `max` lines).
pub fn transcript_lines(events: &[PieceEvent], conn: u64, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = events
        .iter()
        .filter(|e| e.conn == conn)
        .take(max)
        .map(|e| {
            let bytes = e
                .bytes()
                .map(|b| show(&b))
                .unwrap_or_else(|| format!("{} bytes", e.len));
            format!(
                "{:>9.3} ms {:<4} @{:<6} {:<9} {}",
                e.t_us as f64 / 1000.0,
                e.dir.name(),
                e.offset,
                e.toxic,
                bytes
            )
        })
        .collect();
    let total = events.iter().filter(|e| e.conn == conn).count();
    if total > max {
        lines.push(format!("… {} more pieces", total - max));
    }
    lines
}

/// A measured case, with what is needed to explain and minimise its first failure.
pub struct CaseRun {
    pub result: CellResult,
    /// Everything the proxy wrote, with bytes.
    pub events: Vec<PieceEvent>,
}

/// The tutorial client of a built-in framing, playing a workload's steps on each run and
/// naming what went wrong in each exchange.
pub struct Tutorial {
    /// The client: the framing's own, or `framed` under a description.
    pub client: ClientConfig,
    pub service: Service,
    pub steps: Vec<Step>,
    /// Every exchange of the last run, for a replay's report.
    pub last: Vec<ExchangeOutcome>,
    /// Every exchange of the first run that failed, with that run's index (for the ladder).
    pub first_failed: Option<(usize, Vec<ExchangeOutcome>)>,
}

impl Tutorial {
    /// The client of `case`'s framing running its workload (`None` where the workload does not
    /// apply to the service).
    pub fn for_case(case: &CaseId, cfg: &RunConfig, seed: u64) -> std::io::Result<Tutorial> {
        let steps = steps(case.workload, cfg.service, seed).ok_or_else(|| {
            std::io::Error::other(format!(
                "workload {} does not apply to service {}",
                case.workload.name(),
                cfg.service.name()
            ))
        })?;
        let client = match &cfg.spec {
            Some(spec) => ClientConfig::of_choice(&FramingChoice::Spec(spec.clone())),
            None => ClientConfig::new(case.framing),
        };
        Ok(Tutorial {
            client: client
                .timeout(cfg.timeout)
                .header_kind(cfg.header)
                .token(cfg.token.clone()),
            service: cfg.service,
            steps,
            last: Vec::new(),
            first_failed: None,
        })
    }
}

impl Player for Tutorial {
    type Detail = ExchangeOutcome;

    async fn play(&mut self, cell: &Cell, run: usize) -> std::io::Result<Judged<ExchangeOutcome>> {
        let outcomes =
            run_connection(cell.addr(), self.client.clone(), self.service, &self.steps).await;
        self.last = outcomes.clone();
        if self.first_failed.is_none() && outcomes.iter().any(|o| o.verdict != Verdict::Ok) {
            self.first_failed = Some((run, outcomes.clone()));
        }
        Ok(Judged::from_items(
            outcomes.into_iter().map(|o| (o.verdict, o)),
        ))
    }
}

/// Measures one cell against the server at `upstream`.
pub async fn run_case(
    case: CaseId,
    upstream: SocketAddr,
    cfg: &RunConfig,
) -> std::io::Result<CaseRun> {
    let seed = case.seed(cfg.seed);
    let mut player = Tutorial::for_case(&case, cfg, seed)?;
    let shaping = Shaping::profile(case.profile)?;
    let runs = cfg.connections as usize;
    let m = measure(upstream, seed, shaping, runs, &mut player, &|| {}).await?;
    let ladder = m.failure.as_ref().and_then(|f| {
        let (run, outcomes) = player.first_failed.as_ref()?;
        (*run as u64 == f.run).then(|| {
            ladder_of(
                &m.events,
                f.run,
                outcomes,
                f.index,
                &player.steps,
                player.service,
            )
        })
    });
    let failure = m.failure.map(|f| Failure {
        connection: f.run,
        exchange: f.index,
        verdict: f.verdict,
        request: f.detail.request,
        expected_len: f.detail.expected_len,
        observed: f.detail.observed,
        reads: f.detail.reads,
        transcript: f.transcript,
        minimised: None,
        repro: None,
        ladder,
        repro_command: format!(
            "stickler check{} --cases '{case}' --seed {}",
            cfg.repro_flags(&case),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repro_names_the_target_its_framing_and_a_changed_timeout() {
        let case: CaseId = "framed/split-up/small".parse().unwrap();
        assert_eq!(RunConfig::default().repro_flags(&case), "");
        let cfg = RunConfig {
            target: Some("127.0.0.1:9000".parse().unwrap()),
            spec: Some("length:u16be,offset=2".parse().unwrap()),
            service: Service::Echo,
            timeout: Duration::from_millis(1000),
            ..RunConfig::default()
        };
        assert_eq!(
            cfg.repro_flags(&case),
            " --target 127.0.0.1:9000 --framing 'length:u16be,offset=2' --service echo \
             --timeout 1000ms"
        );
    }
}
