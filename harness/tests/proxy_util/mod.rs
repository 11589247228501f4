//! Small servers and clients for the proxy tests, all on 127.0.0.1:0.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use rand::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use stickler::proxy::{Proxy, ProxyConfig, ProxyHandle, ToxicSpec};

/// Every test step is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(30);

pub async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("step timed out")
}

/// Echoes every connection until EOF, then half-closes.
pub async fn echo_server() -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let h = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    (addr, h)
}

/// What a receiving socket saw: the size of each of its own reads, and the bytes.
#[derive(Debug, Default, Clone)]
pub struct Reads {
    pub sizes: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Reads {
    pub fn share_at_most(&self, n: usize) -> f64 {
        self.sizes.iter().filter(|&&s| s <= n).count() as f64 / self.sizes.len().max(1) as f64
    }
}

/// Reads a stream to EOF with a large buffer, noting every read's size.
pub async fn read_all_noting(s: &mut TcpStream) -> std::io::Result<Reads> {
    let mut reads = Reads::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(reads);
        }
        reads.sizes.push(n);
        reads.bytes.extend_from_slice(&buf[..n]);
    }
}

/// Accepts `count` connections; each is read to EOF, noting reads, then answered with
/// `reply` and closed. Returns what each connection (in accept order) saw.
pub async fn sink_server(
    count: usize,
    reply: &'static [u8],
) -> (SocketAddr, JoinHandle<Vec<Reads>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let h = tokio::spawn(async move {
        let mut out = Vec::new();
        for _ in 0..count {
            let (mut s, _) = l.accept().await.unwrap();
            let reads = read_all_noting(&mut s).await.unwrap();
            s.write_all(reply).await.unwrap();
            s.shutdown().await.unwrap();
            out.push(reads);
        }
        out
    });
    (addr, h)
}

pub async fn start(upstream: SocketAddr, toxics: &[&str], seed: u64) -> ProxyHandle {
    let mut c = ProxyConfig::new(upstream);
    c.toxics = toxics
        .iter()
        .map(|t| t.parse::<ToxicSpec>().unwrap())
        .collect();
    c.seed = seed;
    start_with(c).await
}

pub async fn start_with(config: ProxyConfig) -> ProxyHandle {
    let l = stickler::proxy::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    Proxy::start(l, config)
}

pub fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

/// Sends `data` through `addr` (an echo behind it), half-closes, and returns what came back.
pub async fn echo_through(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let data = data.to_vec();
    let writer = tokio::spawn(async move {
        for chunk in data.chunks(8 << 10) {
            w.write_all(chunk).await.unwrap();
        }
        w.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    r.read_to_end(&mut back).await.unwrap();
    writer.await.unwrap();
    back
}

/// Raises the open-file limit to its hard maximum (each proxied connection takes 4 fds here).
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a valid, initialised struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}
