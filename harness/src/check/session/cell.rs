//! One cell of a session check: one connection of the session under one profile, planned
//! (for a cut profile, one played connection per cut) and measured on the engine.

use std::net::SocketAddr;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::super::engine::{measure, Player, Shaping};
use super::cut::{self, Cut};
use super::{lens, turn_index, SessionCell, SessionConfig, SessionFailure, SessionProfile};
use crate::chaos::seed::{derive, Stream};
use crate::chaos::Direction;
use crate::proxy::record::PieceSchedule;
use crate::proxy::PieceEvent;
use crate::session::{Connection, Side};

/// The turn lengths of the side a cut profile cuts: the client's as recorded, the server's as
/// `down` gives them (the reference's, or the recording's when stickler plays the server).
pub(super) fn cut_lens(dir: Direction, conv: &Connection, down: &[usize]) -> Vec<usize> {
    match dir {
        Direction::Up => lens(conv, Side::Client),
        Direction::Down => down.to_vec(),
    }
}

/// The connections one cell plays: each with its cut (cut profiles) or none.
pub(super) fn plan(
    profile: &SessionProfile,
    conv: &Connection,
    down: &[usize],
    cfg: &SessionConfig,
    rng: &mut ChaCha20Rng,
) -> Vec<Option<Cut>> {
    match profile {
        SessionProfile::Chaos(_) => vec![None; cfg.runs as usize],
        SessionProfile::Cut(dir) => {
            let lens = cut_lens(*dir, conv, down);
            let side = match dir {
                Direction::Up => Side::Client,
                Direction::Down => Side::Server,
            };
            // A server turn's bytes are the recorded ones for framing; its length the reference's.
            let messages = |t: usize| {
                let recorded = conv.turns.get(turn_index(conv, side, t));
                cfg.framing
                    .as_ref()
                    .zip(recorded)
                    .filter(|(_, r)| r.bytes.len() == lens[t])
                    .and_then(|(spec, r)| cut::framed_messages(spec, &r.bytes))
                    .unwrap_or_else(|| cut::whole_turn(lens[t]))
            };
            cut::cuts(&lens, messages, cfg.max_cuts, rng)
                .into_iter()
                .map(Some)
                .collect()
        }
    }
}

/// What one cell plays: its seed, the connections it plays (each with its cut, under a cut
/// profile), and how its proxy shapes them.
pub(crate) struct CellPlan {
    pub seed: u64,
    pub runs: Vec<Option<Cut>>,
    pub shaping: Shaping,
}

impl CellPlan {
    /// The plan of connection `c` under `profile`: the profile's toxics, or for a cut profile a
    /// schedule that cuts one message per connection.
    pub fn new(
        c: usize,
        conv: &Connection,
        down: &[usize],
        profile: &SessionProfile,
        cfg: &SessionConfig,
    ) -> std::io::Result<CellPlan> {
        let id = format!("session/{c}/{}", profile.name());
        let seed = derive(cfg.seed, Stream::Named(&id)).seed;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let runs = plan(profile, conv, down, cfg, &mut rng);
        let shaping = match profile {
            SessionProfile::Chaos(p) => Shaping::profile(p.name)?,
            SessionProfile::Cut(dir) => {
                let lens = cut_lens(*dir, conv, down);
                let mut schedule = PieceSchedule::default();
                for (i, cut) in runs.iter().enumerate() {
                    if let Some(cut) = cut {
                        schedule.set(i as u64, *dir, cut::pieces(&lens, cut, cfg.cut_gap));
                    }
                }
                Shaping::Schedule(schedule)
            }
        };
        Ok(CellPlan {
            seed,
            runs,
            shaping,
        })
    }

    /// Measures the cell with `player` against `upstream`: the session cell of connection
    /// `connection`, and every piece the proxy wrote.
    pub async fn measure<P: Player<Detail = String>>(
        self,
        upstream: SocketAddr,
        connection: usize,
        profile: &SessionProfile,
        player: &mut P,
        tick: &(dyn Fn() + Sync),
    ) -> std::io::Result<(SessionCell, Vec<PieceEvent>)> {
        let runs = self.runs.len();
        let m = measure(upstream, self.seed, self.shaping, runs, player, tick).await?;
        let side = match profile {
            SessionProfile::Cut(Direction::Up) => "client",
            _ => "server",
        };
        let failure = m.failure.map(|f| {
            let cut = self.runs.get(f.run as usize).copied().flatten();
            SessionFailure {
                run: f.run,
                turn: f.index,
                verdict: f.verdict,
                detail: match cut {
                    Some(c) => format!("{} → {}", c.describe(side), f.detail),
                    None => f.detail,
                },
                cut,
                transcript: f.transcript,
                case_file: None,
                repro_command: None,
            }
        });
        let cell = SessionCell {
            connection,
            profile: profile.name().to_string(),
            seed: self.seed,
            runs: runs as u64,
            counts: m.counts,
            elapsed_ms: m.elapsed.as_millis() as u64,
            failure,
        };
        Ok((cell, m.events))
    }
}
