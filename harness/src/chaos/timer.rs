//! Waking at a deadline to the microsecond, for toxics that move piece or datagram times.
//!
//! tokio's timer counts whole milliseconds and rounds every deadline up to the next one, and
//! its driver's `epoll_wait` rounds the wait up to a millisecond again, so a tokio sleep of
//! 1 ms takes 1 to 3 ms: a `latency=1ms` toxic delayed each hop by about 2.2 ms (measured by
//! `stickler latency`, ping lane). On Linux, [`sleep_until`] arms a timerfd (a high-resolution
//! kernel timer) and waits for it in tokio's reactor instead; elsewhere, or if no timerfd can
//! be made (out of descriptors), it falls back to tokio's timer.
//!
//! Even a timerfd wakes its thread some time after it fires: the interrupt, the wake-up and the
//! switch took 20–40 µs on a 2-core VM (p50–p90), on every crossing of a delayed path. A thread
//! that needs its deadlines to the microsecond (the latency sweep's) can ask for
//! [`set_spin_ahead`]: its sleeps then wake that much early and spin until the deadline, a
//! few µs of CPU per sleep for a deadline kept to a µs or two. Off (zero) unless asked for.

use std::cell::Cell;
use std::time::Duration;

use tokio::time::Instant;

/// The most [`set_spin_ahead`] accepts: the spin holds its thread, so it stays short.
pub const MAX_SPIN_AHEAD: Duration = Duration::from_millis(1);

thread_local! {
    static SPIN_AHEAD: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// Makes the sleeps of [`sleep_until`] started on this thread wake `ahead` early (at most
/// [`MAX_SPIN_AHEAD`]) and spin until their deadline; zero turns it off. The spin holds the
/// thread, so only a thread whose tasks can wait that long should ask (one running a few
/// connections whose wake-ups do not coincide, as the latency sweep's does).
pub fn set_spin_ahead(ahead: Duration) {
    SPIN_AHEAD.with(|s| s.set(ahead.min(MAX_SPIN_AHEAD)));
}

/// This thread's [`set_spin_ahead`] (zero unless asked for).
pub fn spin_ahead() -> Duration {
    SPIN_AHEAD.with(Cell::get)
}

/// Completes at `deadline` (at once if it has passed).
pub async fn sleep_until(deadline: Instant) {
    let ahead = spin_ahead();
    if ahead.is_zero() {
        return wait_until(deadline).await;
    }
    wait_until(deadline.checked_sub(ahead).unwrap_or(deadline)).await;
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

async fn wait_until(deadline: Instant) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_ahead_is_per_thread_and_bounded() {
        assert_eq!(spin_ahead(), Duration::ZERO);
        set_spin_ahead(Duration::from_micros(50));
        assert_eq!(spin_ahead(), Duration::from_micros(50));
        let other = std::thread::spawn(spin_ahead).join().unwrap();
        assert_eq!(other, Duration::ZERO);
        set_spin_ahead(Duration::from_secs(5));
        assert_eq!(spin_ahead(), MAX_SPIN_AHEAD);
        set_spin_ahead(Duration::ZERO);
        assert_eq!(spin_ahead(), Duration::ZERO);
    }

    #[test]
    fn sleeps_never_end_before_their_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for ahead in [Duration::ZERO, Duration::from_micros(300), MAX_SPIN_AHEAD] {
            set_spin_ahead(ahead);
            rt.block_on(async {
                for wait_us in [0, 50, 400, 2000] {
                    let deadline = Instant::now() + Duration::from_micros(wait_us);
                    sleep_until(deadline).await;
                    assert!(Instant::now() >= deadline, "ahead {ahead:?}, {wait_us} µs");
                }
                // A deadline already past completes at once.
                sleep_until(Instant::now() - Duration::from_millis(1)).await;
                sleep_until_some(Some(Instant::now())).await;
            });
        }
        set_spin_ahead(Duration::ZERO);
    }
}
