//! The UDP matrix: services × chaos profiles × workloads, measured on loopback sockets.
//!
//! Every cell starts its own server and proxy on 127.0.0.1:0, sends [`UdpMatrixConfig::datagrams`]
//! numbered requests through the proxy, and classifies every datagram that came back
//! ([`super::verdict`]):
//!
//! - requests carry a tag (`udp-0007 …`), so each reply names the request it answers;
//! - a reply that is exactly the expected one, first of its tag, after no higher tag: `ok`;
//!   after a higher tag: `reordered`; a proper prefix of the expected one: `truncated`;
//! - a tag never seen: `lost`; a tag seen again: `duplicated` (one per extra copy);
//! - a datagram that is no whole reply and no prefix of one: `merged` (it starts with a whole
//!   reply and goes on), `split` (a piece from inside a reply) or `foreign` (neither). UDP
//!   never does these; the matrix counts them to show it.
//!
//! `time` replies carry no tag (the reply is the clock), so there reordering cannot be seen. In
//! lockstep the client waits a little after each reply, and the first clock reading during an
//! exchange answers it, any other is a copy, none is a loss. A `time` burst goes out from one
//! socket per request (the proxy maps each to its own upstream socket), so the socket a reply
//! reaches names its request.
//!
//! Workloads: `small` (lockstep, ~40-byte requests), `large` (lockstep, replies over the
//! 1024-byte buffer: `echo`/`upper`/`time` requests of 1100 bytes, which the server itself reads
//! into 1024, and `cmd` `seq` replies of ~2 KB), `burst` (every request sent back to back, then
//! every reply read).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{UdpClient, UdpClientError};
use super::proxy::{UdpProxy, UdpProxyConfig};
use super::record::{Action, DatagramSink};
use super::server::{self, UdpServerConfig};
use super::toxic::UdpToxic;
pub use super::verdict::DatagramVerdict;
use super::verdict::{classify, Arrived, DatagramCounts, Expected};
use super::UdpService;
use crate::chaos::seed::{derive, Stream};

/// A chaos profile of the UDP matrix.
#[derive(Debug, Clone, Copy)]
pub struct UdpProfile {
    pub name: &'static str,
    pub about: &'static str,
    pub toxics: &'static [&'static str],
}

/// The profiles, in table order.
pub const PROFILES: [UdpProfile; 7] = [
    UdpProfile {
        name: "none",
        about: "no chaos: loopback as it is",
        toxics: &[],
    },
    UdpProfile {
        name: "drop",
        about: "10% of drops each way, each taking 2 datagrams in a row",
        toxics: &["both:drop=0.1,burst=2"],
    },
    UdpProfile {
        name: "duplicate",
        about: "10% of datagrams sent twice, each way",
        toxics: &["both:dup=0.1"],
    },
    UdpProfile {
        name: "reorder",
        about: "a window of 4 datagrams released in random order, each way",
        toxics: &["both:reorder=4,hold=10ms"],
    },
    UdpProfile {
        name: "delay",
        about: "2 ms ± 1 ms each way (jitter lets datagrams overtake)",
        toxics: &["both:delay=2ms,jitter=1ms"],
    },
    UdpProfile {
        name: "truncate",
        about: "replies cut to 16 bytes, as a 16-byte receive buffer would",
        toxics: &["down:truncate=16"],
    },
    UdpProfile {
        name: "combined",
        about: "drop, duplicate, reorder and delay at once",
        toxics: &[
            "both:drop=0.1,burst=2",
            "down:dup=0.2",
            "up:reorder=4,hold=10ms",
            "down:delay=1ms,jitter=1ms",
        ],
    },
];

/// What the client sends.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum UdpWorkload {
    /// Lockstep, small requests and replies.
    Small,
    /// Lockstep, replies over the 1024-byte receive buffer.
    Large,
    /// Every request back to back, then every reply.
    Burst,
}

impl UdpWorkload {
    pub const ALL: [UdpWorkload; 3] = [UdpWorkload::Small, UdpWorkload::Large, UdpWorkload::Burst];

    pub fn name(self) -> &'static str {
        match self {
            UdpWorkload::Small => "small",
            UdpWorkload::Large => "large",
            UdpWorkload::Burst => "burst",
        }
    }

    /// Request `i` for `service`.
    pub fn request(self, service: UdpService, i: usize) -> Vec<u8> {
        let large = self == UdpWorkload::Large;
        match (service, large) {
            (UdpService::Cmd, false) => format!("echo udp-{i:04} hello from a datagram").into(),
            // Disjoint ranges: every reply starts with its own first number.
            (UdpService::Cmd, true) => {
                let first = 100_000 + 1000 * i;
                format!("seq {first} {}", first + 300).into()
            }
            (_, false) => format!("udp-{i:04} hello from a datagram client").into(),
            (_, true) => {
                let mut r = format!("udp-{i:04} ").into_bytes();
                r.resize(1100, b'x');
                r
            }
        }
    }
}

/// What the proxy itself reports doing in a cell (from its recording).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyTally {
    pub dropped: u32,
    pub duplicated: u32,
    pub truncated: u32,
    pub overflow: u32,
}

/// One measured cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UdpCell {
    pub service: UdpService,
    pub profile: String,
    pub workload: UdpWorkload,
    pub seed: u64,
    pub requests: u32,
    /// Datagrams that came back.
    pub arrivals: u32,
    pub counts: DatagramCounts,
    pub proxy: ProxyTally,
    pub elapsed_ms: u64,
}

impl UdpCell {
    /// `SERVICE/PROFILE/WORKLOAD`.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.service, self.profile, self.workload.name())
    }
}

/// A whole measured UDP matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UdpReport {
    pub seed: u64,
    pub datagrams: u32,
    pub elapsed_ms: u64,
    pub cells: Vec<UdpCell>,
}

impl UdpReport {
    /// (cell ID, verdicts seen) for every cell, for comparison with an expected table.
    pub fn outcomes(&self) -> Vec<(String, String)> {
        self.cells
            .iter()
            .map(|c| (c.id(), c.counts.kinds()))
            .collect()
    }

    /// Datagrams that broke a message boundary, over every cell.
    pub fn boundary_breaks(&self) -> u32 {
        self.cells.iter().map(|c| c.counts.boundary_breaks()).sum()
    }

    pub fn total_arrivals(&self) -> u32 {
        self.cells.iter().map(|c| c.arrivals).sum()
    }
}

/// How the matrix runs. [`Default`]: seed 1, 32 datagrams a cell, 250 ms per reply, 150 ms of
/// quiet ends a read-out, 16 cells at once.
#[derive(Debug, Clone)]
pub struct UdpMatrixConfig {
    pub seed: u64,
    pub datagrams: u32,
    /// Time a lockstep exchange waits for its reply.
    pub timeout: Duration,
    /// Silence that ends reading the remaining replies.
    pub quiet: Duration,
    pub concurrency: usize,
    pub services: Vec<UdpService>,
}

impl Default for UdpMatrixConfig {
    fn default() -> Self {
        UdpMatrixConfig {
            seed: 1,
            datagrams: 32,
            timeout: Duration::from_millis(250),
            quiet: Duration::from_millis(150),
            concurrency: 16,
            services: UdpService::ALL.to_vec(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UdpMatrixError {
    #[error("cannot set up cell {cell}: {reason}")]
    Setup { cell: String, reason: String },
    #[error("cell {cell}: {source}")]
    Client {
        cell: String,
        source: UdpClientError,
    },
}

/// Measures every cell.
pub async fn run_udp_matrix(config: &UdpMatrixConfig) -> Result<UdpReport, UdpMatrixError> {
    let start = Instant::now();
    let limit = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut set = JoinSet::new();
    let mut order = Vec::new();
    for &service in &config.services {
        for workload in UdpWorkload::ALL {
            for profile in PROFILES {
                order.push((service, profile.name, workload));
                let (limit, config) = (limit.clone(), config.clone());
                set.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    run_cell(service, profile, workload, &config).await
                });
            }
        }
    }
    let mut cells = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(cell) => cells.push(cell?),
            Err(e) => {
                return Err(UdpMatrixError::Setup {
                    cell: "?".into(),
                    reason: format!("cell task failed: {e}"),
                })
            }
        }
    }
    cells.sort_by_key(|c| {
        order
            .iter()
            .position(|(s, p, w)| *s == c.service && *p == c.profile && *w == c.workload)
    });
    Ok(UdpReport {
        seed: config.seed,
        datagrams: config.datagrams,
        elapsed_ms: start.elapsed().as_millis() as u64,
        cells,
    })
}

async fn run_cell(
    service: UdpService,
    profile: UdpProfile,
    workload: UdpWorkload,
    config: &UdpMatrixConfig,
) -> Result<UdpCell, UdpMatrixError> {
    let id = format!("{service}/{}/{}", profile.name, workload.name());
    let setup = |reason: String| UdpMatrixError::Setup {
        cell: id.clone(),
        reason,
    };
    let started = Instant::now();
    let seed = derive(config.seed, Stream::Named(&id)).seed;
    let local: SocketAddr = ([127, 0, 0, 1], 0).into();
    let server = server::spawn_local(UdpServerConfig::new(service))
        .await
        .map_err(|e| setup(format!("server socket: {e}")))?;
    let mut proxy_config = UdpProxyConfig::new(server.addr());
    proxy_config.seed = seed;
    proxy_config.record = Some(DatagramSink::memory(false));
    for t in profile.toxics {
        proxy_config
            .toxics
            .push(t.parse::<UdpToxic>().map_err(|e| setup(e.to_string()))?);
    }
    let proxy_socket = UdpSocket::bind(local)
        .await
        .map_err(|e| setup(format!("proxy socket: {e}")))?;
    let proxy = UdpProxy::start(proxy_socket, proxy_config).map_err(|e| setup(e.to_string()))?;
    let measured = exchange_all(service, workload, config, proxy.local_addr()).await;
    proxy.shutdown().await;
    // A server that stopped with an error has logged it; the cell is judged by what arrived.
    let _ = server.stop().await;
    let (expected, arrivals) = measured.map_err(|source| UdpMatrixError::Client {
        cell: id.clone(),
        source,
    })?;
    let n = config.datagrams as usize;
    let mut tally = ProxyTally::default();
    for e in proxy.events() {
        match e.action {
            Action::Drop => tally.dropped += 1,
            Action::Overflow => tally.overflow += 1,
            Action::Send => {
                tally.duplicated += u32::from(e.copy == 1);
                tally.truncated += u32::from(e.truncated_from.is_some() && e.copy == 0);
            }
        }
    }
    Ok(UdpCell {
        service,
        profile: profile.name.into(),
        workload,
        seed,
        requests: n as u32,
        arrivals: arrivals.len() as u32,
        counts: classify(&expected, n, &arrivals),
        proxy: tally,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Quiet time after a `time` reply in lockstep, to see its copies before the next request.
const SETTLE: Duration = Duration::from_millis(10);

/// Sends the workload's requests through `proxy` and collects every datagram that came back.
async fn exchange_all(
    service: UdpService,
    workload: UdpWorkload,
    config: &UdpMatrixConfig,
    proxy: SocketAddr,
) -> Result<(Expected, Vec<Arrived>), UdpClientError> {
    let n = config.datagrams as usize;
    let requests: Vec<Vec<u8>> = (0..n).map(|i| workload.request(service, i)).collect();
    let expected = match service {
        UdpService::Time => Expected::Clock,
        _ => Expected::Exact(requests.iter().map(|r| service.reply(r)).collect()),
    };
    let mut client = UdpClient::connect(proxy).await?.timeout(config.timeout);
    let mut arrivals = Vec::new();
    match workload {
        UdpWorkload::Small | UdpWorkload::Large => {
            for (i, request) in requests.iter().enumerate() {
                client.send(request).await?;
                let deadline = Instant::now() + config.timeout;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match client.recv_within(left).await {
                        Ok(a) => {
                            let answers_this = match (&expected, expected.identify(&a.data)) {
                                (Expected::Clock, Some(_)) => true,
                                (Expected::Exact(_), Some((j, _))) => j == i,
                                (_, None) => false,
                            };
                            arrivals.push(Arrived {
                                window: Some(i),
                                data: a.data,
                            });
                            if answers_this {
                                break;
                            }
                        }
                        Err(UdpClientError::Timeout { .. }) => break,
                        Err(e) => return Err(e),
                    }
                }
                if let Expected::Clock = expected {
                    // Untagged replies: copies of this one must be seen before the next request.
                    let copies = client.drain(SETTLE, n, SETTLE * 4).await?;
                    arrivals.extend(copies.into_iter().map(|a| Arrived {
                        window: Some(i),
                        data: a.data,
                    }));
                }
            }
        }
        UdpWorkload::Burst if matches!(expected, Expected::Clock) => {
            return burst_from_sockets(&requests, config, proxy)
                .await
                .map(|arrivals| (expected, arrivals));
        }
        UdpWorkload::Burst => {
            for request in &requests {
                client.send(request).await?;
            }
        }
    }
    let rest = client
        .drain(config.quiet, 4 * n + 16, Duration::from_secs(5))
        .await?;
    arrivals.extend(rest.into_iter().map(|a| Arrived {
        window: None,
        data: a.data,
    }));
    Ok((expected, arrivals))
}

/// A burst of untagged requests: each from its own socket, all back to back, so the socket a
/// reply reaches names its request (`window` = the request's index).
async fn burst_from_sockets(
    requests: &[Vec<u8>],
    config: &UdpMatrixConfig,
    proxy: SocketAddr,
) -> Result<Vec<Arrived>, UdpClientError> {
    let mut clients = Vec::with_capacity(requests.len());
    for _ in requests {
        clients.push(UdpClient::connect(proxy).await?);
    }
    for (client, request) in clients.iter().zip(requests) {
        client.send(request).await?;
    }
    let mut set = JoinSet::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let quiet = config.quiet;
        set.spawn(async move {
            let got = client.drain(quiet, 16, Duration::from_secs(5)).await;
            (i, got)
        });
    }
    let mut arrivals = Vec::new();
    while let Some(done) = set.join_next().await {
        let Ok((i, got)) = done else { continue };
        arrivals.extend(got?.into_iter().map(|a| Arrived {
            window: Some(i),
            data: a.data,
        }));
    }
    Ok(arrivals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_requests_and_replies_pass_the_buffer() {
        for s in UdpService::ALL {
            let r = UdpWorkload::Large.request(s, 3);
            let reply = s.reply(&r);
            assert!(r.len() > super::super::RECV_SIZE || reply.len() > super::super::RECV_SIZE);
        }
    }
}
