//! One seed, one schedule: two runs with the same seed and bytes write identical pieces, other
//! seeds differ, a recorded schedule replays to the same piece boundaries at the receiver, and a
//! recording with bytes reads back through a codec.
//!
//! What the receiving socket observes is asserted only as far as TCP decides it: its bytes, in
//! order, and reads that each end on a boundary the proxy wrote (loopback delivers each small
//! piece whole). Whether two pieces a few milliseconds apart reach it as two reads depends on
//! when it gets the CPU; where a test needs each piece as a read of its own, the client releases
//! a piece's bytes only once the receiver has read everything before them, so that no other
//! piece is in flight whatever the load.

mod proxy_util;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use proxy_util::*;
use stickler::chaos::Direction;
use stickler::codec::length::LengthCodec;
use stickler::proxy::record::{PieceSchedule, SchedPiece};
use stickler::proxy::transcript::transcript;
use stickler::proxy::{PieceEvent, ProxyConfig, RecordSink, ToxicSpec};

/// Runs `conns` connections one after another, each sending `data` up in one write and reading
/// the reply, through a proxy with `toxics` and `seed`, recording in memory.
async fn run(
    toxics: &[&str],
    seed: u64,
    replay: Option<PieceSchedule>,
    data: &[u8],
    conns: usize,
) -> (Vec<PieceEvent>, Vec<Reads>) {
    let (sink, server) = sink_server(conns, b"done").await;
    let mut c = ProxyConfig::new(sink);
    c.toxics = toxics
        .iter()
        .map(|t| t.parse::<ToxicSpec>().unwrap())
        .collect();
    c.seed = seed;
    c.record = Some(RecordSink::memory(true));
    c.replay = replay;
    let proxy = start_with(c).await;
    for _ in 0..conns {
        let mut s = TcpStream::connect(proxy.local_addr()).await.unwrap();
        s.write_all(data).await.unwrap();
        s.shutdown().await.unwrap();
        let mut reply = Vec::new();
        within(s.read_to_end(&mut reply)).await.unwrap();
        assert_eq!(reply, b"done");
    }
    let reads = within(server).await.unwrap();
    proxy.shutdown().await;
    (proxy.events(), reads)
}

/// Accepts one connection and reads it to EOF, noting every read; `progress` carries the bytes
/// read so far after each read. Then answers `done` and closes.
async fn noting_receiver() -> (
    std::net::SocketAddr,
    watch::Receiver<usize>,
    JoinHandle<Reads>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (progress, seen) = watch::channel(0);
    let h = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut reads = Reads::default();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            reads.sizes.push(n);
            reads.bytes.extend_from_slice(&buf[..n]);
            progress.send_replace(reads.bytes.len());
        }
        s.write_all(b"done").await.unwrap();
        s.shutdown().await.unwrap();
        reads
    });
    (addr, seen, h)
}

/// Replays `schedule` (no toxic) on one connection whose client releases `data` piece by
/// piece: the bytes of `release[k]` go out only once the receiver has read every byte before
/// them, as two writes (all but the last byte, a pause, the last byte) that a proxy passing
/// bytes as they come would deliver as two pieces. The rest of `data` follows in one write.
async fn replay_released(
    schedule: PieceSchedule,
    data: &[u8],
    release: &[usize],
) -> (Vec<PieceEvent>, Reads) {
    let (addr, mut seen, receiver) = noting_receiver().await;
    let mut c = ProxyConfig::new(addr);
    c.record = Some(RecordSink::memory(true));
    c.replay = Some(schedule);
    let proxy = start_with(c).await;
    let mut s = TcpStream::connect(proxy.local_addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut at = 0;
    for &len in release {
        let piece = &data[at..at + len];
        if len > 1 {
            s.write_all(&piece[..len - 1]).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        s.write_all(&piece[len - 1..]).await.unwrap();
        at += len;
        within(seen.wait_for(|&n| n >= at)).await.unwrap();
    }
    s.write_all(&data[at..]).await.unwrap();
    s.shutdown().await.unwrap();
    let mut reply = Vec::new();
    within(s.read_to_end(&mut reply)).await.unwrap();
    assert_eq!(reply, b"done");
    let reads = within(receiver).await.unwrap();
    proxy.shutdown().await;
    (proxy.events(), reads)
}

/// Offsets where pieces of `lens` end.
fn ends(lens: &[usize]) -> Vec<usize> {
    lens.iter()
        .scan(0, |at, len| {
            *at += len;
            Some(*at)
        })
        .collect()
}

fn lengths(s: &PieceSchedule, conn: u64, dir: Direction) -> Vec<usize> {
    s.pieces(conn, dir)
        .unwrap_or(&[])
        .iter()
        .map(|p| p.len)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_schedule_other_seed_differs() {
    let data = random_bytes(5, 1500);
    let toxics = [
        "up:split=1..32,gap=1ms",
        "up:latency=1ms,jitter=1ms",
        "down:split=1..2",
    ];
    let (a, _) = run(&toxics, 42, None, &data, 2).await;
    let (b, _) = run(&toxics, 42, None, &data, 2).await;
    let (c, _) = run(&toxics, 43, None, &data, 2).await;
    let (sa, sb, sc) = (
        PieceSchedule::from_events(&a),
        PieceSchedule::from_events(&b),
        PieceSchedule::from_events(&c),
    );
    for conn in 0..2 {
        let la = lengths(&sa, conn, Direction::Up);
        assert!(la.len() > 40, "split made only {} pieces", la.len());
        assert_eq!(la.iter().sum::<usize>(), data.len());
        assert_eq!(
            la,
            lengths(&sb, conn, Direction::Up),
            "same seed, conn {conn}: pieces differ"
        );
        assert_ne!(
            la,
            lengths(&sc, conn, Direction::Up),
            "seeds 42 and 43 gave the same pieces"
        );
        assert_eq!(
            lengths(&sa, conn, Direction::Down),
            lengths(&sb, conn, Direction::Down)
        );
    }
    // Each connection has its own stream: connection 0 and 1 differ.
    assert_ne!(
        lengths(&sa, 0, Direction::Up),
        lengths(&sa, 1, Direction::Up)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_zero_leaves_no_trace() {
    let data = random_bytes(6, 800);
    let (a, _) = run(&["up:split=1..9,gap=1ms"], 9, None, &data, 1).await;
    let (b, _) = run(
        &[
            "up:latency=50ms,toxicity=0",
            "up:split=1..9,gap=1ms",
            "up:coalesce=1s,toxicity=0",
        ],
        9,
        None,
        &data,
        1,
    )
    .await;
    let (sa, sb) = (
        PieceSchedule::from_events(&a),
        PieceSchedule::from_events(&b),
    );
    assert_eq!(
        lengths(&sa, 0, Direction::Up),
        lengths(&sb, 0, Direction::Up)
    );
    assert!(b
        .iter()
        .all(|e| e.toxic != "latency" && e.toxic != "coalesce"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_schedule_replays_at_the_receiver() {
    let data = random_bytes(7, 400);
    let (events, reads) = run(&["up:split=1..20,gap=2ms"], 1, None, &data, 1).await;
    let schedule = PieceSchedule::from_events(&events);
    let recorded = lengths(&schedule, 0, Direction::Up);
    assert_eq!(reads[0].bytes, data);
    // Replay with no toxic at all, every byte there at once: the same pieces are written again…
    let json = schedule.to_json();
    let schedule = PieceSchedule::from_json(&json).unwrap();
    let (events2, reads2) = run(&[], 99, Some(schedule.clone()), &data, 1).await;
    assert_eq!(
        lengths(&PieceSchedule::from_events(&events2), 0, Direction::Up),
        recorded
    );
    assert!(events2
        .iter()
        .filter(|e| e.dir == Direction::Up)
        .all(|e| e.toxic == "replay"));
    // …the receiver gets the bytes in order, and each of its reads ends where a piece ends (a
    // receiver that reads late takes several pieces at once, never part of one)…
    assert_eq!(reads2[0].bytes, data);
    let boundaries = ends(&recorded);
    for end in ends(&reads2[0].sizes) {
        assert!(
            boundaries.contains(&end),
            "a read ended at byte {end}, inside a piece: reads {:?}, schedule {recorded:?}",
            reads2[0].sizes
        );
    }
    // …and a receiver that has read everything before each piece is written reads exactly the
    // recorded pieces, one per read.
    let (events3, reads3) = replay_released(schedule, &data, &recorded).await;
    assert_eq!(
        lengths(&PieceSchedule::from_events(&events3), 0, Direction::Up),
        recorded
    );
    assert_eq!(reads3.bytes, data);
    assert_eq!(reads3.sizes, recorded, "receiver reads vs schedule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_built_schedule_merges_and_passes_the_rest() {
    let data = random_bytes(8, 100);
    let mut s = PieceSchedule::default();
    let pieces = [10, 1, 1, 30]
        .map(|len| SchedPiece { len, gap_us: 3000 })
        .to_vec();
    s.set(0, Direction::Up, pieces);
    assert!(s.merge_adjacent(0, Direction::Up, 1)); // 10, 2, 30
    let (events, reads) = replay_released(s, &data, &[10, 2, 30]).await;
    let up: Vec<usize> = events
        .iter()
        .filter(|e| e.dir == Direction::Up)
        .map(|e| e.len)
        .collect();
    assert_eq!(&up[..3], [10, 2, 30]);
    assert_eq!(
        up[3..].iter().sum::<usize>(),
        58,
        "bytes beyond the schedule pass as they come"
    );
    assert_eq!(reads.bytes, data);
    // Each scheduled piece was written whole while nothing else was in flight; the 58 trailing
    // bytes were written in one go, and may reach the receiver in one read or several.
    assert_eq!(&reads.sizes[..3], [10, 2, 30]);
    assert_eq!(reads.sizes[3..].iter().sum::<usize>(), 58);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_shows_frames_per_piece_through_the_codec() {
    // Three struct frames, split into pieces of 1..5 bytes.
    let mut wire = Vec::new();
    for body in [&b"hello"[..], b"", b"sticky packets"] {
        wire.extend_from_slice(&(body.len() as i32).to_le_bytes());
        wire.extend_from_slice(body);
    }
    let (events, _) = run(&["up:split=1..5,gap=1ms"], 3, None, &wire, 1).await;
    let t = transcript(&events, 0, Direction::Up, LengthCodec::default()).unwrap();
    assert_eq!(t.frame_ends, [9, 13, 31]);
    assert!(t.error.is_none(), "{:?}", t.error);
    assert_eq!(t.pieces.iter().map(|p| p.len).sum::<usize>(), wire.len());
    // Every piece lies within or across the frames the decoder found.
    for p in &t.pieces {
        assert!(!p.frames.is_empty() && p.frames.end <= 3, "{p:?}");
    }
    let text = t.to_string();
    assert!(text.contains("3 frames"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_to_a_file_is_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    let (sink, server) = sink_server(1, b"x").await;
    let mut c = ProxyConfig::new(sink);
    c.toxics = vec!["up:split=4".parse().unwrap()];
    c.record = Some(RecordSink::file(&path, false).unwrap());
    let proxy = start_with(c).await;
    let mut s = TcpStream::connect(proxy.local_addr()).await.unwrap();
    s.write_all(b"0123456789").await.unwrap();
    s.shutdown().await.unwrap();
    let mut r = Vec::new();
    within(s.read_to_end(&mut r)).await.unwrap();
    within(server).await.unwrap();
    proxy.shutdown().await;
    let events = stickler::proxy::record::read_events(&path).unwrap();
    let up: Vec<usize> = events
        .iter()
        .filter(|e| e.dir == Direction::Up)
        .map(|e| e.len)
        .collect();
    assert_eq!(up, [4, 4, 2]);
    assert!(events.iter().all(|e| e.data.is_none()));
    let s = PieceSchedule::load(&path).unwrap();
    assert_eq!(lengths(&s, 0, Direction::Up), [4, 4, 2]);
}
