//! Sessions in-process: the recording proxy in front of a built-in server, driven by the
//! built-in client; and session files that are malformed, oversize, or saved over.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{struct_reply, LIMIT};
use stickler::codec::Framing;
use stickler::peer::client::{Client, ClientConfig};
use stickler::peer::server::ServerConfig;
use stickler::service::Service;
use stickler::session::record::{self, Ending, Progress, RecordConfig, CAPPED, ENTRY_COST};
use stickler::session::{Connection, Session, SessionError, Side, Turn};
use tokio::net::TcpListener;

/// The turns of a connection that sent `requests` one at a time to an `upper` server.
fn upper_turns(requests: &[&[u8]]) -> Vec<Turn> {
    requests
        .iter()
        .flat_map(|r| {
            [
                Turn {
                    from: Side::Client,
                    bytes: r.to_vec(),
                },
                Turn {
                    from: Side::Server,
                    bytes: struct_reply(&r.to_ascii_uppercase()),
                },
            ]
        })
        .collect()
}

/// One connection through `addr`: each request in turn, each reply checked, then FIN.
async fn converse(addr: SocketAddr, requests: &[&[u8]]) {
    let mut client = Client::connect(addr, ClientConfig::new(Framing::Struct))
        .await
        .unwrap();
    for r in requests {
        let reply = client.exchange(r).await.unwrap();
        assert_eq!(&reply.body[..], &r.to_ascii_uppercase()[..]);
    }
    client.close().await.unwrap();
}

async fn start(config: RecordConfig) -> (SocketAddr, tokio::task::JoinHandle<record::Recording>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(record::record(listener, config, std::future::pending()));
    (addr, task)
}

#[tokio::test]
async fn records_each_connections_turns_until_n_have_closed() {
    let server = common::serve(ServerConfig::new(Framing::Struct, Service::Upper)).await;
    let progress = Arc::new(Mutex::new(Vec::new()));
    let mut config = RecordConfig::new(server.addr());
    config.connections = Some(2);
    let seen = progress.clone();
    config.progress = Some(Arc::new(move |p: &Progress| {
        seen.lock().unwrap().push(p.clone())
    }));
    let (addr, task) = start(config).await;

    let first: &[&[u8]] = &[b"hello", b"sticky packets"];
    let second: &[&[u8]] = &[b"one", b"two", b"three\x00\xff"];
    converse(addr, first).await;
    converse(addr, second).await;
    let rec = tokio::time::timeout(LIMIT, task)
        .await
        .expect("recording ended after 2 connections")
        .unwrap();

    assert_eq!(rec.ending, Ending::Connections);
    assert_eq!((rec.still_open, rec.capped), (0, false));
    let want = vec![
        Connection {
            turns: upper_turns(first),
            incomplete: None,
        },
        Connection {
            turns: upper_turns(second),
            incomplete: None,
        },
    ];
    assert_eq!(rec.session.connections, want);
    {
        let progress = progress.lock().unwrap();
        assert_eq!(progress.len(), 2, "{progress:?}");
        assert_eq!(
            progress[0].to_string(),
            "connection 0 closed: 4 turns, 19 bytes from the client, 27 from the server"
        );
    }
    common::stop(server).await;
}

#[tokio::test]
async fn past_the_cap_it_forwards_but_stops_recording() {
    let server = common::serve(ServerConfig::new(Framing::Struct, Service::Upper)).await;
    let mut config = RecordConfig::new(server.addr());
    config.connections = Some(2);
    // Room for one connection, its first turn and 10 bytes.
    config.max_bytes = 2 * ENTRY_COST + 10;
    let (addr, task) = start(config).await;

    converse(addr, &[b"0123456789", b"more than fits"]).await;
    converse(addr, &[b"not recorded"]).await;
    let rec = tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();

    assert!(rec.capped);
    assert_eq!(rec.unrecorded, 1);
    assert_eq!(rec.session.connections.len(), 1);
    let conn = &rec.session.connections[0];
    assert_eq!(conn.incomplete.as_deref(), Some(CAPPED));
    assert_eq!(
        conn.turns,
        vec![Turn {
            from: Side::Client,
            bytes: b"0123456789".to_vec()
        }]
    );
    common::stop(server).await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_reported_not_recorded() {
    // A port nothing listens on: bound, then released.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let mut config = RecordConfig::new(gone);
    config.connections = Some(1);
    let seen = progress.clone();
    config.progress = Some(Arc::new(move |p: &Progress| {
        seen.lock().unwrap().push(p.to_string())
    }));
    let (addr, task) = start(config).await;
    let _ = tokio::net::TcpStream::connect(addr).await.unwrap();
    let rec = tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
    assert!(rec.session.connections.is_empty());
    let progress = progress.lock().unwrap();
    assert!(
        progress.len() == 1 && progress[0].contains("upstream unreachable"),
        "{progress:?}"
    );
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn load_err(path: &std::path::Path) -> String {
    let e = Session::load(path).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "names the file: {text}"
    );
    text
}

#[test]
fn bad_files_say_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_err(&write(
        &dir,
        "bad.json",
        "{\n  \"stickler_session\": 1,\n  \"connections\": [,]\n}",
    ));
    assert!(e.contains("line 3 column"), "{e}");

    let e = load_err(&write(
        &dir,
        "b64.json",
        r#"{"stickler_session": 1, "connections": [{"turns": [{"from": "client", "base64": "aGk"}]}]}"#,
    ));
    assert!(
        e.contains("connections[0].turns[0].base64: not valid base64"),
        "{e}"
    );

    let e = load_err(&write(
        &dir,
        "v9.json",
        r#"{"stickler_session": 9, "connections": []}"#,
    ));
    assert!(
        e.contains("unknown session version 9") && e.contains("understands version 1"),
        "{e}"
    );

    let e = load_err(&dir.path().join("missing.json"));
    assert!(e.contains("No such file"), "{e}");
}

#[test]
fn an_oversize_file_is_refused_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    // 1 GiB of nothing: a sparse file, refused from its metadata.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let e = Session::load(&path).unwrap_err();
    assert!(
        matches!(e, SessionError::TooLarge { size, limit, .. } if size == 1 << 30 && limit == 64 << 20),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("1073741824 bytes") && text.contains("67108864-byte limit"),
        "{text}"
    );
    // A caller may allow less.
    let small = write(
        &dir,
        "small.json",
        r#"{"stickler_session": 1, "connections": []}"#,
    );
    assert!(Session::load_limited(&small, 10).is_err());
    assert!(Session::load_limited(&small, 100).is_ok());
}

#[test]
fn save_replaces_atomically_and_loses_nothing_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let mut session = Session {
        name: Some("two turns".into()),
        framing: Some("length:u16be".into()),
        ..Session::default()
    };
    let mut conn = Connection::default();
    conn.push(Side::Client, b"\x00\x02hi");
    conn.push(Side::Server, b"\x00\x02HI");
    session.connections.push(conn);
    session.save(&path).unwrap();
    assert_eq!(Session::load(&path).unwrap(), session);

    // An invalid session is refused and the file on disk is left as it was.
    let before = std::fs::read(&path).unwrap();
    let mut bad = session.clone();
    bad.connections[0].turns[1].from = Side::Client;
    assert!(bad.save(&path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Nothing but the file itself is left in the directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("s.json")]);

    // A directory that does not exist: an error naming the path.
    let nowhere = dir.path().join("no/such/dir/s.json");
    let e = session.save(&nowhere).unwrap_err().to_string();
    assert!(e.contains("no/such/dir/s.json"), "{e}");
}

#[test]
fn the_documented_example_loads() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sessions.md"))
        .unwrap();
    let example = doc
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/sessions.md has a JSON example");
    let s = Session::from_json(example).unwrap();
    let c = &s.connections[0];
    assert_eq!(c.turns[0].bytes, b"\x00\x0eHELLO 12:00:00");
    assert_eq!(c.turns[1].bytes, b"\x00\x04PING");
    assert_eq!(c.turns[2].bytes, b"\x00\x04PONG");
    assert_eq!(s.masks[0].range(), 8..16);
    assert_eq!(&c.turns[0].bytes[8..16], b"12:00:00");
    assert!(s.connections[1].incomplete.is_some());
}
