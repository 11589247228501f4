//! `stickler record` as a user runs it: a real process in front of a built-in server, driven by
//! the built-in client, writing its session file when enough connections closed or on SIGTERM.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{spawn_listening_with_stderr, struct_reply, wait_within_limit, ChildGuard, LIMIT};
use stickler::codec::Framing;
use stickler::peer::client::{Client, ClientConfig};
use stickler::peer::server::ServerConfig;
use stickler::service::Service;
use stickler::session::record::STILL_OPEN;
use stickler::session::{Session, Side};

fn record(upstream: SocketAddr, out: &Path, extra: &[&str]) -> (ChildGuard, SocketAddr) {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("stickler"));
    command
        .args(["record", "--listen", "127.0.0.1:0", "--upstream"])
        .arg(upstream.to_string())
        .arg("--out")
        .arg(out)
        .args(extra);
    let stderr = std::fs::File::create(out.with_extension("stderr")).unwrap();
    spawn_listening_with_stderr(command, Stdio::from(stderr))
}

fn stderr_of(out: &Path) -> String {
    std::fs::read_to_string(out.with_extension("stderr")).unwrap()
}

/// (side, bytes) of every turn of connection `conn`.
fn turns(session: &Session, conn: usize) -> Vec<(Side, Vec<u8>)> {
    session.connections[conn]
        .turns
        .iter()
        .map(|t| (t.from, t.bytes.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_the_file_once_n_connections_closed() {
    let server = common::serve(ServerConfig::new(Framing::Struct, Service::Upper)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("session.json");
    let (mut child, addr) = record(
        server.addr(),
        &out,
        &[
            "--connections",
            "1",
            // The replies are i32le messages, the raw requests are not: the description is
            // left out, with a warning, and nothing recorded is lost.
            "--framing",
            "length:i32le",
            "--name",
            "upper",
        ],
    );

    let mut client = Client::connect(addr, ClientConfig::new(Framing::Struct))
        .await
        .unwrap();
    for request in [&b"ping"[..], b"seq 1 3"] {
        let reply = client.exchange(request).await.unwrap();
        assert_eq!(&reply.body[..], &request.to_ascii_uppercase()[..]);
    }
    client.close().await.unwrap();

    let status = tokio::task::block_in_place(|| wait_within_limit(&mut child.0, "stickler record"));
    assert!(status.success(), "{status}: {}", stderr_of(&out));
    let session = Session::load(&out).unwrap();
    assert_eq!(session.name.as_deref(), Some("upper"));
    assert_eq!(session.framing, None);
    assert_eq!(session.connections.len(), 1);
    assert_eq!(session.connections[0].incomplete, None);
    assert_eq!(
        turns(&session, 0),
        vec![
            (Side::Client, b"ping".to_vec()),
            (Side::Server, struct_reply(b"PING")),
            (Side::Client, b"seq 1 3".to_vec()),
            (Side::Server, struct_reply(b"SEQ 1 3")),
        ]
    );
    let log = stderr_of(&out);
    assert!(
        log.contains("connection 0 closed: 4 turns, 11 bytes from the client, 19 from the server"),
        "{log}"
    );
    assert!(
        log.contains("--framing length:i32le left out of the file")
            && log.contains("connections[0].turns[0]"),
        "{log}"
    );
    common::stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_what_was_recorded_so_far() {
    let server = common::serve(ServerConfig::new(Framing::Struct, Service::Upper)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("session.json");
    let (mut child, addr) = record(server.addr(), &out, &[]);

    // One connection that closed, one still open with one exchange made.
    let mut done = Client::connect(addr, ClientConfig::new(Framing::Struct))
        .await
        .unwrap();
    done.exchange(b"first").await.unwrap();
    done.close().await.unwrap();
    let mut open = Client::connect(addr, ClientConfig::new(Framing::Struct))
        .await
        .unwrap();
    open.exchange(b"second").await.unwrap();
    // The first connection's close has reached the recorder once it says so.
    let start = Instant::now();
    while !stderr_of(&out).contains("connection 0 closed") {
        assert!(start.elapsed() < LIMIT, "{}", stderr_of(&out));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!out.exists(), "nothing written before the signal");

    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = tokio::task::block_in_place(|| wait_within_limit(&mut child.0, "stickler record"));
    assert!(status.success(), "{status}: {}", stderr_of(&out));

    let session = Session::load(&out).unwrap();
    assert_eq!(session.connections.len(), 2);
    assert_eq!(session.connections[0].incomplete, None);
    assert_eq!(
        turns(&session, 0),
        vec![
            (Side::Client, b"first".to_vec()),
            (Side::Server, struct_reply(b"FIRST"))
        ]
    );
    assert_eq!(
        session.connections[1].incomplete.as_deref(),
        Some(STILL_OPEN)
    );
    assert_eq!(
        turns(&session, 1),
        vec![
            (Side::Client, b"second".to_vec()),
            (Side::Server, struct_reply(b"SECOND"))
        ]
    );
    let log = stderr_of(&out);
    assert!(log.contains("1 connections were still open"), "{log}");
    drop(open);
    common::stop(server).await;
}

#[test]
fn an_unwritable_out_file_is_refused_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no/such/dir/session.json");
    let output = Command::new(assert_cmd::cargo::cargo_bin("stickler"))
        .args(["record", "--upstream", "127.0.0.1:9", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "never listened");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("cannot write") && err.contains("no/such/dir"),
        "{err}"
    );
}
