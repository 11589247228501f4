//! `stickler attack --framing SPEC --session FILE`: the length-field cases of a framing
//! description, built from a recorded session whose first exchange is the health probe.
//!
//! - A robust DNS-like server (tokio `Framed` + stickler's `SpecCodec`, `length:u16be`) that
//!   echoes with an id of its own, changing on every reply: it survives every case (no false
//!   alarm; the id is masked by the session, or found by the two clean probes).
//! - Fragile servers: one that serves one connection at a time and reads a body of whatever
//!   length it is told (a held huge length hangs it), one that dies on a long length: caught.
//! - The command line: usage errors exit 2 with a message naming what to add, `--list`, and a
//!   whole run against the robust server (exit 0) and the fragile one (exit 1).
//!
//! Servers listen on 127.0.0.1:0 in this process and are stopped at the end of each test.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::codec::{Encoder, Framed};

use stickler::attack::{self, report, AttackConfig, Outcome, SessionTarget};
use stickler::codec::spec::{FrameSpec, SpecCodec};
use stickler::codec::Framing;
use stickler::session::{Connection, Mask, Session, Side, Turn};

const BIN: &str = env!("CARGO_BIN_EXE_stickler");
/// Bound on anything a test waits for.
const LIMIT: Duration = Duration::from_secs(60);

/// The recorded request: a DNS-like message, length 16, then an id (0xabcd) and a question.
fn request() -> Vec<u8> {
    let body = b"\xab\xcdstickler probe";
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// The robust server's reply to `request`: the same message with its own id.
fn reply_with_id(request: &[u8], id: [u8; 2]) -> Vec<u8> {
    let mut out = request.to_vec();
    out[2..4].copy_from_slice(&id);
    out
}

/// A session of one exchange, framing `dns`; the id of the reply masked when `mask`.
fn session(mask: bool) -> Session {
    let turns = vec![
        Turn {
            from: Side::Client,
            bytes: request(),
        },
        Turn {
            from: Side::Server,
            bytes: reply_with_id(&request(), [0, 0]),
        },
    ];
    Session {
        name: Some("dns-like".into()),
        framing: Some("dns".into()),
        masks: if mask {
            vec![Mask {
                conn: 0,
                turn: 1,
                start: 2,
                end: 4,
                reason: Some("the server's id".into()),
            }]
        } else {
            Vec::new()
        },
        connections: vec![Connection {
            turns,
            incomplete: None,
        }],
        ..Session::default()
    }
}

/// A server task and how to stop it.
struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.abort();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// The robust server: one task per connection, `Framed` with `SpecCodec` for `spec`, each
/// message echoed with the server's own id (both bytes change on every reply); a message the
/// codec refuses ends that connection only; idle connections are dropped after 10 s.
async fn robust(spec: &str) -> TestServer {
    let spec: FrameSpec = spec.parse().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        let mut n: u8 = 0;
        loop {
            tokio::select! {
                _ = &mut rx => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let spec = spec.clone();
                    n = n.wrapping_add(1);
                    let base = n;
                    conns.spawn(async move {
                        let mut framed = Framed::new(stream, SpecCodec::new(spec));
                        let mut id = base;
                        while let Ok(Some(Ok(msg))) =
                            tokio::time::timeout(Duration::from_secs(10), framed.next()).await
                        {
                            id = id.wrapping_add(37);
                            let mut body = msg[2..].to_vec();
                            if body.len() >= 2 {
                                body[0] = id;
                                body[1] = id;
                            }
                            // Encoded by the same codec, written straight to the socket.
                            let mut out = BytesMut::new();
                            if framed.codec_mut().encode(&body[..], &mut out).is_err()
                                || framed.get_mut().write_all(&out).await.is_err()
                            {
                                break;
                            }
                        }
                    });
                }
                // Reap finished connections as they go.
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        conns.abort_all();
    });
    TestServer {
        addr,
        stop: Some(tx),
        task,
    }
}

/// A fragile server: one connection at a time; reads a u16be length, allocates and reads that
/// many bytes, replies like the robust one. A held header with a large length blocks it for
/// everyone. With `die_over`, a length above it ends the server (its listener closes).
async fn fragile(die_over: Option<usize>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut id: u8 = 0;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            loop {
                let mut head = [0u8; 2];
                if stream.read_exact(&mut head).await.is_err() {
                    break;
                }
                let len = u16::from_be_bytes(head) as usize;
                if die_over.is_some_and(|max| len > max) {
                    return;
                }
                let mut body = vec![0u8; len];
                if stream.read_exact(&mut body).await.is_err() {
                    break;
                }
                id = id.wrapping_add(37);
                if body.len() >= 2 {
                    body[0] = id;
                    body[1] = id;
                }
                let mut reply = head.to_vec();
                reply.extend_from_slice(&body);
                if stream.write_all(&reply).await.is_err() {
                    break;
                }
            }
        }
    });
    TestServer {
        addr,
        stop: None,
        task,
    }
}

/// A short attack configuration against `addr` for `spec`, with `session`'s first exchange.
fn attack_config(addr: SocketAddr, spec: &str, session: &Session) -> AttackConfig {
    let spec: FrameSpec = spec.parse().unwrap();
    let mut config = AttackConfig::new(addr, Framing::Framed);
    config.session = Some(SessionTarget::new(session, spec).unwrap());
    config.observe = Duration::from_millis(100);
    config.probe_timeout = Duration::from_millis(800);
    config.slow_interval = Duration::from_millis(20);
    config.idle_connections = 64;
    config.flood_connections = 64;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robust_length_prefixed_server_survives_every_case() {
    let server = robust("dns,max=1k").await;
    let spec: FrameSpec = "dns,max=1k".parse().unwrap();
    let mut config = attack_config(server.addr, "dns,max=1k", &session(true));
    let notes = attack::spec::calibrate(&mut config).await.unwrap();
    assert!(
        notes.is_empty(),
        "the id is masked by the session: {notes:?}"
    );
    let cases = attack::spec::select(&spec, &[]).unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for want in [
        "len-huge",
        "len-type-max",
        "len-over-max",
        "header-cut-1",
        "header-cut-2",
        "header-pause",
        "garbage",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let report = tokio::time::timeout(LIMIT, attack::spec::run_cases(&config, &cases, |_| {}))
        .await
        .expect("the attack finished in time")
        .unwrap();
    let table = report::table(&report, false);
    assert_eq!(report.results.len(), cases.len(), "{table}");
    assert_eq!(report.broken(), 0, "a false alarm:\n{table}");
    assert_eq!(report.framing, "length:u16be,max=1k");
    for r in &report.results {
        assert!(
            r.detail.starts_with("probe answered in"),
            "{}: {}",
            r.name,
            r.detail
        );
    }
    // The pause inside the length did not stop the server from answering that message.
    let pause = report
        .results
        .iter()
        .find(|r| r.name == "header-pause")
        .unwrap();
    assert_eq!(
        pause.reaction.replied,
        request().len(),
        "{:?}",
        pause.reaction
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_change_by_themselves_are_found_by_two_clean_probes() {
    let server = robust("dns").await;
    // No mask in the session: the two clean probes find the id.
    let mut config = attack_config(server.addr, "dns", &session(false));
    let notes = attack::spec::calibrate(&mut config).await.unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("reply bytes 2..4"), "{notes:?}");
    let cases = attack::spec::select(&"dns".parse().unwrap(), &["garbage".into()]).unwrap();
    let report = attack::spec::run_cases(&config, &cases, |_| {})
        .await
        .unwrap();
    assert_eq!(report.broken(), 0, "{}", report::table(&report, false));
    // A reply that differs outside the masks is not healthy: nothing is attacked.
    let mut other = session(true);
    other.connections[0].turns[1].bytes[6] ^= 0x20;
    let mut config = config_for(server.addr, &other);
    let e = attack::spec::calibrate(&mut config).await.unwrap_err();
    assert!(
        e.to_string().contains("first difference at offset 6"),
        "{e}"
    );
    server.stop().await;
}

fn config_for(addr: SocketAddr, session: &Session) -> AttackConfig {
    attack_config(addr, "dns", session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragile_server_is_caught() {
    let server = fragile(None).await;
    let spec: FrameSpec = "dns".parse().unwrap();
    let mut config = attack_config(server.addr, "dns", &session(true));
    attack::spec::calibrate(&mut config).await.unwrap();
    let globs = ["len-*".to_string(), "header-*".into(), "garbage".into()];
    let cases = attack::spec::select(&spec, &globs).unwrap();
    let report = tokio::time::timeout(LIMIT, attack::spec::run_cases(&config, &cases, |_| {}))
        .await
        .expect("the attack finished in time")
        .unwrap();
    let table = report::table(&report, false);
    let outcome = |name: &str| {
        report
            .results
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} ran:\n{table}"))
            .outcome
    };
    // Held with 65,535 announced, it waits for that body and serves nobody else.
    assert_eq!(outcome("len-huge"), Outcome::Hung, "{table}");
    assert_eq!(outcome("header-then-silence"), Outcome::Hung, "{table}");
    // What ends with FIN it gets over.
    assert_eq!(outcome("garbage"), Outcome::Survived, "{table}");
    assert_eq!(outcome("header-cut-1"), Outcome::Survived, "{table}");
    assert!(report.broken() >= 2, "{table}");
    server.stop().await;

    // One that dies on a long length: every probe after it is refused.
    let server = fragile(Some(4096)).await;
    let mut config = attack_config(server.addr, "dns", &session(true));
    attack::spec::calibrate(&mut config).await.unwrap();
    let cases = attack::spec::select(&spec, &["len-type-max".into()]).unwrap();
    let report = attack::spec::run_cases(&config, &cases, |_| {})
        .await
        .unwrap();
    assert_eq!(
        report.results[0].outcome,
        Outcome::Refused,
        "{}",
        report::table(&report, false)
    );
    server.stop().await;
}

// ---- the command line ----

/// Runs `stickler attack ARGS` (bounded in time) and returns exit code, stdout, stderr.
fn attack_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = assert_cmd::Command::new(BIN)
        .arg("attack")
        .args(args)
        .timeout(LIMIT)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn save(dir: &Path, name: &str, session: &Session) -> String {
    let path = dir.join(name);
    session.save(&path).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A port nothing listens on.
fn dead_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

#[test]
fn usage_errors_exit_2_and_say_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let good = save(dir.path(), "dns.json", &session(true));
    let addr = dead_addr();

    // A description without --session.
    let (code, _, err) = attack_cli(&["--target", &addr, "--framing", "dns"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("add --session FILE"), "{err}");
    // --session with a built-in framing.
    let (code, _, err) =
        attack_cli(&["--target", &addr, "--framing", "framed", "--session", &good]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--session is for framing descriptions"),
        "{err}"
    );
    // Neither.
    let (code, _, err) = attack_cli(&["--target", &addr]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--framing is required"), "{err}");
    // A session that is not there, or not a session.
    let missing = dir.path().join("nope.json");
    let (code, _, err) = attack_cli(&[
        "--target",
        &addr,
        "--framing",
        "dns",
        "--session",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nope.json"), "{err}");
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").unwrap();
    let (code, _, err) = attack_cli(&["--target", &addr, "--session", junk.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("junk.json") && err.contains("stickler_session"),
        "{err}"
    );
    // A session that starts with the server.
    let mut server_first = session(false);
    server_first.connections[0].turns.reverse();
    let path = save(dir.path(), "server-first.json", &server_first);
    let (code, _, err) = attack_cli(&["--target", &addr, "--session", &path]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("starts with the server"), "{err}");
    // A session whose framing is not a description, without --framing (written by hand: the
    // session loader may refuse it itself; either way it is a clear exit 2 naming the file).
    let odd = dir.path().join("odd.json");
    let text = session(false).to_json().replace("\"dns\"", "\"framed\"");
    assert!(text.contains("\"framed\""), "{text}");
    std::fs::write(&odd, text).unwrap();
    let (code, _, err) = attack_cli(&["--target", &addr, "--session", odd.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("odd.json") && err.contains("framing"), "{err}");
    assert!(err.contains("not a description"), "{err}");
    // A first message the description does not frame.
    let (code, _, err) = attack_cli(&[
        "--target",
        &addr,
        "--framing",
        "length:u32be",
        "--session",
        &good,
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("whole `length:u32be` message"), "{err}");
    assert!(
        err.contains("using --framing length:u32be"),
        "the disagreement is noted: {err}"
    );
    // --mutate is for built-in framings.
    let (code, _, err) = attack_cli(&["--target", &addr, "--session", &good, "--mutate"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--mutate works with the built-in framings"),
        "{err}"
    );
    // Nothing listens: the pre-check fails before any case.
    let (code, _, err) = attack_cli(&[
        "--target",
        &addr,
        "--session",
        &good,
        "--probe-timeout",
        "300ms",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("does not answer a valid request"), "{err}");
}

#[test]
fn list_shows_the_cases_of_a_description() {
    let (code, out, err) = attack_cli(&["--list", "--framing", "dns"]);
    assert_eq!(code, Some(0), "{err}");
    for want in [
        "len-huge",
        "len-type-max",
        "header-cut-1",
        "header-cut-2",
        "header-pause",
        "garbage",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert!(!out.contains("len-negative"), "u16 is unsigned: {out}");
    assert!(!out.contains("json-"), "{out}");
    let (_, out, _) = attack_cli(&["--list", "--framing", "postgres"]);
    assert!(
        out.contains("len-negative") && out.contains("header-cut-5"),
        "{out}"
    );
    let (_, out, _) = attack_cli(&["--list", "--framing", "lines"]);
    assert!(
        out.contains("delim-oversize") && out.contains("delim-missing"),
        "{out}"
    );
    assert!(!out.contains("len-"), "{out}");
    // The built-in framings list as before.
    let (_, out, _) = attack_cli(&["--list", "--framing", "framed"]);
    assert!(out.contains("len-i32-max"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_passes_a_robust_server_and_fails_a_fragile_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = save(dir.path(), "dns.json", &session(true));
    let json = dir.path().join("attack.json");
    let server = robust("dns").await;
    let addr = server.addr.to_string();
    let args = vec![
        "--target".to_string(),
        addr,
        "--framing".into(),
        "dns".into(),
        "--session".into(),
        file.clone(),
        "--observe".into(),
        "100ms".into(),
        "--probe-timeout".into(),
        "800ms".into(),
        "--slow-interval".into(),
        "20ms".into(),
        "--idle-connections".into(),
        "32".into(),
        "--flood-connections".into(),
        "32".into(),
        "--json".into(),
        json.to_str().unwrap().into(),
    ];
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        attack_cli(&args)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("0 broke it") && out.contains("length:u16be"),
        "{out}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["framing"], "length:u16be");
    assert!(
        report["results"].as_array().unwrap().len() >= 15,
        "{report}"
    );
    server.stop().await;

    let server = fragile(None).await;
    let addr = server.addr.to_string();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        attack_cli(&[
            "--target",
            &addr,
            "--session",
            &file,
            "--cases",
            "len-huge",
            "--observe",
            "100ms",
            "--probe-timeout",
            "500ms",
            "--quiet",
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("len-huge") && out.contains("hung"), "{out}");
    server.stop().await;
}
