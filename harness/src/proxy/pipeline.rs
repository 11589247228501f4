//! One direction of one connection: the toxics in order ([`Pipeline`]) and the loop that reads,
//! runs bytes through them, and writes each resulting piece as one write at its time (`pump`).
//!
//! A direction with no toxic, no recording and no replay takes the fast path instead
//! ([`super::fastpath`]). When the toxic list changes, what the old toxics hold is released and
//! the pipeline is rebuilt in place: nothing waits on a lock or a channel that a toxic owns, so a
//! change never stalls the stream.
//!
//! What a direction holds is bounded twice: by its own cap ([`QUEUE_CAP`] unless the proxy sets
//! [`ProxyConfig::queue_cap`](super::ProxyConfig::queue_cap)), and in the proxy by the
//! proxy-wide budget ([`ProxyConfig::max_queued`](super::ProxyConfig::max_queued)): a read is
//! reserved in the budget before it is made, and a direction that finds the budget spent stops
//! reading (while still writing what it holds, which frees room) until room is freed, unless it
//! holds less than its [`QUEUE_FLOOR`]. The in-process
//! [`ChaosStream`](super::stream::ChaosStream) has one connection and no budget.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::fastpath::{self, Pipe, Stop};
use super::record::{self, PieceEvent, RecordSink};
use super::shared::{Budget, Conn, Share};
use super::toxic::replay::{Replay, DEFAULT_HOLD_MAX};
use super::toxic::{Piece, Teardown, Toxic, ToxicOutput, ToxicSpec};
use crate::chaos::seed::{derive, Stream};
use crate::chaos::timer::sleep_until_some;
use crate::chaos::Direction;
use crate::codec::hex;

/// What a direction may hold read but not yet written, before it stops reading, unless the proxy
/// says otherwise ([`ProxyConfig::queue_cap`](super::ProxyConfig::queue_cap)): bytes plus
/// [`PIECE_OVERHEAD`] per piece, so a split into 1-byte pieces stays bounded too. With one read
/// on top, a direction's queue stays under about 5 MiB whatever the toxics.
pub const QUEUE_CAP: usize = 1 << 20;
/// What one queued piece costs besides its bytes.
pub const PIECE_OVERHEAD: usize = 64;
/// What a direction may hold, counted as the budget counts, even when the proxy-wide budget is
/// spent: a direction holding less reads again, a read small enough (about 100 bytes with
/// nothing held) that whatever the toxics cut it into stays within the floor. So a fresh
/// connection is relayed, slowly, however many stuck connections spent the budget, and the
/// budget is passed by at most this much per direction.
pub const QUEUE_FLOOR: usize = 16 << 10;
/// What the proxy-wide budget counts per slot of a direction's queue, used or not: the slot's
/// size in memory (a queue of 1-byte pieces costs 80 times its bytes, and more while its slots
/// are not all used; [`PIECE_OVERHEAD`] counts less, for the per-direction cap only).
pub const PIECE_SLOT: usize = std::mem::size_of::<Piece>();
/// Largest read.
const READ_SIZE: usize = 64 << 10;

/// The toxics of one direction, in order; each one's output is the next one's input.
#[derive(Debug, Default)]
pub struct Pipeline {
    stages: Vec<Box<dyn Toxic>>,
}

impl Pipeline {
    pub fn new(stages: Vec<Box<dyn Toxic>>) -> Pipeline {
        Pipeline { stages }
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    fn feed(
        &mut self,
        from: usize,
        now: Instant,
        pieces: Vec<Piece>,
        rng: &mut ChaCha20Rng,
        out: &mut ToxicOutput,
    ) {
        let mut cur = pieces;
        for stage in &mut self.stages[from..] {
            let mut o = ToxicOutput::default();
            for p in cur.drain(..) {
                stage.push(now, p, rng, &mut o);
            }
            if let Some(v) = o.teardown {
                out.teardown(v);
            }
            cur = o.pieces;
        }
        out.pieces.extend(cur);
    }

    /// Runs freshly read bytes through every toxic.
    pub fn push(
        &mut self,
        now: Instant,
        data: Bytes,
        rng: &mut ChaCha20Rng,
        out: &mut ToxicOutput,
    ) {
        let piece = Piece {
            data,
            at: now,
            gap: Duration::ZERO,
            toxic: "none",
        };
        self.feed(0, now, vec![piece], rng, out);
    }

    /// The earliest time a toxic wants to be polled.
    pub fn deadline(&self) -> Option<Instant> {
        self.stages.iter().filter_map(|s| s.deadline()).min()
    }

    /// Lets every toxic whose time came release what it holds.
    pub fn poll(&mut self, now: Instant, rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        for i in 0..self.stages.len() {
            if self.stages[i].deadline().is_some_and(|d| d <= now) {
                let mut o = ToxicOutput::default();
                self.stages[i].poll(now, rng, &mut o);
                if let Some(v) = o.teardown {
                    out.teardown(v);
                }
                self.feed(i + 1, now, o.pieces, rng, out);
            }
        }
    }

    /// Releases everything held (end of stream, or the pipeline is being replaced).
    pub fn flush(&mut self, now: Instant, rng: &mut ChaCha20Rng, out: &mut ToxicOutput) {
        for i in 0..self.stages.len() {
            let mut o = ToxicOutput::default();
            self.stages[i].flush(now, &mut o);
            if let Some(v) = o.teardown {
                out.teardown(v);
            }
            self.feed(i + 1, now, o.pieces, rng, out);
        }
    }

    /// Bytes the toxics hold inside.
    pub fn held(&self) -> usize {
        self.stages.iter().map(|s| s.held()).sum()
    }

    pub fn close_delay(&self) -> Duration {
        self.stages
            .iter()
            .map(|s| s.close_delay())
            .max()
            .unwrap_or_default()
    }
}

/// One direction's chaos, whatever carries the bytes: the toxicity rolls, the replay stage, the
/// pipeline, and the queue of pieces waiting for their time. The proxy's pump (below) and the
/// in-process [`ChaosStream`](super::stream::ChaosStream) each drive one per direction, so both
/// run the same toxics the same way.
pub(crate) struct Lane {
    dir: Direction,
    rng: ChaCha20Rng,
    /// Toxicity draws, on their own stream so that they never shift the piece draws.
    roll_rng: ChaCha20Rng,
    rolls: HashMap<String, bool>,
    replay: Option<Replay>,
    pipeline: Pipeline,
    queue: VecDeque<Piece>,
    /// What the queue may hold before the direction stops reading ([`QUEUE_CAP`] by default).
    cap: usize,
    /// What the queue holds, as the cap counts it.
    queued: usize,
    /// The queued pieces' bytes alone.
    queued_data: usize,
    /// Bytes the toxics (and the replay stage) hold, as of the last [`Lane::through`]; counted
    /// only with a budget.
    in_toxics: usize,
    /// This direction's part of the proxy-wide budget (`None`: no budget, as in the stream).
    share: Option<Share>,
    offset: u64,
    last_write: Option<Instant>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("dir", &self.dir)
            .field("pipeline", &self.pipeline)
            .field("replay", &self.replay.is_some())
            .field("queued", &self.queued)
            .field("budgeted", &self.share.is_some())
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl Lane {
    /// Direction `dir` of connection `conn` of a run seeded `seed` (piece draws on lane `dir`,
    /// toxicity draws on lane `2 + dir`), replaying `replay` if given, holding its bytes in
    /// `budget` if given. No toxic until [`Lane::rebuild`].
    pub(crate) fn new(
        seed: u64,
        conn: u64,
        dir: Direction,
        replay: Option<&record::Stream>,
        budget: Option<Arc<Budget>>,
    ) -> Lane {
        Lane {
            dir,
            rng: lane_rng(seed, conn, dir as u64),
            roll_rng: lane_rng(seed, conn, 2 + dir as u64),
            rolls: HashMap::new(),
            replay: replay
                .map(|s| Replay::new(&s.pieces, DEFAULT_HOLD_MAX).with_rest_gap(s.rest_gap_us)),
            pipeline: Pipeline::default(),
            queue: VecDeque::new(),
            cap: QUEUE_CAP,
            queued: 0,
            queued_data: 0,
            in_toxics: 0,
            share: budget.map(Share::new),
            offset: 0,
            last_write: None,
        }
    }

    /// The same lane holding at most `cap` (counted as [`QUEUE_CAP`] is) before it stops
    /// reading; at least one byte.
    pub(crate) fn with_cap(mut self, cap: usize) -> Lane {
        self.cap = cap.max(1);
        self
    }

    /// Builds the pipeline from the current toxic list. A toxic of toxicity 0 leaves no trace:
    /// no stage, no draw.
    pub(crate) fn rebuild(&mut self, specs: &[ToxicSpec], now: Instant) {
        let replaying = self.replay.is_some();
        let mut stages: Vec<Box<dyn Toxic>> = Vec::new();
        for spec in specs.iter().filter(|s| s.side.applies_to(self.dir)) {
            if spec.toxicity <= 0.0 || (replaying && spec.kind.shapes()) {
                continue;
            }
            let on = if spec.toxicity >= 1.0 {
                true
            } else {
                let key = format!("{}/{}", spec.name, spec.kind.type_name());
                let rng = &mut self.roll_rng;
                *self
                    .rolls
                    .entry(key)
                    .or_insert_with(|| rng.gen_bool(spec.toxicity))
            };
            if on {
                stages.push(spec.kind.build(now));
            }
        }
        self.pipeline = Pipeline::new(stages);
        self.count_toxics();
    }

    /// Whether bytes pass untouched: no toxic and no replay (the fast path, when not recording).
    pub(crate) fn idle(&self) -> bool {
        self.pipeline.is_empty() && self.replay.is_none()
    }

    fn take(&mut self, out: ToxicOutput) -> Option<Teardown> {
        for p in out.pieces {
            if !p.data.is_empty() {
                self.queued += p.data.len() + PIECE_OVERHEAD;
                self.queued_data += p.data.len();
                self.queue.push_back(p);
            }
        }
        self.count_toxics();
        out.teardown
    }

    /// With a budget: notes what the toxics hold and settles the share.
    fn count_toxics(&mut self) {
        if self.share.is_some() {
            let replay = self.replay.as_ref().map_or(0, |r| r.held());
            self.in_toxics = self.pipeline.held() + replay;
            self.settle();
        }
    }

    /// What the direction holds, as the budget counts it: the queued bytes, the queue's slots
    /// ([`PIECE_SLOT`] each) and what the toxics hold.
    fn charge(&self) -> usize {
        self.queued_data + self.queue.capacity() * PIECE_SLOT + self.in_toxics
    }

    /// Makes the direction's share of the budget what it holds: after a read that got nothing,
    /// gives the reservation back.
    pub(crate) fn settle(&mut self) {
        if self.share.is_some() {
            let charge = self.charge();
            if let Some(s) = self.share.as_mut() {
                s.set(charge);
            }
        }
    }

    /// The budget this direction holds its bytes in.
    pub(crate) fn budget(&self) -> Option<Arc<Budget>> {
        self.share.as_ref().map(|s| s.budget().clone())
    }

    /// The largest read [`QUEUE_FLOOR`] allows now, whatever the budget: one whose every byte
    /// could become a piece of its own, in a queue that doubles to take them.
    fn floor_read(&self) -> usize {
        QUEUE_FLOOR.saturating_sub(self.charge()) / (1 + 2 * PIECE_SLOT)
    }

    /// Whether the direction may read now: room under its cap, and room in the budget or
    /// under [`QUEUE_FLOOR`].
    pub(crate) fn may_read(&self) -> bool {
        self.has_room()
            && self
                .share
                .as_ref()
                .is_none_or(|s| !s.budget().spent() || self.floor_read() > 0)
    }

    /// Reserves room for one read (in the budget, if any) and returns its size, 0 if none is
    /// left; a read that gets fewer bytes gives the rest back through [`Lane::through`] or
    /// [`Lane::settle`].
    pub(crate) fn reserve_read(&mut self) -> usize {
        if !self.has_room() {
            return 0;
        }
        let want = self.read_size();
        let floor = self.floor_read();
        match self.share.as_mut() {
            Some(s) => s.reserve(want, floor),
            None => want,
        }
    }

    /// Runs `data` (if any) through replay and the toxics, lets every toxic whose time came
    /// release what it holds, and everything held too if `flush`; queues what comes out.
    pub(crate) fn through(
        &mut self,
        now: Instant,
        data: Option<Bytes>,
        flush: bool,
    ) -> Option<Teardown> {
        let mut out = ToxicOutput::default();
        let mut staged = Vec::new();
        if let Some(r) = self.replay.as_mut() {
            let mut o = ToxicOutput::default();
            if let Some(d) = data.clone() {
                r.push(
                    now,
                    Piece {
                        data: d,
                        at: now,
                        gap: Duration::ZERO,
                        toxic: "none",
                    },
                    &mut self.rng,
                    &mut o,
                );
            }
            if r.deadline().is_some_and(|d| d <= now) {
                r.poll(now, &mut self.rng, &mut o);
            }
            if flush {
                r.flush(now, &mut o);
            }
            staged = o.pieces;
        } else if let Some(d) = data {
            staged.push(Piece {
                data: d,
                at: now,
                gap: Duration::ZERO,
                toxic: "none",
            });
        }
        self.pipeline.feed(0, now, staged, &mut self.rng, &mut out);
        self.pipeline.poll(now, &mut self.rng, &mut out);
        if flush {
            self.pipeline.flush(now, &mut self.rng, &mut out);
        }
        self.take(out)
    }

    /// When something is next due: the first queued piece, or a toxic's wake-up.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let q = self.queue.front().map(|p| self.due(p));
        let r = self.replay.as_ref().and_then(|r| r.deadline());
        [q, r, self.pipeline.deadline()].into_iter().flatten().min()
    }

    /// When a queued piece may be written: its time, and its gap after the last real write.
    fn due(&self, p: &Piece) -> Instant {
        match self.last_write {
            Some(l) if !p.gap.is_zero() => p.at.max(l + p.gap),
            _ => p.at,
        }
    }

    /// The first queued piece, if its time has come by `now`; hand it to [`Lane::wrote`] once
    /// it is written.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Piece> {
        let p = self.queue.front()?;
        if self.due(p) > now {
            return None;
        }
        let p = self.queue.pop_front();
        // A burst of tiny pieces grows the queue to tens of thousands of slots: give them back
        // as it drains, so that a direction keeps what it holds, not what it once held.
        let cap = self.queue.capacity();
        if self.queue.is_empty() {
            if cap > 64 {
                self.queue = VecDeque::new();
            }
        } else if cap > 1024 && self.queue.len() < cap / 4 {
            self.queue.shrink_to(cap / 2);
        }
        p
    }

    /// Whether no piece waits in the queue.
    pub(crate) fn queue_is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether there is room to read more (what is queued is under the cap).
    pub(crate) fn has_room(&self) -> bool {
        self.queued < self.cap
    }

    /// How much one read may take now: the room left under the cap, at most one read.
    pub(crate) fn read_size(&self) -> usize {
        self.cap.saturating_sub(self.queued).clamp(1, READ_SIZE)
    }

    pub(crate) fn close_delay(&self) -> Duration {
        self.pipeline.close_delay()
    }

    /// Accounts for piece `p` (from [`Lane::pop_due`]) written at `now`: frees its room,
    /// records it to `sink` (connection `conn`, time since `start`), moves the offset on.
    pub(crate) fn wrote(
        &mut self,
        p: &Piece,
        now: Instant,
        conn: u64,
        start: Instant,
        sink: Option<&RecordSink>,
    ) {
        self.queued -= p.data.len() + PIECE_OVERHEAD;
        self.queued_data -= p.data.len();
        self.settle();
        if let Some(sink) = sink {
            sink.push(PieceEvent {
                conn,
                dir: self.dir,
                offset: self.offset,
                len: p.data.len(),
                t_us: now.duration_since(start).as_micros() as u64,
                gap_us: self
                    .last_write
                    .map_or(0, |l| now.duration_since(l).as_micros() as u64),
                toxic: p.toxic.to_string(),
                data: sink.with_bytes().then(|| hex(&p.data)),
            });
        }
        self.offset += p.data.len() as u64;
        self.last_write = Some(now);
    }
}

/// What one read got.
enum Read {
    /// Nothing: no room in the budget, or the socket had nothing after all.
    Nothing,
    Eof,
    Data(Bytes),
}

/// State of one direction of a proxied connection.
struct Dir<'a> {
    conn: &'a Conn,
    dir: Direction,
    src: &'a TcpStream,
    dst: &'a TcpStream,
    lane: Lane,
}

impl Dir<'_> {
    fn fast(&self) -> bool {
        self.lane.idle() && self.conn.shared.record.is_none()
    }

    /// One read of the room reserved for it, into a buffer of its own (no buffer stays with an
    /// idle direction). When nothing could be read, the reservation is given back.
    fn read(&mut self) -> io::Result<Read> {
        let room = self.lane.reserve_read();
        if room == 0 {
            return Ok(Read::Nothing);
        }
        let mut buf = BytesMut::with_capacity(room);
        match self.src.try_read_buf(&mut buf) {
            Ok(0) => Ok(Read::Eof),
            Ok(n) => {
                self.conn.shared.received[self.dir as usize].fetch_add(n as u64, Ordering::Relaxed);
                // A short read is copied out, so that a queued piece does not pin a whole read's
                // buffer.
                Ok(Read::Data(if n < room / 2 {
                    Bytes::copy_from_slice(&buf)
                } else {
                    buf.freeze()
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.lane.settle();
                Ok(Read::Nothing)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes every queued piece whose time has come, one write each.
    async fn write_due(&mut self) -> io::Result<()> {
        while let Some(p) = self.lane.pop_due(Instant::now()) {
            // A queue of tiny pieces toward a socket that takes them all is thousands of
            // writes: give other connections their turn.
            tokio::task::coop::consume_budget().await;
            fastpath::write_all(self.dst, &p.data).await?;
            let now = Instant::now();
            let shared = &self.conn.shared;
            shared.bytes[self.dir as usize].fetch_add(p.data.len() as u64, Ordering::Relaxed);
            self.lane.wrote(
                &p,
                now,
                self.conn.index,
                shared.start,
                shared.record.as_ref(),
            );
        }
        Ok(())
    }

    /// The toxic path, until end of stream (written out, `Stop::Eof`), a toxic list change
    /// that leaves nothing for this path to do (`Stop::Interrupted`), or a teardown.
    async fn slow(
        &mut self,
        watch: &mut tokio::sync::watch::Receiver<Arc<Vec<ToxicSpec>>>,
    ) -> io::Result<Stop> {
        let budget = self.lane.budget();
        let mut eof = false;
        let mut closing = false;
        loop {
            tokio::task::coop::consume_budget().await;
            self.write_due().await?;
            if (eof || closing) && self.lane.queue_is_empty() && self.lane.deadline().is_none() {
                if closing {
                    self.conn.close(Teardown::Close);
                    return Ok(Stop::Eof);
                }
                let delay = self.lane.close_delay();
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                return Ok(Stop::Eof);
            }
            // Made before the budget is looked at, so that room freed in between wakes it.
            let freed = budget.as_deref().map(Budget::freed);
            let open = !eof && !closing && self.lane.has_room();
            let reading = open && self.lane.may_read();
            let starved = open && !reading;
            let wake = self.lane.deadline();
            let teardown = tokio::select! {
                biased;
                r = watch.changed(), if !eof && !closing => {
                    let now = Instant::now();
                    if r.is_err() {
                        // The proxy is gone; keep going with what we have.
                        std::future::pending::<()>().await;
                    }
                    let v = self.lane.through(now, None, true);
                    let specs = watch.borrow_and_update().clone();
                    self.lane.rebuild(&specs, now);
                    if v.is_none() && self.fast() && self.lane.queue_is_empty() {
                        return Ok(Stop::Interrupted);
                    }
                    v
                }
                r = self.src.readable(), if reading => {
                    r?;
                    match self.read()? {
                        Read::Nothing => None,
                        Read::Eof => {
                            eof = true;
                            self.lane.through(Instant::now(), None, true)
                        }
                        Read::Data(data) => self.lane.through(Instant::now(), Some(data), false),
                    }
                }
                // Out of budget: what is held is still written (its times wake the loop); this
                // wakes it to read once room is freed.
                _ = async {
                    match freed {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                }, if starved => None,
                _ = sleep_until_some(wake), if wake.is_some() => self.lane.through(Instant::now(), None, false),
            };
            match teardown {
                Some(Teardown::Reset) => {
                    self.conn.close(Teardown::Reset);
                    return Ok(Stop::Eof);
                }
                Some(Teardown::Close) => closing = true,
                None => {}
            }
        }
    }
}

fn lane_rng(seed: u64, conn: u64, lane: u64) -> ChaCha20Rng {
    derive(seed, Stream::Lane { conn, lane }).rng()
}

/// Moves one direction until its end of stream, then half-closes `dst` (so a client's
/// `shutdown(Write)` reaches the server while the reply still flows back).
pub(crate) async fn pump(
    conn: &Conn,
    dir: Direction,
    src: &TcpStream,
    dst: &TcpStream,
) -> io::Result<()> {
    let shared = &conn.shared;
    let mut watch = shared.toxics.subscribe();
    let replay = shared
        .replay
        .as_ref()
        .and_then(|s| s.stream(conn.index, dir));
    let mut d = Dir {
        conn,
        dir,
        src,
        dst,
        lane: Lane::new(
            shared.seed,
            conn.index,
            dir,
            replay,
            Some(shared.budget.clone()),
        )
        .with_cap(shared.queue_cap),
    };
    let specs = watch.borrow_and_update().clone();
    d.lane.rebuild(&specs, Instant::now());
    let mut pipe: Option<Pipe> = None;
    loop {
        let stop = if d.fast() {
            let w = &mut watch;
            let interrupt = async move {
                if w.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let stop = fastpath::relay_within(
                src,
                dst,
                &mut pipe,
                shared.fast_mode,
                interrupt,
                [&shared.received[dir as usize], &shared.bytes[dir as usize]],
                Some(&shared.budget),
            )
            .await?;
            if stop == Stop::Interrupted {
                let specs = watch.borrow_and_update().clone();
                d.lane.rebuild(&specs, Instant::now());
            }
            stop
        } else {
            d.slow(&mut watch).await?
        };
        if stop == Stop::Eof {
            break;
        }
    }
    if !conn.is_closing() {
        socket2::SockRef::from(dst).shutdown(std::net::Shutdown::Write)?;
    }
    Ok(())
}
