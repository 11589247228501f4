//! Reference servers on live loopback sockets: every framing and service, the faithful
//! one-read-per-command behaviour, concurrency, the connection cap, the idle timeout, draining
//! on shutdown, and uploads.

mod common;

use std::time::Duration;

use common::{serve, stop, LIMIT};
use stickler::codec::framed::HeaderKind;
use stickler::codec::Framing;
use stickler::peer::client::{Client, ClientConfig, ClientError};
use stickler::peer::server::{ServerConfig, ServerHandle};
use stickler::service::Service;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

async fn client(server: &ServerHandle, framing: Framing, kind: HeaderKind) -> Client {
    let config = ClientConfig::new(framing).header_kind(kind);
    Client::connect(server.addr(), config).await.unwrap()
}

#[tokio::test]
async fn every_framing_and_service_answers() {
    let cases = [
        (Framing::Naive, HeaderKind::Struct),
        (Framing::Ready, HeaderKind::Struct),
        (Framing::Struct, HeaderKind::Struct),
        (Framing::Json, HeaderKind::Struct),
        (Framing::Framed, HeaderKind::Struct),
        (Framing::Framed, HeaderKind::Json),
    ];
    for (framing, kind) in cases {
        for service in [Service::Cmd, Service::Upper, Service::Echo] {
            let server = serve(ServerConfig::new(framing, service).header_kind(kind)).await;
            let mut c = client(&server, framing, kind).await;
            for request in [&b"echo hello"[..], b"seq 1 150", b"nosuch x"] {
                let reply = timeout(LIMIT, c.exchange(request)).await.unwrap().unwrap();
                assert_eq!(
                    reply.body,
                    service.reply(request),
                    "{framing} ({kind:?}) / {service}"
                );
                assert!(!reply.reads.is_empty());
            }
            drop(c);
            stop(server).await;
        }
    }
}

#[tokio::test]
async fn seq_1_2000_over_struct_json_ready_framed() {
    for framing in [
        Framing::Struct,
        Framing::Json,
        Framing::Ready,
        Framing::Framed,
    ] {
        let server = serve(ServerConfig::new(framing, Service::Cmd)).await;
        let mut c = client(&server, framing, HeaderKind::Struct).await;
        let reply = c.exchange(b"seq 1 2000").await.unwrap();
        assert_eq!(reply.body.len(), 8893, "{framing}");
        assert_eq!(
            stickler::codec::json::md5_hex(&reply.body),
            "ea4d0a24dabcaa11f9aa979b872d162b"
        );
        assert_eq!(reply.declared_len, Some(8893));
        if framing == Framing::Json {
            assert_eq!(reply.header.as_ref().unwrap()["file_size"], 8893);
        }
        if framing == Framing::Ready {
            assert!(reply.token_sent_at.unwrap() >= reply.reads[0].at);
        }
    }
}

/// The naive framing's finding, observed: a reply over 1024 bytes spills into the next exchange.
#[tokio::test]
async fn naive_large_reply_spills_into_the_next_exchange() {
    let server = serve(ServerConfig::new(Framing::Naive, Service::Cmd)).await;
    let mut c = client(&server, Framing::Naive, HeaderKind::Struct).await;
    let expected = Service::Cmd.reply(b"seq 1 2000");
    let first = c.exchange(b"seq 1 2000").await.unwrap();
    assert_eq!(first.reads.len(), 1);
    assert!(first.body.len() <= 1024 && expected.starts_with(&first.body));
    let second = c.exchange(b"echo hello").await.unwrap();
    assert_ne!(&second.body[..], b"hello\n");
    let rest = &expected[first.body.len()..];
    assert!(
        rest.starts_with(&second.body),
        "the next reply is the rest of seq's output"
    );
}

/// One read is one command: two requests arriving together are one command.
#[tokio::test]
async fn faithful_server_takes_one_read_as_one_command() {
    let server = serve(ServerConfig::new(Framing::Struct, Service::Echo)).await;
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    raw.write_all(b"firstsecond").await.unwrap();
    let mut len = [0u8; 4];
    raw.read_exact(&mut len).await.unwrap();
    assert_eq!(i32::from_le_bytes(len), 11, "both writes were one command");
}

#[tokio::test]
async fn many_clients_are_served_concurrently() {
    let server = serve(ServerConfig::new(Framing::Struct, Service::Cmd)).await;
    // A connected, silent client does not block the others (the tutorials' servers would).
    let _idle = TcpStream::connect(server.addr()).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let addr = server.addr();
        tasks.spawn(async move {
            let mut c = Client::connect(addr, ClientConfig::new(Framing::Struct))
                .await
                .unwrap();
            for j in 0..5 {
                let request = format!("echo {i} {j}");
                let reply = c.exchange(request.as_bytes()).await.unwrap();
                assert_eq!(reply.body, format!("{i} {j}\n").as_bytes());
            }
        });
    }
    timeout(LIMIT, async {
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn connection_cap_refuses_extra_clients_cleanly() {
    let server = serve(ServerConfig::new(Framing::Struct, Service::Cmd).max_connections(2)).await;
    let mut a = client(&server, Framing::Struct, HeaderKind::Struct).await;
    let mut b = client(&server, Framing::Struct, HeaderKind::Struct).await;
    a.exchange(b"echo a").await.unwrap();
    b.exchange(b"echo b").await.unwrap();
    // The third is accepted and closed at once: no reply, no hang.
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(LIMIT, raw.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "refused connection is closed");
    // The first two still work; once one leaves, a new client gets in.
    a.exchange(b"echo a").await.unwrap();
    drop(b);
    timeout(LIMIT, async {
        loop {
            let mut c = client(&server, Framing::Struct, HeaderKind::Struct).await;
            if c.exchange(b"echo c").await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let server = serve(
        ServerConfig::new(Framing::Framed, Service::Cmd).idle_timeout(Duration::from_millis(200)),
    )
    .await;
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 8];
    let n = timeout(LIMIT, raw.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(n, 0);
    assert!(start.elapsed() >= Duration::from_millis(150));
}

/// Shutdown closes idle connections but finishes an exchange in flight: here a `ready`
/// exchange waiting for the client's token.
#[tokio::test]
async fn shutdown_drains_exchanges_in_flight() {
    let server = serve(ServerConfig::new(Framing::Ready, Service::Cmd)).await;
    let mut idle = TcpStream::connect(server.addr()).await.unwrap();
    let mut busy = TcpStream::connect(server.addr()).await.unwrap();
    busy.write_all(b"seq 1 2000").await.unwrap();
    let mut digits = [0u8; 16];
    let n = busy.read(&mut digits).await.unwrap();
    assert_eq!(&digits[..n], b"8893");

    server.shutdown();
    let mut buf = [0u8; 8];
    assert_eq!(
        timeout(LIMIT, idle.read(&mut buf)).await.unwrap().unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !server.is_finished(),
        "run() waits for the exchange in flight"
    );

    busy.write_all(b"ready").await.unwrap();
    let mut body = Vec::new();
    timeout(LIMIT, busy.read_to_end(&mut body))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body, Service::Cmd.reply(b"seq 1 2000"));
    timeout(LIMIT, server.join()).await.unwrap().unwrap();
}

#[tokio::test]
async fn custom_ready_token() {
    let server =
        serve(ServerConfig::new(Framing::Ready, Service::Cmd).ready_token(&b"recv_ready"[..]))
            .await;
    let config = ClientConfig::new(Framing::Ready).token(&b"recv_ready"[..]);
    let mut c = Client::connect(server.addr(), config).await.unwrap();
    assert_eq!(&c.exchange(b"echo hi").await.unwrap().body[..], b"hi\n");
}

#[tokio::test]
async fn uploads_are_stored_under_their_base_name() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        serve(ServerConfig::new(Framing::Upload, Service::Echo).storage_dir(dir.path())).await;
    let mut c = client(&server, Framing::Upload, HeaderKind::Struct).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for name in ["/a/b/c/d/e/a.txt", "b.bin", "dir\\c.dat"] {
        let reply = c.upload(name, &data).await.unwrap();
        let status: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(status["ok"], true, "{status}");
        assert_eq!(status["file_size"], data.len());
        assert_eq!(status["md5"], stickler::codec::json::md5_hex(&data));
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["a.txt", "b.bin", "c.dat"],
        "no temporary files left"
    );
    assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), data);
}

#[tokio::test]
async fn upload_without_storage_dir_uses_a_temporary_one() {
    let server = serve(ServerConfig::new(Framing::Upload, Service::Echo)).await;
    let mut c = client(&server, Framing::Upload, HeaderKind::Struct).await;
    let reply = c.upload("x.txt", b"hello").await.unwrap();
    assert!(std::str::from_utf8(&reply.body)
        .unwrap()
        .contains("\"ok\": true"));
    // Commands are not uploads.
    assert!(matches!(
        c.send(b"echo hi").await,
        Err(ClientError::Unsupported { .. })
    ));
    stop(server).await;
}
