//! The UDP command line: `serve --udp`, `client --udp`, `udp-proxy`, and their errors.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{run_ok, spawn_listening, ChildGuard, LIMIT};

fn stickler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stickler"))
}

fn serve_udp(service: &str) -> (ChildGuard, std::net::SocketAddr) {
    let mut c = stickler();
    c.args([
        "serve",
        "--udp",
        "--service",
        service,
        "--listen",
        "127.0.0.1:0",
    ]);
    spawn_listening(c)
}

fn client_udp(addr: std::net::SocketAddr, extra: &[&str], commands: &[&str]) -> Command {
    let mut c = stickler();
    c.args(["client", "--udp", "--connect", &addr.to_string()])
        .args(extra)
        .arg("--")
        .args(commands);
    c
}

/// Runs to completion within LIMIT; returns (exit code, stdout, stderr).
fn run(mut command: Command) -> (Option<i32>, String, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < LIMIT, "{command:?} did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_and_client_over_udp() {
    let (_server, addr) = serve_udp("upper");
    let out = run_ok(client_udp(addr, &[], &["hello", "", "udp"]));
    assert_eq!(out, "HELLOUDP", "the empty datagram got an empty reply");
    let out = run_ok(client_udp(addr, &["--digest"], &["", "ab"]));
    assert_eq!(
        out,
        "0 d41d8cd98f00b204e9800998ecf8427e\n2 b86fc6b051f63d73de262d4c34e3a0a9\n"
    );
}

#[test]
fn time_is_served_over_udp_only() {
    let (_server, addr) = serve_udp("time");
    let out = run_ok(client_udp(addr, &[], &["now?"]));
    assert!(
        stickler::udp::is_time_reply(out.as_bytes(), false),
        "{out:?} is not %Y-%m-%d %H:%M:%S"
    );
    let mut tcp = stickler();
    tcp.args(["serve", "--framing", "struct", "--service", "time"]);
    let (code, _, err) = run(tcp);
    assert_eq!(code, Some(2));
    assert!(err.contains("UDP only") && err.contains("--udp"), "{err}");
}

#[test]
fn a_truncated_reply_is_named() {
    let (_server, addr) = serve_udp("cmd");
    let (code, out, err) = run(client_udp(addr, &[], &["seq 1 2000"]));
    assert_eq!(code, Some(0));
    assert_eq!(out.len(), 1024);
    assert!(err.contains("1024 of 8893 bytes kept"), "{err}");
}

#[test]
fn a_silent_server_is_a_clear_timeout() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let (code, _, err) = run(client_udp(addr, &["--timeout", "0.3"], &["hello"]));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("datagram 1") && err.contains("no datagram"),
        "{err}"
    );
}

#[test]
fn udp_flags_conflict_with_tcp_ones() {
    let mut c = stickler();
    c.args(["serve", "--udp", "--framing", "struct"]);
    let (code, _, err) = run(c);
    assert_eq!(code, Some(2), "{err}");
    let mut c = stickler();
    c.args(["client", "--connect", "127.0.0.1:9", "x"]);
    let (code, _, err) = run(c);
    assert_eq!(code, Some(2));
    assert!(err.contains("--framing"), "{err}");
}

#[test]
fn udp_proxy_applies_toxics_and_records() {
    let (_server, upstream) = serve_udp("echo");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("udp.jsonl");
    let mut p = stickler();
    p.args([
        "udp-proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &upstream.to_string(),
        "--toxic",
        "down:truncate=4",
        "--seed",
        "5",
        "--record",
        record.to_str().unwrap(),
    ]);
    let (mut proxy, addr) = spawn_listening(p);
    let out = run_ok(client_udp(addr, &[], &["hello"]));
    assert_eq!(out, "hell");
    // SIGTERM flushes the recording.
    terminate(&mut proxy);
    let text = std::fs::read_to_string(&record).unwrap();
    let events: Vec<stickler::udp::record::DatagramEvent> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{text}");
    assert_eq!(events[1].truncated_from, Some(5));
    assert_eq!(events[1].len, 4);

    let mut bad = stickler();
    bad.args([
        "udp-proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:9",
        "--toxic",
        "drop=2",
    ]);
    let (code, _, err) = run(bad);
    assert_eq!(code, Some(2));
    assert!(err.contains("outside 0..1"), "{err}");

    let mut help = stickler();
    help.args(["udp-proxy", "--help"]);
    let out = run_ok(help);
    assert!(
        out.contains("drop=P[,burst=N]") && out.contains("truncate=SIZE"),
        "{out}"
    );
}

/// Sends SIGTERM and waits for the exit.
fn terminate(child: &mut ChildGuard) {
    let pid = child.0.id() as libc::pid_t;
    // SAFETY: kill(2) on the pid of our own child process, which has not been waited for.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let start = std::time::Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < LIMIT, "the proxy did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
}
