//! The operating system's side: a process's resident memory (Linux `/proc/PID/status`), whether
//! it is alive, and the open-descriptor limit that bounds how many connections can be held.

/// Resident memory (`VmRSS`) of `pid` in bytes; `None` where `/proc` is unavailable or the
/// process is gone.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Whether `pid` still exists (Linux: `/proc/PID` is there and not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3, after the parenthesised command name, is the state; Z = zombie, X = dead.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Descriptors kept free for everything that is not a held connection.
pub const FD_RESERVE: u64 = 64;

/// Raises the soft limit on open descriptors towards `want` (up to the hard limit) and returns
/// the soft limit in force afterwards; `None` if it cannot be read.
// `rlim_t` is `u64` on Linux but not on every Unix: the conversions are kept.
#[allow(clippy::useless_conversion)]
pub fn raise_nofile(want: u64) -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return None;
        }
        let target = want.min(u64::from(lim.rlim_max));
        if target > u64::from(lim.rlim_cur) {
            let raised = libc::rlimit {
                rlim_cur: target as libc::rlim_t,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: setrlimit reads the struct we pass; failure leaves the limit unchanged.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                return Some(target);
            }
        }
        Some(u64::from(lim.rlim_cur))
    }
    #[cfg(not(unix))]
    {
        let _ = want;
        None
    }
}

/// How many connections can be held at once for `want`, after raising the limit if needed:
/// `want` itself, or fewer with a message saying why.
pub fn connection_budget(want: usize) -> (usize, Option<String>) {
    let Some(soft) = raise_nofile(want as u64 + FD_RESERVE) else {
        return (want, None);
    };
    let open = open_descriptors().unwrap_or(0) as u64;
    let room = soft.saturating_sub(open + FD_RESERVE) as usize;
    if room >= want {
        (want, None)
    } else {
        (
            room,
            Some(format!(
                "{want} connections asked, {room} held: the open-file limit is {soft} \
                 ({open} already open; raise it with `ulimit -n` or the hard limit)"
            )),
        )
    }
}

/// Descriptors this process has open (Linux), if known.
fn open_descriptors() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_memory_and_liveness_are_readable() {
        let me = std::process::id();
        assert!(alive(me));
        assert!(rss_bytes(me).is_some_and(|b| b > 0));
        assert!(!alive(u32::MAX));
        assert!(rss_bytes(u32::MAX).is_none());
    }

    #[test]
    fn budget_never_exceeds_what_is_asked() {
        let (n, why) = connection_budget(10);
        assert_eq!(n, 10);
        assert!(why.is_none());
        let (n, why) = connection_budget(usize::MAX / 2);
        assert!(n < usize::MAX / 2);
        assert!(why.unwrap().contains("open-file limit"));
    }
}
