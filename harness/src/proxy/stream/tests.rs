use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::{Encoder, Framed, LengthDelimitedCodec};

use super::*;
use crate::proxy::pipeline::QUEUE_CAP;
use crate::proxy::{Proxy, ProxyConfig};

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 13) as u8).collect()
}

fn chaos(seed: u64, toxics: &[&str]) -> ChaosStreamBuilder {
    toxics
        .iter()
        .fold(ChaosStream::builder().seed(seed), |b, t| {
            b.toxic(t).unwrap()
        })
        .record(true)
}

/// Reads `chaos` to its end with a 256-byte buffer: the size of every read.
async fn reads(chaos: &mut ChaosStream<DuplexStream>) -> (Vec<usize>, Vec<u8>) {
    let (mut sizes, mut got, mut buf) = (Vec::new(), Vec::new(), [0u8; 256]);
    loop {
        let n = chaos.read(&mut buf).await.unwrap();
        if n == 0 {
            return (sizes, got);
        }
        sizes.push(n);
        got.extend_from_slice(&buf[..n]);
    }
}

/// The server sends `bytes` down and ends; the reads the chaos side saw, and its recording.
async fn down_run(b: ChaosStreamBuilder, bytes: &[u8]) -> (Vec<usize>, Vec<PieceEvent>) {
    let (client, mut server) = tokio::io::duplex(64 << 10);
    let mut chaos = b.build(client);
    let bytes = bytes.to_vec();
    let writer = tokio::spawn(async move {
        server.write_all(&bytes).await.unwrap();
        server.shutdown().await.unwrap();
        server
    });
    let (sizes, got) = reads(&mut chaos).await;
    drop(writer.await.unwrap());
    assert_eq!(got.len(), sizes.iter().sum::<usize>());
    (sizes, chaos.recorded())
}

fn lens(events: &[PieceEvent], dir: Direction) -> Vec<usize> {
    events
        .iter()
        .filter(|e| e.dir == dir)
        .map(|e| e.len)
        .collect()
}

#[tokio::test]
async fn same_seed_same_pieces() {
    let bytes = data(3000);
    let (a, ea) = down_run(chaos(7, &["down:split=1..4"]), &bytes).await;
    let (b, _) = down_run(chaos(7, &["down:split=1..4"]), &bytes).await;
    let (c, _) = down_run(chaos(8, &["down:split=1..4"]), &bytes).await;
    assert!(a.len() > 600 && a.iter().all(|n| (1..=4).contains(n)));
    assert_eq!(a.iter().sum::<usize>(), bytes.len());
    assert_eq!(a, b, "same seed, other pieces");
    assert_ne!(a, c, "another seed, same pieces");
    // One read per piece, each recorded.
    assert_eq!(lens(&ea, Direction::Down), a);
    assert!(ea.iter().all(|e| e.toxic == "split" && e.conn == 0));
}

#[tokio::test]
async fn replay_gives_identical_boundaries() {
    let bytes = data(2000);
    let toxics = ["down:split=1..9", "down:latency=1ms", "up:split=3..11"];
    let (client, server) = tokio::io::duplex(64 << 10);
    let first = exchange(chaos(3, &toxics).build(client), server, &bytes).await;
    let schedule = first.0.schedule();
    assert_eq!(first.1.iter().sum::<usize>(), bytes.len());
    // Replayed with another seed and no toxic: the schedule alone sets the boundaries.
    let (client, server) = tokio::io::duplex(64 << 10);
    let b = ChaosStream::builder()
        .seed(99)
        .replay(schedule.clone())
        .record(true);
    let again = exchange(b.build(client), server, &bytes).await;
    assert_eq!(again.1, first.1, "read sizes differ under replay");
    for dir in Direction::BOTH {
        let want: Vec<usize> = schedule
            .pieces(0, dir)
            .unwrap()
            .iter()
            .map(|p| p.len)
            .collect();
        assert_eq!(lens(&again.0.recorded(), dir), want, "{dir}");
    }
    assert!(again.0.recorded().iter().all(|e| e.toxic == "replay"));
}

/// Writes `bytes` up (the server echoes them), shuts down, reads the echo: the stream and the
/// size of each read.
async fn exchange(
    mut chaos: ChaosStream<DuplexStream>,
    mut server: DuplexStream,
    bytes: &[u8],
) -> (ChaosStream<DuplexStream>, Vec<usize>) {
    let echo = tokio::spawn(async move {
        let mut all = Vec::new();
        server.read_to_end(&mut all).await.unwrap();
        server.write_all(&all).await.unwrap();
    });
    chaos.write_all(bytes).await.unwrap();
    chaos.shutdown().await.unwrap();
    let (sizes, got) = reads(&mut chaos).await;
    echo.await.unwrap();
    assert_eq!(got, bytes);
    (chaos, sizes)
}

/// Sends one frame through `framed`'s stream and flushes (futures' `SinkExt::send` does the
/// same; the workspace builds futures-util without its `sink` feature).
async fn send<T: AsyncWrite + Unpin>(framed: &mut Framed<T, LengthDelimitedCodec>, m: Bytes) {
    let mut buf = BytesMut::new();
    framed.codec_mut().encode(m, &mut buf).unwrap();
    framed.get_mut().write_all(&buf).await.unwrap();
    framed.get_mut().flush().await.unwrap();
}

#[tokio::test]
async fn split_stream_under_framed_yields_the_exact_messages() {
    let (client, server) = tokio::io::duplex(64 << 10);
    let toxics = [
        "down:coalesce=1ms,max=300",
        "both:split=1..4",
        "up:latency=1ms",
    ];
    let chaos = chaos(11, &toxics).build(client);
    let echo = tokio::spawn(async move {
        let mut s = Framed::new(server, LengthDelimitedCodec::new());
        while let Some(m) = s.next().await {
            send(&mut s, m.unwrap().freeze()).await;
        }
    });
    let mut framed = Framed::new(chaos, LengthDelimitedCodec::new());
    let msgs: Vec<Bytes> = (0..40).map(|i| Bytes::from(data(i * 13 % 97))).collect();
    for m in &msgs[..20] {
        send(&mut framed, m.clone()).await;
        assert_eq!(framed.next().await.unwrap().unwrap(), m);
    }
    // Pipelined: all written, then one flush, then all read.
    let mut all = BytesMut::new();
    for m in &msgs[20..] {
        framed.codec_mut().encode(m.clone(), &mut all).unwrap();
    }
    framed.get_mut().write_all(&all).await.unwrap();
    framed.get_mut().flush().await.unwrap();
    for m in &msgs[20..] {
        assert_eq!(framed.next().await.unwrap().unwrap(), m);
    }
    let chaos = framed.into_inner();
    let events = chaos.recorded();
    assert!(lens(&events, Direction::Down)
        .iter()
        .all(|n| (1..=4).contains(n)));
    assert!(lens(&events, Direction::Up).len() > 200);
    drop(chaos);
    echo.await.unwrap();
}

#[tokio::test]
async fn reset_and_close_toxics_end_the_stream() {
    // reset_peer: reads and writes fail with a reset, the server sees its end of stream.
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["down:reset_peer=5ms"]).build(client);
    let e = c.read(&mut [0u8; 16]).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(c.teardown(), Some(Teardown::Reset));
    assert_eq!(
        c.write(b"x").await.unwrap_err().kind(),
        io::ErrorKind::ConnectionReset
    );
    assert_eq!(server.read(&mut [0u8; 16]).await.unwrap(), 0);

    // limit_data down: 10 bytes, then end of stream both ways.
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["down:limit_data=10"]).build(client);
    server.write_all(&data(100)).await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, &data(100)[..10]);
    assert_eq!(
        c.write(b"x").await.unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
    assert_eq!(c.teardown(), Some(Teardown::Close));

    // limit_data up: the server gets 5 bytes and its end of stream; the client's reads end.
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["up:limit_data=5"]).build(client);
    let _ = c.write_all(&data(20)).await;
    c.flush().await.unwrap();
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, &data(20)[..5]);
    assert_eq!(c.read(&mut [0u8; 8]).await.unwrap(), 0);

    // timeout: nothing comes through, then end of stream.
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["down:timeout=20ms"]).build(client);
    server.write_all(b"dropped").await.unwrap();
    let t = Instant::now();
    assert_eq!(c.read(&mut [0u8; 8]).await.unwrap(), 0);
    assert!(t.elapsed() >= Duration::from_millis(20));
}

#[tokio::test]
async fn times_are_kept_and_coalesce_merges_writes() {
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["down:latency=30ms"]).build(client);
    let t = Instant::now();
    server.write_all(b"late").await.unwrap();
    assert_eq!(c.read(&mut [0u8; 8]).await.unwrap(), 4);
    assert!(t.elapsed() >= Duration::from_millis(30));

    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["down:coalesce=30ms"]).build(client);
    for part in [&b"ab"[..], b"cd", b"ef"] {
        server.write_all(part).await.unwrap();
    }
    let mut buf = [0u8; 16];
    assert_eq!(c.read(&mut buf).await.unwrap(), 6);
    assert_eq!(&buf[..6], b"abcdef");

    // A split with a gap: pieces at least the gap apart, and a slow close before the end.
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["down:split=2,gap=5ms", "down:slow_close=20ms"]).build(client);
    server.write_all(b"abcdef").await.unwrap();
    drop(server);
    let t = Instant::now();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"abcdef");
    assert!(
        t.elapsed() >= Duration::from_millis(30),
        "{:?}",
        t.elapsed()
    );
    let ev = c.recorded();
    assert!(ev[1..].iter().all(|e| e.gap_us >= 5000), "{ev:?}");
}

#[tokio::test]
async fn up_pieces_are_written_at_their_times() {
    // Coalesce: writes merge until a flush releases them as one write.
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["up:coalesce=50ms"]).build(client);
    c.write_all(b"ab").await.unwrap();
    c.write_all(b"cd").await.unwrap();
    let t = Instant::now();
    c.flush().await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(50));
    let mut buf = [0u8; 16];
    assert_eq!(server.read(&mut buf).await.unwrap(), 4);
    assert_eq!(lens(&c.recorded(), Direction::Up), [4]);

    // Latency: the flush completes once the bytes left, at their time.
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["up:latency=20ms"]).build(client);
    let t = Instant::now();
    c.write_all(b"late").await.unwrap();
    c.flush().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(server.read(&mut buf).await.unwrap(), 4);

    // Split with a gap, then a shutdown that waits for slow_close before the FIN.
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = chaos(0, &["up:split=2,gap=5ms", "up:slow_close=10ms"]).build(client);
    let t = Instant::now();
    c.write_all(b"abcdef").await.unwrap();
    c.shutdown().await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(20),
        "{:?}",
        t.elapsed()
    );
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"abcdef");
    assert_eq!(lens(&c.recorded(), Direction::Up), [2, 2, 2]);
    assert!(c.write(b"x").await.is_err(), "a write after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halves_in_two_tasks() {
    let (client, server) = tokio::io::duplex(4096);
    let toxics = ["down:split=1..3", "up:split=1..5", "up:latency=1ms"];
    let (mut r, mut w) = tokio::io::split(chaos(2, &toxics).build(client));
    let echo = tokio::spawn(async move {
        let (mut sr, mut sw) = tokio::io::split(server);
        tokio::io::copy(&mut sr, &mut sw).await.unwrap();
        sw.shutdown().await.unwrap();
    });
    let bytes = data(3000);
    let sent = bytes.clone();
    let writer = tokio::spawn(async move {
        for part in sent.chunks(100) {
            w.write_all(part).await.unwrap();
            w.flush().await.unwrap();
        }
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, bytes);
    writer.await.unwrap();
    echo.await.unwrap();
}

#[tokio::test]
async fn memory_stays_bounded() {
    // A long latency holds everything; the stream must stop reading at its cap.
    let (client, mut server) = tokio::io::duplex(64 << 10);
    let mut c = chaos(0, &["down:latency=3600s"])
        .record(false)
        .build(client);
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let writer = tokio::spawn(async move {
        let chunk = vec![1u8; 64 << 10];
        for _ in 0..128 {
            if server.write_all(&chunk).await.is_err() {
                return;
            }
            counter.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    });
    let r = tokio::time::timeout(Duration::from_millis(200), c.read(&mut [0u8; 64])).await;
    assert!(r.is_err(), "nothing is due for an hour");
    let sent = sent.load(Ordering::SeqCst);
    // The cap, one read over it, the duplex's buffer and one chunk in flight.
    assert!(sent <= QUEUE_CAP + 3 * (64 << 10), "{sent} bytes taken");
    assert!(!c.down.lane.has_room());
    writer.abort();
}

#[tokio::test]
async fn pass_through_without_toxics() {
    let (client, mut server) = tokio::io::duplex(1024);
    let mut c = ChaosStream::new(client);
    assert!(c.down.fast && c.up.fast);
    c.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).await.unwrap();
    server.write_all(b"pong").await.unwrap();
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
}

/// A stream seeded N cuts what connection 0 of a proxy seeded N cuts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_pieces_as_proxy_connection_zero() {
    let (up_bytes, down_bytes) = (data(1500), data(2500));
    let toxics = ["up:split=1..32", "down:split=1..4"];
    // The proxy: a server that reads the request to its end, then replies.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = upstream.local_addr().unwrap();
    let reply = down_bytes.clone();
    let server = tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut req = Vec::new();
        s.read_to_end(&mut req).await.unwrap();
        s.write_all(&reply).await.unwrap();
        req
    });
    let mut config = ProxyConfig::new(up_addr);
    config.toxics = toxics.iter().map(|t| t.parse().unwrap()).collect();
    config.seed = 5;
    config.record = Some(RecordSink::memory(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Proxy::start(listener, config);
    let mut s = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .unwrap();
    s.write_all(&up_bytes).await.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, down_bytes);
    assert_eq!(server.await.unwrap(), up_bytes);
    proxy.shutdown().await;
    let proxied = proxy.events();

    // The stream, the same seed, the same bytes.
    let (client, mut server) = tokio::io::duplex(64 << 10);
    let mut c = chaos(5, &toxics).build(client);
    let reply = down_bytes.clone();
    let server = tokio::spawn(async move {
        let mut req = Vec::new();
        server.read_to_end(&mut req).await.unwrap();
        server.write_all(&reply).await.unwrap();
        req
    });
    c.write_all(&up_bytes).await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, down_bytes);
    assert_eq!(server.await.unwrap(), up_bytes);
    for dir in Direction::BOTH {
        assert!(lens(&proxied, dir).len() > 80);
        assert_eq!(lens(&c.recorded(), dir), lens(&proxied, dir), "{dir}");
    }
}
