//! The chaos proxy's toxics in-process: [`ChaosStream`] wraps any `AsyncRead + AsyncWrite`
//! stream (a `TcpStream`, a [`tokio::io::duplex`] half) and cuts, merges, delays and ends its
//! bytes the way `stickler proxy` would, seeded, with no socket and no task of its own.
//!
//! It is not a second implementation: each direction is the proxy's own
//! [`Lane`](super::pipeline) (toxicity draws, replay stage, [`Pipeline`](super::pipeline::Pipeline)
//! of [`Toxic`](super::toxic::Toxic)s, queue of timed pieces), the toxics are the
//! [`ToxicSpec`]s of `stickler proxy --toxic`, and the random streams are the proxy's
//! ([`crate::chaos::seed`]). Only the IO differs: the proxy's pump moves bytes between two
//! sockets in a task; here the lanes move when the stream is polled.
//!
//! # Directions
//!
//! The wrapping side is the client, the inner stream the server:
//! - **down** (server → client): bytes read from the inner stream on their way to you. Each
//!   `poll_read` returns at most one piece the toxics produced (a split comes back as several
//!   short reads, a coalesce as one read of several inner writes), never before the piece's
//!   time (latency, gaps). A piece larger than your buffer comes in several reads at once.
//! - **up** (client → server): bytes you write. Each piece is one write to the inner stream, at
//!   its time. `poll_write` takes the bytes (up to 64 KiB, and only while the direction holds
//!   less than [`QUEUE_CAP`](super::pipeline::QUEUE_CAP)) and writes whatever is due at once; `poll_flush` releases what the
//!   toxics hold (as the proxy does at end of stream: a coalesce window or the current split
//!   piece ends early) and completes once every piece is written, each at its time;
//!   `poll_shutdown` does the same, waits for the toxics' own deadlines and any `slow_close`
//!   delay as the proxy does before its FIN, then shuts the inner stream down.
//!
//! A direction's toxics run while that direction is polled (down's in `poll_read`, up's in
//! `poll_write`/`poll_flush`/`poll_shutdown`): use a codec's `send` (which flushes) or flush
//! yourself before waiting for a reply. A direction with no toxic, no replay and no recording is
//! a plain pass-through to the inner stream.
//!
//! # Teardowns
//!
//! A `close` (`timeout`, `limit_data`) writes what its direction already let through, then ends
//! the stream both ways: reads return end of stream, writes fail with
//! [`io::ErrorKind::BrokenPipe`], flush and shutdown succeed. A `reset` (`reset_peer`) ends it at
//! once: every read and write fails with [`io::ErrorKind::ConnectionReset`]. Either way the inner
//! stream is shut down (its peer sees end of stream: an in-process stream has no RST), and what
//! the other direction still held is dropped, as the proxy drops it.
//!
//! # Seeds
//!
//! A stream built with seed `N` and connection `i` (default 0) draws exactly what connection `i`
//! of a proxy started with `--seed N` draws: up's pieces from ChaCha20 stream `4i`, down's from
//! `4i + 1`, the toxicity rolls from `4i + 2` and `4i + 3`. Split cut points depend only on the
//! bytes and the seed, so the down direction cuts the same bytes at the same offsets as that
//! proxy connection, whatever the reads; the up direction too, as long as you flush where the
//! proxy's client ended its stream (a flush ends the current piece, see above). Times (coalesce
//! windows, latency) follow the clock, as in the proxy.
//!
//! # Timers
//!
//! Times are tokio's ([`tokio::time::Sleep`]), so a test under `tokio::time::pause()` (tokio's
//! `test-util` feature) runs every latency and gap in virtual time, deterministically and at
//! once. The proxy instead waits on a timerfd ([`crate::chaos::timer`]) to hit sub-millisecond
//! times on a real network; tokio's timer counts whole milliseconds, so here a wait of less than
//! a millisecond (e.g. `gap=250us`) lasts until the next millisecond tick. A piece is never
//! delivered before its time.
//!
//! # Memory
//!
//! Each direction reads (or takes from `poll_write`) at most 64 KiB at once, and stops while it
//! holds [`QUEUE_CAP`](super::pipeline::QUEUE_CAP) bytes (plus
//! [`PIECE_OVERHEAD`](super::pipeline::PIECE_OVERHEAD) per piece) not yet delivered, as the
//! proxy does; the toxics' own holds are capped by their parameters
//! ([`MAX_HOLD_BYTES`](super::toxic::MAX_HOLD_BYTES)).
//!
//! # Example
//!
//! ```
//! use stickler::ChaosStream;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, mut server) = tokio::io::duplex(64 << 10);
//! let mut chaos = ChaosStream::builder()
//!     .seed(7)
//!     .toxic("down:split=1..4")?
//!     .record(true)
//!     .build(client);
//! server.write_all(b"hello, sticky world").await?;
//! drop(server);
//! let mut got = Vec::new();
//! let mut buf = [0u8; 64];
//! loop {
//!     let n = chaos.read(&mut buf).await?;
//!     if n == 0 {
//!         break;
//!     }
//!     assert!((1..=4).contains(&n)); // one piece per read
//!     got.extend_from_slice(&buf[..n]);
//! }
//! assert_eq!(got, b"hello, sticky world");
//!
//! // The same seed cuts the same bytes the same way; a replay repeats the boundaries exactly.
//! let schedule = chaos.schedule();
//! let (client, mut server) = tokio::io::duplex(64 << 10);
//! let mut again = ChaosStream::builder().replay(schedule.clone()).record(true).build(client);
//! server.write_all(b"hello, sticky world").await?;
//! drop(server);
//! again.read_to_end(&mut Vec::new()).await?;
//! let lens = |s: &stickler::proxy::PieceSchedule| -> Vec<usize> {
//!     s.streams[0].pieces.iter().map(|p| p.len).collect()
//! };
//! assert_eq!(lens(&again.schedule()), lens(&schedule)); // the gaps: at least the recorded ones
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::pipeline::Lane;
use super::record::{PieceEvent, PieceSchedule, RecordSink};
use super::toxic::{Teardown, ToxicError, ToxicSpec};
use crate::chaos::Direction;

/// Builds a [`ChaosStream`]: seed, toxics, recording, replay. See [`ChaosStream::builder`].
#[derive(Debug, Clone, Default)]
pub struct ChaosStreamBuilder {
    seed: u64,
    conn: u64,
    toxics: Vec<ToxicSpec>,
    record: Option<RecordSink>,
    replay: Option<PieceSchedule>,
}

impl ChaosStreamBuilder {
    /// The run seed, as `stickler proxy --seed` (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Which proxy connection to draw as (default 0): the random streams and the recorded
    /// events' `conn`, and which streams of a replayed schedule apply.
    pub fn connection(mut self, index: u64) -> Self {
        self.conn = index;
        self
    }

    /// Adds a toxic in the syntax of `stickler proxy --toxic` (`[DIR:]TYPE=VALUE,...`, see
    /// [`crate::proxy::toxic::parse`]). Toxics of one direction run in the order added.
    pub fn toxic(self, spec: &str) -> Result<Self, ToxicError> {
        self.toxic_spec(spec.parse()?)
    }

    /// Adds a toxic already parsed or built; it is validated here.
    pub fn toxic_spec(mut self, spec: ToxicSpec) -> Result<Self, ToxicError> {
        spec.validate()?;
        self.toxics.push(spec);
        Ok(self)
    }

    /// Records every piece delivered (down) or written (up) in memory, without the bytes; read
    /// them back with [`ChaosStream::recorded`] or [`ChaosStream::schedule`].
    pub fn record(mut self, on: bool) -> Self {
        self.record = on.then(|| RecordSink::memory(false));
        self
    }

    /// Records to `sink` (memory or a JSON-lines file, with or without the bytes), e.g. one sink
    /// shared by several streams, each with its own [`connection`](Self::connection).
    pub fn record_to(mut self, sink: RecordSink) -> Self {
        self.record = Some(sink);
        self
    }

    /// Replays the piece boundaries and gaps `schedule` holds for this connection, as
    /// `stickler proxy --replay`: the shaping toxics (`split`, `coalesce`, `latency`,
    /// `bandwidth`) are replaced by the schedule, the others still apply.
    pub fn replay(mut self, schedule: PieceSchedule) -> Self {
        self.replay = Some(schedule);
        self
    }

    /// Wraps `inner`. Call it inside the tokio runtime that polls the stream (toxic times start
    /// here, on that runtime's clock).
    pub fn build<S>(self, inner: S) -> ChaosStream<S> {
        let now = Instant::now();
        let lane = |dir: Direction| {
            let replay = self.replay.as_ref().and_then(|s| s.stream(self.conn, dir));
            let mut lane = Lane::new(self.seed, self.conn, dir, replay, None);
            lane.rebuild(&self.toxics, now);
            lane
        };
        let (up, down) = (lane(Direction::Up), lane(Direction::Down));
        let recording = self.record.is_some();
        ChaosStream {
            inner,
            conn: self.conn,
            start: now,
            down: DownLane {
                fast: down.idle() && !recording,
                lane: down,
                eof: false,
                closing: false,
                rest: Bytes::new(),
                buf: Vec::new(),
                close_at: None,
                sleep: None,
            },
            up: UpLane {
                fast: up.idle() && !recording,
                lane: up,
                closing: false,
                writing: None,
                shut: false,
                close_at: None,
                sleep: None,
            },
            record: self.record,
            ending: None,
            inner_shut: false,
            read_waker: None,
            write_waker: None,
        }
    }
}

/// A stream whose bytes go through the chaos proxy's toxics, in-process. See the
/// [module](self) for the semantics and an example.
#[derive(Debug)]
pub struct ChaosStream<S> {
    inner: S,
    conn: u64,
    start: Instant,
    down: DownLane,
    up: UpLane,
    record: Option<RecordSink>,
    /// How the stream ended both ways, if it did.
    ending: Option<Teardown>,
    /// Whether the inner stream was shut down after `ending`.
    inner_shut: bool,
    /// Who to wake when the other direction ends the stream.
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

#[derive(Debug)]
struct DownLane {
    lane: Lane,
    fast: bool,
    /// The inner stream ended.
    eof: bool,
    /// A toxic asked to close: write out what is through, then end the stream.
    closing: bool,
    /// The rest of a piece larger than the reader's buffer.
    rest: Bytes,
    /// Where reads from the inner stream land (grown to one read on the first).
    buf: Vec<u8>,
    /// When end of stream may show (after `slow_close`).
    close_at: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

#[derive(Debug)]
struct UpLane {
    lane: Lane,
    fast: bool,
    closing: bool,
    /// The piece being written, and how much of it is written.
    writing: Option<(super::toxic::Piece, usize)>,
    /// `poll_shutdown` began: no more writes.
    shut: bool,
    close_at: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

/// What driving the up direction waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// Room for more bytes (and no close under way).
    Room,
    /// Nothing due now (write what is due, wait for nothing).
    Idle,
    /// Every queued piece written, each at its time.
    Written,
    /// Written, and no toxic waiting for a deadline (the proxy's end of stream).
    Finished,
}

impl ChaosStream<()> {
    /// A builder: seed 0, connection 0, no toxic, no recording, no replay.
    ///
    /// (Defined on `ChaosStream<()>` so that `ChaosStream::builder()` needs no type annotation;
    /// [`ChaosStreamBuilder::build`] then wraps any stream.)
    pub fn builder() -> ChaosStreamBuilder {
        ChaosStreamBuilder::default()
    }
}

impl<S> ChaosStream<S> {
    /// Wraps `inner` with no toxic: a pass-through.
    pub fn new(inner: S) -> ChaosStream<S> {
        ChaosStream::builder().build(inner)
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The pieces recorded so far (empty unless recording in memory): like the proxy's
    /// `--record`, one event per piece delivered to a read (down) or written to the inner
    /// stream (up), `t_us` counted from [`ChaosStreamBuilder::build`].
    pub fn recorded(&self) -> Vec<PieceEvent> {
        self.record.as_ref().map(|r| r.events()).unwrap_or_default()
    }

    /// The recorded piece boundaries and gaps, to [`replay`](ChaosStreamBuilder::replay) (on a
    /// stream, or on the proxy with `--replay`).
    pub fn schedule(&self) -> PieceSchedule {
        PieceSchedule::from_events(&self.recorded())
    }

    /// How the stream was torn down by a toxic, if it was.
    pub fn teardown(&self) -> Option<Teardown> {
        self.ending
    }

    /// Ends the stream both ways and wakes whoever waits on the other direction.
    fn end(&mut self, how: Teardown) {
        self.ending = self.ending.max(Some(how));
        for w in [self.read_waker.take(), self.write_waker.take()]
            .into_iter()
            .flatten()
        {
            w.wake();
        }
    }

    fn on_teardown(&mut self, dir: Direction, t: Option<Teardown>) {
        match t {
            Some(Teardown::Reset) => self.end(Teardown::Reset),
            Some(Teardown::Close) => match dir {
                Direction::Down => self.down.closing = true,
                Direction::Up => self.up.closing = true,
            },
            None => {}
        }
    }
}

fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// Waits until `at` on the direction's one timer.
fn wait_until(sleep: &mut Option<Pin<Box<Sleep>>>, at: Instant, cx: &mut Context<'_>) -> Poll<()> {
    let s = match sleep {
        Some(s) => {
            if s.deadline() != at {
                s.as_mut().reset(at);
            }
            s
        }
        None => sleep.insert(Box::pin(tokio::time::sleep_until(at))),
    };
    s.as_mut().poll(cx)
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection reset by a chaos toxic",
    )
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "connection closed by a chaos toxic",
    )
}

impl<S: AsyncWrite + Unpin> ChaosStream<S> {
    /// Once the stream ended: shuts the inner stream down (once), then says how it ended.
    fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<Option<Teardown>> {
        let Some(how) = self.ending else {
            return Poll::Ready(None);
        };
        if !self.inner_shut {
            // Best effort: the inner stream may be broken already.
            let _ = ready!(Pin::new(&mut self.inner).poll_shutdown(cx));
            self.inner_shut = true;
        }
        Poll::Ready(Some(how))
    }

    /// Drives the up direction until `goal`: writes each due piece as one write, wakes the
    /// toxics at their times. Errors if the stream ends by a reset, or by a close with `Room`.
    fn poll_up(&mut self, cx: &mut Context<'_>, goal: Goal) -> Poll<io::Result<()>> {
        loop {
            match ready!(self.poll_ended(cx)) {
                Some(Teardown::Reset) => return Poll::Ready(Err(reset_error())),
                Some(Teardown::Close) if goal == Goal::Room => {
                    return Poll::Ready(Err(closed_error()))
                }
                Some(Teardown::Close) => return Poll::Ready(Ok(())),
                None => {}
            }
            if let Some((p, done)) = &mut self.up.writing {
                while *done < p.data.len() {
                    let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &p.data[*done..]))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    *done += n;
                }
                let (p, _) = self.up.writing.take().expect("a piece is being written");
                let sink = self.record.as_ref();
                (self.up.lane).wrote(&p, Instant::now(), self.conn, self.start, sink);
            }
            if goal == Goal::Room && self.up.lane.has_room() && !self.up.closing {
                return Poll::Ready(Ok(()));
            }
            let now = Instant::now();
            if let Some(p) = self.up.lane.pop_due(now) {
                self.up.writing = Some((p, 0));
                continue;
            }
            let deadline = self.up.lane.deadline();
            if self.up.closing && self.up.lane.queue_is_empty() && deadline.is_none() {
                self.end(Teardown::Close);
                continue;
            }
            if deadline.is_some_and(|d| d <= now) {
                let t = self.up.lane.through(now, None, false);
                self.on_teardown(Direction::Up, t);
                continue;
            }
            let reached = match goal {
                Goal::Room => false,
                Goal::Idle => true,
                Goal::Written => self.up.lane.queue_is_empty(),
                Goal::Finished => self.up.lane.queue_is_empty() && deadline.is_none(),
            };
            if reached {
                return Poll::Ready(Ok(()));
            }
            match deadline {
                Some(d) => {
                    if wait_until(&mut self.up.sleep, d, cx).is_pending() {
                        set_waker(&mut self.write_waker, cx);
                        return Poll::Pending;
                    }
                }
                None => {
                    // Nothing queued and no toxic waiting: only a close under way gets here,
                    // and it ended above. Wait for the other direction to end the stream.
                    set_waker(&mut self.write_waker, cx);
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ChaosStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.down.fast && this.ending.is_none() {
            let r = Pin::new(&mut this.inner).poll_read(cx, buf);
            if r.is_pending() && !this.up.fast {
                set_waker(&mut this.read_waker, cx);
            }
            return r;
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match ready!(this.poll_ended(cx)) {
                Some(Teardown::Reset) => return Poll::Ready(Err(reset_error())),
                Some(Teardown::Close) => return Poll::Ready(Ok(())),
                None => {}
            }
            let d = &mut this.down;
            if !d.rest.is_empty() {
                let n = d.rest.len().min(buf.remaining());
                buf.put_slice(&d.rest.split_to(n));
                return Poll::Ready(Ok(()));
            }
            let now = Instant::now();
            if let Some(mut p) = d.lane.pop_due(now) {
                let sink = this.record.as_ref();
                d.lane.wrote(&p, now, this.conn, this.start, sink);
                let n = p.data.len().min(buf.remaining());
                buf.put_slice(&p.data.split_to(n));
                d.rest = p.data;
                return Poll::Ready(Ok(()));
            }
            let deadline = d.lane.deadline();
            if (d.eof || d.closing) && d.lane.queue_is_empty() && deadline.is_none() {
                if d.closing {
                    this.end(Teardown::Close);
                    continue;
                }
                let at = *d.close_at.get_or_insert(now + d.lane.close_delay());
                if at <= now {
                    return Poll::Ready(Ok(()));
                }
                if wait_until(&mut d.sleep, at, cx).is_ready() {
                    continue;
                }
                set_waker(&mut this.read_waker, cx);
                return Poll::Pending;
            }
            if !d.eof && !d.closing && d.lane.has_room() {
                let room = d.lane.read_size();
                if d.buf.len() < room {
                    d.buf.resize(room, 0);
                }
                let mut rb = ReadBuf::new(&mut d.buf[..room]);
                match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                        d.eof = true;
                        let t = d.lane.through(now, None, true);
                        this.on_teardown(Direction::Down, t);
                        continue;
                    }
                    Poll::Ready(Ok(())) => {
                        let data = Bytes::copy_from_slice(rb.filled());
                        let t = d.lane.through(now, Some(data), false);
                        this.on_teardown(Direction::Down, t);
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            match deadline {
                Some(t) if t <= now => {
                    let t = d.lane.through(now, None, false);
                    this.on_teardown(Direction::Down, t);
                }
                Some(t) if wait_until(&mut d.sleep, t, cx).is_ready() => {}
                _ => {
                    set_waker(&mut this.read_waker, cx);
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ChaosStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.up.shut {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if this.up.fast {
            match ready!(this.poll_ended(cx)) {
                Some(Teardown::Reset) => return Poll::Ready(Err(reset_error())),
                Some(Teardown::Close) => return Poll::Ready(Err(closed_error())),
                None => {}
            }
            let r = Pin::new(&mut this.inner).poll_write(cx, data);
            if r.is_pending() && !this.down.fast {
                set_waker(&mut this.write_waker, cx);
            }
            return r;
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(this.poll_up(cx, Goal::Room))?;
        let n = data.len().min(this.up.lane.read_size());
        let now = Instant::now();
        let t = (this.up.lane).through(now, Some(Bytes::copy_from_slice(&data[..n])), false);
        this.on_teardown(Direction::Up, t);
        // Write what is due now; what must wait goes out on a later call. The bytes are taken
        // whatever happens: an error shows again on the next call.
        let _ = this.poll_up(cx, Goal::Idle);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.up.fast && !this.up.shut {
            let t = this.up.lane.through(Instant::now(), None, true);
            this.on_teardown(Direction::Up, t);
            ready!(this.poll_up(cx, Goal::Written))?;
        }
        match ready!(this.poll_ended(cx)) {
            Some(Teardown::Reset) => Poll::Ready(Err(reset_error())),
            Some(Teardown::Close) => Poll::Ready(Ok(())),
            None => Pin::new(&mut this.inner).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.up.fast {
            if !this.up.shut {
                this.up.shut = true;
                let t = this.up.lane.through(Instant::now(), None, true);
                this.on_teardown(Direction::Up, t);
            }
            ready!(this.poll_up(cx, Goal::Finished))?;
            if this.ending.is_none() {
                let now = Instant::now();
                let at = *this
                    .up
                    .close_at
                    .get_or_insert(now + this.up.lane.close_delay());
                if at > now && wait_until(&mut this.up.sleep, at, cx).is_pending() {
                    set_waker(&mut this.write_waker, cx);
                    return Poll::Pending;
                }
            }
        }
        this.up.shut = true;
        match ready!(this.poll_ended(cx)) {
            Some(Teardown::Reset) => Poll::Ready(Err(reset_error())),
            Some(Teardown::Close) => Poll::Ready(Ok(())),
            None => Pin::new(&mut this.inner).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests;
