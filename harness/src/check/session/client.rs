//! Checking a client from a session: stickler plays the recorded server. It accepts the client's
//! connections (the `k`-th of a run plays the session's connection `k`), reads each client turn
//! until it has the recorded number of bytes, then sends the recorded server turn — through the
//! chaos proxy. The client must exit as on its clean runs, print the same, and send the same
//! bytes (outside what differs between two clean runs).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::super::engine::{Cell, Judged, Player};
use super::super::external::{run_process, ClientRun, ExternalClient};
use super::super::verdict::Verdict;
use super::cell::CellPlan;
use super::client_case::{self, FailedClient};
use super::play::{self, Played, Want};
use super::{
    difference, lens, turn_index, widen_to_tokens, SessionConfig, SessionReport, SetupError,
};
use crate::session::masks::{derive_masks, differing_ranges, ranges_for};
use crate::session::{Connection, Mask, Side, Turn};

/// The recorded server, answering every connection it accepts with the next conversation.
pub(super) struct RecordedServer {
    pub(super) addr: SocketAddr,
    /// What each accepted connection of the current run received from the client.
    played: Arc<Mutex<Vec<Played>>>,
    /// Connections still being played.
    busy: Arc<std::sync::atomic::AtomicUsize>,
    stop: CancellationToken,
}

impl RecordedServer {
    pub(super) async fn start(
        session: Arc<Vec<Connection>>,
        idle: Duration,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let played: Arc<Mutex<Vec<Played>>> = Arc::default();
        let stop = CancellationToken::new();
        let busy: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let (p, s, b) = (played.clone(), stop.clone(), busy.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = s.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((mut stream, _)) = accepted else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let slot = {
                    let mut v = p.lock().expect("lock");
                    v.push(Played::default());
                    v.len() - 1
                };
                let Some(conv) = session.get(slot).cloned() else {
                    continue; // more connections than the session has: closed at once
                };
                let (p, s, b) = (p.clone(), s.clone(), b.clone());
                b.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let lens = lens(&conv, Side::Client);
                    let want = |i: usize| Want::Exactly(lens.get(i).copied().unwrap_or(0));
                    tokio::select! {
                        _ = s.cancelled() => {}
                        got = play::play(&mut stream, &conv, Side::Server, want, idle, None) => {
                            p.lock().expect("lock")[slot] = got;
                        }
                    }
                    b.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Ok(RecordedServer {
            addr,
            played,
            busy,
            stop,
        })
    }

    /// What the last run's connections received (once each finished, or `idle` passed), and a
    /// fresh start for the next run.
    async fn take(&self, idle: Duration) -> Vec<Played> {
        let started = Instant::now();
        while self.busy.load(Ordering::SeqCst) > 0 && started.elapsed() < idle {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        std::mem::take(&mut *self.played.lock().expect("lock"))
    }
}

impl Drop for RecordedServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What a client did on its clean runs, and what may differ between them.
pub(super) struct ClientReference {
    stdout: Vec<u8>,
    stdout_masks: Vec<std::ops::Range<usize>>,
    success: bool,
    /// Per connection, per client turn: the bytes sent.
    sent: Vec<Vec<Vec<u8>>>,
    /// What differs between the clean runs' bytes, and the masks given.
    masks: Vec<Mask>,
}

fn unstable(what: String, a: usize, b: usize) -> SetupError {
    SetupError::Client(format!(
        "{what}: {a} bytes on one clean run and {b} on another; only bytes that change in place \
         can be masked"
    ))
}

async fn run_client(
    client: &ExternalClient,
    addr: SocketAddr,
    idle: Duration,
    moved: impl Fn() -> u64,
) -> Result<ClientRun, SetupError> {
    let argv = client.argv(addr, &[]);
    run_process(&argv, idle, moved)
        .await
        .map_err(|e| SetupError::Client(e.to_string()))
}

pub(super) async fn reference(
    client: &ExternalClient,
    server: &RecordedServer,
    session: &[Connection],
    given: &[Mask],
    cfg: &SessionConfig,
) -> Result<ClientReference, SetupError> {
    // Through a proxy without toxics, so that the time limit counts bytes moving, as it does
    // under chaos.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let proxy = crate::proxy::Proxy::start(listener, crate::proxy::ProxyConfig::new(server.addr));
    let moved = || {
        crate::chaos::Direction::BOTH
            .iter()
            .map(|d| proxy.bytes(*d))
            .sum()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = run_client(client, proxy.local_addr(), cfg.idle, moved).await?;
        let played = server.take(cfg.idle).await;
        match run.status {
            None => {
                return Err(SetupError::Client(format!(
                    "the client did not finish its clean run: nothing moved for {:?}",
                    cfg.idle
                )))
            }
            Some(_) if played.is_empty() => {
                return Err(SetupError::Client(format!(
                    "the client never connected to {} on its clean run ({}; stderr: {})",
                    server.addr,
                    run.status.map(|s| s.to_string()).unwrap_or_default(),
                    run.stderr_tail
                )))
            }
            _ => {}
        }
        for (c, (p, conv)) in played.iter().zip(session).enumerate() {
            let want = lens(conv, Side::Client);
            if let Some((t, _)) = p.stop {
                return Err(SetupError::Client(format!(
                    "on its clean run the client sent {} bytes in turn {t} of connection {c}, \
                     where the session has {}: is it the client the session was recorded with?",
                    p.got.get(t).map_or(0, Vec::len),
                    want.get(t).copied().unwrap_or(0)
                )));
            }
        }
        runs.push((run, played));
    }
    proxy.shutdown().await;
    let (b, bp) = runs.pop().expect("two runs");
    let (a, ap) = runs.pop().expect("two runs");
    if a.stdout.len() != b.stdout.len() {
        return Err(unstable(
            "the client's output".into(),
            a.stdout.len(),
            b.stdout.len(),
        ));
    }
    // The bytes the client sent, as connections, to find what differs between the two runs.
    let as_sent = |played: &[Played]| -> Vec<Connection> {
        played
            .iter()
            .zip(session)
            .map(|(p, conv)| {
                let mut got = p.got.iter();
                Connection {
                    turns: conv
                        .turns
                        .iter()
                        .map(|t| Turn {
                            from: t.from,
                            bytes: match t.from {
                                Side::Server => t.bytes.clone(),
                                Side::Client => got.next().cloned().unwrap_or_default(),
                            },
                        })
                        .collect(),
                    incomplete: None,
                }
            })
            .collect()
    };
    let first = as_sent(&ap);
    let mut masks = derive_masks(&first, &as_sent(&bp))
        .map_err(|e| SetupError::Client(format!("the client does not repeat itself: {e}")))?;
    widen_to_tokens(&mut masks, &first);
    masks.extend(given.iter().cloned());
    Ok(ClientReference {
        success: a.status.is_some_and(|s| s.success()),
        stdout_masks: differing_ranges(&a.stdout, &b.stdout),
        stdout: a.stdout,
        sent: ap.into_iter().map(|p| p.got).collect(),
        masks,
    })
}

/// The verdict on one run of the client, and what went wrong.
fn judge(
    run: &ClientRun,
    played: &[Played],
    session: &[Connection],
    r: &ClientReference,
) -> (Verdict, String) {
    let Some(status) = run.status else {
        return (
            Verdict::Hang,
            "killed: nothing moved through the proxy for the timeout".into(),
        );
    };
    if status.success() != r.success {
        let last = run.stderr_tail.lines().rev().find(|l| !l.trim().is_empty());
        return (
            Verdict::Crashed,
            format!("{status}; stderr: {}", last.unwrap_or("(nothing)").trim()),
        );
    }
    if let Some(d) = difference(&r.stdout, &run.stdout, &r.stdout_masks, false) {
        return (Verdict::Differs, format!("output: {d}"));
    }
    for (c, sent) in r.sent.iter().enumerate() {
        let got = played.get(c).map_or(&[][..], |p| &p.got[..]);
        for (t, want) in sent.iter().enumerate() {
            let g = got.get(t).map_or(&[][..], Vec::as_slice);
            let m = ranges_for(&r.masks, c, turn_index(&session[c], Side::Client, t));
            if let Some(d) = difference(want, g, &m, false) {
                return (
                    Verdict::Differs,
                    format!("connection {c}, client turn {t}: {d}"),
                );
            }
        }
    }
    (Verdict::Ok, String::new())
}

/// The client under test as the player: run once per played connection, its connections
/// answered by the recorded server through the cell's proxy.
pub(super) struct ClientPlayer<'a> {
    pub client: &'a ExternalClient,
    pub server: &'a RecordedServer,
    pub session: &'a [Connection],
    pub reference: &'a ClientReference,
    pub idle: Duration,
}

impl Player for ClientPlayer<'_> {
    type Detail = String;

    async fn play(&mut self, cell: &Cell, _run: usize) -> std::io::Result<Judged<String>> {
        let out = run_client(self.client, cell.addr(), self.idle, || cell.moved())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let played = self.server.take(self.idle).await;
        let (verdict, detail) = judge(&out, &played, self.session, self.reference);
        Ok(Judged::from_items([(verdict, detail)]))
    }
}

/// Checks `client` with `session`: two clean runs against the recorded server, then one run
/// per connection planned by every profile (the client's connections go through the proxy).
pub async fn check_client(
    client: &ExternalClient,
    session: &[Connection],
    masks: &[Mask],
    cfg: &SessionConfig,
) -> Result<SessionReport, SetupError> {
    let started = Instant::now();
    if session.is_empty() {
        return Err(SetupError::Empty);
    }
    let shared = Arc::new(session.to_vec());
    // The client's own time limit (nothing moving through the proxy) is what finds a hang; the
    // recorded server waits longer, so that it never gives up first.
    let server = RecordedServer::start(shared, cfg.idle * 20).await?;
    let reference = reference(client, &server, session, masks, cfg).await?;
    // Cuts and chaos apply to the first connection of each run; later ones pass through the
    // same proxy under the same toxics.
    let conv = &session[0];
    let down = lens(conv, Side::Server);
    let mut cells = Vec::new();
    let bar = crate::present::progress_bar(cfg.profiles.len() as u64, cfg.progress, "profiles");
    let mut player = ClientPlayer {
        client,
        server: &server,
        session,
        reference: &reference,
        idle: cfg.idle,
    };
    for profile in &cfg.profiles {
        let plan = CellPlan::new(0, conv, &down, profile, cfg)?;
        let (mut cell, events) = plan
            .measure(server.addr, 0, profile, &mut player, &|| {})
            .await?;
        if let Some(f) = cell.failure.as_mut() {
            let subject = shell_words::join(["--client", &shell_words::join(&client.words)]);
            f.repro_command = Some(super::repro_check(cfg, &subject, profile));
            if let Some(to) = &cfg.minimise {
                let failed = FailedClient {
                    client,
                    server: &server,
                    session,
                    masks,
                    reference: &reference,
                    cfg,
                    profile: profile.name(),
                    seed: cell.seed,
                };
                let file = client_case::minimise(&failed, f, &events, to.budget).await;
                let path = file.save(&to.dir)?;
                f.repro_command = Some(shell_words::join([
                    "stickler",
                    "replay",
                    &path.display().to_string(),
                ]));
                f.case_file = Some(path.display().to_string());
            }
        }
        cells.push(cell);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut masks: Vec<String> = reference
        .stdout_masks
        .iter()
        .map(|r| {
            format!(
                "output bytes {}..{}: differ between two clean runs",
                r.start, r.end
            )
        })
        .collect();
    masks.extend(reference.masks.iter().map(Mask::to_string));
    Ok(SessionReport {
        subject: format!("client `{}`", shell_words::join(&client.words)),
        seed: cfg.seed,
        masks,
        elapsed_ms: started.elapsed().as_millis() as u64,
        cells,
    })
}
