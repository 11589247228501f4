//! Executing one [`Script`]: fresh connections, the hostile bytes, the target's [`Reaction`]
//! watched for a bounded time, then the health probe (while hostile connections are still held,
//! where the case is about holding them), memory and liveness of `--pid`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::probe::{probe_until, show, Outcome, ProbeFail};
use super::script::{cut_points, Count, End, Script};
use super::{sys, AttackConfig, CaseResult};

/// How the target treated the hostile connection(s).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reaction {
    /// Connections opened.
    pub connections: usize,
    /// Bytes the target sent back, over all of them.
    pub replied: usize,
    /// Connections the target closed (FIN) within the watch.
    pub closed: usize,
    /// Connections the target reset.
    pub reset: usize,
    /// Connections still open, silent, at the end of the watch.
    pub silent: usize,
    /// Connections that could not be opened.
    pub refused: usize,
    /// Connections the attack itself reset (so nothing could be watched).
    pub aborted: usize,
}

impl Reaction {
    /// One line for the table: "replied 61 B, closed" or counts for many connections.
    pub fn summary(&self) -> String {
        if self.connections <= 1 && self.refused == 0 {
            let ending = if self.closed > 0 {
                "closed"
            } else if self.reset > 0 {
                "reset"
            } else if self.aborted > 0 {
                "we reset it"
            } else {
                "silent"
            };
            return match self.replied {
                0 => ending.to_owned(),
                n => format!("replied {n} B, {ending}"),
            };
        }
        let mut parts = vec![format!("{} conns", self.connections)];
        for (n, what) in [
            (self.closed, "closed"),
            (self.reset, "reset"),
            (self.silent, "silent"),
            (self.refused, "refused"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if self.replied > 0 {
            parts.push(format!("{} B back", self.replied));
        }
        parts.join(", ")
    }

    fn add(&mut self, other: &Reaction) {
        self.connections += other.connections;
        self.replied += other.replied;
        self.closed += other.closed;
        self.reset += other.reset;
        self.silent += other.silent;
        self.refused += other.refused;
        self.aborted += other.aborted;
    }
}

/// Connects within `timeout`.
async fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}

/// Aborts the connection with RST (SO_LINGER 0).
fn reset(stream: TcpStream) {
    let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

fn is_reset(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe)
}

/// Reads what the target sends until it closes or `window` ends (bytes are counted, not kept).
async fn watch(stream: &mut TcpStream, window: Duration) -> Reaction {
    let mut r = Reaction {
        connections: 1,
        ..Reaction::default()
    };
    let deadline = tokio::time::Instant::now() + window;
    let mut scratch = vec![0u8; 16 << 10];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut scratch)).await {
            Err(_) => {
                r.silent = 1;
                return r;
            }
            Ok(Ok(0)) => {
                r.closed = 1;
                return r;
            }
            Ok(Ok(n)) => r.replied += n,
            Ok(Err(_)) => {
                r.reset = 1;
                return r;
            }
        }
    }
}

/// Writes `bytes` within `window`; a write the target refuses (reset, closed) is not an error
/// of the attack: what the target did shows in the watch that follows.
async fn write(stream: &mut TcpStream, bytes: &[u8], window: Duration) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    match tokio::time::timeout(window, stream.write_all(bytes)).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) if is_reset(&e) => Some("the target reset while we wrote".into()),
        Ok(Err(e)) => Some(format!("write failed: {e}")),
        Err(_) => Some(format!(
            "the target stopped reading: write not done in {window:?}"
        )),
    }
}

/// Ends a connection as the script says, then watches it; a held connection is returned, to be
/// kept open while the target is probed.
async fn finish(
    mut stream: TcpStream,
    end: End,
    window: Duration,
) -> (Reaction, Option<TcpStream>) {
    match end {
        End::Reset => {
            reset(stream);
            let r = Reaction {
                connections: 1,
                aborted: 1,
                ..Reaction::default()
            };
            (r, None)
        }
        End::Fin => {
            let _ = stream.shutdown().await;
            (watch(&mut stream, window).await, None)
        }
        End::Hold => {
            let r = watch(&mut stream, window).await;
            (r, Some(stream))
        }
    }
}

/// What executing a script gave: the reaction, the probe's verdict, notes.
struct Executed {
    reaction: Reaction,
    probe: Result<Duration, ProbeFail>,
    notes: Vec<String>,
    /// Peak resident memory of `--pid` seen while connections were held.
    peak_rss: Option<u64>,
}

fn sample(pid: Option<u32>) -> Option<u64> {
    pid.and_then(sys::rss_bytes)
}

/// Runs one case and classifies how the target came through.
pub async fn run_case(
    config: &AttackConfig,
    name: &str,
    about: &str,
    script: &Script,
) -> CaseResult {
    let start = Instant::now();
    let before = sample(config.pid);
    let ex = execute(config, script).await;
    let after = sample(config.pid);
    let peak = [ex.peak_rss, after].into_iter().flatten().max();
    let rss_growth = before.zip(peak).map(|(b, p)| p as i64 - b as i64);
    let mut notes = ex.notes;
    let mut outcome = match &ex.probe {
        Ok(d) => {
            notes.insert(0, format!("probe answered in {} ms", d.as_millis()));
            Outcome::Survived
        }
        Err(e) => {
            notes.insert(0, format!("probe: {}", e.why));
            e.outcome
        }
    };
    if let Some(pid) = config.pid {
        if !sys::alive(pid) {
            outcome = Outcome::Died;
            notes.insert(0, format!("process {pid} is gone"));
        } else if rss_growth.is_some_and(|g| g > config.max_growth as i64) {
            notes.insert(
                0,
                format!(
                    "memory grew by {} MiB (limit {} MiB)",
                    rss_growth.unwrap_or_default() >> 20,
                    config.max_growth >> 20
                ),
            );
            if outcome == Outcome::Survived {
                outcome = Outcome::Memory;
            }
        }
    }
    CaseResult {
        name: name.to_owned(),
        about: about.to_owned(),
        outcome,
        reaction: ex.reaction,
        detail: notes.join("; "),
        rss_growth,
        elapsed_ms: start.elapsed().as_millis() as u64,
    }
}

async fn execute(config: &AttackConfig, script: &Script) -> Executed {
    let window = config.observe;
    let probe_deadline = || Instant::now() + config.probe_timeout;
    let mut notes = Vec::new();
    let one = |reaction| Reaction {
        refused: 1,
        ..reaction
    };
    match script {
        Script::Send { parts, gap, end } => {
            let mut stream = match connect(config.target, window.max(config.probe_timeout)).await {
                Ok(s) => s,
                Err(e) => return refused(config, one(Reaction::default()), e).await,
            };
            for (i, part) in parts.iter().enumerate() {
                if i > 0 && !gap.is_zero() {
                    tokio::time::sleep(*gap).await;
                }
                if let Some(n) = write(&mut stream, part, window).await {
                    notes.push(n);
                    break;
                }
            }
            let (reaction, held) = finish(stream, *end, window).await;
            let probe = probe_until(config, probe_deadline()).await;
            let probe = release_and_reprobe(config, held, probe, &mut notes).await;
            Executed {
                reaction,
                probe,
                notes,
                peak_rss: None,
            }
        }
        Script::Ready {
            command,
            token,
            end,
        } => {
            let mut stream = match connect(config.target, config.probe_timeout).await {
                Ok(s) => s,
                Err(e) => return refused(config, one(Reaction::default()), e).await,
            };
            if let Some(n) = write(&mut stream, command, window).await {
                notes.push(n);
            }
            let mut digits = vec![0u8; 64];
            match tokio::time::timeout(window, stream.read(&mut digits)).await {
                Ok(Ok(n)) => notes.push(format!("digits {:?}", show(&digits[..n]))),
                Ok(Err(e)) => notes.push(format!("no digits: {e}")),
                Err(_) => notes.push(format!("no digits within {window:?}")),
            }
            if let Some(token) = token {
                if let Some(n) = write(&mut stream, token, window).await {
                    notes.push(n);
                }
            }
            let (reaction, held) = finish(stream, *end, window).await;
            let probe = probe_until(config, probe_deadline()).await;
            let probe = release_and_reprobe(config, held, probe, &mut notes).await;
            Executed {
                reaction,
                probe,
                notes,
                peak_rss: None,
            }
        }
        Script::Trickle { bytes } => trickle(config, bytes).await,
        Script::EveryCut { bytes } => every_cut(config, bytes).await,
        Script::Many {
            count,
            bytes,
            probe_while_held,
        } => {
            let want = match count {
                Count::Idle => config.idle_connections,
                Count::Flood => config.flood_connections,
            };
            many(config, want, bytes, *probe_while_held).await
        }
    }
}

/// Closes what a case held, then probes again: the close itself (often a reset, when the
/// target's replies were left unread) must not break the target either. The first failure
/// counts.
async fn release_and_reprobe(
    config: &AttackConfig,
    held: Option<TcpStream>,
    probe: Result<Duration, ProbeFail>,
    notes: &mut Vec<String>,
) -> Result<Duration, ProbeFail> {
    let Some(held) = held else {
        return probe;
    };
    drop(held);
    let after = probe_until(config, Instant::now() + config.probe_timeout).await;
    match (probe, after) {
        (Ok(d), Ok(_)) => Ok(d),
        (Err(e), Ok(_)) => Err(e),
        (Ok(_), Err(e)) => {
            notes.push(format!(
                "probe after closing the held connection: {}",
                e.why
            ));
            Err(e)
        }
        (Err(e), Err(after)) => {
            notes.push(format!(
                "probe after closing the held connection: {}",
                after.why
            ));
            Err(e)
        }
    }
}

/// The hostile connection itself could not be opened: the probe says whether the target is
/// down or was only refusing that one.
async fn refused(config: &AttackConfig, reaction: Reaction, e: std::io::Error) -> Executed {
    Executed {
        reaction,
        probe: probe_until(config, Instant::now() + config.probe_timeout).await,
        notes: vec![format!("could not connect: {e}")],
        peak_rss: None,
    }
}

/// Slowloris: one byte per interval on one connection, while the probe runs.
async fn trickle(config: &AttackConfig, bytes: &[u8]) -> Executed {
    let mut stream = match connect(config.target, config.probe_timeout).await {
        Ok(s) => s,
        Err(e) => {
            let r = Reaction {
                refused: 1,
                ..Reaction::default()
            };
            return refused(config, r, e).await;
        }
    };
    let interval = config.slow_interval;
    let bytes = bytes.to_vec();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let mut sent = 0usize;
        let mut stop = rx;
        for b in bytes {
            if stream.write_all(&[b]).await.is_err() {
                return (sent, true, stream);
            }
            sent += 1;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = &mut stop => break,
            }
        }
        (sent, false, stream)
    });
    // Let the first bytes reach the target, so it is in the middle of a request.
    tokio::time::sleep(interval.min(config.observe)).await;
    let probe = probe_until(config, Instant::now() + config.probe_timeout).await;
    let _ = tx.send(());
    let mut notes = Vec::new();
    let mut reaction = Reaction {
        connections: 1,
        ..Reaction::default()
    };
    let held = match writer.await {
        Ok((sent, cut, stream)) => {
            notes.push(format!("{sent} bytes trickled at 1 per {interval:?}"));
            if cut {
                reaction.reset = 1;
                notes.push("the target cut the slow connection".into());
            } else {
                reaction.silent = 1;
            }
            Some(stream)
        }
        Err(e) => {
            notes.push(format!("trickle task failed: {e}"));
            None
        }
    };
    let probe = release_and_reprobe(config, held, probe, &mut notes).await;
    Executed {
        reaction,
        probe,
        notes,
        peak_rss: None,
    }
}

/// Every cut of the valid request, each on its own connection, all watched at once.
async fn every_cut(config: &AttackConfig, bytes: &[u8]) -> Executed {
    let points = cut_points(bytes.len(), config.max_cuts);
    let mut set = JoinSet::new();
    for &p in &points {
        let prefix = bytes[..p].to_vec();
        let (addr, window, connect_timeout) = (config.target, config.observe, config.probe_timeout);
        set.spawn(async move {
            let mut stream = match connect(addr, connect_timeout).await {
                Ok(s) => s,
                Err(_) => {
                    return Reaction {
                        refused: 1,
                        ..Reaction::default()
                    }
                }
            };
            let _ = write(&mut stream, &prefix, window).await;
            finish(stream, End::Fin, window).await.0
        });
    }
    let mut reaction = Reaction::default();
    while let Some(r) = set.join_next().await {
        if let Ok(r) = r {
            reaction.add(&r);
        }
    }
    Executed {
        reaction,
        probe: probe_until(config, Instant::now() + config.probe_timeout).await,
        notes: vec![format!(
            "{} cut points of {} bytes",
            points.len(),
            bytes.len()
        )],
        peak_rss: None,
    }
}

/// Writes `bytes` on every stream at once, for at most `window` in all: a target that stops
/// reading some of them (their writes would block) holds up neither the others nor the case.
/// A stream the target closed or reset is left alone: the watch that follows sees it.
async fn write_all_at_once(streams: &[TcpStream], bytes: &[u8], window: Duration) {
    let deadline = tokio::time::Instant::now() + window;
    let mut sent = vec![0usize; streams.len()];
    loop {
        let mut blocked = false;
        for (s, sent) in streams.iter().zip(&mut sent) {
            while *sent < bytes.len() {
                match s.try_write(&bytes[*sent..]) {
                    Ok(n) if n > 0 => *sent += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        blocked = true;
                        break;
                    }
                    Ok(_) | Err(_) => *sent = bytes.len(),
                }
            }
        }
        if !blocked || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Many connections at once, each writing `bytes`, held; probed while held if asked, and
/// always once they are gone.
async fn many(config: &AttackConfig, want: usize, bytes: &[u8], probe_held: bool) -> Executed {
    let (count, clamp) = sys::connection_budget(want);
    let mut notes: Vec<String> = clamp.into_iter().collect();
    let mut streams = Vec::with_capacity(count);
    let mut reaction = Reaction::default();
    let mut failures_in_row = 0;
    // Past a full accept queue a SYN is retried after 1 s: allow for one retry.
    let connect_timeout = Duration::from_secs(2);
    for _ in 0..count {
        match connect(config.target, connect_timeout).await {
            Ok(s) => {
                failures_in_row = 0;
                streams.push(s);
            }
            Err(e) => {
                reaction.refused += 1;
                failures_in_row += 1;
                if failures_in_row >= 8 {
                    notes.push(format!(
                        "stopped opening after {} connections: {e}",
                        streams.len()
                    ));
                    break;
                }
            }
        }
    }
    reaction.connections = streams.len() + reaction.refused;
    if !bytes.is_empty() {
        write_all_at_once(&streams, bytes, config.observe).await;
    }
    // Give the target its watch to react, then see what it did to each connection.
    tokio::time::sleep(config.observe).await;
    let mut scratch = vec![0u8; 4096];
    for s in &mut streams {
        loop {
            match s.try_read(&mut scratch) {
                Ok(0) => reaction.closed += 1,
                Ok(n) => {
                    reaction.replied += n;
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => reaction.silent += 1,
                Err(_) => reaction.reset += 1,
            }
            break;
        }
    }
    let peak_rss = sample(config.pid);
    let held = if probe_held {
        Some(probe_until(config, Instant::now() + config.probe_timeout).await)
    } else {
        None
    };
    drop(streams);
    let after = probe_until(config, Instant::now() + config.probe_timeout).await;
    let probe = match held {
        Some(Err(e)) => {
            notes.push(format!("probe while held: {}", e.why));
            Err(e)
        }
        Some(Ok(d)) => {
            notes.push(format!("probe while held: {} ms", d.as_millis()));
            after
        }
        None => after,
    };
    Executed {
        reaction,
        probe,
        notes,
        peak_rss,
    }
}
