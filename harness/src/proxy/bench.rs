//! `stickler bench proxy`: pass-through cost of the proxy, measured side by side with a direct
//! loopback connection in one run (method in docs/benchmarks.md#proxy).
//!
//! Throughput: a sink reads a byte count announced up front, then that many bytes, then
//! answers one byte; a pusher writes the bytes in fixed-size writes. Latency: lockstep
//! ping-pong of small messages with TCP_NODELAY against an echo server, p50/p99 per round trip.
//! Servers and clients run on plain threads with blocking sockets; the proxy runs on its own
//! tokio runtime, as `stickler proxy` would.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{FastMode, Proxy, ProxyConfig};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Bytes per push.
    pub bytes: u64,
    /// Size of each write of the pusher.
    pub write_size: usize,
    /// Pushes per path; the best one counts.
    pub runs: usize,
    /// Round trips of the ping-pong.
    pub rounds: usize,
    /// Size of a ping.
    pub ping_size: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            bytes: 2 << 30,
            write_size: 64 << 10,
            runs: 3,
            rounds: 20_000,
            ping_size: 64,
        }
    }
}

/// One path's figures.
#[derive(Debug, Clone)]
pub struct PathResult {
    pub name: String,
    /// Best throughput over the runs, bytes per second.
    pub throughput: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// Runs the servers and a proxy per path, then measures the paths interleaved (push by push,
/// and ping-pong in blocks of round trips taken in turn) so that a change in the machine's load
/// falls on all of them alike. Returns the figures, direct first.
pub fn run(opts: &BenchOptions) -> io::Result<Vec<PathResult>> {
    let sink = spawn_server(serve_sink)?;
    let echo = spawn_server(serve_echo)?;
    let mut paths = vec![("direct".to_string(), sink, echo)];
    let mut stops = Vec::new();
    for (name, mode) in [
        ("proxy (copy)", FastMode::Copy),
        ("proxy (splice)", FastMode::Splice),
    ] {
        let (psink, s1) = spawn_proxy(sink, mode)?;
        let (pecho, s2) = spawn_proxy(echo, mode)?;
        stops.extend([s1, s2]);
        paths.push((name.to_string(), psink, pecho));
    }
    let mut best = vec![0f64; paths.len()];
    for _ in 0..opts.runs.max(1) {
        for (i, (_, sink, _)) in paths.iter().enumerate() {
            best[i] = best[i].max(push(*sink, opts.bytes, opts.write_size)?);
        }
    }
    let mut pingers = paths
        .iter()
        .map(|(_, _, echo)| Pinger::new(*echo, opts.ping_size.max(1)))
        .collect::<io::Result<Vec<_>>>()?;
    const BLOCK: usize = 500;
    for p in &mut pingers {
        p.rounds(BLOCK, false)?; // warm-up, not counted
    }
    let mut done = 0;
    while done < opts.rounds.max(1) {
        let n = BLOCK.min(opts.rounds - done).max(1);
        for p in &mut pingers {
            p.rounds(n, true)?;
        }
        done += n;
    }
    for s in stops {
        let _ = s.send(());
    }
    Ok(paths
        .into_iter()
        .zip(best)
        .zip(pingers)
        .map(|(((name, _, _), throughput), p)| {
            let q = |x: f64| Duration::from_nanos(p.hist.value_at_quantile(x));
            PathResult {
                name,
                throughput,
                p50: q(0.5),
                p99: q(0.99),
            }
        })
        .collect())
}

/// The figures as a table with ratios to the first (direct) path.
pub fn report(results: &[PathResult]) -> String {
    let mut t = comfy_table::Table::new();
    t.set_header([
        "path",
        "throughput",
        "x direct",
        "p50 RTT",
        "p99 RTT",
        "p50 added",
    ]);
    let base = &results[0];
    for r in results {
        let added = r.p50.as_secs_f64() - base.p50.as_secs_f64();
        t.add_row([
            r.name.clone(),
            format!("{:.2} GB/s", r.throughput / 1e9),
            format!("{:.2}", r.throughput / base.throughput),
            format!("{:.1} us", r.p50.as_secs_f64() * 1e6),
            format!("{:.1} us", r.p99.as_secs_f64() * 1e6),
            if r.name == base.name {
                "-".into()
            } else {
                format!("{:+.1} us", added * 1e6)
            },
        ]);
    }
    t.to_string()
}

fn spawn_server(serve: fn(TcpStream) -> io::Result<()>) -> io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            thread::spawn(move || serve(s));
        }
    });
    Ok(addr)
}

fn serve_sink(mut s: TcpStream) -> io::Result<()> {
    let mut head = [0u8; 8];
    s.read_exact(&mut head)?;
    let mut left = u64::from_le_bytes(head);
    let mut buf = vec![0u8; 256 << 10];
    while left > 0 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        left = left.saturating_sub(n as u64);
    }
    s.write_all(b"k")
}

fn serve_echo(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])?;
    }
}

fn push(addr: SocketAddr, bytes: u64, write_size: usize) -> io::Result<f64> {
    let mut s = TcpStream::connect(addr)?;
    let chunk = vec![0x5au8; write_size.max(1)];
    let t0 = Instant::now();
    s.write_all(&bytes.to_le_bytes())?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack)?;
    Ok(bytes as f64 / t0.elapsed().as_secs_f64())
}

/// A lockstep ping-pong connection and its round-trip histogram (ns).
struct Pinger {
    s: TcpStream,
    msg: Vec<u8>,
    back: Vec<u8>,
    hist: Histogram<u64>,
}

impl Pinger {
    fn new(addr: SocketAddr, size: usize) -> io::Result<Pinger> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Pinger {
            s,
            msg: vec![0x42u8; size],
            back: vec![0u8; size],
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
        })
    }

    fn rounds(&mut self, n: usize, count: bool) -> io::Result<()> {
        for _ in 0..n {
            let t0 = Instant::now();
            self.s.write_all(&self.msg)?;
            self.s.read_exact(&mut self.back)?;
            if count {
                self.hist.saturating_record(t0.elapsed().as_nanos() as u64);
            }
        }
        Ok(())
    }
}

/// A proxy on its own thread and runtime; send on the channel to stop it.
fn spawn_proxy(
    upstream: SocketAddr,
    mode: FastMode,
) -> io::Result<(SocketAddr, std::sync::mpsc::Sender<()>)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    l.set_nonblocking(true)?;
    let addr = l.local_addr()?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(l).expect("listener");
            let mut c = ProxyConfig::new(upstream);
            c.fast_mode = mode;
            let h = Proxy::start(listener, c);
            let _ = tokio::task::spawn_blocking(move || rx.recv()).await;
            h.shutdown().await;
        });
    });
    Ok((addr, tx))
}
