//! A failing client cell, minimised into a case file: the client command, the session the
//! recorded server plays, and the proxy's piece schedule of the failing run shrunk to the fewest
//! pieces that still bring the verdict back. `stickler replay FILE` runs the client again: two
//! clean runs for its reference (what it prints and sends), then the schedule.
//!
//! A run of the client opens the session's connections in order, so the failing run `r` of a
//! session of `n` connections went through the proxy's connections `r·n … r·n+n−1`; those are
//! the schedule, renumbered from 0.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::super::engine::{replay, Judged, Replay};
use super::super::external::{ClientOutput, ExternalClient};
use super::super::minimise::{
    describe_shrink, paced, read_case_file, shrink, write_case_file, Budget,
};
use super::super::verdict::Verdict;
use super::client::{reference, ClientPlayer, ClientReference, RecordedServer};
use super::{SessionConfig, SessionFailure, SetupError};
use crate::proxy::record::PieceSchedule;
use crate::proxy::PieceEvent;
use crate::session::{Connection, Mask, Session};

/// Version of the client case format (the key that marks a file as one).
pub const CLIENT_CASE_FORMAT: u64 = 1;

/// A replayable failing client cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCase {
    pub stickler_client_case: u64,
    /// The client command, as words (`{addr}` where the proxy's address goes).
    pub client: Vec<String>,
    /// The session file it came from, and the profile and seed of the cell.
    pub source: String,
    pub profile: String,
    pub seed: u64,
    /// The verdict the replay must bring back, and what happened.
    pub verdict: Verdict,
    pub detail: String,
    /// Time without a byte moving before the client counts as hung, in milliseconds.
    pub idle_ms: u64,
    /// Pieces the failing run was written in, before and after minimising.
    pub pieces_before: usize,
    pub pieces_after: usize,
    /// What the recorded server plays, with the masks the check used.
    pub session: serde_json::Value,
    /// The pieces to replay (connections from 0 of a fresh proxy).
    pub schedule: PieceSchedule,
}

impl ClientCase {
    /// Whether `text` is a client case file.
    pub fn is_one(text: &str) -> bool {
        #[derive(Deserialize)]
        struct Probe {
            stickler_client_case: Option<serde::de::IgnoredAny>,
        }
        serde_json::from_str::<Probe>(text).is_ok_and(|p| p.stickler_client_case.is_some())
    }

    /// Reads a case file ([`read_case_file`]); returns it with its session.
    pub fn load(path: &Path) -> Result<(ClientCase, Session), String> {
        let text = read_case_file(path)?;
        let case: ClientCase = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a client case file: {e}", path.display()))?;
        if case.stickler_client_case != CLIENT_CASE_FORMAT {
            return Err(format!(
                "{}: client case format {} (this stickler reads {CLIENT_CASE_FORMAT})",
                path.display(),
                case.stickler_client_case
            ));
        }
        let session = Session::from_json(&case.session.to_string())
            .map_err(|e| format!("{}: session: {e}", path.display()))?;
        if case.client.is_empty() {
            return Err(format!("{}: the client command is empty", path.display()));
        }
        Ok((case, session))
    }

    /// Writes the file as `DIR/client_<profile>.json` and returns its path.
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        write_case_file(dir, &format!("client_{}.json", self.profile), self)
    }

    pub fn describe(&self) -> String {
        describe_shrink(self.pieces_after, self.verdict, self.pieces_before)
    }
}

/// The pieces of run `run` of a client opening `conns` connections a run, renumbered from 0.
fn run_schedule(events: &[PieceEvent], run: u64, conns: u64) -> PieceSchedule {
    let first = run * conns;
    let mine: Vec<PieceEvent> = events
        .iter()
        .filter(|e| (first..first + conns).contains(&e.conn))
        .map(|e| PieceEvent {
            conn: e.conn - first,
            ..e.clone()
        })
        .collect();
    PieceSchedule::from_events(&mine)
}

/// What minimising a failing client cell needs from the check.
pub(super) struct FailedClient<'a> {
    pub client: &'a ExternalClient,
    pub server: &'a RecordedServer,
    pub session: &'a [Connection],
    pub masks: &'a [Mask],
    pub reference: &'a ClientReference,
    pub cfg: &'a SessionConfig,
    pub profile: &'a str,
    pub seed: u64,
}

/// Shrinks `failure` (whose proxy wrote `events`) into a case file.
pub(super) async fn minimise(
    failed: &FailedClient<'_>,
    failure: &SessionFailure,
    events: &[PieceEvent],
    budget: Budget,
) -> ClientCase {
    let original = run_schedule(events, failure.run, failed.session.len() as u64);
    let mut player = ClientPlayer {
        client: failed.client,
        server: failed.server,
        session: failed.session,
        reference: failed.reference,
        idle: failed.cfg.idle,
    };
    let best = shrink(
        &original,
        budget,
        Replay {
            upstream: failed.server.addr,
            seed: failed.seed,
            player: &mut player,
            want: failure.verdict,
        },
    )
    .await;
    let session = Session {
        name: Some(format!("{} under {}", failed.cfg.source, failed.profile)),
        framing: failed.cfg.framing.as_ref().map(ToString::to_string),
        masks: failed.masks.to_vec(),
        connections: failed.session.to_vec(),
        ..Session::default()
    };
    ClientCase {
        stickler_client_case: CLIENT_CASE_FORMAT,
        client: failed.client.words.clone(),
        source: failed.cfg.source.clone(),
        profile: failed.profile.to_string(),
        seed: failed.seed,
        verdict: failure.verdict,
        detail: failure.detail.clone(),
        idle_ms: failed.cfg.idle.as_millis() as u64,
        pieces_before: original.piece_count(),
        pieces_after: best.piece_count(),
        session: super::case::as_json(&session),
        schedule: best,
    }
}

/// Replays a loaded client case: the recorded server, the client's two clean runs, then the
/// schedule, [`paced`]; the judged run.
pub async fn replay_client_case(
    case: &ClientCase,
    session: &Session,
) -> Result<Judged<String>, SetupError> {
    let idle = Duration::from_millis(case.idle_ms.max(1));
    let cfg = SessionConfig {
        idle,
        seed: case.seed,
        ..SessionConfig::default()
    };
    let client = ExternalClient {
        words: case.client.clone(),
        output: ClientOutput::Raw,
    };
    let server = RecordedServer::start(Arc::new(session.connections.clone()), idle * 20).await?;
    let reference = reference(&client, &server, &session.connections, &session.masks, &cfg).await?;
    let mut player = ClientPlayer {
        client: &client,
        server: &server,
        session: &session.connections,
        reference: &reference,
        idle,
    };
    Ok(replay(server.addr, case.seed, &paced(&case.schedule), &mut player).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::Direction;

    fn event(conn: u64, offset: u64, len: usize) -> PieceEvent {
        PieceEvent {
            conn,
            dir: Direction::Down,
            offset,
            len,
            t_us: 0,
            gap_us: 0,
            toxic: "none".into(),
            data: None,
        }
    }

    #[test]
    fn a_run_takes_its_own_connections_renumbered_from_zero() {
        let events: Vec<PieceEvent> = (0..6).map(|c| event(c, 0, c as usize + 1)).collect();
        let s = run_schedule(&events, 1, 2);
        let conns: Vec<(u64, usize)> = s
            .streams
            .iter()
            .map(|st| (st.conn, st.pieces[0].len))
            .collect();
        assert_eq!(conns, [(0, 3), (1, 4)]);
    }
}
