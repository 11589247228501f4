//! The client side: sends datagrams to one server and receives with a 1024-byte buffer and a
//! timeout, recording what arrived.
//!
//! The socket is connected to the server, so only the server's datagrams are received, and a
//! closed port is reported (ICMP port unreachable) instead of waited for. Nothing is retried:
//! a lost datagram is the caller's to see, as in the tutorials' clients.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::{recv_datagram, Datagram, MAX_DATAGRAM, RECV_SIZE};

/// Default time a reply may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a waiting receive looks for a pending ICMP error.
const ERROR_POLL: Duration = Duration::from_millis(50);
/// Arrivals kept in [`UdpClient::arrivals`]; older ones are forgotten.
pub const ARRIVALS_KEPT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum UdpClientError {
    #[error("cannot open a UDP socket to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("datagram of {len} bytes is over the UDP limit of {MAX_DATAGRAM} bytes: not sent")]
    Oversize { len: usize },
    #[error(
        "no datagram from {server} within {waited:?} (the request or its reply was lost, or \
         nothing answers there)"
    )]
    Timeout {
        server: SocketAddr,
        waited: Duration,
    },
    #[error("{server} refused the datagram (ICMP port unreachable: nothing listens there)")]
    Refused { server: SocketAddr },
    #[error("UDP error talking to {server}: {source}")]
    Io {
        server: SocketAddr,
        source: std::io::Error,
    },
}

/// One datagram received, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub data: Vec<u8>,
    /// Its length on the wire (more than `data.len()` when truncated).
    pub wire_len: usize,
    /// Time since the client was created.
    pub at: Duration,
}

impl Arrival {
    pub fn truncated(&self) -> bool {
        self.wire_len > self.data.len()
    }
}

/// A UDP client of one server.
pub struct UdpClient {
    socket: UdpSocket,
    server: SocketAddr,
    recv_size: usize,
    timeout: Duration,
    start: Instant,
    arrivals: VecDeque<Arrival>,
    buf: Vec<u8>,
}

impl UdpClient {
    /// A client of `server` on a fresh local port, reading with a 1024-byte buffer.
    pub async fn connect(server: SocketAddr) -> Result<UdpClient, UdpClientError> {
        let local: SocketAddr = if server.is_ipv4() {
            "127.0.0.1:0".parse().expect("valid address")
        } else {
            "[::1]:0".parse().expect("valid address")
        };
        let err = |source| UdpClientError::Connect {
            addr: server,
            source,
        };
        let socket = UdpSocket::bind(local).await.map_err(err)?;
        socket.connect(server).await.map_err(err)?;
        Ok(UdpClient {
            socket,
            server,
            recv_size: RECV_SIZE,
            timeout: DEFAULT_TIMEOUT,
            start: Instant::now(),
            arrivals: VecDeque::new(),
            buf: vec![0; RECV_SIZE],
        })
    }

    /// Size of the receive buffer (≥ 1; default 1024).
    pub fn recv_size(mut self, n: usize) -> Self {
        self.recv_size = n.clamp(1, MAX_DATAGRAM);
        self.buf = vec![0; self.recv_size];
        self
    }

    /// Time a [`recv`](Self::recv) waits.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The most recent arrivals (up to [`ARRIVALS_KEPT`]), oldest first.
    pub fn arrivals(&self) -> &VecDeque<Arrival> {
        &self.arrivals
    }

    fn io_error(&self, e: std::io::Error) -> UdpClientError {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            UdpClientError::Refused {
                server: self.server,
            }
        } else {
            UdpClientError::Io {
                server: self.server,
                source: e,
            }
        }
    }

    /// Sends one datagram (empty is fine; over [`MAX_DATAGRAM`] bytes is refused).
    pub async fn send(&self, payload: &[u8]) -> Result<(), UdpClientError> {
        if payload.len() > MAX_DATAGRAM {
            return Err(UdpClientError::Oversize { len: payload.len() });
        }
        self.socket
            .send(payload)
            .await
            .map(drop)
            .map_err(|e| self.io_error(e))
    }

    /// Receives one datagram, waiting at most the timeout.
    pub async fn recv(&mut self) -> Result<Arrival, UdpClientError> {
        self.recv_within(self.timeout).await
    }

    /// Receives one datagram, waiting at most `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Result<Arrival, UdpClientError> {
        let deadline = Instant::now() + wait;
        let received = {
            let recv = recv_datagram(&self.socket, &mut self.buf);
            tokio::pin!(recv);
            loop {
                // An ICMP error (nothing listens at the server's port) is pending on the socket
                // without making it readable: look for one now and then while waiting.
                let step = (Instant::now() + ERROR_POLL).min(deadline);
                tokio::select! {
                    r = &mut recv => break Some(r),
                    _ = tokio::time::sleep_until(step) => {
                        if let Ok(Some(e)) = self.socket.take_error() {
                            break Some(Err(e));
                        }
                        if Instant::now() >= deadline {
                            break None;
                        }
                    }
                }
            }
        };
        let datagram: Datagram = match received {
            None => {
                return Err(UdpClientError::Timeout {
                    server: self.server,
                    waited: wait,
                })
            }
            Some(Err(e)) => return Err(self.io_error(e)),
            Some(Ok(d)) => d,
        };
        let arrival = Arrival {
            data: datagram.data,
            wire_len: datagram.wire_len,
            at: self.start.elapsed(),
        };
        if self.arrivals.len() >= ARRIVALS_KEPT {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(arrival.clone());
        Ok(arrival)
    }

    /// Sends `payload` and returns the first datagram that arrives within the timeout.
    pub async fn exchange(&mut self, payload: &[u8]) -> Result<Arrival, UdpClientError> {
        self.send(payload).await?;
        self.recv().await
    }

    /// Receives until nothing arrives for `quiet`, or `max` datagrams arrived, or `limit` passed.
    pub async fn drain(
        &mut self,
        quiet: Duration,
        max: usize,
        limit: Duration,
    ) -> Result<Vec<Arrival>, UdpClientError> {
        let deadline = Instant::now() + limit;
        let mut got = Vec::new();
        while got.len() < max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.recv_within(quiet.min(left)).await {
                Ok(a) => got.push(a),
                Err(UdpClientError::Timeout { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }
}
