//! `--framing` takes a description wherever it takes a framing: `serve` and `client` speak it,
//! `check --target` checks a server of it, `replay` plays its minimised cases again.

mod common;

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use common::{python, spawn_listening};

fn stickler() -> Command {
    Command::cargo_bin("stickler").unwrap()
}

fn serve(framing: &str, service: &str) -> (common::ChildGuard, std::net::SocketAddr) {
    let mut c = stickler();
    c.args(["serve", "--framing", framing, "--service", service]);
    spawn_listening(c)
}

/// Runs stickler to its end (minimising against a one-at-a-time Python server takes seconds).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = assert_cmd::Command::cargo_bin("stickler")
        .unwrap()
        .args(args)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_and_client_speak_a_description_and_only_it() {
    let (_server, addr) = serve("length:u16be,offset=2", "cmd");
    // A host name is resolved once (localhost is 127.0.0.1).
    let by_name = format!("localhost:{}", addr.port());
    let addr = addr.to_string();
    let (code, stdout, stderr) = run(&[
        "client",
        "--framing",
        "length:u16be,offset=2",
        "--connect",
        &by_name,
        "echo hi",
        "seq 1 3",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "hi\n1\n2\n3\n");

    // The same bytes read as another framing are refused, with the reason.
    let (code, _, stderr) = run(&[
        "client",
        "--framing",
        "length:u32le",
        "--connect",
        &addr,
        "--timeout",
        "2",
        "echo hi",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("exchange 1"), "{stderr}");

    // A line protocol: echo replies are one line each.
    let (_lines, addr) = serve("lines", "echo");
    let (code, stdout, stderr) = run(&[
        "client",
        "--framing",
        "lines",
        "--connect",
        &addr.to_string(),
        "alpha",
        "bravo",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "alphabravo");
}

#[test]
fn a_bad_description_is_a_usage_error_naming_the_fix() {
    for args in [
        &["serve", "--framing", "length:u17"][..],
        &[
            "client",
            "--framing",
            "bogus:1",
            "--connect",
            "127.0.0.1:9",
            "x",
        ],
        &["check", "--framing", "length:u16be", "--quiet"],
    ] {
        let (code, _, stderr) = run(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("length:") || stderr.contains("--target"),
            "{args:?}: {stderr}"
        );
    }
    let (_, _, stderr) = run(&["check", "--framing", "length:u16be", "--quiet"]);
    assert!(stderr.contains("--target ADDR --framing"), "{stderr}");
}

#[test]
fn check_target_passes_a_robust_server_and_catches_a_one_recv_one_message_one() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases");
    // Ours reads every request whole, however it is cut.
    let (_ours, addr) = serve("length:u16be", "cmd");
    let (code, stdout, stderr) = run(&[
        "check",
        "--quiet",
        "--target",
        &addr.to_string(),
        "--framing",
        "length:u16be",
        "--cases",
        "*/none/*",
        "--cases",
        "*/split-up/small",
        "--cases",
        "*/coalesce-down/large",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("5 cases, 5 passed"), "{stdout}");

    // A home-made u16be server taking one recv() as one message fails a split request, and the
    // printed repro replays the minimised case against it.
    let (_naive, addr) = spawn_listening(python("u16be_server_recv.py"));
    let (code, stdout, stderr) = run(&[
        "check",
        "--quiet",
        "--target",
        &addr.to_string(),
        "--framing",
        "length:u16be",
        "--cases",
        "*/none/small",
        "--cases",
        "*/split-up/small",
        "--timeout",
        "1s",
        "--connections",
        "1",
        "--cases-dir",
        cases.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("2 cases, 1 passed, 1 failed"), "{stdout}");
    let case = std::fs::read_dir(&cases)
        .unwrap()
        .next()
        .expect("a case file")
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&case).unwrap();
    assert!(text.contains("\"spec\": \"length:u16be\""), "{text}");
    assert!(text.contains(&addr.to_string()), "{text}");
    let (code, stdout, stderr) = run(&["replay", case.to_str().unwrap(), "--timeout-ms", "1000"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("reproduced"), "{stdout}");

    // Without a case file, the repro printed under the table is a whole `check` command: pasted
    // as is, it runs the same case against the same server, and it fails again.
    let (code, stdout, _) = run(&[
        "check",
        "--quiet",
        "--target",
        &addr.to_string(),
        "--framing",
        "length:u16be",
        "--cases",
        "*/split-up/small",
        "--timeout",
        "1s",
    ]);
    assert_eq!(code, 1, "{stdout}");
    let repro = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("repro: "))
        .unwrap_or_else(|| panic!("no repro line: {stdout}"));
    let words = shell_words::split(repro).unwrap();
    assert_eq!(words[0], "stickler", "{repro}");
    let words: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    assert!(
        words.contains(&"--target") && words.contains(&"--timeout"),
        "{repro}"
    );
    let (code, again, _) = run(&[&words[..], &["--quiet"]].concat());
    assert_eq!(code, 1, "{repro}: {again}");
    assert!(again.contains("FAIL framed/split-up/small"), "{again}");
}

#[test]
fn a_session_takes_its_framing_from_the_command_line_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("s.json");
    std::fs::write(
        &session,
        r#"{"stickler_session": 1, "connections": [{"turns": [
            {"from": "client", "text": "\\x00\\x0aecho hello\\x00\\x07seq 1 3"},
            {"from": "server", "text": "\\x00\\x06hello\\n\\x00\\x061\\n2\\n3\\n"}
        ]}]}"#,
    )
    .unwrap();
    let (_server, addr) = serve("length:u16be", "cmd");
    let addr = addr.to_string();
    let path = session.to_str().unwrap();
    let (code, stdout, stderr) = run(&[
        "check",
        "--quiet",
        "--session",
        path,
        "--target",
        &addr,
        "--framing",
        "length:u16be",
        "--profiles",
        "none,cut-up",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Each of the two requests is cut at every byte of its 2-byte header and more.
    assert!(stdout.contains("cut-up"), "{stdout}");

    let (code, _, stderr) = run(&[
        "check",
        "--session",
        path,
        "--target",
        &addr,
        "--framing",
        "length:u32be",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("connections[0].turns[0]") && stderr.contains("length:u32be"),
        "{stderr}"
    );
}

#[test]
fn check_takes_the_targets_header_and_token() {
    let mut c = stickler();
    c.args(["serve", "--framing", "framed", "--header", "json"]);
    let (_json, addr) = spawn_listening(c);
    let addr = addr.to_string();
    let base = ["check", "--quiet", "--target", &addr, "--framing", "framed"];
    let (code, stdout, stderr) =
        run(&[&base[..], &["--header", "json", "--cases", "*/none/small"]].concat());
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Spoken with the default struct header, the same server fails, and the repro says so.
    let (code, stdout, _) = run(&[
        &base[..],
        &["--cases", "*/none/small", "--timeout", "500ms"],
    ]
    .concat());
    assert_eq!(code, 1, "{stdout}");

    let mut c = stickler();
    c.args(["serve", "--framing", "ready", "--token", "go"]);
    let (_ready, addr) = spawn_listening(c);
    let addr = addr.to_string();
    let (code, stdout, stderr) = run(&[
        "check",
        "--quiet",
        "--target",
        &addr,
        "--framing",
        "ready",
        "--token",
        "go",
        "--cases",
        "*/none/small",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Without --target the options have nothing to apply to.
    let (code, _, stderr) = run(&["check", "--quiet", "--token", "go"]);
    assert_eq!(code, 2, "{stderr}");
}
