//! stickler inside a user's own `cargo test`, written only against the public API as a user
//! would: the chaos proxy builder (relays, records, toxics added and removed while traffic
//! flows), the session check as a function (a robust server passes, a one-read-is-one-message
//! server is caught by `cut-up`), sessions written in code, and the proptest strategies.
//! Loopback only, every wait bounded, every server stopped.

use std::net::SocketAddr;
use std::time::Duration;

use proptest::prelude::*;
use stickler::chaos::Direction;
use stickler::check::session::api::{SessionCheck, SessionCheckError};
use stickler::check::verdict::Verdict;
use stickler::codec::spec::FramingChoice;
use stickler::peer::server::{self, ServerConfig};
use stickler::proxy::{ChaosProxy, ChaosProxyError, PieceEvent};
use stickler::service::Service;
use stickler::session::{Session, Side};
use stickler::strategies::{chunkings, chunks, toxic_specs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Bound on anything a test waits for: a bug fails, it does not hang.
const LIMIT: Duration = Duration::from_secs(30);

/// A tiny server of the user's: u16be-length-prefixed messages, each echoed back. `naive`
/// takes one `read()` for one whole message, the classic bug.
struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(naive: bool) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                match naive {
                    true => conns.spawn(one_read_per_message(stream)),
                    false => conns.spawn(whole_messages(stream)),
                };
            }
        });
        Server { addr, task }
    }

    /// Stops accepting and closes every connection (the JoinSet aborts them when dropped).
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn whole_messages(mut stream: TcpStream) {
    let mut header = [0u8; 2];
    while stream.read_exact(&mut header).await.is_ok() {
        let mut body = vec![0u8; u16::from_be_bytes(header) as usize];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let mut reply = header.to_vec();
        reply.extend_from_slice(&body);
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

async fn one_read_per_message(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let body = buf.get(2..n).unwrap_or_default();
        let mut reply = (body.len() as u16).to_be_bytes().to_vec();
        reply.extend_from_slice(body);
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Sends one message and reads its echo.
async fn round_trip(client: &mut TcpStream, body: &[u8]) -> Vec<u8> {
    let work = async {
        client.write_all(&frame(body)).await.unwrap();
        let mut header = [0u8; 2];
        client.read_exact(&mut header).await.unwrap();
        let mut got = vec![0u8; u16::from_be_bytes(header) as usize];
        client.read_exact(&mut got).await.unwrap();
        got
    };
    tokio::time::timeout(LIMIT, work)
        .await
        .expect("echo in time")
}

fn down_from(events: &[PieceEvent], offset: u64) -> Vec<&PieceEvent> {
    events
        .iter()
        .filter(|e| e.dir == Direction::Down && e.offset >= offset)
        .collect()
}

#[tokio::test]
async fn the_proxy_builder_relays_and_records() {
    let server = Server::start(false).await;
    let proxy = ChaosProxy::builder(server.addr)
        .seed(1)
        .toxic("down:split=1..4")
        .unwrap()
        .record_bytes(true)
        .start()
        .await
        .unwrap();
    assert!(proxy.addr().ip().is_loopback());
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let body = b"sticky packets, cut small";
    assert_eq!(round_trip(&mut client, body).await, body);

    let events = proxy.recorded();
    let down = down_from(&events, 0);
    assert!(!down.is_empty());
    assert!(
        down.iter().all(|e| e.len <= 4 && e.toxic == "split"),
        "{down:?}"
    );
    let echoed: Vec<u8> = down.iter().flat_map(|e| e.bytes().unwrap()).collect();
    assert_eq!(echoed, frame(body));
    let up: usize = events
        .iter()
        .filter(|e| e.dir == Direction::Up)
        .map(|e| e.len)
        .sum();
    assert_eq!(up, frame(body).len());
    // The schedule is the same pieces, to replay.
    let schedule = proxy.schedule();
    let lens: Vec<usize> = schedule
        .pieces(0, Direction::Down)
        .unwrap()
        .iter()
        .map(|p| p.len)
        .collect();
    assert_eq!(lens, down.iter().map(|e| e.len).collect::<Vec<_>>());
    assert_eq!(proxy.connections(), 1);

    drop(client);
    tokio::time::timeout(LIMIT, proxy.shutdown())
        .await
        .expect("proxy stopped in time");
    server.stop().await;
}

#[tokio::test]
async fn a_toxic_added_live_takes_effect_and_removing_it_stops_it() {
    let server = Server::start(false).await;
    let proxy = ChaosProxy::builder(server.addr)
        .record(true)
        .start()
        .await
        .unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let body = b"0123456789abcdef";
    let len = frame(body).len() as u64;

    assert_eq!(round_trip(&mut client, body).await, body);
    let before = proxy.recorded();
    assert!(down_from(&before, 0).iter().all(|e| e.toxic == "none"));

    // The same open connection, a toxic added: every reply byte alone.
    proxy.add_toxic("bytewise", "down:split=1").unwrap();
    assert_eq!(round_trip(&mut client, body).await, body);
    let during = proxy.recorded();
    let split = down_from(&during, len);
    assert_eq!(split.len() as u64, len, "{split:?}");
    assert!(split.iter().all(|e| e.len == 1 && e.toxic == "split"));

    // A taken name is refused, a missing one too.
    assert!(matches!(
        proxy.add_toxic("bytewise", "up:split=1"),
        Err(ChaosProxyError::DuplicateName(_))
    ));
    assert!(matches!(
        proxy.remove_toxic("nope"),
        Err(ChaosProxyError::NoSuchToxic { .. })
    ));

    // Removed: replies pass as the server wrote them.
    let removed = proxy.remove_toxic("bytewise").unwrap();
    assert_eq!(removed.name, "bytewise");
    assert!(proxy.toxics().is_empty());
    assert_eq!(round_trip(&mut client, body).await, body);
    let after = proxy.recorded();
    let plain = down_from(&after, 2 * len);
    assert!(!plain.is_empty());
    assert!(plain.iter().all(|e| e.toxic == "none"), "{plain:?}");
    assert_eq!(proxy.connections(), 1, "one connection all along");

    drop(client);
    tokio::time::timeout(LIMIT, proxy.shutdown())
        .await
        .expect("proxy stopped in time");
    server.stop().await;
}

#[tokio::test]
async fn a_dropped_proxy_releases_its_connections() {
    let server = Server::start(false).await;
    let proxy = ChaosProxy::builder(server.addr).start().await.unwrap();
    let addr = proxy.addr();
    let mut client = TcpStream::connect(addr).await.unwrap();
    assert_eq!(round_trip(&mut client, b"x").await, b"x");
    drop(proxy);
    // The proxy's task closes the connection: the client reads end of stream.
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(LIMIT, client.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // And the listener is gone: connecting is refused (soon, not necessarily at once).
    let refused = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(LIMIT, refused)
        .await
        .expect("the port released in time");
    server.stop().await;
}

#[test]
fn bad_toxics_are_refused_with_the_grammars_message() {
    let b = ChaosProxy::builder("127.0.0.1:9".parse().unwrap());
    let e = b.clone().toxic("down:split=0..4").unwrap_err();
    assert!(e.to_string().contains("split size out of range"), "{e}");
    let e = b.clone().toxic("sideways:split=1").unwrap_err();
    assert!(e.to_string().contains("direction"), "{e}");
    let e = b
        .toxic("down:split=1")
        .unwrap()
        .toxic("down:split=2")
        .unwrap_err();
    assert!(matches!(e, ChaosProxyError::DuplicateName(ref n) if n == "split_down"));
}

/// Three exchanges on one connection and one on another, u16be-framed.
fn echo_session() -> Session {
    Session::builder()
        .name("echo")
        .framing("length:u16be")
        .connection()
        .client(frame(b"hello"))
        .server(frame(b"hello"))
        .client(frame(b"sticky"))
        .server(frame(b"sticky"))
        .client(frame(b"packets"))
        .server(frame(b"packets"))
        .connection()
        .client(frame(b"again"))
        .server(frame(b"again"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_session_check_passes_a_robust_server() {
    let server = Server::start(false).await;
    let check = SessionCheck::new(echo_session())
        .seed(1)
        .configure(|c| c.cut_gap = Duration::from_millis(2));
    let verdicts = tokio::time::timeout(LIMIT, check.run_against(server.addr))
        .await
        .expect("checked in time")
        .expect("the server answers the clean run");
    verdicts.assert_passed();
    assert_eq!(verdicts.profiles().len(), 9);
    for p in verdicts.profiles() {
        assert!(verdicts.profile_passed(p), "{p}");
        assert!(verdicts.counts(p).total() > 0, "{p}");
    }
    // Four server turns, each judged on both runs of a random profile.
    assert_eq!(verdicts.count("none", Verdict::Ok), 8);
    assert!(verdicts.failures().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn stickler_s_own_server_with_a_description_passes() {
    let framing: FramingChoice = "length:u16be".parse().unwrap();
    let server = server::spawn_local(ServerConfig::of_choice(&framing, Service::Echo))
        .await
        .unwrap();
    let verdicts = SessionCheck::new(echo_session())
        .profiles(["none", "coalesce-up", "cut-up", "cut-down"])
        .configure(|c| c.cut_gap = Duration::from_millis(2))
        .run_against(server.addr())
        .await
        .unwrap();
    verdicts.assert_passed();
    assert_eq!(
        verdicts.profiles(),
        ["none", "coalesce-up", "cut-up", "cut-down"]
    );
    tokio::time::timeout(LIMIT, server.stop())
        .await
        .expect("server stopped in time")
        .unwrap();
}

#[tokio::test]
async fn a_session_check_catches_one_read_per_message_under_cut_up() {
    let server = Server::start(true).await;
    let verdicts = tokio::time::timeout(
        LIMIT,
        SessionCheck::new(echo_session())
            .profiles(["none", "cut-up", "cut-down"])
            .configure(|c| c.cut_gap = Duration::from_millis(2))
            .run_against(server.addr),
    )
    .await
    .expect("checked in time")
    .expect("the naive server answers the clean run");
    assert!(!verdicts.passed());
    assert!(verdicts.profile_passed("none"));
    assert!(
        verdicts.profile_passed("cut-down"),
        "replies are read whole"
    );
    verdicts.assert_caught_by("cut-up");
    let cut = verdicts.counts("cut-up");
    assert!(cut.failures() > 0, "{}", cut.summary());
    let cell = verdicts.cell("cut-up", 0).unwrap();
    let failure = cell.failure.as_ref().unwrap();
    assert!(
        failure.detail.contains("client turn 0 cut after byte 1"),
        "{}",
        failure.detail
    );
    assert_eq!(failure.verdict, Verdict::WrongReply);

    // assert_passed names each failing cell: profile, connection, verdict, detail.
    let panic = std::panic::catch_unwind(|| verdicts.assert_passed()).unwrap_err();
    let text = panic
        .downcast_ref::<String>()
        .expect("a formatted message")
        .clone();
    assert!(text.contains("2 of 6 cells"), "{text}");
    assert!(text.contains("cut-up, connection 0: wrong-reply"), "{text}");
    assert!(text.contains("cut-up, connection 1: wrong-reply"), "{text}");
    assert!(text.contains("client turn 0 cut after byte 1"), "{text}");
    assert!(
        text.contains(r#"repeat: .profiles(["cut-up"]).seed(1)"#),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_check_that_cannot_run_says_why() {
    let e = SessionCheck::new(echo_session())
        .profiles(["cut-sideways"])
        .run_against("127.0.0.1:9".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, SessionCheckError::Profile(_)), "{e}");
    assert!(e.to_string().contains("cut-sideways"), "{e}");
    // Nothing listens on a port just freed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let e = SessionCheck::new(echo_session())
        .run_against(addr)
        .await
        .unwrap_err();
    assert!(matches!(e, SessionCheckError::Setup(_)), "{e}");
}

#[test]
fn sessions_are_written_in_code() {
    let s = Session::from_turns([vec![
        (Side::Client, &b"a"[..]),
        (Side::Client, b"b"),
        (Side::Server, b"c"),
    ]])
    .unwrap();
    assert_eq!(s.connections[0].turns.len(), 2);
    assert_eq!(s.connections[0].turns[0].bytes, b"ab");
    // The same rules as a file: round-trips through JSON, framing checked.
    assert_eq!(Session::from_json(&s.to_json()).unwrap(), s);
    let e = Session::builder()
        .framing("length:u16be")
        .client(b"\x00\x09short")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("not a whole number"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn chunkings_cover_the_stream(
        (data, lens) in proptest::collection::vec(any::<u8>(), 0..600)
            .prop_flat_map(|d| { let n = d.len(); (Just(d), chunkings(n)) })
    ) {
        prop_assert_eq!(lens.iter().sum::<usize>(), data.len());
        prop_assert!(lens.iter().all(|&n| n >= 1));
        prop_assert!(lens.len() <= stickler::strategies::MAX_PIECES);
        prop_assert_eq!(chunks(&data, &lens).concat(), data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// The user's property: whatever chaos the proxy draws, the robust server's echoes are
    /// right.
    #[test]
    fn the_robust_server_survives_any_drawn_toxics(toxics in toxic_specs(), seed in any::<u64>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let server = Server::start(false).await;
            let proxy = ChaosProxy::builder(server.addr)
                .seed(seed)
                .toxics(toxics.clone())
                .unwrap()
                .start()
                .await
                .unwrap();
            let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
            for i in 0..3 {
                let body = format!("message {i} under {} toxics", toxics.len());
                assert_eq!(round_trip(&mut client, body.as_bytes()).await, body.as_bytes());
            }
            drop(client);
            tokio::time::timeout(LIMIT, proxy.shutdown()).await.expect("proxy stopped in time");
            server.stop().await;
        });
    }
}
