//! A failing session cell, minimised into a case file: the one connection that failed, cut
//! after the failing server turn, what the server answered on the clean run (the reference it
//! is judged against), the masks, and the proxy's piece schedule shrunk to the fewest pieces
//! that still bring the verdict back. `stickler replay FILE` plays it again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::super::engine::{replay, Judged, Replay};
use super::super::minimise::{
    describe_shrink, paced, read_case_file, schedule_of, shrink, write_case_file, Budget,
};
use super::super::verdict::Verdict;
use super::{turn_index, Reference, ServerPlayer, SessionFailure};
use crate::codec::spec::FrameSpec;
use crate::proxy::record::PieceSchedule;
use crate::proxy::PieceEvent;
use crate::session::{Connection, Mask, Session, Side};

/// Version of the session case format (the key that marks a file as one).
pub const SESSION_CASE_FORMAT: u64 = 1;

/// A replayable failing session cell, against a server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCase {
    pub stickler_session_case: u64,
    /// The server it failed against (`replay --target` points elsewhere).
    pub target: SocketAddr,
    /// The session file and connection it came from.
    pub source: String,
    pub connection: usize,
    pub profile: String,
    pub seed: u64,
    /// The verdict the replay must bring back, and what happened.
    pub verdict: Verdict,
    pub detail: String,
    /// Time a turn may go without a byte before it is a hang, in milliseconds.
    pub idle_ms: u64,
    /// Pieces the failing connection was written in, before and after minimising.
    pub pieces_before: usize,
    pub pieces_after: usize,
    /// What the client sends: the failing connection up to its failing server turn.
    pub session: serde_json::Value,
    /// What the server answered on the clean run, turn by turn (the masks inside).
    pub expected: serde_json::Value,
    /// The pieces to replay (connection 0 of a fresh proxy).
    pub schedule: PieceSchedule,
}

/// A case file loaded: the played connection and its reference.
pub struct LoadedCase {
    pub case: SessionCase,
    pub conv: Connection,
    pub reference: Reference,
    pub framing: Option<FrameSpec>,
}

impl SessionCase {
    /// Whether `text` is a session case file (rather than a built-in case file).
    pub fn is_one(text: &str) -> bool {
        #[derive(Deserialize)]
        struct Probe {
            stickler_session_case: Option<serde::de::IgnoredAny>,
        }
        serde_json::from_str::<Probe>(text).is_ok_and(|p| p.stickler_session_case.is_some())
    }

    /// Reads a case file, refusing one over 64 MiB by size before reading.
    pub fn load(path: &Path) -> Result<LoadedCase, String> {
        let text = read_case_file(path)?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a case file's text.
    pub fn parse(text: &str) -> Result<LoadedCase, String> {
        let case: SessionCase = serde_json::from_str(text)
            .map_err(|e| format!("not a stickler session case file: {e}"))?;
        if case.stickler_session_case != SESSION_CASE_FORMAT {
            return Err(format!(
                "session case format {} (this stickler reads {SESSION_CASE_FORMAT})",
                case.stickler_session_case
            ));
        }
        let session = |field: &str, v: &serde_json::Value| {
            Session::from_json(&v.to_string()).map_err(|e| format!("{field}: {e}"))
        };
        let played = session("session", &case.session)?;
        let framing = match &played.framing {
            Some(f) => Some(
                f.parse::<FrameSpec>()
                    .map_err(|e| format!("session.framing: {e}"))?,
            ),
            None => None,
        };
        let expected = session("expected", &case.expected)?;
        let (Some(conv), Some(clean)) = (
            played.connections.into_iter().next(),
            expected.connections.first(),
        ) else {
            return Err("session and expected must each hold one connection".into());
        };
        let reference = Reference {
            turns: vec![server_turns(clean)],
            masks: expected.masks,
        };
        if reference.turns[0].len() < conv.turns.iter().filter(|t| t.from == Side::Server).count() {
            return Err("expected has fewer server turns than session".into());
        }
        Ok(LoadedCase {
            case,
            conv,
            reference,
            framing,
        })
    }

    /// Writes the file as `DIR/session-<connection>_<profile>.json` and returns its path.
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let name = format!("session-{}_{}.json", self.connection, self.profile);
        write_case_file(dir, &name, self)
    }

    pub fn describe(&self) -> String {
        describe_shrink(self.pieces_after, self.verdict, self.pieces_before)
    }
}

fn server_turns(conv: &Connection) -> Vec<Vec<u8>> {
    conv.turns
        .iter()
        .filter(|t| t.from == Side::Server)
        .map(|t| t.bytes.clone())
        .collect()
}

/// `conv` up to and including its server turn `turn` (the rest cannot change that verdict).
fn up_to(conv: &Connection, turn: usize) -> Connection {
    let end = (turn_index(conv, Side::Server, turn) + 1).min(conv.turns.len());
    Connection {
        turns: conv.turns[..end].to_vec(),
        incomplete: None,
    }
}

pub(super) fn as_json(session: &Session) -> serde_json::Value {
    serde_json::from_str(&session.to_json()).unwrap_or_default()
}

/// What a failing cell is replayed against and with.
pub struct Failed<'a> {
    pub target: SocketAddr,
    pub source: &'a str,
    pub connection: usize,
    pub conv: &'a Connection,
    pub reference: &'a Reference,
    pub profile: &'a str,
    pub seed: u64,
    pub idle: std::time::Duration,
    pub framing: Option<&'a FrameSpec>,
}

/// Shrinks `failure` of the cell `failed` (whose proxy wrote `events`) into a case file.
pub async fn minimise(
    failed: &Failed<'_>,
    failure: &SessionFailure,
    events: &[PieceEvent],
    budget: Budget,
) -> SessionCase {
    let conv = up_to(failed.conv, failure.turn);
    let clean = Connection {
        turns: conv
            .turns
            .iter()
            .scan(0, |server, t| {
                Some(crate::session::Turn {
                    from: t.from,
                    bytes: match t.from {
                        Side::Client => t.bytes.clone(),
                        Side::Server => {
                            *server += 1;
                            failed.reference.turns[failed.connection][*server - 1].clone()
                        }
                    },
                })
            })
            .collect(),
        incomplete: None,
    };
    let masks: Vec<Mask> = failed
        .reference
        .masks
        .iter()
        .filter(|m| m.conn == failed.connection && m.turn < conv.turns.len())
        .map(|m| Mask {
            conn: 0,
            ..m.clone()
        })
        .collect();
    let reference = Reference {
        turns: vec![server_turns(&clean)],
        masks: masks.clone(),
    };
    let original = schedule_of(events, failure.run);
    let mut player = ServerPlayer {
        conv: &conv,
        index: 0,
        reference: &reference,
        idle: failed.idle,
        framing: failed.framing,
    };
    let best = shrink(
        &original,
        budget,
        Replay {
            upstream: failed.target,
            seed: failed.seed,
            player: &mut player,
            want: failure.verdict,
        },
    )
    .await;
    SessionCase {
        stickler_session_case: SESSION_CASE_FORMAT,
        target: failed.target,
        source: failed.source.to_string(),
        connection: failed.connection,
        profile: failed.profile.to_string(),
        seed: failed.seed,
        verdict: failure.verdict,
        detail: failure.detail.clone(),
        idle_ms: failed.idle.as_millis() as u64,
        pieces_before: original.piece_count(),
        pieces_after: best.piece_count(),
        session: as_json(&Session {
            name: Some(format!(
                "{} connection {} under {}",
                failed.source, failed.connection, failed.profile
            )),
            framing: failed.framing.map(ToString::to_string),
            connections: vec![conv.clone()],
            ..Session::default()
        }),
        expected: as_json(&Session {
            name: Some("the server's clean run".into()),
            masks,
            connections: vec![clean],
            ..Session::default()
        }),
        schedule: best,
    }
}

/// Replays a loaded case against `target`, its schedule [`paced`]: the judged run.
pub async fn replay_case(
    loaded: &LoadedCase,
    target: SocketAddr,
) -> std::io::Result<Judged<String>> {
    let mut player = ServerPlayer {
        conv: &loaded.conv,
        index: 0,
        reference: &loaded.reference,
        idle: std::time::Duration::from_millis(loaded.case.idle_ms.max(1)),
        framing: loaded.framing.as_ref(),
    };
    replay(
        target,
        loaded.case.seed,
        &paced(&loaded.case.schedule),
        &mut player,
    )
    .await
}
