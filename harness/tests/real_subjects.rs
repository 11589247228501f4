//! Real software nobody here wrote, recorded with `stickler record` and checked with
//! `stickler check --session`: a real Redis recorded with redis-py passes every profile (a robust
//! server is not flagged); dnslib's DNS-over-TCP server and client, which read a length prefix
//! from one `recv()`, are caught by the cut profiles at byte 1, named correctly, while dnspython's
//! client passes; and our own deliberately naive DNS server and client (one `recv()` = one
//! message) are caught too.
//!
//! The subjects come from the registries (`ci/subjects.sh`). Without them these tests say so and
//! pass, unless `STICKLER_REQUIRE_SUBJECTS` is set (CI sets it): then a missing one fails them.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{spawn_listening, wait_within_limit, ChildGuard, LIMIT};
use serde_json::Value;

/// Bound on one `stickler check` of a recorded session.
const CHECK_LIMIT: Duration = Duration::from_secs(240);

fn subjects_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/subjects")
}

/// Whether a subject is installed; a missing one fails the test when subjects are required.
fn available(what: &str, probe: &mut Command) -> bool {
    let ok = probe
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("STICKLER_REQUIRE_SUBJECTS").is_none(),
            "{what} is missing: run ci/subjects.sh"
        );
        eprintln!("skipped: {what} is missing (ci/subjects.sh installs it)");
    }
    ok
}

fn python_module(module: &str) -> bool {
    available(
        &format!("python module {module}"),
        Command::new("python3").args(["-c", &format!("import {module}")]),
    )
}

fn stickler() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("stickler"))
}

fn python(script: &str) -> Command {
    let mut c = Command::new("python3");
    c.arg(subjects_dir().join(script))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    c
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real `redis-server` on a free loopback port, killed on drop.
fn start_redis() -> (ChildGuard, SocketAddr) {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let guard = ChildGuard(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < LIMIT,
            "redis-server did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (guard, addr)
}

/// Records one connection of `client` (given the recorder's address) talking to `upstream`.
fn record(upstream: SocketAddr, out: &Path, client: impl FnOnce(SocketAddr) -> Command) {
    let mut rec = stickler();
    rec.args([
        "record",
        "--connections",
        "1",
        "--upstream",
        &upstream.to_string(),
    ])
    .arg("--out")
    .arg(out);
    let (mut recorder, addr) = spawn_listening(rec);
    let mut c = client(addr);
    let status = c.stdout(Stdio::null()).status().expect("run the client");
    assert!(status.success(), "the client failed while recording");
    let status = wait_within_limit(&mut recorder.0, "stickler record");
    assert!(status.success(), "stickler record failed");
}

/// `stickler check --session FILE ARGS… --json`: the exit code, stdout, and the JSON report.
fn check(session: &Path, args: &[&str]) -> (i32, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let mut c = stickler();
    c.args(["check", "--quiet", "--session"])
        .arg(session)
        .args(args)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard(c.spawn().expect("run stickler check"));
    // Every profile, cut ones included, of a real conversation: bounded, but not by LIMIT.
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < CHECK_LIMIT,
            "stickler check did not finish within {CHECK_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut stdout).unwrap();
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (status.code().unwrap_or(-1), stdout, report)
}

/// The cell of `profile` in a report.
fn cell<'a>(report: &'a Value, profile: &str) -> &'a Value {
    report["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["profile"] == profile)
        .unwrap_or_else(|| panic!("no {profile} cell in {report}"))
}

fn passed(cell: &Value) -> bool {
    cell["failure"].is_null() && cell["counts"].as_object().is_some_and(|m| !m.is_empty())
}

#[test]
fn redis_recorded_with_redis_py_passes_every_profile() {
    if !available(
        "redis-server",
        Command::new("redis-server").arg("--version"),
    ) || !python_module("redis")
    {
        return;
    }
    let (_redis, addr) = start_redis();
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("redis.json");
    record(addr, &session, |rec| {
        let mut c = python("redis_client.py");
        c.arg(rec.to_string());
        c
    });
    let (code, stdout, report) = check(&session, &["--target", &addr.to_string()]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(report["cells"].as_array().unwrap().len(), 9, "{stdout}");
    for c in report["cells"].as_array().unwrap() {
        assert!(passed(c), "{}: {}", c["profile"], c["failure"]);
    }
    // The cut profiles really cut: dozens of connections each.
    assert!(
        cell(&report, "cut-up")["runs"].as_u64().unwrap() > 100,
        "{stdout}"
    );
    assert!(
        cell(&report, "cut-down")["runs"].as_u64().unwrap() > 100,
        "{stdout}"
    );
}

/// A DNS server process printing `listening on ADDR`.
fn dns_server(script: &str, args: &[&str]) -> (ChildGuard, SocketAddr) {
    let mut c = python(script);
    c.args(args);
    spawn_listening(c)
}

#[test]
fn dnslib_server_closes_on_a_length_prefix_cut_after_its_first_byte() {
    if !python_module("dnslib") || !python_module("dns.query") {
        return;
    }
    let (_server, addr) = dns_server("dnslib_server.py", &[]);
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("dns.json");
    record(addr, &session, |rec| {
        let mut c = python("dns_client.py");
        c.args([rec.to_string().as_str(), "example.com"]);
        c
    });
    let (code, stdout, report) = check(
        &session,
        &[
            "--target",
            &addr.to_string(),
            "--profiles",
            "none,coalesce-up,cut-up,cut-down",
        ],
    );
    assert_eq!(code, 1, "{stdout}");
    for p in ["none", "coalesce-up", "cut-down"] {
        assert!(passed(cell(&report, p)), "{p}: {stdout}");
    }
    let up = cell(&report, "cut-up");
    // Only the cut after the first byte of the 2-byte length breaks it.
    assert_eq!(up["counts"]["closed-early"], 1, "{stdout}");
    let f = &up["failure"];
    assert_eq!(f["verdict"], "closed-early", "{stdout}");
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("client turn 0 cut after byte 1 "),
        "{f}"
    );
}

#[test]
fn a_naive_dns_server_is_caught_by_cut_up_and_passes_none() {
    if !python_module("dnslib") || !python_module("dns.query") {
        return;
    }
    let (_server, addr) = dns_server("dns_naive.py", &["server"]);
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("dns.json");
    // Our naive client keeps one connection for both queries.
    record(addr, &session, |rec| {
        let mut c = python("dns_naive.py");
        c.args(["client", rec.to_string().as_str(), "a.example", "b.example"]);
        c
    });
    // A cut query is answered short and at once: half a second of silence is enough to call the
    // turn over (the default 3 s makes each of the ~30 cuts wait that long).
    let fast = ["--timeout-ms", "500"];
    let (code, stdout, report) = check(
        &session,
        &[
            &["--target", &addr.to_string(), "--profiles", "none,cut-up"][..],
            &fast,
        ]
        .concat(),
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(passed(cell(&report, "none")), "{stdout}");
    let up = cell(&report, "cut-up");
    // Every cut of a query gives a FORMERR reply instead of the answer.
    assert_eq!(up["failure"]["verdict"], "differs", "{stdout}");
    assert!(up["counts"]["differs"].as_u64().unwrap() >= 20, "{stdout}");

    // Told the framing, the same failures are named by message: the server answered another
    // request than the one sent.
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&session).unwrap()).unwrap();
    file["framing"] = "dns".into();
    std::fs::write(&session, file.to_string()).unwrap();
    let (code, stdout, report) = check(
        &session,
        &[
            &["--target", &addr.to_string(), "--profiles", "cut-up"][..],
            &fast,
        ]
        .concat(),
    );
    assert_eq!(code, 1, "{stdout}");
    let up = cell(&report, "cut-up");
    assert_eq!(up["failure"]["verdict"], "wrong-reply", "{stdout}");
    assert!(
        up["counts"]["wrong-reply"].as_u64().unwrap() >= 20,
        "{stdout}"
    );
}

#[test]
fn dns_clients_under_cut_down_dnspython_passes_dnslib_and_a_naive_one_crash() {
    if !python_module("dnslib") || !python_module("dns.query") {
        return;
    }
    let (_server, addr) = dns_server("dnslib_server.py", &[]);
    let dir = tempfile::tempdir().unwrap();
    let client = |script: &str, extra: &[&str]| -> String {
        let mut words = vec![
            "python3".to_string(),
            subjects_dir().join(script).display().to_string(),
        ];
        words.extend(extra.iter().map(|s| s.to_string()));
        words.extend(["{addr}".to_string(), "example.com".to_string()]);
        shell_words_join(&words)
    };
    // Each client against the server recorded with it (their queries differ byte for byte).
    for (script, extra, fails) in [
        ("dns_client.py", &[][..], false),
        ("dnslib_client.py", &[][..], true),
        ("dns_naive.py", &["client"][..], true),
    ] {
        let session = dir.path().join(format!("{script}.json"));
        record(addr, &session, |rec| {
            let mut c = python(script);
            c.args(extra)
                .args([rec.to_string().as_str(), "example.com"]);
            c
        });
        let command = client(script, extra);
        let (code, stdout, report) = check(
            &session,
            &["--client", &command, "--profiles", "none,cut-down"],
        );
        assert!(passed(cell(&report, "none")), "{script}: {stdout}");
        let down = cell(&report, "cut-down");
        if fails {
            assert_eq!(code, 1, "{script}: {stdout}");
            assert_eq!(down["failure"]["verdict"], "crashed", "{script}: {stdout}");
            let detail = down["failure"]["detail"].as_str().unwrap();
            assert!(
                detail.contains("server turn 0 cut after byte 1 "),
                "{detail}"
            );
            assert!(detail.contains("struct.error"), "{detail}");
        } else {
            assert_eq!(code, 0, "{script}: {stdout}");
            assert!(passed(down), "{script}: {stdout}");
        }
    }
}

/// Words joined so that a shell-like split gives them back (paths here have no quotes).
fn shell_words_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ")
}
