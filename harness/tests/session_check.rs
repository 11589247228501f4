//! Checking servers from sessions: a robust server passes every profile, one that takes one
//! read for one request is caught by `cut-up` every time and passes the clean profile, and a
//! target that is not there is a setup error.

mod common;

use std::time::Instant;

use common::LIMIT;
use stickler::check::external::{ClientOutput, ExternalClient};
use stickler::check::minimise::REPLAY_MIN_GAP;
use stickler::check::session::client::check_client;
use stickler::check::session::{check_server, SessionConfig, SessionProfile, SetupError};
use stickler::check::verdict::Verdict;
use stickler::codec::Framing;
use stickler::peer::server::ServerConfig;
use stickler::service::Service;
use stickler::session::{Connection, Side, Turn};

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_le_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// `n` lockstep `echo` exchanges; requests framed when `framed_requests`.
fn echo_session(n: usize, framed_requests: bool) -> Vec<Connection> {
    let mut turns = Vec::new();
    for i in 0..n {
        let req = format!("echo hello {i}");
        let reply = format!("hello {i}\n");
        turns.push(Turn {
            from: Side::Client,
            bytes: if framed_requests {
                framed(req.as_bytes())
            } else {
                req.into_bytes()
            },
        });
        turns.push(Turn {
            from: Side::Server,
            bytes: framed(reply.as_bytes()),
        });
    }
    vec![Connection {
        turns,
        incomplete: None,
    }]
}

/// The pause between the two parts of a cut message in the tests that count cuts. A reader
/// sees a cut only if it reads the first part before the rest arrives; the check's default
/// pause (10 ms) is shorter than a busy machine may keep a reader (a Python client, a server
/// task) off the CPU, and a reader that comes late gets the message whole. These tests count
/// every cut, so they leave a replay's pause instead.
const CUT_GAP: std::time::Duration = REPLAY_MIN_GAP;

fn profiles(names: &[&str]) -> Vec<SessionProfile> {
    names
        .iter()
        .map(|n| SessionProfile::parse(n).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robust_server_passes_every_profile() {
    let server = common::serve(ServerConfig::new(Framing::Framed, Service::Cmd)).await;
    let cfg = SessionConfig::default();
    let started = Instant::now();
    let report = tokio::time::timeout(
        LIMIT * 3,
        check_server(server.addr(), &echo_session(10, true), &[], &cfg),
    )
    .await
    .expect("checked in time")
    .expect("the framed server answers the clean run");
    eprintln!(
        "10 exchanges × 9 profiles in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(report.cells.len(), 9);
    for cell in &report.cells {
        assert!(
            cell.counts.passed(),
            "{} failed: {:?}",
            cell.profile,
            cell.failure
        );
    }
    let cut_up = report.cells.iter().find(|c| c.profile == "cut-up").unwrap();
    // Ten requests of 16 bytes, each cut at every point: 150 connections.
    assert_eq!(cut_up.runs, 150);
    assert!(report.masks.is_empty(), "{:?}", report.masks);
    common::stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_read_per_request_is_caught_by_every_cut_of_the_request() {
    // The `struct` server takes one read of up to 1024 bytes as one command.
    let server = common::serve(ServerConfig::new(Framing::Struct, Service::Cmd)).await;
    let cfg = SessionConfig {
        profiles: profiles(&["none", "cut-up", "cut-down"]),
        cut_gap: CUT_GAP,
        ..SessionConfig::default()
    };
    let report = check_server(server.addr(), &echo_session(3, false), &[], &cfg)
        .await
        .expect("the struct server answers the clean run");
    let cell = |p: &str| report.cells.iter().find(|c| c.profile == p).unwrap();
    assert!(cell("none").counts.passed());
    // Its replies are written whole and read by length: cutting them changes nothing.
    assert!(
        cell("cut-down").counts.passed(),
        "{:?}",
        cell("cut-down").failure
    );
    let up = cell("cut-up");
    // Every run cuts one request, and that request's reply is wrong.
    assert!(
        up.counts.get(Verdict::Differs) >= up.runs,
        "{:?}",
        up.counts
    );
    let f = up.failure.as_ref().expect("a failure is reported");
    assert_eq!(f.verdict, Verdict::Differs);
    assert!(
        f.detail.contains("client turn 0 cut after byte 1"),
        "{}",
        f.detail
    );
    assert!(!report.passed());
    common::stop(server).await;
}

#[tokio::test]
async fn a_target_that_is_not_there_is_a_setup_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = check_server(addr, &echo_session(1, true), &[], &SessionConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SetupError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()));
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_a_setup_error() {
    // A framed server waits for a whole frame; a session whose request is cut short gets nothing.
    let server = common::serve(ServerConfig::new(Framing::Framed, Service::Cmd)).await;
    let session = vec![Connection {
        turns: vec![
            Turn {
                from: Side::Client,
                bytes: b"\x10\x00\x00\x00echo".to_vec(),
            },
            Turn {
                from: Side::Server,
                bytes: framed(b"hello\n"),
            },
        ],
        incomplete: None,
    }];
    let cfg = SessionConfig {
        idle: std::time::Duration::from_millis(300),
        ..SessionConfig::default()
    };
    let err = check_server(server.addr(), &session, &[], &cfg)
        .await
        .unwrap_err();
    assert!(matches!(err, SetupError::NoAnswer { .. }), "{err}");
    common::stop(server).await;
}

/// The session of the `struct` framing's tutorial client: raw requests, length-prefixed replies.
fn struct_client_command(script: &str, n: usize) -> ExternalClient {
    let mut words = vec![
        "python3".to_string(),
        common::peers_dir().join(script).display().to_string(),
        "{addr}".to_string(),
    ];
    words.extend((0..n).map(|i| format!("'echo hello {i}'")));
    ExternalClient::parse(&words.join(" "), ClientOutput::Raw).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_its_header_with_one_recv_is_caught_by_cut_down() {
    let cfg = SessionConfig {
        profiles: profiles(&["none", "split-up", "cut-up", "cut-down"]),
        cut_gap: CUT_GAP,
        ..SessionConfig::default()
    };
    let session = echo_session(3, false);
    let robust = check_client(
        &struct_client_command("struct_client.py", 3),
        &session,
        &[],
        &cfg,
    )
    .await
    .expect("the exact-read client runs clean");
    for cell in &robust.cells {
        assert!(cell.counts.passed(), "{}: {:?}", cell.profile, cell.failure);
    }
    let naive = check_client(
        &struct_client_command("struct_client_recv4.py", 3),
        &session,
        &[],
        &cfg,
    )
    .await
    .expect("the recv(4) client runs clean");
    let cell = |p: &str| naive.cells.iter().find(|c| c.profile == p).unwrap();
    assert!(cell("none").counts.passed());
    assert!(
        cell("cut-up").counts.passed(),
        "{:?}",
        cell("cut-up").failure
    );
    let down = cell("cut-down");
    // Every cut inside a 4-byte header (3 per reply) breaks it; cuts in the body do not.
    assert_eq!(down.counts.failures(), 9, "{:?}", down.counts);
    let f = down.failure.as_ref().unwrap();
    assert_eq!(f.verdict, Verdict::Crashed, "{}", f.detail);
    assert!(
        f.detail.contains("server turn 0 cut after byte 1"),
        "{}",
        f.detail
    );
}

#[tokio::test]
async fn a_client_command_that_does_not_exist_is_a_setup_error() {
    let client =
        ExternalClient::parse("/nonexistent/stickler-client {addr}", ClientOutput::Raw).unwrap();
    let err = check_client(
        &client,
        &echo_session(1, false),
        &[],
        &SessionConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/stickler-client"),
        "{err}"
    );
}

#[test]
fn a_known_framing_names_a_differing_turn_by_its_messages() {
    use stickler::check::session::message_verdict;
    let spec: stickler::codec::spec::FrameSpec = "length:u16be,max=64".parse().unwrap();
    let f = |body: &[u8]| {
        let mut v = (body.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    };
    let (a, b) = (f(b"alpha"), f(b"bravo"));
    let stream = [a.clone(), b.clone()].concat();
    // Another request's answer: the server misread what it was sent.
    let wrong = f(b"error: bad command");
    assert_eq!(
        message_verdict(&spec, &a, &wrong, 1, &stream),
        Verdict::WrongReply
    );
    // The next reply came with this one.
    let both = [a.clone(), b.clone()].concat();
    assert_eq!(
        message_verdict(&spec, &a, &both, a.len(), &stream),
        Verdict::Merged
    );
    // Half a message, then nothing.
    assert_eq!(
        message_verdict(&spec, &a, &a[..3], 3, &stream),
        Verdict::Short
    );
    // A length no message of this framing can have.
    assert_eq!(
        message_verdict(&spec, &a, &[0xff, 0xff, 1, 2, 3, 4, 5], 0, &stream),
        Verdict::MisreadHeader
    );
}
