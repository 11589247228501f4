//! One seed, one schedule: two runs with the same seed and bytes write identical pieces, other
//! seeds differ, a recorded schedule replays to the same piece boundaries at the receiver, and a
//! recording with bytes reads back through a codec.

mod proxy_util;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    // Replay with no toxic at all: the same pieces are written again…
    let json = schedule.to_json();
    let schedule = PieceSchedule::from_json(&json).unwrap();
    let (events2, reads2) = run(&[], 99, Some(schedule), &data, 1).await;
    assert_eq!(
        lengths(&PieceSchedule::from_events(&events2), 0, Direction::Up),
        recorded
    );
    assert!(events2
        .iter()
        .filter(|e| e.dir == Direction::Up)
        .all(|e| e.toxic == "replay"));
    // …and the receiver's reads fall on them (gaps of ~2 ms keep them apart).
    assert_eq!(reads2[0].bytes, data);
    let same = reads2[0]
        .sizes
        .iter()
        .zip(&recorded)
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same * 10 >= recorded.len() * 9,
        "receiver reads {:?} vs schedule {:?}",
        reads2[0].sizes,
        recorded
    );
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
    let (events, reads) = run(&[], 0, Some(s), &data, 1).await;
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
    assert_eq!(reads[0].bytes, data);
    // The 58 trailing bytes leave with no gap, so the receiver may read them with the 30.
    assert_eq!(&reads[0].sizes[..2], [10, 2]);
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
