//! UDP: the tutorials' datagram servers and clients, a datagram chaos proxy, and the UDP matrix
//! (docs/wire.md#udp). UDP never merges or splits messages; it loses, truncates, duplicates and
//! reorders them.
//!
//! ```text
//! client ──datagram──▶ [udp proxy: drop, dup, reorder, delay, truncate] ──▶ server
//!        ◀──datagram── one upstream socket per client address     ◀──────
//! ```
//!
//! - [`server`]: one datagram a request, one a reply, read with a 1024-byte buffer.
//! - [`client`]: sends datagrams and receives with a 1024-byte buffer and a timeout.
//! - [`proxy`]: the seeded datagram chaos proxy; [`toxic`] its toxics and their syntax;
//!   [`record`] what it did to every datagram.
//! - [`harness`]: the UDP matrix (services × chaos profiles × workloads), measured on loopback,
//!   with datagram verdicts ([`verdict`]); [`report`] renders it.
//!
//! A datagram is one message whatever its length, the empty one included. A receiver with a
//! smaller buffer than the datagram gets the first bytes and loses the rest (Linux):
//! [`recv_datagram`] reports both what it kept and how long the datagram was.

pub mod client;
pub mod expect;
pub mod harness;
mod lane;
pub mod proxy;
pub mod record;
pub mod report;
pub mod server;
pub mod toxic;
pub mod verdict;

use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::service::Service;

/// The tutorials' `recvfrom(1024)`.
pub const RECV_SIZE: usize = crate::codec::naive::DEFAULT_READ_SIZE;
/// The largest UDP payload over IPv4: 65535 − 8 (UDP header) − 20 (IP header).
pub const MAX_DATAGRAM: usize = 65507;

/// What a UDP request means: the TCP services plus `time` (seed 004).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum UdpService {
    /// The built-in `echo`/`seq` commands (byte-identical to dash + coreutils).
    #[default]
    Cmd,
    /// ASCII upper-case of the request.
    Upper,
    /// The request unchanged.
    Echo,
    /// The local time as `%Y-%m-%d %H:%M:%S`, whatever the request (UDP only).
    Time,
}

impl UdpService {
    pub const ALL: [UdpService; 4] = [
        UdpService::Echo,
        UdpService::Upper,
        UdpService::Cmd,
        UdpService::Time,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UdpService::Cmd => "cmd",
            UdpService::Upper => "upper",
            UdpService::Echo => "echo",
            UdpService::Time => "time",
        }
    }

    /// The TCP service of the same name; `None` for `time`, which only UDP serves.
    pub fn tcp(self) -> Option<Service> {
        match self {
            UdpService::Cmd => Some(Service::Cmd),
            UdpService::Upper => Some(Service::Upper),
            UdpService::Echo => Some(Service::Echo),
            UdpService::Time => None,
        }
    }

    /// The reply to `request`. A reply longer than one datagram can carry is replaced by one
    /// line saying so (a huge `seq`): a reply is always exactly one datagram.
    pub fn reply(self, request: &[u8]) -> Vec<u8> {
        let reply = match self.tcp() {
            Some(service) => service.reply(request),
            None => local_time().into_bytes(),
        };
        if reply.len() > MAX_DATAGRAM {
            return format!(
                "stickler: reply of {} bytes exceeds the largest UDP datagram ({MAX_DATAGRAM} bytes)\n",
                reply.len()
            )
            .into_bytes();
        }
        reply
    }
}

impl std::fmt::Display for UdpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The local time now as `%Y-%m-%d %H:%M:%S` (the `time` service's reply, 19 bytes).
pub fn local_time() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = libc::time_t::try_from(secs).unwrap_or(0);
    // SAFETY: `tm` is plain data that `localtime_r` fills; both pointers are valid for the call
    // and `localtime_r` (unlike `localtime`) keeps no shared state.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let filled = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !filled {
        // Only for a time outside the C library's range; UTC midnight of the epoch then.
        return "1970-01-01 00:00:00".into();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Whether `bytes` has the shape of a `time` reply, `DDDD-DD-DD DD:DD:DD`; with `prefix`, whether
/// it is a prefix of such a reply (a truncated one).
pub fn is_time_reply(bytes: &[u8], prefix: bool) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-dd dd:dd:dd";
    if bytes.len() > SHAPE.len() || (!prefix && bytes.len() != SHAPE.len()) {
        return false;
    }
    bytes.iter().zip(SHAPE).all(|(b, s)| match s {
        b'd' => b.is_ascii_digit(),
        other => b == other,
    })
}

/// One datagram as a receiver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The bytes kept: at most the receive buffer.
    pub data: Vec<u8>,
    /// The datagram's length on the wire; more than `data.len()` when it was truncated.
    pub wire_len: usize,
    pub from: SocketAddr,
}

impl Datagram {
    pub fn truncated(&self) -> bool {
        self.wire_len > self.data.len()
    }
}

/// Receives one datagram into a buffer of `buf.len()` bytes, as `recvfrom` does: a longer
/// datagram is truncated and its rest discarded. Also returns the datagram's real length
/// (Linux `MSG_TRUNC`), so a truncation can be named rather than guessed.
pub async fn recv_datagram(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<Datagram> {
    use std::os::fd::AsRawFd;
    loop {
        socket.readable().await?;
        let fd = socket.as_raw_fd();
        let result = socket.try_io(Interest::READABLE, || {
            // SAFETY: the buffer and address storage are valid for writes of the lengths given;
            // recvfrom writes at most those lengths.
            let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut addr_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let n = unsafe {
                libc::recvfrom(
                    fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                    (&mut storage as *mut libc::sockaddr_storage).cast(),
                    &mut addr_len,
                )
            };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let from = sockaddr_to_std(&storage).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "unknown address family")
            })?;
            Ok((n as usize, from))
        });
        match result {
            Ok((wire_len, from)) => {
                let kept = wire_len.min(buf.len());
                return Ok(Datagram {
                    data: buf[..kept].to_vec(),
                    wire_len,
                    from,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

fn sockaddr_to_std(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(a.sin6_port))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_shape() {
        assert!(is_time_reply(local_time().as_bytes(), false));
        assert!(is_time_reply(b"2026-11-22 14:3", true));
        assert!(!is_time_reply(b"2026-11-22 14:3", false));
        assert!(!is_time_reply(b"2026/11/22 14:30:00", false));
    }

    #[test]
    fn replies() {
        assert_eq!(UdpService::Upper.reply(b""), b"");
        assert_eq!(UdpService::Echo.reply(b"a\0"), b"a\0");
        assert_eq!(UdpService::Cmd.reply(b"echo hi"), b"hi\n");
        assert!(String::from_utf8(UdpService::Cmd.reply(b"seq 100000"))
            .unwrap()
            .contains("exceeds the largest UDP datagram"));
    }
}
