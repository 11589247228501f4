//! Waking at a deadline to the microsecond, for toxics that move piece or datagram times.
//!
//! tokio's timer counts whole milliseconds and rounds every deadline up to the next one, and
//! its driver's `epoll_wait` rounds the wait up to a millisecond again, so a tokio sleep of
//! 1 ms takes 1 to 3 ms: a `latency=1ms` toxic delayed each hop by about 2.2 ms (measured by
//! `stickler latency`, ping lane). On Linux, [`sleep_until`] arms a timerfd (a high-resolution
//! kernel timer) and waits for it in tokio's reactor instead; elsewhere, or if no timerfd can
//! be made (out of descriptors), it falls back to tokio's timer.

use tokio::time::Instant;

/// Completes at `deadline` (at once if it has passed).
pub async fn sleep_until(deadline: Instant) {
    #[cfg(target_os = "linux")]
    {
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        if linux::sleep(deadline - now).await.is_ok() {
            return;
        }
    }
    tokio::time::sleep_until(deadline).await
}

/// Completes at `deadline`, or never when there is none (a `select!` arm with nothing to wait
/// for).
pub async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(t) => sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    struct TimerFd(OwnedFd);

    impl AsRawFd for TimerFd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }

    /// Waits `delay` on a one-shot timerfd.
    pub async fn sleep(delay: Duration) -> io::Result<()> {
        // SAFETY: a plain syscall; the result is checked.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = TimerFd(unsafe { OwnedFd::from_raw_fd(raw) });
        // A zero value would disarm the timer.
        let delay = delay.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: delay.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: delay.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: a valid descriptor and a pointer to a live itimerspec; no old value wanted.
        if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `TimerFd` owns its descriptor and nothing closes or replaces it while the
        // `AsyncFd` holds it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        loop {
            let mut guard = fd.readable().await?;
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into an 8-byte buffer.
            let n = unsafe {
                libc::read(
                    fd.as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if n == 8 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::WouldBlock {
                return Err(err);
            }
            guard.clear_ready();
        }
    }
}
