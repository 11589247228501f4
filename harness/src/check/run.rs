//! Driving a server through the chaos proxy: one proxy per case, fresh connections, every
//! exchange classified from what the client observed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::codec::Framing;
use crate::peer::client::{Client, ClientConfig, ClientError, Reply};
use crate::proxy::record::PieceSchedule;
use crate::proxy::{PieceEvent, Proxy, ProxyConfig, RecordSink, ToxicSpec};
use crate::service::Service;

use super::matrix::{profile, CaseId};
use super::verdict::{classify, Counts, Observed, Verdict};
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
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            seed: 0,
            connections: 2,
            timeout: Duration::from_millis(3000),
            service: Service::Cmd,
        }
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
            r.reads.iter().map(|e| e.len).collect(),
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
                e.reads().iter().map(|r| r.len).collect(),
            )
        }
    };
    ExchangeOutcome {
        verdict: classify(expected, stream, &obs),
        request,
        expected_len: expected.len(),
        observed,
        reads,
    }
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
            }
        }
        Err(_) => outcome(&[], &[], request, result),
    }
}

/// Runs `steps` on one fresh connection to `addr`. Stops early when the connection can no
/// longer be trusted to carry anything (hang, reset, early close).
pub async fn run_connection(
    addr: SocketAddr,
    framing: Framing,
    service: Service,
    steps: &[Step],
    timeout: Duration,
) -> Vec<ExchangeOutcome> {
    let stream = expected_stream(steps, service);
    let mut out = Vec::new();
    let config = ClientConfig::new(framing).timeout(timeout);
    let mut client = match Client::connect(addr, config).await {
        Ok(c) => c,
        Err(e) => {
            out.push(outcome(b"", b"", "connect".into(), &Err(e)));
            return out;
        }
    };
    'steps: for step in steps {
        let results: Vec<ExchangeOutcome> = match step {
            Step::Lockstep(req) => {
                let r = client.exchange(req).await;
                vec![outcome(&service.reply(req), &stream, step.describe(), &r)]
            }
            Step::Upload { name, data } => {
                let r = client.upload(name, data).await;
                vec![upload_outcome(data, step.describe(), &r)]
            }
            Step::Pipelined(reqs) => {
                let sent = if framing == Framing::Framed {
                    let mut sent = Ok(());
                    for r in reqs {
                        sent = sent.and(client.send(r).await);
                    }
                    sent
                } else {
                    client.send(&reqs.concat()).await
                };
                if let Err(e) = sent {
                    vec![outcome(b"", b"", step.describe(), &Err(e))]
                } else {
                    let mut v = Vec::new();
                    for req in reqs {
                        let r = client.receive().await;
                        let o = outcome(
                            &service.reply(req),
                            &stream,
                            String::from_utf8_lossy(req).into(),
                            &r,
                        );
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

/// The toxics of a profile, parsed.
pub fn profile_toxics(name: &str) -> Result<Vec<ToxicSpec>, String> {
    let p = profile(name).ok_or_else(|| format!("unknown profile {name:?}"))?;
    p.toxics
        .iter()
        .map(|t| {
            t.parse::<ToxicSpec>()
                .map_err(|e| format!("profile {name}: {e}"))
        })
        .collect()
}

/// A measured case, with what is needed to explain and minimise its first failure.
pub struct CaseRun {
    pub result: CellResult,
    /// Everything the proxy wrote, with bytes.
    pub events: Vec<PieceEvent>,
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

/// Starts a proxy to `upstream` for `case` (or for a replayed `schedule`).
pub async fn start_proxy(
    upstream: SocketAddr,
    case: &CaseId,
    seed: u64,
    schedule: Option<PieceSchedule>,
) -> std::io::Result<(crate::proxy::ProxyHandle, RecordSink)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let record = RecordSink::memory(true);
    let mut config = ProxyConfig::new(upstream);
    // A replayed schedule carries the recorded timing itself: the profile's toxics, whose
    // random draws would differ on a fresh proxy, stay off.
    if schedule.is_none() {
        config.toxics = profile_toxics(case.profile).map_err(std::io::Error::other)?;
    }
    config.seed = seed;
    config.record = Some(record.clone());
    config.replay = schedule;
    Ok((Proxy::start(listener, config), record))
}

/// Measures one cell against the server at `upstream`.
pub async fn run_case(
    case: CaseId,
    upstream: SocketAddr,
    cfg: &RunConfig,
) -> std::io::Result<CaseRun> {
    let seed = case.seed(cfg.seed);
    let started = Instant::now();
    let steps = steps(case.workload, cfg.service, seed).ok_or_else(|| {
        std::io::Error::other(format!(
            "workload {} does not apply to service {}",
            case.workload.name(),
            cfg.service.name()
        ))
    })?;
    let (proxy, record) = start_proxy(upstream, &case, seed, None).await?;
    let mut counts = Counts::default();
    let mut failure = None;
    for conn in 0..cfg.connections {
        let outcomes = run_connection(
            proxy.local_addr(),
            case.framing,
            cfg.service,
            &steps,
            cfg.timeout,
        )
        .await;
        for (i, o) in outcomes.into_iter().enumerate() {
            counts.add(o.verdict);
            if o.verdict != Verdict::Ok && failure.is_none() {
                failure = Some((conn, i, o));
            }
        }
    }
    proxy.shutdown().await;
    let events = record.events();
    let failure = failure.map(|(conn, exchange, o)| Failure {
        connection: conn,
        exchange,
        verdict: o.verdict,
        request: o.request,
        expected_len: o.expected_len,
        observed: o.observed,
        reads: o.reads,
        transcript: transcript_lines(&events, conn, 24),
        minimised: None,
        repro: None,
        repro_command: format!("stickler check --cases '{case}' --seed {}", cfg.seed),
    });
    Ok(CaseRun {
        result: CellResult {
            case,
            seed,
            counts,
            elapsed_ms: started.elapsed().as_millis() as u64,
            failure,
        },
        events,
    })
}
