//! The path of a direction with no toxic, no recording and no replay: bytes move from one
//! socket to the other untouched, by a read/write copy of up to 256 KiB at a time (the default),
//! or on Linux through a pipe with splice(2), so that they never enter user space (falling back
//! to the copy where a pipe cannot be had). `stickler bench proxy` measures both side by side;
//! on loopback here the copy was the faster of the two, hence the default.
//!
//! Both stop at end of stream or when `interrupt` completes (the toxic list changed), and only
//! at a point where no byte is in flight: the caller can then switch to the toxic path.
//!
//! In the proxy, each read (or splice) is reserved in the proxy-wide budget of queued bytes
//! first, and held there until it is written: a direction takes at most what the budget has
//! left, and when it is spent, [`QUEUE_FLOOR`] (16 KiB) past it,
//! so it never waits for room (it holds nothing between reads). The copy takes a buffer per
//! read, of the room reserved (at most 256 KiB), and frees it once written: no buffer stays
//! with a direction between reads, so what is resident is what is in flight.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BufMut;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::pipeline::QUEUE_FLOOR;
use super::shared::{Budget, Share};

/// Why a relay stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Eof,
    Interrupted,
}

/// Which way to move bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// read/write through a user-space buffer.
    #[default]
    Copy,
    /// splice(2) through a pipe where available, else copy.
    Splice,
}

/// Largest read, or splice, at once.
const CHUNK: usize = 256 << 10;

/// A pipe for splice; closed on drop.
#[derive(Debug)]
pub struct Pipe {
    r: i32,
    w: i32,
    /// Bytes in the pipe (always 0 between calls to [`relay`]).
    held: usize,
}

impl Pipe {
    /// A non-blocking pipe, enlarged to 1 MiB where allowed. `None` off Linux or when out of fds.
    pub fn new() -> Option<Pipe> {
        #[cfg(target_os = "linux")]
        {
            let mut fds = [0i32; 2];
            // SAFETY: fds is a valid array of two ints for pipe2 to fill.
            let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
            if rc != 0 {
                return None;
            }
            // SAFETY: fds[1] is the pipe we just created; failure only leaves the default size.
            unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 1 << 20) };
            Some(Pipe {
                r: fds[0],
                w: fds[1],
                held: 0,
            })
        }
        #[cfg(not(target_os = "linux"))]
        None
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: both fds are owned by this Pipe and closed exactly once.
        unsafe {
            libc::close(self.r);
            libc::close(self.w);
        }
    }
}

#[cfg(target_os = "linux")]
fn splice(from: i32, to: i32, len: usize) -> io::Result<usize> {
    use std::ptr::null_mut;
    // SAFETY: plain fds, null offsets (both ends are streams); the kernel checks the rest.
    let n = unsafe {
        libc::splice(
            from,
            null_mut(),
            to,
            null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Moves bytes from `src` to `dst` until end of stream (returning [`Stop::Eof`]; `dst` is not
/// shut down here) or until `interrupt` completes. Each counter of `moved` counts the bytes
/// (what was read is what is written: the pass-through's read and written counts).
pub async fn relay(
    src: &TcpStream,
    dst: &TcpStream,
    pipe: &mut Option<Pipe>,
    mode: Mode,
    interrupt: impl Future<Output = ()>,
    moved: [&AtomicU64; 2],
) -> io::Result<Stop> {
    relay_within(src, dst, pipe, mode, interrupt, moved, None).await
}

/// [`relay`], each read held in `budget` until it is written.
pub(crate) async fn relay_within(
    src: &TcpStream,
    dst: &TcpStream,
    pipe: &mut Option<Pipe>,
    mode: Mode,
    interrupt: impl Future<Output = ()>,
    moved: [&AtomicU64; 2],
    budget: Option<&Arc<Budget>>,
) -> io::Result<Stop> {
    tokio::pin!(interrupt);
    let share = InFlight(budget.map(|b| Share::new(b.clone())));
    #[cfg(target_os = "linux")]
    if mode == Mode::Splice {
        if pipe.is_none() {
            *pipe = Pipe::new();
        }
        if let Some(p) = pipe.as_mut() {
            return relay_splice(src, dst, p, interrupt, moved, share).await;
        }
    }
    let _ = mode;
    relay_copy(src, dst, interrupt, moved, share).await
}

/// The read in flight, held in the budget if there is one.
struct InFlight(Option<Share>);

impl InFlight {
    /// Room for the next read: [`CHUNK`], or what the budget allows.
    fn reserve(&mut self) -> usize {
        match self.0.as_mut() {
            Some(s) => s.reserve(CHUNK, QUEUE_FLOOR),
            None => CHUNK,
        }
    }

    /// Holds `n` bytes (what a read got; 0 once written).
    fn hold(&mut self, n: usize) {
        if let Some(s) = self.0.as_mut() {
            s.set(n);
        }
    }
}

#[cfg(target_os = "linux")]
async fn relay_splice(
    src: &TcpStream,
    dst: &TcpStream,
    pipe: &mut Pipe,
    mut interrupt: std::pin::Pin<&mut impl Future<Output = ()>>,
    moved: [&AtomicU64; 2],
    mut share: InFlight,
) -> io::Result<Stop> {
    use std::os::fd::AsRawFd;
    let (sfd, dfd) = (src.as_raw_fd(), dst.as_raw_fd());
    loop {
        debug_assert_eq!(pipe.held, 0);
        // Data may keep coming without a wait: give other connections their turn.
        tokio::task::coop::consume_budget().await;
        // Try first: data is often already there, and readiness costs a wake-up.
        let room = share.reserve();
        let n = match splice(sfd, pipe.w, room) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                share.hold(0);
                tokio::select! {
                    biased;
                    _ = &mut interrupt => return Ok(Stop::Interrupted),
                    r = src.readable() => r?,
                }
                let room = share.reserve();
                match src.try_io(Interest::READABLE, || splice(sfd, pipe.w, room)) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        share.hold(0);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(Stop::Eof);
        }
        share.hold(n);
        pipe.held = n;
        while pipe.held > 0 {
            match splice(pipe.r, dfd, pipe.held) {
                Ok(m) => pipe.held -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    dst.writable().await?;
                    match dst.try_io(Interest::WRITABLE, || splice(pipe.r, dfd, pipe.held)) {
                        Ok(m) => pipe.held -= m,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        share.hold(0);
        moved.iter().for_each(|m| {
            m.fetch_add(n as u64, Ordering::Relaxed);
        });
    }
}

async fn relay_copy(
    src: &TcpStream,
    dst: &TcpStream,
    mut interrupt: std::pin::Pin<&mut impl Future<Output = ()>>,
    moved: [&AtomicU64; 2],
    mut share: InFlight,
) -> io::Result<Stop> {
    loop {
        tokio::task::coop::consume_budget().await;
        let room = share.reserve();
        // A buffer per read, of the room reserved, never zeroed, and none while waiting: what
        // is resident is what is in flight, which the budget bounds. (A buffer kept per
        // direction stays resident, idle or not, as far as its largest read ever filled it.)
        let mut buf: Vec<u8> = Vec::with_capacity(room);
        let n = match src.try_read_buf(&mut (&mut buf).limit(room)) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                drop(buf);
                share.hold(0);
                tokio::select! {
                    biased;
                    _ = &mut interrupt => return Ok(Stop::Interrupted),
                    r = src.readable() => r?,
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(Stop::Eof);
        }
        share.hold(n);
        if n < room / 2 {
            // A short read keeps only its bytes while its write may wait.
            buf.shrink_to_fit();
        }
        write_all(dst, &buf).await?;
        share.hold(0);
        moved.iter().for_each(|m| {
            m.fetch_add(n as u64, Ordering::Relaxed);
        });
    }
}

/// Writes all of `buf` to a shared socket.
pub async fn write_all(dst: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match dst.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
