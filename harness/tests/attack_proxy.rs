//! The chaos proxy under the attack catalogue, in both directions:
//! - up: the catalogue is fired through the proxy at a built-in server; every case must
//!   survive (the probe also goes through the proxy);
//! - down: a hostile "server" answers each request with a case's bytes (and its FIN, reset or
//!   silence) back through the proxy to our client; the client must return (error or not), and
//!   the proxy must go on serving new connections to a good server.
//!
//! Afterwards the proxy must have closed every connection (none leaked) and no task panicked.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use common::{serve, stop, LIMIT};
use socket2::SockRef;
use stickler::attack::{self, report, AttackConfig, End, Shape, Wire};
use stickler::codec::framed::HeaderKind;
use stickler::codec::Framing;
use stickler::peer::client::{Client, ClientConfig};
use stickler::peer::server::{ServerConfig, DEFAULT_MAX_CONNECTIONS};
use stickler::proxy::{Proxy, ProxyConfig, ProxyHandle};
use stickler::service::Service;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

const WIRES: [(Framing, HeaderKind); 5] = [
    (Framing::Naive, HeaderKind::Struct),
    (Framing::Ready, HeaderKind::Struct),
    (Framing::Framed, HeaderKind::Struct),
    (Framing::Framed, HeaderKind::Json),
    (Framing::Upload, HeaderKind::Struct),
];

fn config(addr: SocketAddr, framing: Framing, kind: HeaderKind) -> AttackConfig {
    let mut config = AttackConfig::new(addr, framing);
    config.header_kind = kind;
    config.observe = Duration::from_millis(200);
    config.slow_interval = Duration::from_millis(50);
    config.idle_connections = DEFAULT_MAX_CONNECTIONS + 76;
    config.flood_connections = 1_000;
    config
}

async fn proxy_to(upstream: SocketAddr) -> ProxyHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Proxy::start(listener, ProxyConfig::new(upstream))
}

/// Waits until the proxy holds no connection.
async fn drained(proxy: &ProxyHandle) {
    let start = Instant::now();
    while proxy.active() > 0 {
        assert!(
            start.elapsed() < LIMIT,
            "the proxy still holds {} connections",
            proxy.active()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_through_the_proxy_to_every_builtin_wire() {
    count_panics();
    for (framing, kind) in WIRES {
        // A flood the server's buffer budget holds back keeps the proxy's upstream writes
        // blocked (it cannot see its clients leave) until the server closes those connections
        // at their idle timeout: a short one lets the proxy drain within the test's limit.
        let server = serve(
            ServerConfig::new(framing, Service::Cmd)
                .header_kind(kind)
                .idle_timeout(Duration::from_secs(5)),
        )
        .await;
        let proxy = proxy_to(server.addr()).await;
        let config = config(proxy.local_addr(), framing, kind);
        let cases = attack::select(&config, &[]).unwrap();
        let report = tokio::time::timeout(
            Duration::from_secs(60),
            attack::run_cases(&config, &cases, |_| {}),
        )
        .await
        .expect("attack through the proxy finished in time");
        assert_eq!(
            report.broken(),
            0,
            "{framing}/{kind:?} through the proxy:\n{}",
            report::table(&report, false)
        );
        drained(&proxy).await;
        proxy.shutdown().await;
        stop(server).await;
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
}

/// What the hostile server answers with, set per case.
type Answer = Arc<Mutex<(Vec<u8>, End)>>;

/// A "server" that reads a request, then writes the current answer and ends as it says.
async fn hostile_server(answer: Answer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (bytes, end) = answer.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                let _ =
                    tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await;
                let _ = stream.write_all(&bytes).await;
                match end {
                    End::Reset => {
                        let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                    }
                    End::Fin => {
                        let _ = stream.shutdown().await;
                        let _ =
                            tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf))
                                .await;
                    }
                    End::Hold => tokio::time::sleep(Duration::from_millis(300)).await,
                }
            });
        }
    });
    addr
}

/// One exchange of the framing's client through the proxy, bounded by `timeout`.
async fn exchange(
    addr: SocketAddr,
    framing: Framing,
    kind: HeaderKind,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let config = ClientConfig::new(framing)
        .header_kind(kind)
        .timeout(timeout);
    let mut client = Client::connect(addr, config)
        .await
        .map_err(|e| e.to_string())?;
    let reply = if framing == Framing::Upload {
        client.upload("ok.txt", b"fine").await
    } else {
        client.exchange(b"echo through").await
    };
    reply.map(|r| r.body.to_vec()).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_from_a_hostile_server_back_through_the_proxy() {
    count_panics();
    for (framing, kind) in WIRES {
        let good = serve(ServerConfig::new(framing, Service::Cmd).header_kind(kind)).await;
        let answer: Answer = Arc::new(Mutex::new((Vec::new(), End::Fin)));
        let hostile = hostile_server(answer.clone()).await;
        let proxy = proxy_to(hostile).await;
        let shape: Shape = config(hostile, framing, kind).shape();
        let mut replayed = 0;
        for case in attack::catalogue()
            .into_iter()
            .filter(|c| c.applies(Wire::of(framing, kind)))
        {
            let script = (case.build)(&shape);
            let Some(bytes) = script.bytes() else {
                continue;
            };
            *answer.lock().unwrap() = (bytes, script.end());
            proxy.set_upstream(hostile);
            // Whatever the client makes of it, it returns: the bound below fails a hang.
            let got = tokio::time::timeout(
                LIMIT,
                exchange(
                    proxy.local_addr(),
                    framing,
                    kind,
                    Duration::from_millis(500),
                ),
            )
            .await;
            assert!(got.is_ok(), "{}: the client hung", case.name);
            // The proxy still serves a new connection, to a good server.
            proxy.set_upstream(good.addr());
            let ok = exchange(proxy.local_addr(), framing, kind, Duration::from_secs(5))
                .await
                .unwrap_or_else(|e| panic!("{framing}/{kind:?} after {}: {e}", case.name));
            if framing == Framing::Upload {
                assert!(
                    String::from_utf8_lossy(&ok).contains("\"ok\": true"),
                    "{ok:?}"
                );
            } else {
                assert_eq!(ok, b"through\n", "after {}", case.name);
            }
            replayed += 1;
        }
        assert!(
            replayed >= 10,
            "{framing}/{kind:?}: only {replayed} cases replayed"
        );
        drained(&proxy).await;
        proxy.shutdown().await;
        stop(good).await;
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
}
