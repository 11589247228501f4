//! The datagram chaos proxy: seeded decisions replay, every toxic is seen at the receiver, and
//! bad input (a flood from many ports, oversize datagrams, a silent upstream, more bytes than
//! the budget) meets bounded state and clear errors.

use std::net::SocketAddr;
use std::time::Duration;

use stickler::chaos::Direction;
use stickler::udp::client::{UdpClient, UdpClientError};
use stickler::udp::proxy::{UdpProxy, UdpProxyConfig, UdpProxyHandle};
use stickler::udp::record::{Action, DatagramEvent, DatagramSink};
use stickler::udp::server::{self, ServerHandle, UdpServerConfig};
use stickler::udp::{UdpService, MAX_DATAGRAM};
use tokio::net::UdpSocket;
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("step timed out")
}

/// An echo server for the rest of the test (stops when the handle drops).
async fn echo_server() -> ServerHandle {
    server::spawn_local(UdpServerConfig::new(UdpService::Echo))
        .await
        .unwrap()
}

async fn proxy(upstream: SocketAddr, toxics: &[&str], seed: u64) -> UdpProxyHandle {
    let mut config = UdpProxyConfig::new(upstream);
    config.toxics = toxics.iter().map(|t| t.parse().unwrap()).collect();
    config.seed = seed;
    config.record = Some(DatagramSink::memory(false));
    proxy_with(config).await
}

async fn proxy_with(config: UdpProxyConfig) -> UdpProxyHandle {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    UdpProxy::start(socket, config).unwrap()
}

fn tag(i: usize) -> Vec<u8> {
    format!("udp-{i:04} payload").into_bytes()
}

fn untag(data: &[u8]) -> usize {
    std::str::from_utf8(&data[4..8]).unwrap().parse().unwrap()
}

/// Sends `n` tagged datagrams back to back and returns the tags that came back, in order.
async fn burst(addr: SocketAddr, n: usize, quiet: Duration) -> Vec<usize> {
    let mut c = UdpClient::connect(addr).await.unwrap();
    for i in 0..n {
        c.send(&tag(i)).await.unwrap();
    }
    let got = within(c.drain(quiet, 4 * n, Duration::from_secs(10)))
        .await
        .unwrap();
    got.iter().map(|a| untag(&a.data)).collect()
}

/// The decisions of one direction, in the order the lane made them.
fn decisions(events: &[DatagramEvent], dir: Direction) -> Vec<(u64, Action, u8)> {
    events
        .iter()
        .filter(|e| e.dir == dir)
        .map(|e| (e.seq, e.action, e.copy))
        .collect()
}

#[tokio::test]
async fn the_same_seed_makes_the_same_decisions() {
    let echo = echo_server().await;
    let server = echo.addr();
    let toxics = [
        "up:drop=0.2,burst=2",
        "down:dup=0.3",
        "up:reorder=4,hold=300ms",
    ];
    let mut runs = Vec::new();
    for seed in [7, 7, 8] {
        let p = proxy(server, &toxics, seed).await;
        let got = burst(p.local_addr(), 40, Duration::from_millis(600)).await;
        p.shutdown().await;
        let events = p.events();
        runs.push((
            got,
            decisions(&events, Direction::Up),
            decisions(&events, Direction::Down),
        ));
    }
    assert_eq!(
        runs[0].1, runs[1].1,
        "same seed: same drops and reordering upstream"
    );
    assert_eq!(
        runs[0].2, runs[1].2,
        "same seed: same duplicates downstream"
    );
    assert_eq!(
        runs[0].0, runs[1].0,
        "same seed: the client saw the same datagrams"
    );
    assert_ne!(runs[0].1, runs[2].1, "another seed: other decisions");
    let (got, up, down) = &runs[0];
    assert!(up.iter().any(|d| d.1 == Action::Drop), "drops happened");
    assert!(down.iter().any(|d| d.2 == 1), "duplicates happened");
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert!(
        unique.len() < 40,
        "the client missed the dropped ones: {got:?}"
    );
    assert!(unique.len() < got.len(), "the client saw copies: {got:?}");
}

#[tokio::test]
async fn drop_loses_datagrams_in_bursts() {
    let echo = echo_server().await;
    let server = echo.addr();
    let p = proxy(server, &["up:drop=0.1,burst=5"], 3).await;
    let got = burst(p.local_addr(), 100, Duration::from_millis(200)).await;
    p.shutdown().await;
    assert!(
        got.len() < 100 && !got.is_empty(),
        "{} of 100 came back",
        got.len()
    );
    let dropped: Vec<u64> = p
        .events()
        .iter()
        .filter(|e| e.action == Action::Drop)
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        dropped.len(),
        100 - got.len(),
        "every loss is a recorded drop"
    );
    // Drops come in runs of 5 (the last run may be cut by the end of the sequence).
    let mut run = 1;
    for w in dropped.windows(2) {
        if w[1] == w[0] + 1 {
            run += 1;
        } else {
            assert_eq!(run % 5, 0, "a drop burst of {run}: {dropped:?}");
            run = 1;
        }
    }
    // drop=1 loses everything: the client's wait ends in a clear timeout.
    let p = proxy(server, &["both:drop=1"], 3).await;
    let mut c = UdpClient::connect(p.local_addr())
        .await
        .unwrap()
        .timeout(Duration::from_millis(200));
    let err = within(c.exchange(b"hello")).await.unwrap_err();
    assert!(matches!(err, UdpClientError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn dup_sends_every_reply_twice() {
    let echo = echo_server().await;
    let server = echo.addr();
    let p = proxy(server, &["down:dup=1"], 1).await;
    let got = burst(p.local_addr(), 10, Duration::from_millis(200)).await;
    let mut sorted = got.clone();
    sorted.sort();
    let want: Vec<usize> = (0..10).flat_map(|i| [i, i]).collect();
    assert_eq!(sorted, want);
}

/// A full reorder window releases a datagram drawn from the seed; one held past its hold time
/// goes with the rest of the window, shuffled. With the default hold (10 ms), a proxy kept off
/// the CPU for longer flushes its window one datagram at a time, in order: the hold here is long
/// enough that the 30 back-to-back datagrams fill windows before any hold ends, and the read-out
/// waits past it for the last window.
#[tokio::test]
async fn reorder_and_jitter_change_the_order_but_lose_nothing() {
    let echo = echo_server().await;
    let server = echo.addr();
    for toxic in ["up:reorder=4,hold=300ms", "both:delay=5ms,jitter=5ms"] {
        let p = proxy(server, &[toxic], 11).await;
        let got = burst(p.local_addr(), 30, Duration::from_millis(600)).await;
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            (0..30).collect::<Vec<_>>(),
            "{toxic}: all arrived once"
        );
        assert_ne!(got, sorted, "{toxic}: some arrived out of order");
    }
}

#[tokio::test]
async fn delay_holds_each_datagram() {
    let echo = echo_server().await;
    let server = echo.addr();
    let p = proxy(server, &["down:delay=100ms"], 1).await;
    let mut c = UdpClient::connect(p.local_addr()).await.unwrap();
    let t = Instant::now();
    let got = within(c.exchange(b"x")).await.unwrap();
    assert_eq!(got.data, b"x");
    assert!(
        t.elapsed() >= Duration::from_millis(95),
        "{:?}",
        t.elapsed()
    );
    let sent = p
        .events()
        .into_iter()
        .find(|e| e.dir == Direction::Down)
        .unwrap();
    assert_eq!(sent.delay_us, 100_000);
}

/// One datagram's trip from `sender` through its proxy to `receiver`, as the receiver sees it;
/// with `then_sleep`, the trip and then a sleep of that long on tokio's own timer.
async fn trip(
    sender: &UdpSocket,
    receiver: &UdpSocket,
    i: usize,
    then_sleep: Option<Duration>,
) -> Duration {
    let mut buf = [0u8; 64];
    let t = Instant::now();
    sender.send(&tag(i)).await.unwrap();
    let (n, _) = within(receiver.recv_from(&mut buf)).await.unwrap();
    if let Some(d) = then_sleep {
        tokio::time::sleep(d).await;
    }
    let took = t.elapsed();
    assert_eq!(untag(&buf[..n]), i);
    took
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

/// The delay runs on the microsecond timer: tokio's timer counts whole milliseconds and rounds a
/// deadline up to the next one, and its driver's wait up again, so a 1 ms sleep on it takes 1 to
/// 3 ms. Three paths are timed in turn, so that the machine's load weighs on all of them alike:
/// a proxy without toxics (loopback and the proxy's own work), a proxy with `delay=1ms`, and the
/// first followed by a 1 ms sleep on tokio's timer. No datagram leaves the delay early. Late, a
/// datagram can be: the thread must get the CPU back when the timer fires, and on a busy machine
/// that alone takes a good part of a millisecond. That wait is the same for both timers, so what
/// the delay adds beyond 1 ms is compared with what tokio's timer adds beyond 1 ms under the
/// same load: the rounding up to whole milliseconds, about one, must be missing.
#[tokio::test]
async fn a_one_ms_delay_keeps_sub_millisecond_precision() {
    let one = Duration::from_millis(1);
    let mut paths = Vec::new();
    for toxics in [&[][..], &["up:delay=1ms"][..]] {
        let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let p = proxy(receiver.local_addr().unwrap(), toxics, 1).await;
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender.connect(p.local_addr()).await.unwrap();
        paths.push((p, sender, receiver));
    }
    let (mut plain, mut delayed, mut tokio_timer) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..200usize {
        plain.push(trip(&paths[0].1, &paths[0].2, i, None).await);
        delayed.push(trip(&paths[1].1, &paths[1].2, i, None).await);
        tokio_timer.push(trip(&paths[0].1, &paths[0].2, i, Some(one)).await);
    }
    for (p, _, _) in &paths {
        p.shutdown().await;
    }
    let early = delayed.iter().filter(|d| **d < one).count();
    assert_eq!(early, 0, "{early} of 200 datagrams left a 1ms delay early");
    let base = median(plain);
    let (delayed, tokio_timer) = (median(delayed), median(tokio_timer));
    let late = delayed.saturating_sub(base).saturating_sub(one);
    let rounded = tokio_timer.saturating_sub(base).saturating_sub(one);
    eprintln!("beyond 1ms: the delay {late:?}, tokio's timer {rounded:?} (median trip {base:?})");
    assert!(
        late + Duration::from_micros(400) <= rounded,
        "a 1ms delay came {late:?} late, a 1ms sleep on tokio's timer {rounded:?} late: median \
         trips {delayed:?} with the delay, {tokio_timer:?} with the sleep, {base:?} without"
    );
}

#[tokio::test]
async fn truncate_cuts_to_the_receivers_buffer() {
    let echo = echo_server().await;
    let server = echo.addr();
    let p = proxy(server, &["down:truncate=10"], 1).await;
    let mut c = UdpClient::connect(p.local_addr()).await.unwrap();
    let got = within(c.exchange(b"0123456789abcdef")).await.unwrap();
    assert_eq!(got.data, b"0123456789");
    assert_eq!(
        got.wire_len, 10,
        "the datagram itself was cut, not the read"
    );
    let short = within(c.exchange(b"short")).await.unwrap();
    assert_eq!(short.data, b"short");
    let sent: Vec<_> = p
        .events()
        .into_iter()
        .filter(|e| e.dir == Direction::Down)
        .map(|e| e.truncated_from)
        .collect();
    assert_eq!(sent, [Some(16), None]);
}

#[tokio::test]
async fn oversize_datagrams_pass_whole() {
    let echo = echo_server().await;
    let server = echo.addr();
    let p = proxy(server, &[], 1).await;
    let mut c = UdpClient::connect(p.local_addr())
        .await
        .unwrap()
        .recv_size(MAX_DATAGRAM);
    let big = vec![7u8; MAX_DATAGRAM];
    let got = within(c.exchange(&big)).await.unwrap();
    // The proxy relays all 65507 bytes; the server's 1024-byte read keeps the first 1024.
    assert_eq!(got.data.len(), 1024);
    let up = p
        .events()
        .into_iter()
        .find(|e| e.dir == Direction::Up)
        .unwrap();
    assert_eq!(up.len, MAX_DATAGRAM);
    assert_eq!(p.held_bytes(), 0);
}

#[tokio::test]
async fn a_flood_from_many_ports_keeps_client_state_bounded() {
    let echo = echo_server().await;
    let server = echo.addr();
    let mut config = UdpProxyConfig::new(server);
    config.max_clients = 8;
    let p = proxy_with(config).await;
    let mut clients = Vec::new();
    for _ in 0..200 {
        clients.push(UdpClient::connect(p.local_addr()).await.unwrap());
    }
    for (i, c) in clients.iter().enumerate() {
        c.send(&tag(i)).await.unwrap();
        assert!(p.active_clients() <= 8, "{} mappings", p.active_clients());
    }
    // Every datagram reached the proxy; wait until it has mapped them all.
    within(async {
        while p.clients_seen() < 200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(p.peak_clients() <= 8, "peak {} mappings", p.peak_clients());
    assert!(p.active_clients() <= 8);
    assert_eq!(p.evicted(), 192);
    // The proxy still serves: a new client gets its reply.
    let mut fresh = UdpClient::connect(p.local_addr()).await.unwrap();
    assert_eq!(
        within(fresh.exchange(b"still here")).await.unwrap().data,
        b"still here"
    );
}

#[tokio::test]
async fn idle_mappings_expire() {
    let echo = echo_server().await;
    let server = echo.addr();
    let mut config = UdpProxyConfig::new(server);
    config.idle_timeout = Duration::from_millis(100);
    let p = proxy_with(config).await;
    let mut c = UdpClient::connect(p.local_addr()).await.unwrap();
    within(c.exchange(b"a")).await.unwrap();
    assert_eq!(p.active_clients(), 1);
    within(async {
        while p.active_clients() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(p.expired(), 1);
    // Seen again, the client gets a new mapping (and index).
    within(c.exchange(b"b")).await.unwrap();
    assert_eq!(p.clients_seen(), 2);
}

#[tokio::test]
async fn an_upstream_that_never_answers_ends_in_a_client_timeout() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let p = proxy(silent.local_addr().unwrap(), &[], 1).await;
    let mut c = UdpClient::connect(p.local_addr())
        .await
        .unwrap()
        .timeout(Duration::from_millis(200));
    let err = within(c.exchange(b"anyone?")).await.unwrap_err();
    assert!(matches!(err, UdpClientError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("within 200ms"), "{err}");
    // The datagram did reach the silent upstream.
    let mut buf = [0u8; 64];
    let (n, _) = within(silent.recv_from(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"anyone?");
}

#[tokio::test]
async fn the_byte_budget_bounds_what_the_proxy_holds() {
    let echo = echo_server().await;
    let server = echo.addr();
    let mut config = UdpProxyConfig::new(server);
    config.toxics = vec!["up:delay=300ms".parse().unwrap()];
    config.max_held_bytes = 10_000;
    config.record = Some(DatagramSink::memory(false));
    let p = proxy_with(config).await;
    let c = UdpClient::connect(p.local_addr()).await.unwrap();
    for _ in 0..50 {
        c.send(&[1u8; 1000]).await.unwrap();
    }
    within(async {
        while p.overflows() + 10 < 50 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(p.held_bytes() <= 10_000, "{} bytes held", p.held_bytes());
    assert!(p.overflows() >= 40, "{} overflows", p.overflows());
    within(async {
        while p.held_bytes() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_toxic_type_twice_in_a_direction_is_an_error() {
    let mut config = UdpProxyConfig::new("127.0.0.1:9".parse().unwrap());
    config.toxics = vec![
        "both:dup=0.1".parse().unwrap(),
        "down:dup=0.2".parse().unwrap(),
    ];
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let err = UdpProxy::start(socket, config).err().expect("refused");
    assert!(err.to_string().contains("two dup toxics"), "{err}");
}
