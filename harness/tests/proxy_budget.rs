//! The proxy-wide budget of queued bytes (`stickler proxy --max-queued`, 64 MiB by default).
//!
//! A real `stickler proxy` process relays connections to an upstream that accepts them and never
//! reads: each client writes 1 MiB, which the proxy reads and cannot write. Without a proxy-wide
//! budget each connection holds up to its own cap (through `both:split=1..4`, 1 MiB counted and
//! more in memory; on the fast path, one 256 KiB read), so hundreds of connections hold hundreds
//! of MiB; with it, the proxy's resident memory (`VmRSS` in `/proc/PID/status`) must grow by
//! less than 128 MiB. Meanwhile a fresh connection through the same proxy, which the upstream
//! echoes, must still come back whole.
//!
//! The default run has 300 connections through the split and 1,000 on the fast path; the full
//! size, 1,000 through the split, and the check that the meter sees the growth without a budget
//! are `#[ignore]`d: `cargo test -p stickler --test proxy_budget -- --ignored --test-threads 1`.
//!
//! The in-process tests check the accounting itself: what a proxy counts as queued stays under
//! its bound while connections are stuck, and falls back to exactly zero however they end
//! (toxics swapped while bytes are held, reset by `reset_peer`, closed by `timeout`, the proxy
//! shut down); and with no budget at all a connection is still relayed, on its floor.

mod proxy_api_util;
mod proxy_util;

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stickler::proxy::builder::ChaosProxy;
use stickler::proxy::pipeline::{PIECE_SLOT, QUEUE_CAP, QUEUE_FLOOR};
use stickler::proxy::{ProxyConfig, ProxyHandle, ToxicSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use proxy_util::{echo_server, echo_through, random_bytes, start_with, within};

/// Resident growth allowed to the proxy process.
const MAX_GROWTH: u64 = 128 << 20;
/// What each stuck client writes.
const PER_CLIENT: usize = 1 << 20;
/// The proxy's largest read in a toxic's path.
const READ: usize = 64 << 10;

/// `VmRSS` of process `pid`, in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A free port on 127.0.0.1 (bound, then released for the child to take).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A `stickler proxy` process; killed on drop.
struct ProxyProcess(Child);

impl ProxyProcess {
    /// `stickler proxy ARGS`, once `probe` accepts connections.
    fn spawn(args: &[&str], probe: SocketAddr) -> ProxyProcess {
        let child = Command::new(assert_cmd::cargo::cargo_bin("stickler"))
            .arg("proxy")
            .args(args)
            .spawn()
            .unwrap();
        let p = ProxyProcess(child);
        let t0 = Instant::now();
        while std::net::TcpStream::connect(probe).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the proxy never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Ctrl-C, as a user would stop it; waits for a clean exit.
    fn stop(mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                assert!(st.success(), "{st}");
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the proxy did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An upstream that keeps every connection it accepts unread while `park` is set, and echoes
/// the ones it accepts after. Returns its address and the count of parked connections. Its
/// receive buffers are small, so that the proxy's writes toward a parked connection block after
/// a few KiB rather than once the kernel has taken in a hundred KiB of 1-byte pieces.
async fn parking_upstream(park: Arc<AtomicBool>) -> (SocketAddr, Arc<AtomicUsize>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let l = socket.listen(4096).unwrap();
    let addr = l.local_addr().unwrap();
    let parked = Arc::new(AtomicUsize::new(0));
    let count = parked.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            if park.load(Ordering::SeqCst) {
                held.push(s);
                count.fetch_add(1, Ordering::SeqCst);
            } else {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                });
            }
        }
    });
    (addr, parked)
}

/// `n` clients through `addr`, each writing `size` bytes (its writes block once the proxy stops
/// reading) and then staying open; `written` counts what they got out. Abort them to close.
async fn stuck_clients(
    addr: SocketAddr,
    n: usize,
    size: usize,
    written: Arc<AtomicU64>,
) -> Vec<JoinHandle<()>> {
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let written = written.clone();
        clients.push(tokio::spawn(async move {
            let chunk = vec![i as u8; 64 << 10];
            for _ in 0..size / chunk.len() {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
                written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            std::future::pending::<()>().await;
        }));
    }
    clients
}

/// The largest `VmRSS` of `pid` seen until `stop`, sampled every 20 ms on a thread.
fn rss_meter(pid: u32, stop: Arc<AtomicBool>) -> (Arc<AtomicU64>, std::thread::JoinHandle<()>) {
    let max = Arc::new(AtomicU64::new(0));
    let m = max.clone();
    let h = std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            if let Some(r) = rss(pid) {
                m.fetch_max(r, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    (max, h)
}

/// `stuck` clients write 1 MiB each through a `stickler proxy` process (`toxics`, then `extra`
/// arguments) toward an upstream that never reads; then a fresh connection is echoed through
/// it. Returns the proxy's resident growth.
async fn stuck_process(stuck: usize, toxics: &[&str], extra: &[&str]) -> u64 {
    proxy_util::raise_fd_limit();
    let park = Arc::new(AtomicBool::new(true));
    let (upstream, parked) = parking_upstream(park.clone()).await;
    let listen = free_addr();
    let (l, u) = (listen.to_string(), upstream.to_string());
    let mut args = vec!["--listen", &l, "--upstream", &u];
    for t in toxics {
        args.extend(["--toxic", t]);
    }
    args.extend_from_slice(extra);
    let proxy = ProxyProcess::spawn(&args, listen);
    let pid = proxy.pid();
    // The probe that waited for the listener is parked too: count from here.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probes = parked.load(Ordering::SeqCst);
    let baseline = rss(pid).expect("VmRSS is readable");
    let stop_meter = Arc::new(AtomicBool::new(false));
    let (max_rss, meter) = rss_meter(pid, stop_meter.clone());

    let written = Arc::new(AtomicU64::new(0));
    let clients = stuck_clients(listen, stuck, PER_CLIENT, written.clone()).await;
    // Every connection has reached the upstream and the proxy's memory has stopped growing: it
    // holds what it is going to hold (a bounded wait; the memory is measured either way).
    let t0 = Instant::now();
    let (mut last, mut since) = (0u64, Instant::now());
    while t0.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss(pid).unwrap_or(0);
        if now > last + (1 << 20) {
            (last, since) = (now, Instant::now());
        } else if parked.load(Ordering::SeqCst) >= probes + stuck
            && since.elapsed() > Duration::from_secs(3)
        {
            break;
        }
    }
    let settled = t0.elapsed();

    // A fresh connection, which the upstream echoes, still gets through the same proxy.
    park.store(false, Ordering::SeqCst);
    let msg: Vec<u8> = (0..200u8).collect();
    let t1 = Instant::now();
    let echoed = tokio::time::timeout(Duration::from_secs(60), async {
        let mut s = TcpStream::connect(listen).await?;
        s.write_all(&msg).await?;
        s.shutdown().await?;
        let mut back = Vec::new();
        s.read_to_end(&mut back).await?;
        Ok::<_, std::io::Error>(back)
    })
    .await;
    let echo_time = t1.elapsed();

    stop_meter.store(true, Ordering::SeqCst);
    meter.join().unwrap();
    let growth = max_rss.load(Ordering::SeqCst).saturating_sub(baseline);
    eprintln!(
        "{stuck} stuck connections through [{}] {}: {} MiB written by the clients, settled in \
         {settled:.1?}, fresh echo in {echo_time:.1?}; proxy VmRSS {} MiB at start, grew by {} MiB",
        toxics.join(", "),
        extra.join(" "),
        written.load(Ordering::Relaxed) >> 20,
        baseline >> 20,
        growth >> 20
    );
    for c in &clients {
        c.abort();
    }
    let echoed = echoed
        .expect("the fresh connection was not relayed within 60 s")
        .expect("the fresh connection failed");
    assert_eq!(echoed, msg, "the fresh connection's echo");
    proxy.stop();
    growth
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_connections_stay_within_the_budget_and_a_fresh_one_is_relayed() {
    let growth = stuck_process(300, &["both:split=1..4"], &[]).await;
    assert!(
        growth < MAX_GROWTH,
        "the proxy grew by {} MiB",
        growth >> 20
    );
}

/// On the fast path the kernel takes most of each 1 MiB; what stays resident is what is in
/// flight, not a buffer per direction as large as its largest read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_on_the_fast_path_stay_small() {
    let growth = stuck_process(1000, &[], &[]).await;
    assert!(
        growth < MAX_GROWTH,
        "the proxy grew by {} MiB",
        growth >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full size: 1,000 stuck connections through the split"]
async fn a_thousand_stuck_connections_stay_within_the_budget() {
    let growth = stuck_process(1000, &["both:split=1..4"], &[]).await;
    assert!(
        growth < MAX_GROWTH,
        "the proxy grew by {} MiB",
        growth >> 20
    );
}

/// The meter sees what the budget saves: the same 300 connections with a budget too large to
/// matter grow the proxy past the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "several hundred MiB in the proxy; checks the test above can fail"]
async fn without_a_budget_the_same_connections_grow_the_proxy_past_the_limit() {
    let growth = stuck_process(300, &["both:split=1..4"], &["--max-queued", "1024g"]).await;
    assert!(
        growth >= MAX_GROWTH,
        "the proxy grew by {} MiB only",
        growth >> 20
    );
}

/// Polls `h.queued_bytes()` until it has not changed for 500 ms (at most 30 s) and returns it.
async fn settled_queue(h: &ProxyHandle) -> usize {
    let t0 = Instant::now();
    let (mut last, mut since) = (usize::MAX, Instant::now());
    while t0.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let q = h.queued_bytes();
        if q != last {
            (last, since) = (q, Instant::now());
        } else if since.elapsed() > Duration::from_millis(500) {
            break;
        }
    }
    last
}

/// Waits (at most 30 s) until no connection is open, then returns what is still counted.
async fn queued_once_closed(h: &ProxyHandle) -> usize {
    let t0 = Instant::now();
    while h.active() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{} connections still open",
            h.active()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.queued_bytes()
}

fn specs(list: &[&str]) -> Vec<ToxicSpec> {
    list.iter().map(|t| t.parse().unwrap()).collect()
}

/// What `conns` stuck connections may hold at most with a budget of `limit`: the budget, the
/// two reads (one per runtime thread) that may pass it, each of its bytes counted `per_byte`
/// times by what the toxics make of it, and every direction's floor.
fn bound(limit: usize, conns: usize, per_byte: usize) -> usize {
    limit + 2 * READ * per_byte + conns * 2 * QUEUE_FLOOR
}

/// What a byte may cost once cut into a 1-byte piece, in a queue that doubled to take it.
const SPLIT_BYTE: usize = 1 + 2 * PIECE_SLOT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_bytes_stay_bounded_and_fall_to_zero_however_connections_end() {
    const LIMIT: usize = 16 << 20;
    const CONNS: usize = 40;
    let park = Arc::new(AtomicBool::new(true));
    let (upstream, _) = parking_upstream(park).await;
    let mut config = ProxyConfig::new(upstream);
    // Each connection's 1 MiB is held inside the toxic: 40 MiB in all without the budget.
    config.toxics = specs(&["up:coalesce=3600s,max=4m"]);
    config.max_queued = LIMIT;
    let h = start_with(config).await;
    assert_eq!(h.max_queued(), LIMIT);
    let written = Arc::new(AtomicU64::new(0));

    let clients = stuck_clients(h.local_addr(), CONNS, PER_CLIENT, written.clone()).await;
    let q = settled_queue(&h).await;
    eprintln!("{CONNS} stuck in a coalesce: {} KiB queued", q >> 10);
    assert!(
        q > LIMIT / 2,
        "{q} bytes queued: the connections did not fill the budget"
    );
    assert!(
        q <= bound(LIMIT, CONNS, 1),
        "{q} bytes queued, over the budget"
    );

    // Toxics swapped while bytes are held: what the coalesce held is released into the queue
    // (and toward the upstream, which does not read), the split cuts what comes next; nothing
    // is counted twice or lost.
    h.set_toxics(specs(&["up:split=1..4"])).unwrap();
    let q = settled_queue(&h).await;
    eprintln!("{CONNS} stuck behind the split: {} KiB queued", q >> 10);
    assert!(
        q <= bound(LIMIT, CONNS, SPLIT_BYTE),
        "{q} bytes queued after the swap"
    );
    // Reset by a toxic: every connection ends, and with it what it held.
    h.set_toxics(specs(&["both:reset_peer=0"])).unwrap();
    assert_eq!(
        queued_once_closed(&h).await,
        0,
        "left counted after reset_peer"
    );
    for c in &clients {
        c.abort();
    }

    // Closed by a timeout toxic while bytes are held.
    h.set_toxics(specs(&["up:coalesce=3600s,max=4m"])).unwrap();
    let clients = stuck_clients(h.local_addr(), 8, PER_CLIENT, written.clone()).await;
    assert!(settled_queue(&h).await > 0);
    h.set_toxics(specs(&["both:timeout=10ms"])).unwrap();
    assert_eq!(
        queued_once_closed(&h).await,
        0,
        "left counted after timeout"
    );
    for c in &clients {
        c.abort();
    }

    // Held when the proxy shuts down.
    h.set_toxics(specs(&["up:coalesce=3600s,max=4m"])).unwrap();
    let clients = stuck_clients(h.local_addr(), 8, PER_CLIENT, written.clone()).await;
    assert!(settled_queue(&h).await > 0);
    h.shutdown().await;
    assert_eq!(h.active(), 0);
    assert_eq!(h.queued_bytes(), 0, "left counted after the shutdown");
    for c in &clients {
        c.abort();
    }
}

/// On the fast path each direction holds one read in flight while its write is blocked: 16
/// connections of 4 MiB (more than the kernel's buffers take) fill a 1 MiB budget, four times
/// over without it, and leave nothing counted once shut down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_path_reads_in_flight_are_held_in_the_budget() {
    const LIMIT: usize = 1 << 20;
    const CONNS: usize = 16;
    let park = Arc::new(AtomicBool::new(true));
    let (upstream, _) = parking_upstream(park).await;
    let mut config = ProxyConfig::new(upstream);
    config.max_queued = LIMIT;
    let h = start_with(config).await;
    let written = Arc::new(AtomicU64::new(0));
    let clients = stuck_clients(h.local_addr(), CONNS, 4 << 20, written).await;
    let q = settled_queue(&h).await;
    eprintln!("{CONNS} stuck on the fast path: {} KiB in flight", q >> 10);
    assert!(
        q > LIMIT / 2,
        "{q} bytes in flight: the reads are not counted"
    );
    assert!(q <= LIMIT + CONNS * 2 * QUEUE_FLOOR, "{q} bytes in flight");
    h.shutdown().await;
    assert_eq!(h.queued_bytes(), 0, "left counted after the shutdown");
    for c in &clients {
        c.abort();
    }
}

/// A direction holds what a latency toxic delays up to its queue cap, then stops reading: 1 MiB
/// by default, more when the proxy is given a larger [`ProxyConfig::queue_cap`] (the latency
/// sweep's proxies, timing exchanges of replies as large as the default cap).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direction_holds_up_to_its_queue_cap() {
    const SENT: usize = 8 << 20;
    let park = Arc::new(AtomicBool::new(true));
    let (upstream, _) = parking_upstream(park).await;
    let mut held = Vec::new();
    for cap in [None, Some(6 << 20)] {
        let mut config = ProxyConfig::new(upstream);
        config.toxics = specs(&["up:latency=3600s"]);
        if let Some(cap) = cap {
            config.queue_cap = cap;
        }
        let h = start_with(config).await;
        let written = Arc::new(AtomicU64::new(0));
        let clients = stuck_clients(h.local_addr(), 1, SENT, written).await;
        let cap = cap.unwrap_or(QUEUE_CAP);
        // Filled (however slowly a busy machine runs the proxy), then settled.
        let t0 = Instant::now();
        while h.queued_bytes() < cap && t0.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let q = settled_queue(&h).await;
        eprintln!("queue cap {} KiB: {} KiB held", cap >> 10, q >> 10);
        // Full to the cap, and past it by one read and what its pieces' slots cost at most.
        assert!(q >= cap, "{q} bytes held, under the cap of {cap}");
        assert!(q <= cap + 2 * READ, "{q} bytes held, past the cap of {cap}");
        held.push(q);
        h.shutdown().await;
        for c in &clients {
            c.abort();
        }
    }
    assert!(held[1] > 4 * held[0], "held {held:?}");
}

/// With no budget at all every direction lives on its floor: slower, never stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_budget_at_all_a_connection_is_still_relayed() {
    let (echo, _) = echo_server().await;
    let proxy = ChaosProxy::builder(echo)
        .toxic("both:split=1..16")
        .unwrap()
        .max_queued(0)
        .start()
        .await
        .unwrap();
    let data = random_bytes(3, 64 << 10);
    let back = within(echo_through(proxy.addr(), &data)).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data, "bytes changed on the way");
    let h = proxy.handle();
    assert_eq!(queued_once_closed(h).await, 0);
    proxy.shutdown().await;
}

/// `stickler proxy --api ... --max-queued`: each proxy the API makes has that budget, and
/// `/metrics` shows it with what is queued.
#[test]
fn the_api_proxies_take_the_budget_and_show_it_in_metrics() {
    use proxy_api_util::http;
    let api = free_addr();
    let a = api.to_string();
    let proxy = ProxyProcess::spawn(&["--api", &a, "--max-queued", "8m"], api);
    let echo = proxy_api_util::echo_server();
    let (st, b) = http(
        api,
        "POST",
        "/proxies",
        &format!(r#"{{"name":"e","listen":"127.0.0.1:0","upstream":"{echo}"}}"#),
    );
    assert_eq!(st, 201, "{b}");
    let (st, metrics) = http(api, "GET", "/metrics", "");
    assert_eq!(st, 200);
    let sample = |name: &str| -> Option<u64> {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && l.contains("proxy=\"e\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(
        sample("stickler_proxy_max_queued_bytes"),
        Some(8 << 20),
        "{metrics}"
    );
    assert_eq!(sample("stickler_proxy_queued_bytes"), Some(0), "{metrics}");
    assert!(metrics.contains("# TYPE stickler_proxy_queued_bytes gauge"));
    proxy.stop();
}
