//! One lockstep exchange per framing, directly and through the proxy at zero delay (group
//! `exchange_through_proxy`, ids `direct/FRAMING` and `proxy/FRAMING`, measured in turn framing by
//! framing), and a small ping-pong directly vs through the proxy (the proxy's added latency).
//! `bench-guard` compares each framing's direct and proxied times (`benches/baseline.json`).
//!
//! Each party runs as its own process would: the servers on a current-thread tokio runtime on a
//! thread of their own, the proxies on another (as `stickler proxy` runs), the client on a
//! current-thread runtime on the bench's thread. So a direct exchange costs the hand-offs
//! between client and server, and a proxied one adds the proxy's two, whatever the scheduler
//! would have done with tasks on a shared runtime.
//!
//! All three threads are kept on one CPU (the first the bench may use; Linux only), so every
//! hand-off is a wake-up on the same CPU. Left to the scheduler, whether two threads that wake
//! each other share a CPU is decided per connection and holds for a whole sample, and a wake-up
//! across CPUs costs several times one on the same CPU on a small loaded VM: the time of a
//! sample then depended on where its threads landed more than on the path, and a proxied
//! exchange could come out faster than a direct one (docs/benchmarks.md#exchange).
//!
//! Everything binds 127.0.0.1; each sample connects (not timed) and then times its iterations
//! of `Client::exchange`.
//!
//! Full run: `cargo bench -p stickler-benches --bench exchange` (HTML report under
//! `target/criterion/`). Short pass (as `ci/bench.sh` runs it):
//! `cargo bench -p stickler-benches --bench exchange -- --warm-up-time 0.5 --measurement-time 1 --sample-size 10 --noplot`.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stickler::codec::Framing;
use stickler::peer::client::{Client, ClientConfig};
use stickler::peer::pool::Pool;
use stickler::peer::server::{self, ServerConfig};
use stickler::proxy::{Proxy, ProxyConfig, ProxyHandle};
use stickler::service::Service;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// The request of the exchange bench: a 6-byte reply.
const REQUEST: &[u8] = b"echo hello";
/// Framings with a command exchange.
const FRAMINGS: [Framing; 5] = [
    Framing::Naive,
    Framing::Ready,
    Framing::Struct,
    Framing::Json,
    Framing::Framed,
];
/// Size of the ping-pong message.
const PING_SIZE: usize = 64;

/// The CPU the bench's threads share (see the module docs).
#[cfg(target_os = "linux")]
mod cpu {
    pub type Mask = libc::cpu_set_t;

    /// The CPUs the calling thread may run on.
    pub fn current() -> Option<Mask> {
        // SAFETY: an all-zero `cpu_set_t` is an empty set.
        let mut mask: Mask = unsafe { std::mem::zeroed() };
        // SAFETY: `mask` is a writable `cpu_set_t` of the size passed; pid 0 is this thread.
        let ok = unsafe { libc::sched_getaffinity(0, size_of::<Mask>(), &mut mask) } == 0;
        ok.then_some(mask)
    }

    /// Restricts the calling thread to `mask`.
    pub fn set(mask: &Mask) -> bool {
        // SAFETY: `mask` is a readable `cpu_set_t` of the size passed; pid 0 is this thread.
        unsafe { libc::sched_setaffinity(0, size_of::<Mask>(), mask) == 0 }
    }

    /// The first CPU of `mask` alone.
    pub fn first(mask: &Mask) -> Option<Mask> {
        // SAFETY: CPU_ISSET and CPU_SET only read and write within the set.
        unsafe {
            let cpu = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, mask))?;
            let mut one: Mask = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            Some(one)
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod cpu {
    pub type Mask = ();
    pub fn current() -> Option<Mask> {
        None
    }
    pub fn set(_: &Mask) -> bool {
        false
    }
    pub fn first(_: &Mask) -> Option<Mask> {
        None
    }
}

/// One CPU for all the bench's threads: the first the bench's thread may use.
fn shared_cpu() -> Option<cpu::Mask> {
    cpu::current().as_ref().and_then(cpu::first)
}

/// The calling thread kept on `cpu` until dropped, then given its CPUs back.
struct Pinned {
    before: Option<cpu::Mask>,
}

impl Pinned {
    fn to(cpu: Option<cpu::Mask>) -> Pinned {
        let before = cpu::current();
        let pinned = cpu.as_ref().is_some_and(cpu::set);
        Pinned {
            before: before.filter(|_| pinned),
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if let Some(before) = &self.before {
            cpu::set(before);
        }
    }
}

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A party (the servers, the proxies) running on a current-thread runtime on a thread of its
/// own until [`stop`](Background::stop).
struct Background {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts `run` on a new thread named `name`, kept on `cpu`. `run` sends what the bench
    /// needs (addresses) on its first argument once it serves, and winds down when its second
    /// completes.
    fn start<A, F, Fut>(name: &str, cpu: Option<cpu::Mask>, run: F) -> (A, Background)
    where
        A: Send + 'static,
        F: FnOnce(oneshot::Sender<A>, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _pinned = Pinned::to(cpu);
                current_thread().block_on(run(ready_tx, stop_rx))
            })
            .expect("a thread");
        let ready = ready_rx
            .blocking_recv()
            .unwrap_or_else(|_| panic!("{name} did not start"));
        let background = Background {
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        (ready, background)
    }

    /// Signals the party to wind down and waits for its thread.
    fn stop(mut self) {
        self.wind_down();
    }

    fn wind_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() && !std::thread::panicking() {
                panic!("a background thread of the bench panicked");
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.wind_down();
    }
}

/// Proxies (no toxic, zero delay) to each of `upstreams`, on a thread of their own kept on
/// `cpu`; their addresses in the same order.
fn proxies_to(upstreams: Vec<SocketAddr>, cpu: Option<cpu::Mask>) -> (Vec<SocketAddr>, Background) {
    Background::start("bench-proxy", cpu, move |ready, stop| async move {
        let mut proxies: Vec<ProxyHandle> = Vec::new();
        for upstream in upstreams {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the proxy");
            proxies.push(Proxy::start(listener, ProxyConfig::new(upstream)));
        }
        let _ = ready.send(proxies.iter().map(ProxyHandle::local_addr).collect());
        let _ = stop.await;
        for proxy in &proxies {
            proxy.shutdown().await;
        }
    })
}

/// Times `iters` exchanges of `request` on a fresh connection to `addr`.
fn timed(rt: &Runtime, addr: SocketAddr, framing: Framing, request: &[u8], iters: u64) -> Duration {
    rt.block_on(async {
        let mut client = Client::connect(addr, ClientConfig::new(framing))
            .await
            .expect("connect");
        client.exchange(request).await.expect("first exchange");
        let start = Instant::now();
        for _ in 0..iters {
            client.exchange(request).await.expect("exchange");
        }
        start.elapsed()
    })
}

fn exchange_through_proxy(c: &mut Criterion) {
    let cpu = shared_cpu();
    let _pinned = Pinned::to(cpu);
    let (direct, servers) = Background::start("bench-servers", cpu, |ready, stop| async move {
        let pool = Pool::start(&FRAMINGS, Service::Cmd)
            .await
            .expect("start the servers");
        let addrs: Vec<SocketAddr> = FRAMINGS
            .iter()
            .map(|f| pool.addr(*f).expect("a server per framing"))
            .collect();
        let _ = ready.send(addrs);
        let _ = stop.await;
        pool.stop().await.expect("the servers stop cleanly");
    });
    let (proxied, proxies) = proxies_to(direct.clone(), cpu);
    let rt = current_thread();
    let mut group = c.benchmark_group("exchange_through_proxy");
    for ((framing, direct), proxy) in FRAMINGS.iter().zip(direct).zip(proxied) {
        for (path, addr) in [("direct", direct), ("proxy", proxy)] {
            group.bench_function(BenchmarkId::new(path, framing), |b| {
                b.iter_custom(|iters| timed(&rt, addr, *framing, REQUEST, iters))
            });
        }
    }
    group.finish();
    proxies.stop();
    servers.stop();
}

fn ping_pong_direct_vs_proxy(c: &mut Criterion) {
    let cpu = shared_cpu();
    let _pinned = Pinned::to(cpu);
    let (direct, echo) = Background::start("bench-echo", cpu, |ready, stop| async move {
        let config = ServerConfig::new(Framing::Naive, Service::Echo);
        let echo = server::spawn_local(config)
            .await
            .expect("start the echo server");
        let _ = ready.send(echo.addr());
        let _ = stop.await;
        echo.stop().await.expect("the echo server stops cleanly");
    });
    let (proxied, proxy) = proxies_to(vec![direct], cpu);
    let rt = current_thread();
    let ping = vec![b'p'; PING_SIZE];
    let mut group = c.benchmark_group("ping_pong_64B");
    group.throughput(Throughput::Elements(1));
    for (name, addr) in [("direct", direct), ("proxy", proxied[0])] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| timed(&rt, addr, Framing::Naive, &ping, iters))
        });
    }
    group.finish();
    proxy.stop();
    echo.stop();
}

criterion_group!(benches, exchange_through_proxy, ping_pong_direct_vs_proxy);
criterion_main!(benches);
