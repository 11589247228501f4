//! `stickler check --session` as a user runs it: a hand-written session against built-in
//! servers started as processes, exit codes, and the errors for bad input.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use assert_cmd::Command;
use common::{spawn_listening, ChildGuard};
use predicates::prelude::*;

/// Three `echo` exchanges written by hand: `framed` requests (4-byte little-endian length) when
/// `framed`, else raw; replies always length-prefixed.
fn write_session(path: &Path, framed: bool) {
    let mut turns = Vec::new();
    for i in 0..3 {
        let req = format!("echo hi {i}");
        let prefix = if framed {
            "\\\\x09\\\\x00\\\\x00\\\\x00"
        } else {
            ""
        };
        turns.push(format!(r#"{{"from": "client", "text": "{prefix}{req}"}}"#));
        turns.push(format!(
            r#"{{"from": "server", "text": "\\x05\\x00\\x00\\x00hi {i}\\n"}}"#
        ));
    }
    let text = format!(
        r#"{{"stickler_session": 1, "name": "echo", "connections": [{{"turns": [{}]}}]}}"#,
        turns.join(", ")
    );
    std::fs::write(path, text).unwrap();
}

fn serve(framing: &str) -> (ChildGuard, SocketAddr) {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("stickler"));
    c.args([
        "serve",
        "--framing",
        framing,
        "--service",
        "cmd",
        "--listen",
        "127.0.0.1:0",
    ]);
    spawn_listening(c)
}

fn stickler() -> Command {
    Command::cargo_bin("stickler").unwrap()
}

#[test]
fn a_framed_server_passes_and_a_one_read_server_fails_cut_up() {
    let dir = tempfile::tempdir().unwrap();
    let framed = dir.path().join("framed.json");
    let raw = dir.path().join("raw.json");
    write_session(&framed, true);
    write_session(&raw, false);
    let (_f, faddr) = serve("framed");
    let junit = dir.path().join("junit.xml");
    stickler()
        .args(["check", "--quiet", "--session"])
        .arg(&framed)
        .args(["--target", &faddr.to_string(), "--junit"])
        .arg(&junit)
        .arg("--report")
        .arg(dir.path().join("report"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("9 cells, 9 passed, 0 failed"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testcase") && !xml.contains("<failure"),
        "{xml}"
    );
    assert!(dir.path().join("report/index.html").exists());

    let (_s, saddr) = serve("struct");
    stickler()
        .args(["check", "--quiet", "--session"])
        .arg(&raw)
        .args(["--target", &saddr.to_string(), "--profiles", "none,cut-up"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "FAIL connection 0 / cut-up (run 0 of 24",
        ))
        .stdout(predicate::str::contains(
            "client turn 0 cut after byte 1 of 9",
        ));
}

#[test]
fn a_failing_cell_is_minimised_into_a_case_that_the_printed_repro_replays() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.json");
    write_session(&raw, false);
    let cases = dir.path().join("cases");
    let (_s, saddr) = serve("struct");
    let out = stickler()
        .args(["check", "--quiet", "--session"])
        .arg(&raw)
        .args(["--target", &saddr.to_string(), "--profiles", "cut-up"])
        .arg("--cases-dir")
        .arg(&cases)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let repro = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("repro: "))
        .unwrap_or_else(|| panic!("no repro line in {out}"));
    assert!(
        repro.starts_with("stickler replay ") && repro.contains(&saddr.to_string()),
        "{repro}"
    );
    let case = cases.join("session-0_cut-up.json");
    let text = std::fs::read_to_string(&case).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    // One cut: the request's first byte as the one scheduled piece (a replay holds the rest of
    // the request back until after a pause), nothing else of the session.
    assert_eq!(file["pieces_after"], 1, "{text}");
    assert_eq!(
        file["schedule"]["streams"][0]["pieces"][0]["len"], 1,
        "{text}"
    );
    assert_eq!(file["verdict"], "differs", "{text}");
    // The printed command, pasted as is, brings the verdict back.
    let words = shell_words::split(repro).unwrap();
    stickler()
        .args(&words[1..])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("reproduced: differs"));
    // Without its cut the same case passes on the same server: the verdict is the cut's.
    let mut uncut = file.clone();
    uncut["schedule"] = serde_json::json!({ "streams": [] });
    let uncut_path = dir.path().join("uncut.json");
    std::fs::write(&uncut_path, uncut.to_string()).unwrap();
    stickler()
        .arg("replay")
        .arg(&uncut_path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "not reproduced: expected differs, got all ok",
        ));
}

#[test]
fn bad_input_is_a_usage_error_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"stickler_session": 1, "connections": [{"turns": [{"from": "client", "base64": "!!"}]}]}"#).unwrap();
    stickler()
        .args(["check", "--session"])
        .arg(&bad)
        .args(["--target", "127.0.0.1:9"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.json"))
        .stderr(predicate::str::contains("base64"));
    // The rest never reaches a target (127.0.0.1:9 is never dialled): the flags are refused first.
    let good = dir.path().join("good.json");
    write_session(&good, true);
    stickler()
        .args(["check", "--session"])
        .arg(&good)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--session needs --target"));
    stickler()
        .args(["check", "--session"])
        .arg(&good)
        .args(["--target", "127.0.0.1:9", "--profiles", "none,sideways"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown profile \"sideways\""));
    stickler()
        .args(["check", "--session"])
        .arg(&good)
        .args(["--target", "127.0.0.1:9", "--mask", "0:1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad --mask"));
    // A target nobody listens on: a setup error, not a failed matrix.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    stickler()
        .args(["check", "--session"])
        .arg(&good)
        .args(["--target", &addr.to_string()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "cannot reach the target {addr}"
        )));
}

#[test]
fn a_session_framing_cuts_each_message_and_a_wrong_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.json");
    write_session(&plain, true);
    let with = |framing: &str| {
        let path = dir
            .path()
            .join(format!("{}.json", framing.replace(':', "_")));
        let text = std::fs::read_to_string(&plain).unwrap().replacen(
            r#""name": "echo","#,
            &format!(r#""name": "echo", "framing": "{framing}","#),
            1,
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let (_f, addr) = serve("framed");
    // `length:i32le` is the framed server's own framing: every turn is one message whose
    // 4 header bytes are always cut; 13-byte requests give 12 cuts each, 36 runs of 3 replies.
    stickler()
        .args(["check", "--quiet", "--session"])
        .arg(with("length:i32le"))
        .args(["--target", &addr.to_string(), "--profiles", "cut-up"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("pass 108/108"));
    stickler()
        .args(["check", "--session"])
        .arg(with("length:u16be"))
        .args(["--target", &addr.to_string()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is not a whole number of length:u16be",
        ));
}

#[test]
fn a_failing_client_cell_is_minimised_into_a_case_that_replay_reproduces() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("echo.json");
    write_session(&session, false);
    let cases = dir.path().join("cases");
    let client = format!(
        "python3 {} {{addr}} 'echo hi 0' 'echo hi 1' 'echo hi 2'",
        common::peers_dir().join("struct_client_recv4.py").display()
    );
    let out = Command::cargo_bin("stickler")
        .unwrap()
        .arg("check")
        .arg("--session")
        .arg(&session)
        .args([
            "--client",
            &client,
            "--profiles",
            "none,cut-down",
            "--quiet",
        ])
        .arg("--cases-dir")
        .arg(&cases)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let case = cases.join("client_cut-down.json");
    assert!(case.exists(), "{stdout}");
    assert!(stdout.contains("stickler replay"), "{stdout}");
    // The recv(4) client crashes on a reply header cut in two; the case brings it back.
    Command::cargo_bin("stickler")
        .unwrap()
        .arg("replay")
        .arg(&case)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("reproduced: crashed"));
}
