//! One cell of a session check: the proxy of one connection under one profile, and the
//! connections it will play (for a cut profile, one per cut).

use std::net::SocketAddr;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::super::run::{profile_toxics, transcript_lines};
use super::super::verdict::{Counts, Verdict};
use super::cut::{self, Cut};
use super::{lens, turn_index, SessionCell, SessionConfig, SessionFailure, SessionProfile};
use crate::chaos::seed::{derive, Stream};
use crate::chaos::Direction;
use crate::proxy::record::PieceSchedule;
use crate::proxy::{Proxy, ProxyConfig, RecordSink};
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

/// One cell's proxy and what it will play.
pub(crate) struct CellProxy {
    pub proxy: crate::proxy::ProxyHandle,
    pub record: RecordSink,
    /// The connections to play, in the proxy's connection order.
    pub runs: Vec<Option<Cut>>,
    pub seed: u64,
}

impl CellProxy {
    /// Starts the proxy of connection `c` under `profile` in front of `upstream`: the profile's
    /// toxics, or for a cut profile a replay schedule that cuts one message per connection.
    pub async fn start(
        upstream: SocketAddr,
        c: usize,
        conv: &Connection,
        down: &[usize],
        profile: &SessionProfile,
        cfg: &SessionConfig,
    ) -> std::io::Result<CellProxy> {
        let id = format!("session/{c}/{}", profile.name());
        let seed = derive(cfg.seed, Stream::Named(&id)).seed;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let runs = plan(profile, conv, down, cfg, &mut rng);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let record = RecordSink::memory(true);
        let mut config = ProxyConfig::new(upstream);
        config.seed = seed;
        config.record = Some(record.clone());
        match profile {
            SessionProfile::Chaos(p) => {
                config.toxics = profile_toxics(p.name).map_err(std::io::Error::other)?;
            }
            SessionProfile::Cut(dir) => {
                let lens = cut_lens(*dir, conv, down);
                let mut schedule = PieceSchedule::default();
                for (i, cut) in runs.iter().enumerate() {
                    if let Some(cut) = cut {
                        schedule.set(i as u64, *dir, cut::pieces(&lens, cut, cfg.cut_gap));
                    }
                }
                config.replay = Some(schedule);
            }
        }
        Ok(CellProxy {
            proxy: Proxy::start(listener, config),
            record,
            runs,
            seed,
        })
    }

    /// Stops the proxy and makes the cell of connection `connection` from what was counted.
    pub async fn finish(
        self,
        connection: usize,
        profile: &SessionProfile,
        counts: Counts,
        failure: Option<SessionFailure>,
        started: Instant,
    ) -> SessionCell {
        self.proxy.shutdown().await;
        SessionCell {
            connection,
            profile: profile.name().to_string(),
            seed: self.seed,
            runs: self.runs.len() as u64,
            counts,
            elapsed_ms: started.elapsed().as_millis() as u64,
            failure,
        }
    }

    /// Bytes the proxy has moved, both ways.
    pub fn moved(&self) -> u64 {
        Direction::BOTH.iter().map(|d| self.proxy.bytes(*d)).sum()
    }

    /// The failure of run `run`, with its cut and transcript.
    pub fn failure(
        &self,
        profile: &SessionProfile,
        run: usize,
        turn: usize,
        verdict: Verdict,
        detail: String,
    ) -> SessionFailure {
        let cut = self.runs.get(run).copied().flatten();
        let side = match profile {
            SessionProfile::Cut(Direction::Up) => "client",
            _ => "server",
        };
        SessionFailure {
            run: run as u64,
            turn,
            verdict,
            detail: match cut {
                Some(c) => format!("{} → {detail}", c.describe(side)),
                None => detail,
            },
            cut,
            transcript: transcript_lines(&self.record.events(), run as u64, 24),
        }
    }
}
