//! Interop with a second implementation: the Python peers in `fixtures/peers/` (written from
//! docs/wire.md with Python's own `struct`, `json`, `hashlib`) against our servers, and our
//! clients against their servers.

mod common;

use common::{digests, python, run_ok, serve, spawn_listening, stop, LIMIT};
use stickler::codec::framed::HeaderKind;
use stickler::codec::Framing;
use stickler::peer::client::{Client, ClientConfig};
use stickler::peer::server::ServerConfig;
use stickler::service::Service;
use tokio::time::timeout;

const COMMANDS: [&str; 4] = ["echo hello", "seq 1 2000", "nosuch_cmd x", "seq 5"];

fn expected(commands: &[&str]) -> String {
    let replies: Vec<Vec<u8>> = commands
        .iter()
        .map(|c| Service::Cmd.reply(c.as_bytes()))
        .collect();
    digests(replies.iter().map(|r| &r[..]))
}

/// Our server's framing and header, the Python client and its flags, the commands.
type Case = (
    Framing,
    HeaderKind,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// Runs a Python client off the runtime thread (the server runs on it).
async fn run_python(script: &'static str, args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let mut command = python(script);
        command.args(args);
        run_ok(command)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn python_clients_against_our_servers() {
    let cases: [Case; 6] = [
        (
            Framing::Naive,
            HeaderKind::Struct,
            "naive_client.py",
            &[],
            &["echo hello", "seq 1 100"],
        ),
        (
            Framing::Ready,
            HeaderKind::Struct,
            "ready_client.py",
            &[],
            &COMMANDS,
        ),
        (
            Framing::Struct,
            HeaderKind::Struct,
            "struct_client.py",
            &[],
            &COMMANDS,
        ),
        (
            Framing::Json,
            HeaderKind::Struct,
            "json_client.py",
            &[],
            &COMMANDS,
        ),
        (
            Framing::Framed,
            HeaderKind::Struct,
            "framed_client.py",
            &[],
            &COMMANDS,
        ),
        (
            Framing::Framed,
            HeaderKind::Json,
            "framed_client.py",
            &["--json"],
            &COMMANDS,
        ),
    ];
    for (framing, kind, script, flags, commands) in cases {
        let server = serve(ServerConfig::new(framing, Service::Cmd).header_kind(kind)).await;
        let mut args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        args.push(server.addr().to_string());
        args.extend(commands.iter().map(|s| s.to_string()));
        let out = timeout(LIMIT, run_python(script, args)).await.unwrap();
        assert_eq!(
            out,
            expected(commands),
            "{script} {flags:?} against our {framing} server"
        );
        stop(server).await;
    }
}

#[tokio::test]
async fn our_clients_against_python_servers() {
    for (script, framing) in [
        ("struct_server.py", Framing::Struct),
        ("json_server.py", Framing::Json),
    ] {
        let (_guard, addr) = spawn_listening(python(script));
        let mut c = Client::connect(addr, ClientConfig::new(framing))
            .await
            .unwrap();
        for command in COMMANDS {
            let reply = timeout(LIMIT, c.exchange(command.as_bytes()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                reply.body,
                Service::Cmd.reply(command.as_bytes()),
                "our {framing} client against {script}"
            );
            if framing == Framing::Json {
                let header = reply.header.as_ref().unwrap();
                assert_eq!(header["data_size"], reply.body.len(), "seed 001's key");
            }
        }
    }
}

#[tokio::test]
async fn python_upload_client_against_our_server() {
    let storage = tempfile::tempdir().unwrap();
    let sources = tempfile::tempdir().unwrap();
    let server =
        serve(ServerConfig::new(Framing::Upload, Service::Echo).storage_dir(storage.path())).await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let path = sources.path().join("file.bin");
    std::fs::write(&path, &data).unwrap();
    let empty = sources.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let args = vec![
        server.addr().to_string(),
        path.to_string_lossy().into_owned(),
        empty.to_string_lossy().into_owned(),
    ];
    let out = timeout(LIMIT, run_python("upload_client.py", args))
        .await
        .unwrap();
    let statuses: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[0]["ok"], true);
    assert_eq!(
        statuses[0]["file_name"], "file.bin",
        "only the base name is kept"
    );
    assert_eq!(statuses[0]["md5"], stickler::codec::json::md5_hex(&data));
    assert_eq!(statuses[1]["ok"], true);
    assert_eq!(
        std::fs::read(storage.path().join("file.bin")).unwrap(),
        data
    );
    assert_eq!(std::fs::read(storage.path().join("empty")).unwrap(), b"");
    stop(server).await;
}
