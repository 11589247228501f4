//! The command line: `stickler serve` and `stickler client --digest` agree with the Python peers
//! for every framing; exit codes and messages on failure.

mod common;

use std::process::Command;

use common::{digests, python, run_ok, spawn_listening, ChildGuard, LIMIT};
use stickler::service::Service;

const BIN: &str = env!("CARGO_BIN_EXE_stickler");

fn serve(args: &[&str]) -> (ChildGuard, std::net::SocketAddr) {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"]);
    spawn_listening(command)
}

fn client(framing: &str, addr: std::net::SocketAddr, extra: &[&str], commands: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args([
            "client",
            "--framing",
            framing,
            "--connect",
            &addr.to_string(),
            "--digest",
        ])
        .args(extra)
        .args(commands);
    command
}

/// Framing, its server flags, the Python client, its flags, the commands.
type Case<'a> = (
    &'a str,
    &'a [&'a str],
    &'a str,
    &'a [&'a str],
    &'a [&'a str],
);

fn expected(commands: &[&str]) -> String {
    let replies: Vec<Vec<u8>> = commands
        .iter()
        .map(|c| Service::Cmd.reply(c.as_bytes()))
        .collect();
    digests(replies.iter().map(|r| &r[..]))
}

#[test]
fn seq_1_2000_through_struct() {
    let (_server, addr) = serve(&["--framing", "struct", "--service", "cmd"]);
    assert_ne!(addr.port(), 0, "the real port is printed");
    let out = run_ok(client("struct", addr, &[], &["seq 1 2000"]));
    assert_eq!(out, "8893 ea4d0a24dabcaa11f9aa979b872d162b\n");
}

#[test]
fn serve_and_client_agree_with_the_python_peers() {
    let commands = ["echo hello", "seq 1 2000", "nosuch_cmd", "seq 3 -1 1"];
    let naive_commands = ["echo hello", "seq 1 100"];
    let cases: [Case; 6] = [
        ("naive", &[], "naive_client.py", &[], &naive_commands),
        ("ready", &[], "ready_client.py", &[], &commands),
        ("struct", &[], "struct_client.py", &[], &commands),
        ("json", &[], "json_client.py", &[], &commands),
        (
            "framed",
            &["--header", "struct"],
            "framed_client.py",
            &[],
            &commands,
        ),
        (
            "framed",
            &["--header", "json"],
            "framed_client.py",
            &["--json"],
            &commands,
        ),
    ];
    for (framing, header, peer, peer_flags, commands) in cases {
        let mut args = vec!["--framing", framing, "--service", "cmd"];
        args.extend_from_slice(header);
        let (_server, addr) = serve(&args);
        let ours = run_ok(client(framing, addr, header, commands));
        let mut theirs = python(peer);
        theirs.args(peer_flags).arg(addr.to_string()).args(commands);
        let theirs = run_ok(theirs);
        assert_eq!(
            ours, theirs,
            "{framing} {header:?}: stickler client vs {peer}"
        );
        assert_eq!(ours, expected(commands), "{framing} {header:?}");
    }
}

#[test]
fn upload_client_agrees_with_the_python_peer() {
    let storage = tempfile::tempdir().unwrap();
    let sources = tempfile::tempdir().unwrap();
    let file = sources.path().join("data.bin");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let file = file.to_string_lossy().into_owned();
    let (_server, addr) = serve(&[
        "--framing",
        "upload",
        "--storage-dir",
        &storage.path().to_string_lossy(),
    ]);
    let ours = run_ok(client("upload", addr, &[], &[&file]));
    let mut theirs = python("upload_client.py");
    theirs.args(["--digest", &addr.to_string(), &file]);
    assert_eq!(ours, run_ok(theirs), "same status for the same file");
    let status = format!(
        r#"{{"ok": true, "file_name": "data.bin", "file_size": 100000, "md5": "{}"}}"#,
        stickler::codec::json::md5_hex(&data)
    );
    assert_eq!(ours, digests([status.as_bytes()]));
    assert_eq!(
        std::fs::read(storage.path().join("data.bin")).unwrap(),
        data
    );
}

#[test]
fn client_against_python_servers() {
    let commands = ["echo hello", "seq 1 2000", "nosuch_cmd"];
    for (framing, script) in [("struct", "struct_server.py"), ("json", "json_server.py")] {
        let (_server, addr) = spawn_listening(python(script));
        let out = run_ok(client(framing, addr, &[], &commands));
        assert_eq!(out, expected(&commands), "{framing} against {script}");
    }
}

#[test]
fn client_prints_replies_without_digest() {
    let (_server, addr) = serve(&["--framing", "framed", "--service", "upper"]);
    let mut command = Command::new(BIN);
    command.args([
        "client",
        "--framing",
        "framed",
        "--connect",
        &addr.to_string(),
        "echo a",
        "b\n",
    ]);
    assert_eq!(run_ok(command), "ECHO AB\n");
}

/// A `struct` client talking to a `ready` server gets "3" where it wants a 4-byte header and
/// waits: a timeout, reported with what was read, exit code 1.
#[test]
fn client_timeout_is_a_clear_failure() {
    let (_server, addr) = serve(&["--framing", "ready"]);
    let output = assert_cmd::Command::new(BIN)
        .args([
            "client",
            "--framing",
            "struct",
            "--connect",
            &addr.to_string(),
        ])
        .args(["--timeout", "0.3", "echo hi"])
        .timeout(LIMIT)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("exchange 1 (\"echo hi\") failed: timed out"),
        "{stderr}"
    );
    assert!(stderr.contains("reads: 1B@"), "{stderr}");
}

#[test]
fn client_protocol_error_is_a_clear_failure() {
    // A naive server's reply "hi\n" read as a ready client's digits.
    let (_server, addr) = serve(&["--framing", "naive"]);
    let output = assert_cmd::Command::new(BIN)
        .args([
            "client",
            "--framing",
            "ready",
            "--connect",
            &addr.to_string(),
            "echo hi",
        ])
        .timeout(LIMIT)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("protocol error in the reply: length digits are not a decimal number"),
        "{stderr}"
    );
}

#[test]
fn client_cannot_connect() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = assert_cmd::Command::new(BIN)
        .args([
            "client",
            "--framing",
            "struct",
            "--connect",
            &format!("127.0.0.1:{port}"),
            "x",
        ])
        .timeout(LIMIT)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a setup error");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot connect"));
}

/// Ctrl-C (SIGINT) stops `stickler serve` cleanly: exit code 0 after draining.
#[test]
fn serve_stops_cleanly_on_ctrl_c() {
    let (mut server, addr) = serve(&["--framing", "struct"]);
    assert_eq!(
        run_ok(client("struct", addr, &[], &["echo hi"])),
        expected(&["echo hi"])
    );
    let pid = server.0.id() as libc::pid_t;
    // SAFETY: `pid` is our own child, still running (ChildGuard reaps it only on drop).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < LIMIT, "serve did not stop on SIGINT");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
}
