//! Toxics that end or slow connections, resets from either side, and the command line.

mod proxy_util;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use proxy_util::*;

/// Reads to EOF or error; returns the bytes and how it ended.
async fn drain(s: &mut TcpStream) -> (Vec<u8>, Option<ErrorKind>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Some(e.kind())),
        }
    }
}

#[tokio::test]
async fn limit_data_closes_after_n_bytes() {
    let (echo, _e) = echo_server().await;
    let proxy = start(echo, &["down:limit_data=100"], 0).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    c.write_all(&[7u8; 1000]).await.unwrap();
    let (got, _) = within(drain(&mut c)).await;
    assert_eq!(got.len(), 100);
    proxy.shutdown().await;
}

#[tokio::test]
async fn reset_peer_sends_rst() {
    let (echo, _e) = echo_server().await;
    let proxy = start(echo, &["down:reset_peer=20ms"], 0).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    c.write_all(b"ping").await.unwrap();
    let (_, end) = within(drain(&mut c)).await;
    assert_eq!(end, Some(ErrorKind::ConnectionReset));
    proxy.shutdown().await;
}

#[tokio::test]
async fn timeout_drops_data_then_closes() {
    let (echo, _e) = echo_server().await;
    let proxy = start(echo, &["up:timeout=50ms"], 0).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let t0 = Instant::now();
    c.write_all(b"lost").await.unwrap();
    let (got, _) = within(drain(&mut c)).await;
    assert!(got.is_empty(), "data passed a timeout toxic: {got:?}");
    assert!(t0.elapsed() >= Duration::from_millis(45));
    proxy.shutdown().await;
}

#[tokio::test]
async fn timeout_zero_is_a_black_hole() {
    let (echo, _e) = echo_server().await;
    let proxy = start(echo, &["up:timeout=0"], 0).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    c.write_all(b"lost").await.unwrap();
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await;
    assert!(r.is_err(), "a black hole answered: {r:?}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn slow_close_delays_the_fin() {
    let (echo, _e) = echo_server().await;
    let proxy = start(echo, &["down:slow_close=100ms"], 0).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    c.write_all(b"abc").await.unwrap();
    let t0 = Instant::now();
    c.shutdown().await.unwrap();
    let (got, end) = within(drain(&mut c)).await;
    assert_eq!((got.as_slice(), end), (&b"abc"[..], None));
    assert!(
        t0.elapsed() >= Duration::from_millis(95),
        "closed after {:?}",
        t0.elapsed()
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn bandwidth_throttles() {
    let (echo, _e) = echo_server().await;
    let proxy = start(echo, &["down:bandwidth=200"], 0).await;
    let data = random_bytes(1, 60_000); // 0.3 s at 200 KB/s
    let t0 = Instant::now();
    let back = within(echo_through(proxy.local_addr(), &data)).await;
    assert!(back == data);
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "60 kB at 200 KB/s took {:?}",
        t0.elapsed()
    );
    proxy.shutdown().await;
}

/// A server that resets: the client sees a reset (or at least the end), never a hang.
#[tokio::test]
async fn server_reset_reaches_the_client() {
    for toxics in [&[][..], &["down:latency=5ms"][..]] {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 4];
            let mut s = s;
            s.read_exact(&mut b).await.unwrap();
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
        });
        let proxy = start(addr, toxics, 0).await;
        let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let (got, end) = within(drain(&mut c)).await;
        assert!(got.is_empty());
        assert_eq!(end, Some(ErrorKind::ConnectionReset), "toxics {toxics:?}");
        server.await.unwrap();
        proxy.shutdown().await;
    }
}

/// A client that resets: the server sees a reset too, and the proxy drops the connection.
#[tokio::test]
async fn client_reset_reaches_the_server() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        drain(&mut s).await
    });
    let proxy = start(addr, &["up:split=1..3"], 0).await;
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    c.write_all(b"hello").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    let (got, end) = within(server).await.unwrap();
    assert_eq!(got, b"hello");
    assert_eq!(end, Some(ErrorKind::ConnectionReset));
    within(async {
        while proxy.active() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    proxy.shutdown().await;
}

#[test]
fn cli_rejects_bad_toxics_clearly() {
    for (bad, says) in [
        ("down:explode=1", "unknown toxic type"),
        ("down:bandwidth=0", "bandwidth rate out of range"),
        ("down:coalesce=1ms,max=1g", "coalesce max out of range"),
        ("down:split=-1..4", "not a size"),
    ] {
        let out = assert_cmd::Command::cargo_bin("stickler")
            .unwrap()
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                "127.0.0.1:1",
                "--toxic",
                bad,
            ])
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{bad}: {err}");
    }
    let help = assert_cmd::Command::cargo_bin("stickler")
        .unwrap()
        .args(["proxy", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("split=MIN..MAX") && help.contains("coalesce=WINDOW"),
        "{help}"
    );
}
