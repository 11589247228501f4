//! Minimising a failing case: replay the failing connection's recorded piece schedule, then
//! shrink it — the shortest prefix of pieces that still fails, then the fewest split points
//! within it — keeping only changes after which the same verdict comes back. The result is a
//! case file that `stickler replay FILE` re-runs.
//!
//! Every replay is [`paced`]: a schedule states where pieces end, and a receiver sees such a
//! boundary only if it reads the piece before it on its own. The gaps a split toxic leaves
//! (a few milliseconds) are shorter than a busy machine may keep a reader off the CPU; a reader
//! that comes late takes two pieces in one read and the replay tests another cut. So replays
//! stretch the gaps between scheduled pieces to [`REPLAY_MIN_GAP`]: the same boundaries, in the
//! same order, with room for the receiver to read each piece alone. Shrinking replays the same
//! way, so a case file keeps only boundaries whose failure comes back when they are paced.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::chaos::Direction;
use crate::codec::framed::HeaderKind;
use crate::codec::spec::FrameSpec;
use crate::proxy::record::{PieceSchedule, SchedPiece};
use crate::proxy::PieceEvent;
use crate::service::Service;

use super::engine::{replay, Replay};
use super::matrix::CaseId;
use super::run::{ExchangeOutcome, RunConfig, Tutorial};
use super::verdict::Verdict;

/// Version of the case file format.
pub const CASE_FORMAT: u32 = 1;

/// A replayable failing case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseFile {
    pub format: u32,
    pub case: CaseId,
    /// The run seed it came from, and the case's own seed.
    pub run_seed: u64,
    pub case_seed: u64,
    /// Connection of the case that failed first.
    pub connection: u64,
    /// The verdict the replay must bring back.
    pub verdict: Verdict,
    /// Pieces the failing connection was written in, before and after minimising.
    pub pieces_before: usize,
    pub pieces_after: usize,
    /// The piece boundaries to replay (connection 0 of a fresh proxy), with the gaps recorded; a
    /// replay paces them ([`paced`]). A direction listed with no pieces passes bytes through
    /// untouched; the profile's shaping toxics never apply in replay.
    pub schedule: PieceSchedule,
    /// The server it failed against, when not a built-in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<SocketAddr>,
    /// The description framing that server's requests and replies, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<FrameSpec>,
    /// The service that server runs.
    #[serde(default, skip_serializing_if = "is_cmd")]
    pub service: Service,
    /// The header of its `framed` requests and replies, when not `struct`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderKind>,
    /// The token its `ready` clients send, when not `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

fn is_cmd(s: &Service) -> bool {
    *s == Service::Cmd
}

/// Largest case file read (of any kind).
pub const MAX_CASE_FILE: u64 = 64 << 20;

/// The text of a case file of any kind, refused by its size before reading when over
/// [`MAX_CASE_FILE`]; errors name the file.
pub fn read_case_file(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size > MAX_CASE_FILE {
        return Err(format!(
            "{}: {size} bytes, over the {MAX_CASE_FILE}-byte limit of a case file",
            path.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

impl CaseFile {
    pub fn load(path: &Path) -> Result<CaseFile, String> {
        let text = read_case_file(path)?;
        let file: CaseFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a stickler case file: {e}", path.display()))?;
        if file.format != CASE_FORMAT {
            return Err(format!(
                "{}: case format {} (this stickler reads {CASE_FORMAT})",
                path.display(),
                file.format
            ));
        }
        Ok(file)
    }

    /// Writes the file as `DIR/<framing>_<profile>_<workload>.json` and returns its path.
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let name = format!("{}.json", self.case.to_string().replace('/', "_"));
        write_case_file(dir, &name, self)
    }

    pub fn describe(&self) -> String {
        describe_shrink(self.pieces_after, self.verdict, self.pieces_before)
    }
}

/// Writes a case file of any kind as pretty JSON, `DIR/NAME`, and returns its path.
pub fn write_case_file(dir: &Path, name: &str, case: &impl Serialize) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(case).map_err(std::io::Error::other)?;
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}

/// How far a case of any kind was shrunk, in one line.
pub fn describe_shrink(after: usize, verdict: Verdict, before: usize) -> String {
    format!("{after} piece(s) reproduce {verdict} (from {before} recorded)")
}

/// Limits on the search.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub attempts: usize,
    pub time: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            attempts: 24,
            time: Duration::from_secs(20),
        }
    }
}

/// The least pause a replay leaves between two scheduled pieces of a direction (see the module
/// documentation). Longer recorded gaps are kept.
pub const REPLAY_MIN_GAP: Duration = Duration::from_millis(50);

/// Pieces of a direction a replay paces at most: a long schedule (a large reply split into
/// thousands of pieces) keeps its recorded gaps after these rather than taking minutes. A
/// minimised schedule has far fewer.
pub const REPLAY_PACED_PIECES: usize = 64;

/// `schedule` as every replay plays it: each piece after a direction's first waits at least
/// [`REPLAY_MIN_GAP`] after the one before (up to [`REPLAY_PACED_PIECES`] pieces), and so do
/// the bytes past a schedule that short: the end of its last piece is a boundary too. Without
/// that pause a schedule shrunk to `[1]` (a request cut after its first byte) let the rest
/// follow at once, and a reader that came late read the request whole. Boundaries are
/// unchanged; a direction listed with no pieces still passes its bytes as they come.
pub fn paced(schedule: &PieceSchedule) -> PieceSchedule {
    let min = REPLAY_MIN_GAP.as_micros() as u64;
    let mut paced = schedule.clone();
    for stream in &mut paced.streams {
        for piece in stream.pieces.iter_mut().take(REPLAY_PACED_PIECES).skip(1) {
            piece.gap_us = piece.gap_us.max(min);
        }
        if !stream.pieces.is_empty() && stream.pieces.len() <= REPLAY_PACED_PIECES {
            stream.rest_gap_us = stream.rest_gap_us.max(min);
        }
    }
    paced
}

/// Replays `schedule` ([`paced`]) on one fresh connection of `case`'s workload; the first
/// verdict that is not ok, if any.
pub async fn replay_once(
    case: &CaseId,
    upstream: SocketAddr,
    cfg: &RunConfig,
    case_seed: u64,
    schedule: &PieceSchedule,
) -> std::io::Result<(Option<Verdict>, Vec<ExchangeOutcome>)> {
    let mut player = Tutorial::for_case(case, cfg, case_seed)?;
    let judged = replay(upstream, case_seed, &paced(schedule), &mut player).await?;
    Ok((judged.failed(), player.last))
}

/// The schedule of connection `conn` in `events`, renumbered as connection 0.
pub fn schedule_of(events: &[PieceEvent], conn: u64) -> PieceSchedule {
    let mine: Vec<PieceEvent> = events
        .iter()
        .filter(|e| e.conn == conn)
        .map(|e| PieceEvent {
            conn: 0,
            ..e.clone()
        })
        .collect();
    PieceSchedule::from_events(&mine)
}

/// A failure to reproduce: replays a schedule on a fresh connection and says whether the
/// failure came back.
pub trait Reproduce {
    fn fails(&mut self, schedule: &PieceSchedule)
        -> impl std::future::Future<Output = bool> + Send;
}

struct Search<R> {
    replay: R,
    budget: Budget,
    attempts: usize,
    started: Instant,
}

impl<R: Reproduce> Search<R> {
    /// `None` once the budget is spent.
    async fn fails(&mut self, s: &PieceSchedule) -> Option<bool> {
        if self.attempts >= self.budget.attempts || self.started.elapsed() >= self.budget.time {
            return None;
        }
        self.attempts += 1;
        Some(self.replay.fails(&paced(s)).await)
    }
}

/// Shrinks the schedule of connection 0 while `replay` still brings the failure back: the
/// shortest prefix of pieces per direction, then the fewest split points within it (bytes past
/// the schedule follow its last piece after a pause, see [`paced`]). Kept only when it fails on
/// three more replays; else (or when `original` does not fail at all) `original` comes back.
/// `replay` is handed every schedule [`paced`]; the schedule returned keeps the recorded gaps.
pub async fn shrink(
    original: &PieceSchedule,
    budget: Budget,
    replay: impl Reproduce,
) -> PieceSchedule {
    let mut search = Search {
        replay,
        budget,
        attempts: 0,
        started: Instant::now(),
    };
    if search.fails(original).await != Some(true) {
        return original.clone();
    }
    let mut best = original.clone();
    'dirs: for dir in Direction::BOTH {
        let Some(pieces) = best.pieces(0, dir).map(<[SchedPiece]>::to_vec) else {
            continue;
        };
        let (mut lo, mut hi) = (0, pieces.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match search
                .fails(&with_pieces(&best, dir, pieces[..mid].to_vec()))
                .await
            {
                Some(true) => hi = mid,
                Some(false) => lo = mid + 1,
                None => {
                    best = with_pieces(&best, dir, pieces[..hi].to_vec());
                    break 'dirs;
                }
            }
        }
        let mut kept = pieces[..hi].to_vec();
        let mut i = kept.len().saturating_sub(1);
        while i > 0 {
            let mut merged = kept.clone();
            let next = merged.remove(i);
            merged[i - 1].len += next.len;
            match search.fails(&with_pieces(&best, dir, merged.clone())).await {
                Some(true) => kept = merged,
                Some(false) => {}
                None => break,
            }
            i -= 1;
        }
        best = with_pieces(&best, dir, kept);
    }
    for _ in 0..3 {
        if !search.replay.fails(&paced(&best)).await {
            return original.clone();
        }
    }
    best
}

fn with_pieces(s: &PieceSchedule, dir: Direction, pieces: Vec<SchedPiece>) -> PieceSchedule {
    let mut s = s.clone();
    s.set(0, dir, pieces);
    s
}

/// Shrinks the failing connection's schedule. Returns the case file (unminimised when the
/// failure does not come back under replay at all, with `pieces_after == pieces_before`).
#[allow(clippy::too_many_arguments)]
pub async fn minimise(
    case: CaseId,
    upstream: SocketAddr,
    cfg: &RunConfig,
    case_seed: u64,
    events: &[PieceEvent],
    conn: u64,
    want: Verdict,
    budget: Budget,
) -> CaseFile {
    let original = schedule_of(events, conn);
    let before = original.piece_count();
    let best = match Tutorial::for_case(&case, cfg, case_seed) {
        Ok(mut player) => {
            let replay = Replay {
                upstream,
                seed: case_seed,
                player: &mut player,
                want,
            };
            shrink(&original, budget, replay).await
        }
        Err(_) => original.clone(),
    };
    CaseFile {
        format: CASE_FORMAT,
        case,
        run_seed: cfg.seed,
        case_seed,
        connection: conn,
        verdict: want,
        pieces_before: before,
        pieces_after: best.piece_count(),
        schedule: best,
        target: cfg.target,
        spec: cfg.spec.clone(),
        service: cfg.service,
        header: (cfg.header != HeaderKind::Struct).then_some(cfg.header),
        token: (cfg.token != crate::codec::ready::DEFAULT_TOKEN)
            .then(|| String::from_utf8_lossy(&cfg.token).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(gaps: &[u64]) -> PieceSchedule {
        let mut s = PieceSchedule::default();
        let pieces = gaps
            .iter()
            .map(|&gap_us| SchedPiece { len: 3, gap_us })
            .collect();
        s.set(0, Direction::Up, pieces);
        s.set(0, Direction::Down, Vec::new());
        s
    }

    fn gaps(s: &PieceSchedule) -> Vec<u64> {
        s.pieces(0, Direction::Up)
            .unwrap()
            .iter()
            .map(|p| p.gap_us)
            .collect()
    }

    #[test]
    fn a_replay_stretches_short_gaps_and_keeps_the_boundaries() {
        let min = REPLAY_MIN_GAP.as_micros() as u64;
        let s = schedule(&[700, 1_500, 2 * min, 0]);
        let p = paced(&s);
        // The first piece goes when its bytes are there; every later one waits at least the
        // least gap, a longer recorded one stays.
        assert_eq!(gaps(&p), [700, min, 2 * min, min]);
        assert_eq!(
            p.pieces(0, Direction::Up)
                .unwrap()
                .iter()
                .map(|p| p.len)
                .collect::<Vec<_>>(),
            [3, 3, 3, 3]
        );
        assert_eq!(p.pieces(0, Direction::Down), Some(&[][..]));
        assert_eq!(p.piece_count(), s.piece_count());
        // The bytes past the schedule wait too; a direction with no pieces passes as it came.
        assert_eq!(p.stream(0, Direction::Up).unwrap().rest_gap_us, min);
        assert_eq!(p.stream(0, Direction::Down).unwrap().rest_gap_us, 0);
        assert_eq!(s.stream(0, Direction::Up).unwrap().rest_gap_us, 0);
    }

    #[test]
    fn a_long_schedule_is_paced_only_at_its_start() {
        let s = schedule(&vec![1_000; REPLAY_PACED_PIECES + 10]);
        let g = gaps(&paced(&s));
        let min = REPLAY_MIN_GAP.as_micros() as u64;
        assert!(g[1..REPLAY_PACED_PIECES].iter().all(|&x| x == min));
        assert!(g[REPLAY_PACED_PIECES..].iter().all(|&x| x == 1_000));
        assert_eq!(paced(&s).stream(0, Direction::Up).unwrap().rest_gap_us, 0);
    }
}
