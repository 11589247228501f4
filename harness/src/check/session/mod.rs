//! Checking anyone's protocol from a recorded session, judged by segmentation invariance: a
//! correct program's output does not depend on how its input was cut, merged or delayed.
//!
//! Against a server: two clean runs (no proxy) make the reference and find the bytes that change
//! by themselves (timestamps, ids), which are masked; then every connection of the session is
//! played through the chaos proxy under every profile, and each server turn must equal the
//! reference outside the masks.
//!
//! - [`play`]: one connection played on a socket, each turn read until complete.
//! - [`client`]: the same for a client, with stickler playing the recorded server.
//! - [`cut`]: the `cut-up`/`cut-down` profiles, every message cut once per connection.
//! - [`case`]: a failing cell minimised into a case file that `stickler replay` plays again.

pub mod api;
pub mod case;
mod cell;
pub mod client;
pub mod client_case;
pub mod cut;
pub mod play;
pub mod report;

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use super::engine::{Cell, Judged, Player};
use crate::proxy::PieceEvent;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::chaos::Direction;
use crate::codec::spec::{FrameSpec, SpecCodec};

use super::matrix::{profile, Profile, PROFILES};
use super::verdict::{classify, Counts, Observed, Verdict};
use crate::session::masks::{derive_masks, ranges_for};
use crate::session::{compare, Comparison, Connection, Difference, Mask, Side, Turn};
use cell::{plan, CellPlan};
use cut::Cut;
use play::{Played, Stop, Want};

/// The lengths of `side`'s turns in `conn`, in order.
pub fn lens(conn: &Connection, side: Side) -> Vec<usize> {
    conn.turns
        .iter()
        .filter(|t| t.from == side)
        .map(|t| t.bytes.len())
        .collect()
}

/// The index in `conn.turns` of `side`'s `i`-th turn.
pub(crate) fn turn_index(conn: &Connection, side: Side, i: usize) -> usize {
    conn.turns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.from == side)
        .nth(i)
        .map_or(conn.turns.len(), |(k, _)| k)
}

/// The first unmasked difference of `got` from `want`; when `partial` (the turn stopped), only
/// within what arrived.
pub(crate) fn difference(
    want: &[u8],
    got: &[u8],
    masks: &[Range<usize>],
    partial: bool,
) -> Option<Difference> {
    let want = if partial {
        &want[..got.len().min(want.len())]
    } else {
        want
    };
    match compare(want, got, masks) {
        Comparison::Match => None,
        Comparison::Differs(d) => Some(d),
    }
}

/// A chaos profile a session is played under: the matrix's seven, and the two cut profiles.
#[derive(Debug, Clone, Copy)]
pub enum SessionProfile {
    Chaos(&'static Profile),
    /// Every message of one direction cut once, each cut on its own connection.
    Cut(Direction),
}

/// Every profile's name, in report order.
pub const PROFILE_NAMES: [&str; 9] = [
    "none",
    "split-down",
    "split-up",
    "coalesce-down",
    "coalesce-up",
    "latency",
    "combined",
    "cut-up",
    "cut-down",
];

impl SessionProfile {
    pub fn parse(name: &str) -> Result<SessionProfile, String> {
        match name {
            "cut-up" => Ok(SessionProfile::Cut(Direction::Up)),
            "cut-down" => Ok(SessionProfile::Cut(Direction::Down)),
            _ => profile(name).map(SessionProfile::Chaos).ok_or_else(|| {
                format!(
                    "unknown profile {name:?} (known: {})",
                    PROFILE_NAMES.join(", ")
                )
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            SessionProfile::Chaos(p) => p.name,
            SessionProfile::Cut(Direction::Up) => "cut-up",
            SessionProfile::Cut(Direction::Down) => "cut-down",
        }
    }

    pub fn about(&self) -> &'static str {
        match self {
            SessionProfile::Chaos(p) => p.about,
            SessionProfile::Cut(Direction::Up) => {
                "every client message cut once, at each point in turn, 10 ms between the parts"
            }
            SessionProfile::Cut(Direction::Down) => {
                "every server message cut once, at each point in turn, 10 ms between the parts"
            }
        }
    }

    /// All nine.
    pub fn all() -> Vec<SessionProfile> {
        PROFILE_NAMES
            .iter()
            .map(|n| SessionProfile::parse(n).expect("known profile"))
            .collect()
    }
}

const _: () = assert!(PROFILES.len() + 2 == PROFILE_NAMES.len());

/// How a session is checked.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Seed of every random choice (chaos, which cut points).
    pub seed: u64,
    /// Connections per session connection under each random profile.
    pub runs: u64,
    /// Time a turn may go without a byte before it is a hang.
    pub idle: Duration,
    /// Quiet time that ends a turn on a clean reference run.
    pub quiet: Duration,
    /// Pause between the two parts of a cut.
    pub cut_gap: Duration,
    /// Cut points per message at most.
    pub max_cuts: usize,
    pub profiles: Vec<SessionProfile>,
    /// Show a progress bar.
    pub progress: bool,
    /// How the session's messages are framed, when known: each message of a turn is then cut
    /// on its own, at every byte of its header.
    pub framing: Option<FrameSpec>,
    /// Where failing cells are minimised into case files (server checks), if anywhere.
    pub minimise: Option<super::drive::MinimiseTo>,
    /// How the check was asked for, to print a repro command with every flag: the session
    /// file, and the flags beside `--session`/`--target`/`--client`/`--profiles`/`--seed`.
    pub source: String,
    pub flags: Vec<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            seed: 1,
            runs: 2,
            idle: Duration::from_secs(3),
            quiet: Duration::from_millis(300),
            cut_gap: Duration::from_millis(10),
            max_cuts: cut::MAX_CUTS,
            profiles: SessionProfile::all(),
            progress: false,
            framing: None,
            minimise: None,
            source: "SESSION".into(),
            flags: Vec::new(),
        }
    }
}

/// The first failing turn of a cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionFailure {
    /// Which played connection of the cell (the proxy's connection index).
    pub run: u64,
    /// Index of the turn among the judged side's turns.
    pub turn: usize,
    pub verdict: Verdict,
    /// What happened, readably.
    pub detail: String,
    /// The cut that made it, under a cut profile.
    pub cut: Option<Cut>,
    /// The proxy's pieces on that connection.
    pub transcript: Vec<String>,
    /// The minimised case file written for it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_file: Option<String>,
    /// The command that replays it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repro_command: Option<String>,
}

/// One cell: a connection of the session under one profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionCell {
    pub connection: usize,
    pub profile: String,
    /// The cell's seed (its chaos and its cut points).
    pub seed: u64,
    /// Connections played.
    pub runs: u64,
    /// Verdicts of the judged turns.
    pub counts: Counts,
    pub elapsed_ms: u64,
    pub failure: Option<SessionFailure>,
}

/// A checked session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionReport {
    /// What was tested, e.g. "server at 127.0.0.1:6379".
    pub subject: String,
    pub seed: u64,
    /// Masks found by the clean runs, one line each.
    pub masks: Vec<String>,
    pub elapsed_ms: u64,
    pub cells: Vec<SessionCell>,
}

impl SessionReport {
    pub fn passed(&self) -> bool {
        self.cells.iter().all(|c| c.counts.passed())
    }
}

/// Why a session could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the session has no connection with a server turn to check")]
    Empty,
    #[error("cannot reach the target {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "the target did not answer the clean run: connection {connection}, server turn {turn}: \
         {what} — is it the server the session was recorded with, and is it up?"
    )]
    NoAnswer {
        connection: usize,
        turn: usize,
        what: &'static str,
    },
    #[error("the target does not repeat itself on two clean runs: {0}")]
    Unstable(crate::session::masks::Unmaskable),
    #[error("{0}")]
    Client(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn stop_name(s: Stop) -> &'static str {
    match s {
        Stop::Hang => "nothing arrived within the timeout",
        Stop::Reset => "the connection was reset",
        Stop::ClosedEarly => "the server closed the connection",
    }
}

fn stop_verdict(s: Stop) -> Verdict {
    match s {
        Stop::Hang => Verdict::Hang,
        Stop::Reset => Verdict::Reset,
        Stop::ClosedEarly => Verdict::ClosedEarly,
    }
}

/// What a server answered on the clean runs, and what is masked.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Per connection, per server turn.
    pub turns: Vec<Vec<Vec<u8>>>,
    /// The masks found by the clean runs, and those given (session file, `--mask`); turn
    /// indices count every turn of the connection.
    pub masks: Vec<Mask>,
}

/// One clean run of `conv` straight to `addr`, as the connection it was: the client's turns as
/// sent, the server's as they came.
async fn clean_run(
    addr: SocketAddr,
    c: usize,
    conv: &Connection,
    cfg: &SessionConfig,
) -> Result<Connection, SetupError> {
    let mut stream = play::connect(addr, cfg.idle)
        .await
        .map_err(|source| SetupError::Connect { addr, source })?;
    let hints = lens(conv, Side::Server);
    let played = play::play(
        &mut stream,
        conv,
        Side::Client,
        |i| Want::Settle {
            hint: hints.get(i).copied().unwrap_or(0),
            quiet: cfg.quiet,
        },
        cfg.idle,
        None,
    )
    .await;
    if let Some((turn, stop)) = played.stop {
        return Err(SetupError::NoAnswer {
            connection: c,
            turn,
            what: stop_name(stop),
        });
    }
    let mut got = played.got.into_iter();
    let turns = conv
        .turns
        .iter()
        .map(|t| Turn {
            from: t.from,
            bytes: match t.from {
                Side::Client => t.bytes.clone(),
                Side::Server => got.next().unwrap_or_default(),
            },
        })
        .collect();
    Ok(Connection {
        turns,
        incomplete: None,
    })
}

/// Two clean runs of every connection straight to `addr`: the reference, with the masks that
/// cover what differs between them added to `given`.
pub async fn reference(
    addr: SocketAddr,
    session: &[Connection],
    given: &[Mask],
    cfg: &SessionConfig,
) -> Result<Reference, SetupError> {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (c, conv) in session.iter().enumerate() {
        first.push(clean_run(addr, c, conv, cfg).await?);
        second.push(clean_run(addr, c, conv, cfg).await?);
    }
    let mut masks = derive_masks(&first, &second).map_err(SetupError::Unstable)?;
    widen_to_tokens(&mut masks, &first);
    masks.extend(given.iter().cloned());
    let turns = first
        .iter()
        .map(|c| {
            c.turns
                .iter()
                .filter(|t| t.from == Side::Server)
                .map(|t| t.bytes.clone())
                .collect()
        })
        .collect();
    Ok(Reference { turns, masks })
}

/// Widens each mask found by two clean runs to the whole word or number it falls in (`426` vs
/// `427` differ in one byte, but the next run may say `430`): the run of ASCII letters and
/// digits around it in `reference`.
pub(crate) fn widen_to_tokens(masks: &mut [Mask], reference: &[Connection]) {
    for m in masks.iter_mut() {
        let Some(bytes) = reference
            .get(m.conn)
            .and_then(|c| c.turns.get(m.turn))
            .map(|t| &t.bytes[..])
        else {
            continue;
        };
        let word = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
        if !(m.start..m.end).all(word) {
            continue;
        }
        while m.start > 0 && word(m.start - 1) {
            m.start -= 1;
        }
        while word(m.end) {
            m.end += 1;
        }
    }
}

/// The verdicts of one played connection's server turns against the reference; the first
/// failing one with its detail.
fn judge(
    played: &Played,
    conv: &Connection,
    c: usize,
    reference: &Reference,
    framing: Option<&FrameSpec>,
) -> (Vec<Verdict>, Option<(usize, Verdict, String)>) {
    let expected = &reference.turns[c];
    let stream = expected.concat();
    let mut verdicts = Vec::new();
    let mut first = None;
    for (i, got) in played.got.iter().enumerate() {
        let want = &expected[i];
        let m = ranges_for(&reference.masks, c, turn_index(conv, Side::Server, i));
        let stopped = played.stop.filter(|(t, _)| *t == i).map(|(_, s)| s);
        let (verdict, detail) = match (difference(want, got, &m, stopped.is_some()), stopped) {
            (Some(d), _) => (
                framing.map_or(Verdict::Differs, |spec| {
                    message_verdict(spec, want, got, d.offset, &stream)
                }),
                format!("server turn {i}: {d}"),
            ),
            (None, Some(s)) => (
                stop_verdict(s),
                format!(
                    "server turn {i}: {} after {} of {} bytes",
                    stop_name(s),
                    got.len(),
                    want.len()
                ),
            ),
            (None, None) => (Verdict::Ok, String::new()),
        };
        if verdict != Verdict::Ok && first.is_none() {
            first = Some((i, verdict, detail));
        }
        verdicts.push(verdict);
    }
    (verdicts, first)
}

/// A recorded connection played as the client against a server, each server turn judged
/// against the reference.
pub struct ServerPlayer<'a> {
    pub conv: &'a Connection,
    /// Which connection of the reference it is judged against.
    pub index: usize,
    pub reference: &'a Reference,
    pub idle: Duration,
    /// How the messages are framed, when known: a differing turn is then named at the
    /// message level.
    pub framing: Option<&'a FrameSpec>,
}

impl Player for ServerPlayer<'_> {
    type Detail = String;

    async fn play(&mut self, cell: &Cell, _run: usize) -> std::io::Result<Judged<String>> {
        let down: Vec<usize> = self.reference.turns[self.index]
            .iter()
            .map(Vec::len)
            .collect();
        let moved = || cell.moved();
        let played = match play::connect(cell.addr(), self.idle).await {
            Ok(mut stream) => {
                play::play(
                    &mut stream,
                    self.conv,
                    Side::Client,
                    |i| Want::Exactly(down.get(i).copied().unwrap_or(0)),
                    self.idle,
                    Some(&moved),
                )
                .await
            }
            Err(_) => Played {
                got: vec![Vec::new()],
                stop: Some((0, Stop::Reset)),
            },
        };
        let (verdicts, first) = judge(&played, self.conv, self.index, self.reference, self.framing);
        Ok(Judged { verdicts, first })
    }
}

/// With a framing known, names a differing server turn by what happened to its messages: the
/// message of `got` holding the first difference (at `offset`) against the one expected there,
/// as the built-in matrix names a reply — `merged`, `short`, `misread-header`, `wrong-reply`.
/// `stream` is every expected server turn of the connection, to recognise another reply's
/// bytes; `differs` where the messages cannot be told apart.
pub fn message_verdict(
    spec: &FrameSpec,
    want: &[u8],
    got: &[u8],
    offset: usize,
    stream: &[u8],
) -> Verdict {
    let frames = |bytes: &[u8]| {
        let d = crate::codec::decode_chunks(&mut SpecCodec::new(spec.clone()), [bytes]);
        let mut at = 0;
        let items: Vec<(usize, Vec<u8>)> = d
            .items
            .into_iter()
            .map(|m| {
                let start = at;
                at += m.len();
                (start, m.to_vec())
            })
            .collect();
        // A turn ending inside a message is a short one; any other error a misread header.
        let misread = d
            .error
            .is_some_and(|e| !matches!(e, crate::codec::CodecError::Truncated { .. }));
        (items, at, misread)
    };
    let (wanted, _, _) = frames(want);
    let (gots, decoded_to, error) = frames(got);
    let Some(i) = gots.iter().position(|(start, m)| offset < start + m.len()) else {
        // The difference lies past every whole message of what arrived.
        return if error {
            Verdict::MisreadHeader
        } else if decoded_to < got.len() || got.len() < want.len() {
            Verdict::Short
        } else {
            Verdict::Merged
        };
    };
    let body = &gots[i].1;
    match wanted.get(i) {
        Some((_, expected)) => classify(
            expected,
            stream,
            &Observed::Reply {
                body,
                declared_len: None,
            },
        ),
        // More messages than the clean run had: another reply arrived with this turn.
        None => Verdict::Merged,
    }
}

/// Plays one cell: connection `c` of the session under `profile`, through a fresh proxy.
async fn run_cell(
    addr: SocketAddr,
    c: usize,
    conv: &Connection,
    reference: &Reference,
    profile: &SessionProfile,
    cfg: &SessionConfig,
    tick: &(dyn Fn() + Sync),
) -> Result<(SessionCell, Vec<PieceEvent>), SetupError> {
    let down: Vec<usize> = reference.turns[c].iter().map(Vec::len).collect();
    let plan = CellPlan::new(c, conv, &down, profile, cfg)?;
    let mut player = ServerPlayer {
        conv,
        index: c,
        reference,
        idle: cfg.idle,
        framing: cfg.framing.as_ref(),
    };
    Ok(plan.measure(addr, c, profile, &mut player, tick).await?)
}

/// Connections a whole check plays, for a progress bar.
fn planned(session: &[Connection], reference: &Reference, cfg: &SessionConfig) -> u64 {
    let mut n = 0;
    for (c, conv) in session.iter().enumerate() {
        for p in &cfg.profiles {
            let mut rng = ChaCha20Rng::seed_from_u64(0);
            let down: Vec<usize> = reference.turns[c].iter().map(Vec::len).collect();
            n += plan(p, conv, &down, cfg, &mut rng).len() as u64;
        }
    }
    n
}

/// The command that re-runs one profile of a check, with every flag it was given.
pub(crate) fn repro_check(cfg: &SessionConfig, subject: &str, profile: &SessionProfile) -> String {
    let mut words = vec![
        "stickler".to_string(),
        "check".into(),
        "--session".into(),
        cfg.source.clone(),
    ];
    words.extend(shell_words::split(subject).unwrap_or_default());
    words.extend([
        "--profiles".into(),
        profile.name().into(),
        "--seed".into(),
        cfg.seed.to_string(),
        "--connections".into(),
        cfg.runs.to_string(),
    ]);
    words.extend(cfg.flags.iter().cloned());
    shell_words::join(words)
}

/// Checks the server at `addr` with `session`: the reference runs, then every connection
/// under every profile of `cfg`.
pub async fn check_server(
    addr: SocketAddr,
    session: &[Connection],
    masks: &[Mask],
    cfg: &SessionConfig,
) -> Result<SessionReport, SetupError> {
    let started = Instant::now();
    let session: Vec<Connection> = session
        .iter()
        .filter(|c| c.turns.iter().any(|t| t.from == Side::Server))
        .cloned()
        .collect();
    if session.is_empty() {
        return Err(SetupError::Empty);
    }
    let reference = reference(addr, &session, masks, cfg).await?;
    let bar = crate::present::progress_bar(
        planned(&session, &reference, cfg),
        cfg.progress,
        "connections",
    );
    let mut cells = Vec::new();
    for (c, conv) in session.iter().enumerate() {
        for p in &cfg.profiles {
            let (mut cell, events) =
                run_cell(addr, c, conv, &reference, p, cfg, &|| bar.inc(1)).await?;
            if let Some(f) = cell.failure.as_mut() {
                let subject = format!("--target {addr}");
                f.repro_command = Some(repro_check(cfg, &subject, p));
                if let Some(to) = &cfg.minimise {
                    let failed = case::Failed {
                        target: addr,
                        source: &cfg.source,
                        connection: c,
                        conv,
                        reference: &reference,
                        profile: p.name(),
                        seed: cell.seed,
                        idle: cfg.idle,
                        framing: cfg.framing.as_ref(),
                    };
                    let file = case::minimise(&failed, f, &events, to.budget).await;
                    let path = file.save(&to.dir)?;
                    f.detail = format!("{} ({})", f.detail, file.describe());
                    f.repro_command = Some(format!(
                        "stickler replay {} --target {addr}",
                        shell_words::quote(&path.display().to_string())
                    ));
                    f.case_file = Some(path.display().to_string());
                }
            }
            cells.push(cell);
        }
    }
    bar.finish_and_clear();
    Ok(SessionReport {
        subject: format!("server at {addr}"),
        seed: cfg.seed,
        masks: reference.masks.iter().map(Mask::to_string).collect(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        cells,
    })
}
