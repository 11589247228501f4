//! The session probe of a description attack: the session's first exchange on a fresh
//! connection, compared with the recording under its masks; and the two clean probes that find
//! what changes by itself before the attack.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::super::probe::{show, Outcome, ProbeFail};
use super::super::{AttackConfig, AttackError};
use super::SessionTarget;
use crate::session::masks::{compare, differing_ranges, Comparison};

/// How an exchange that did not complete ended, with the bytes it got.
type Partial = (ProbeFail, Vec<u8>);

fn fail(outcome: Outcome, why: impl Into<String>) -> ProbeFail {
    ProbeFail {
        outcome,
        why: why.into(),
    }
}

/// One exchange: a fresh connection, the request, then the reply read until it is as long as
/// the expected one. The buffer is the expected reply's size (from the session), whatever the
/// target sends.
pub async fn exchange(
    addr: std::net::SocketAddr,
    t: &SessionTarget,
    timeout: Duration,
) -> Result<Vec<u8>, Partial> {
    let deadline = tokio::time::Instant::now() + timeout.max(Duration::from_millis(1));
    let want = t.expected.len();
    let mut stream = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err((fail(Outcome::Refused, format!("connect: {e}")), vec![])),
        Err(_) => {
            return Err((
                fail(
                    Outcome::Hung,
                    format!("connection not accepted within {timeout:?}"),
                ),
                vec![],
            ))
        }
    };
    let _ = stream.set_nodelay(true);
    match tokio::time::timeout_at(deadline, stream.write_all(&t.request)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err((
                fail(Outcome::Closed, format!("writing the request: {e}")),
                vec![],
            ))
        }
        Err(_) => {
            return Err((
                fail(
                    Outcome::Hung,
                    format!("the request was not taken within {timeout:?}"),
                ),
                vec![],
            ))
        }
    }
    let mut got = vec![0u8; want];
    let mut n = 0;
    while n < want {
        match tokio::time::timeout_at(deadline, stream.read(&mut got[n..])).await {
            Ok(Ok(0)) => {
                got.truncate(n);
                let why = format!(
                    "the target closed after {n} of the {want} reply bytes: {:?}",
                    show(&got)
                );
                return Err((fail(Outcome::Closed, why), got));
            }
            Ok(Ok(k)) => n += k,
            Ok(Err(e)) => {
                got.truncate(n);
                let why = format!("after {n} of the {want} reply bytes: {e}");
                return Err((fail(Outcome::Closed, why), got));
            }
            Err(_) => {
                got.truncate(n);
                let why = format!(
                    "{n} of the {want} reply bytes within {timeout:?}: {:?}",
                    show(&got)
                );
                return Err((fail(Outcome::Hung, why), got));
            }
        }
    }
    let _ = stream.shutdown().await;
    Ok(got)
}

/// One probe: the session's first exchange, whose reply must equal the recorded one outside
/// the masks. A reply that ends early or stalls is `wrong` when what came already differs.
pub async fn probe_once(
    addr: std::net::SocketAddr,
    t: &SessionTarget,
    timeout: Duration,
) -> Result<Duration, ProbeFail> {
    let start = Instant::now();
    match exchange(addr, t, timeout).await {
        Ok(got) => match compare(&t.expected, &got, &t.masks) {
            Comparison::Match => Ok(start.elapsed()),
            Comparison::Differs(d) => Err(fail(
                Outcome::Wrong,
                format!("the reply is not the recorded one: {d}"),
            )),
        },
        Err((e, got)) => {
            let head = &t.expected[..got.len().min(t.expected.len())];
            match compare(head, &got, &t.masks) {
                Comparison::Differs(d) if !got.is_empty() => Err(fail(
                    Outcome::Wrong,
                    format!("the reply is not the recorded one: {d} ({})", e.why),
                )),
                _ => Err(e),
            }
        }
    }
}

/// Exchanges until one completes or `deadline`, retrying a refused or closed connection (a
/// target still starting), not a stall.
async fn exchange_until(
    addr: std::net::SocketAddr,
    t: &SessionTarget,
    deadline: Instant,
) -> Result<Vec<u8>, ProbeFail> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match exchange(addr, t, left).await {
            Ok(got) => return Ok(got),
            Err((e, _)) if e.outcome == Outcome::Hung => return Err(e),
            Err((e, _)) if Instant::now() + Duration::from_millis(100) >= deadline => {
                return Err(e)
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The pre-check of a session target: two clean exchanges. Bytes where their replies differ
/// change by themselves (ids, clocks): they are masked from then on, and listed in the notes
/// returned. The first reply must equal the recorded one outside every mask, or the target is
/// not healthy (or not the server the session was recorded from) and nothing is attacked.
pub async fn calibrate(config: &mut AttackConfig) -> Result<Vec<String>, AttackError> {
    let addr = config.target;
    let Some(t) = config.session.as_mut() else {
        return Err(AttackError::NoSession);
    };
    let not_healthy = |why: String| AttackError::NotHealthy { addr, why };
    let first = exchange_until(addr, t, Instant::now() + config.probe_timeout)
        .await
        .map_err(|e| not_healthy(e.to_string()))?;
    let second = exchange_until(addr, t, Instant::now() + config.probe_timeout)
        .await
        .map_err(|e| not_healthy(e.to_string()))?;
    let mut notes = Vec::new();
    for r in differing_ranges(&first, &second) {
        if !t.masks.iter().any(|m| m.start <= r.start && r.end <= m.end) {
            notes.push(format!(
                "reply bytes {}..{} differ between two clean probes: not compared",
                r.start, r.end
            ));
            t.masks.push(r);
        }
    }
    if let Comparison::Differs(d) = compare(&t.expected, &first, &t.masks) {
        return Err(not_healthy(format!(
            "wrong: its reply is not the session's first server turn: {d}. If those bytes \
             change by themselves (an id, a clock), mask them in the session: {{\"conn\": 0, \
             \"turn\": 1, \"start\": S, \"end\": E}} (docs/sessions.md)"
        )));
    }
    Ok(notes)
}
