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

/// `LEN MD5HEX` of what a 1024-byte reader gets for each command from a `service` server.
fn expected_digests(service: stickler::udp::UdpService, commands: &[&str]) -> String {
    commands
        .iter()
        .map(|c| {
            let reply = service.reply(c.as_bytes());
            let kept = &reply[..reply.len().min(1024)];
            format!("{} {}\n", kept.len(), stickler::codec::json::md5_hex(kept))
        })
        .collect()
}

#[test]
fn python_udp_peers_agree_with_ours() {
    use stickler::udp::UdpService;
    let commands = ["echo hello udp", "seq 1 2000", "ls", "", "seq 3"];
    for (service, name) in [
        (UdpService::Cmd, "cmd"),
        (UdpService::Upper, "upper"),
        (UdpService::Echo, "echo"),
    ] {
        let want = expected_digests(service, &commands);
        // The Python client against our server.
        let (_ours, addr) = serve_udp(name);
        let mut py = common::python("udp_client.py");
        py.arg(addr.to_string()).args(commands);
        assert_eq!(run_ok(py), want, "python client, our {name} server");
        // Our client against the Python server.
        let (_theirs, addr) = spawn_listening({
            let mut c = common::python("udp_server.py");
            c.arg(name);
            c
        });
        let out = run_ok(client_udp(addr, &["--digest"], &commands));
        assert_eq!(out, want, "our client, python {name} server");
    }
}

#[test]
fn our_time_is_the_local_time_python_sees() {
    let (_ours, addr) = serve_udp("time");
    // Minutes must agree (retried once across a minute boundary).
    for attempt in 0..2 {
        let mut py = common::python("udp_client.py");
        py.args(["--raw", &addr.to_string(), "now?"]);
        let out = run_ok(py);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out:?}");
        assert!(
            stickler::udp::is_time_reply(lines[0].as_bytes(), false),
            "{out:?}"
        );
        if lines[0][..16] == lines[1][..16] {
            return;
        }
        assert_eq!(attempt, 0, "our time {} vs python's {}", lines[0], lines[1]);
    }
}
