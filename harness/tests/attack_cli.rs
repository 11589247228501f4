//! `stickler attack` on the command line: against our server (every selected case survived,
//! exit 0, JSON and JUnit written, `--pid` memory measured), against a tutorial-style Python
//! server that serves one client at a time (slowloris hangs it, a reset kills it: exit 1,
//! reported as such; garbage it survives), and usage errors (exit 2).

mod common;

use std::process::{Command, Output};

use common::{python, spawn_listening, LIMIT};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_stickler");

/// Runs `stickler attack ARGS` to completion within [`LIMIT`].
fn attack(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .arg("attack")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("stickler attack {args:?} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn list_shows_the_cases_of_a_framing() {
    let out = attack(&["--list", "--framing", "upload"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("upload-name-dotdot"), "{listed}");
    assert!(listed.contains("json-md5-mismatch"), "{listed}");
    assert!(!listed.contains("ready-token-wrong"), "{listed}");
    let all = attack(&["--list"]);
    assert!(String::from_utf8_lossy(&all.stdout).lines().count() >= 30);
}

#[test]
fn our_server_survives_and_reports_are_written() {
    let mut serve = Command::new(BIN);
    serve.args([
        "serve",
        "--framing",
        "framed",
        "--header",
        "json",
        "--listen",
        "127.0.0.1:0",
    ]);
    let (child, addr) = spawn_listening(serve);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("attack.json");
    let junit = dir.path().join("attack.xml");
    let pid = child.0.id().to_string();
    let out = attack(&[
        "--target",
        &addr.to_string(),
        "--framing",
        "framed",
        "--header",
        "json",
        "--cases",
        "len-*",
        "--cases",
        "json-*",
        "--cases",
        "flood-*",
        "--flood-connections",
        "200",
        "--observe",
        "200ms",
        "--pid",
        &pid,
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 broke it"), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert!(results.len() >= 20, "{}", results.len());
    for r in results {
        assert_eq!(r["outcome"], "survived", "{r}");
        assert!(r["rss_growth"].is_i64(), "memory measured: {r}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(&format!("tests=\"{}\" failures=\"0\"", results.len())),
        "{xml}"
    );
}

/// Attacks a fresh tutorial-style Python `struct` server (one client at a time) with one case;
/// returns the exit code, the case's outcome and its JUnit XML.
fn attack_python(case: &str) -> (Option<i32>, Value, String) {
    let (_child, addr) = spawn_listening(python("struct_server.py"));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("attack.json");
    let junit = dir.path().join("attack.xml");
    let out = attack(&[
        "--target",
        &addr.to_string(),
        "--framing",
        "struct",
        "--cases",
        case,
        "--slow-interval",
        "100ms",
        "--probe-timeout",
        "1s",
        "--observe",
        "200ms",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--quiet",
    ]);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let outcome = report["results"][0]["outcome"].clone();
    (
        out.status.code(),
        outcome,
        std::fs::read_to_string(&junit).unwrap(),
    )
}

#[test]
fn a_one_client_at_a_time_server_is_broken_and_reported() {
    // Busy with the slow client, the server never gets to the probe.
    let (code, outcome, xml) = attack_python("slowloris");
    assert_eq!((code, outcome.as_str()), (Some(1), Some("hung")), "{xml}");
    assert!(xml.contains("<failure message=\"hung\">"), "{xml}");
    // A reset ends only that client's connection (the peer catches ConnectionError per client).
    let (code, outcome, xml) = attack_python("connect-reset");
    assert_eq!(
        (code, outcome.as_str()),
        (Some(0), Some("survived")),
        "{xml}"
    );
    // Garbage is only an unknown command to it: answered, and the next client served.
    let (code, outcome, xml) = attack_python("garbage");
    assert_eq!(
        (code, outcome.as_str()),
        (Some(0), Some("survived")),
        "{xml}"
    );
}

#[test]
fn usage_errors_exit_2() {
    // Nothing listens there: the preflight probe fails before any case runs.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let out = attack(&[
        "--target",
        &addr,
        "--framing",
        "framed",
        "--probe-timeout",
        "300ms",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not answer a valid request"),
        "{}",
        text(&out)
    );
    let out = attack(&[
        "--target",
        &addr,
        "--framing",
        "framed",
        "--cases",
        "no-such-*",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no case of the catalogue matches"));
    let out = attack(&["--framing", "framed"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
