//! One lockstep exchange per framing, directly and through the proxy at zero delay (group
//! `exchange_through_proxy`, ids `direct/FRAMING` and `proxy/FRAMING`, measured in turn framing by
//! framing), and a small ping-pong directly vs through the proxy (the proxy's added latency).
//! `bench-guard` compares each framing's direct and proxied times (`benches/baseline.json`).
//!
//! Servers and proxies start once, on 127.0.0.1, in a tokio runtime owned by the bench; each
//! sample connects (not timed) and then times its iterations of `Client::exchange`.
//!
//! Full run: `cargo bench -p stickler-benches --bench exchange` (HTML report under
//! `target/criterion/`). Short pass (CI):
//! `cargo bench -p stickler-benches --bench exchange -- --warm-up-time 0.2 --measurement-time 0.5 --sample-size 10`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stickler::codec::Framing;
use stickler::peer::client::{Client, ClientConfig};
use stickler::peer::pool::Pool;
use stickler::peer::server::{self, ServerConfig};
use stickler::proxy::{Proxy, ProxyConfig, ProxyHandle};
use stickler::service::Service;
use tokio::runtime::Runtime;

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

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

async fn proxy_to(upstream: SocketAddr) -> ProxyHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    Proxy::start(listener, ProxyConfig::new(upstream))
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
    let rt = runtime();
    let servers = rt
        .block_on(Pool::start(&FRAMINGS, Service::Cmd))
        .expect("start the servers");
    let proxies: Vec<(Framing, ProxyHandle)> = FRAMINGS
        .iter()
        .map(|f| {
            let upstream = servers.addr(*f).expect("a server per framing");
            (*f, rt.block_on(proxy_to(upstream)))
        })
        .collect();
    let mut group = c.benchmark_group("exchange_through_proxy");
    for (framing, proxy) in &proxies {
        let direct = servers.addr(*framing).expect("a server per framing");
        for (path, addr) in [("direct", direct), ("proxy", proxy.local_addr())] {
            group.bench_function(BenchmarkId::new(path, framing), |b| {
                b.iter_custom(|iters| timed(&rt, addr, *framing, REQUEST, iters))
            });
        }
    }
    group.finish();
    rt.block_on(async {
        for (_, p) in &proxies {
            p.shutdown().await;
        }
        servers.stop().await.expect("the servers stop cleanly");
    });
}

fn ping_pong_direct_vs_proxy(c: &mut Criterion) {
    let rt = runtime();
    let (echo, proxy) = rt.block_on(async {
        let config = ServerConfig::new(Framing::Naive, Service::Echo);
        let echo = server::spawn_local(config)
            .await
            .expect("start the echo server");
        let proxy = proxy_to(echo.addr()).await;
        (echo, proxy)
    });
    let direct = echo.addr();
    let ping = vec![b'p'; PING_SIZE];
    let mut group = c.benchmark_group("ping_pong_64B");
    group.throughput(Throughput::Elements(1));
    for (name, addr) in [("direct", direct), ("proxy", proxy.local_addr())] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| timed(&rt, addr, Framing::Naive, &ping, iters))
        });
    }
    group.finish();
    rt.block_on(async {
        proxy.shutdown().await;
        echo.stop().await.expect("the echo server stops cleanly");
    });
}

criterion_group!(benches, exchange_through_proxy, ping_pong_direct_vs_proxy);
criterion_main!(benches);
