//! Playing one connection of a session on a live socket: as the client against a server under
//! test, or as the recorded server against a client under test. Each side's turn is read until
//! the bytes it must hold have arrived, so the chaos in between may cut and merge as it likes.

use std::io::ErrorKind;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::session::{Connection, Side};

/// How a read of one turn ended, when it did not end with the bytes it waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Nothing (more) arrived within the timeout.
    Hang,
    /// The connection was reset (or failed otherwise).
    Reset,
    /// The peer closed before the turn was complete.
    ClosedEarly,
}

/// How much of a turn to wait for.
#[derive(Debug, Clone, Copy)]
pub enum Want {
    /// Exactly this many bytes (what the reference run received).
    Exactly(usize),
    /// As many as come until the peer falls quiet for `quiet` (a clean reference run, where the
    /// length is not known yet). `hint` is the recorded length: once that many arrived, a short
    /// pause is enough.
    Settle { hint: usize, quiet: Duration },
}

/// What one turn's read gave.
#[derive(Debug, Clone)]
pub struct Got {
    pub bytes: Vec<u8>,
    pub stop: Option<Stop>,
}

/// Largest turn read in settle mode: a reference run never buffers more than this per turn.
pub const MAX_TURN: usize = 16 << 20;

/// Counts bytes moving between the two sides (a proxy's counters): while it changes, a turn that
/// is still trickling through the chaos is not a hang.
pub type Progress<'a> = Option<&'a (dyn Fn() -> u64 + Sync)>;

/// Reads one turn from `stream`. `idle` bounds the wait for each next byte, counted from the
/// last byte that moved anywhere when `progress` can tell.
pub async fn read_turn(
    stream: &mut TcpStream,
    want: Want,
    idle: Duration,
    progress: Progress<'_>,
) -> Got {
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let (limit, wait) = match want {
            Want::Exactly(n) if bytes.len() >= n => return Got { bytes, stop: None },
            Want::Exactly(n) => (n - bytes.len(), idle),
            Want::Settle { hint, quiet } => {
                let wait = match bytes.len() {
                    0 => idle,
                    n if n >= hint => quiet.min(Duration::from_millis(50)),
                    _ => quiet,
                };
                (MAX_TURN.saturating_sub(bytes.len()), wait)
            }
        };
        if limit == 0 {
            return Got { bytes, stop: None };
        }
        let cap = limit.min(buf.len());
        let read = async {
            loop {
                let before = progress.map(|p| p());
                match timeout(wait, stream.read(&mut buf[..cap])).await {
                    Err(_) if progress.is_some_and(|p| Some(p()) != before) => continue,
                    r => return r,
                }
            }
        };
        match read.await {
            Ok(Ok(0)) => {
                let stop = match want {
                    Want::Settle { .. } if !bytes.is_empty() => None,
                    _ => Some(Stop::ClosedEarly),
                };
                return Got { bytes, stop };
            }
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                return Got {
                    bytes,
                    stop: Some(Stop::ClosedEarly),
                }
            }
            Ok(Err(_)) => {
                return Got {
                    bytes,
                    stop: Some(Stop::Reset),
                }
            }
            Err(_) => {
                let stop = match want {
                    Want::Settle { .. } if !bytes.is_empty() => None,
                    _ => Some(Stop::Hang),
                };
                return Got { bytes, stop };
            }
        }
    }
}

/// One played connection: what the other side sent in each of its turns, in order, and how
/// the play ended (`None`: every turn was played).
#[derive(Debug, Clone, Default)]
pub struct Played {
    /// One entry per turn of the other side that was (at least partly) read.
    pub got: Vec<Vec<u8>>,
    /// Where the play stopped: the index (among the other side's turns) and why.
    pub stop: Option<(usize, Stop)>,
}

/// Plays `conv` over `stream` as `me`: my turns are written whole, one write each (the chaos in
/// between cuts them), the other side's turns read per `want(i)` for its turn `i`.
pub async fn play(
    stream: &mut TcpStream,
    conv: &Connection,
    me: Side,
    want: impl Fn(usize) -> Want,
    idle: Duration,
    progress: Progress<'_>,
) -> Played {
    let mut played = Played::default();
    for turn in &conv.turns {
        if turn.from == me {
            if let Err(e) = stream.write_all(&turn.bytes).await {
                let stop = match e.kind() {
                    ErrorKind::BrokenPipe => Stop::ClosedEarly,
                    _ => Stop::Reset,
                };
                played.stop = Some((played.got.len(), stop));
                return played;
            }
            continue;
        }
        let i = played.got.len();
        let got = read_turn(stream, want(i), idle, progress).await;
        played.got.push(got.bytes);
        if let Some(stop) = got.stop {
            played.stop = Some((i, stop));
            return played;
        }
    }
    let _ = stream.shutdown().await;
    played
}

/// Connects to `addr` within `idle`.
pub async fn connect(addr: std::net::SocketAddr, idle: Duration) -> std::io::Result<TcpStream> {
    let started = Instant::now();
    let stream = timeout(idle, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            std::io::Error::new(
                ErrorKind::TimedOut,
                format!(
                    "connecting to {addr} took over {:?}",
                    started.elapsed().max(idle)
                ),
            )
        })??;
    stream.set_nodelay(true)?;
    Ok(stream)
}
