//! Bad input to the servers, one test per case: each gives a clear log line, the connection is
//! closed (uploads: an error status first), no partial file is left, and the server goes on
//! serving others. Tests run on a current-thread runtime so the server's logs are captured.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{serve, Logs, LIMIT};
use serde_json::Value;
use stickler::codec::framed::HeaderKind;
use stickler::codec::json::md5_hex;
use stickler::codec::Framing;
use stickler::peer::client::{Client, ClientConfig};
use stickler::peer::server::{ServerConfig, ServerHandle};
use stickler::service::Service;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Reads until the server closes; returns what arrived.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = timeout(LIMIT, stream.read_to_end(&mut got))
        .await
        .expect("server closed the connection");
    got
}

/// A fresh client still gets served.
async fn still_serves(server: &ServerHandle, framing: Framing, kind: HeaderKind) {
    let mut c = Client::connect(server.addr(), ClientConfig::new(framing).header_kind(kind))
        .await
        .unwrap();
    if framing == Framing::Upload {
        let reply = c.upload("ok.txt", b"fine").await.unwrap();
        assert!(std::str::from_utf8(&reply.body)
            .unwrap()
            .contains("\"ok\": true"));
    } else {
        let reply = c.exchange(b"echo still here").await.unwrap();
        assert_eq!(&reply.body[..], b"still here\n");
    }
}

async fn framed_server(kind: HeaderKind) -> ServerHandle {
    serve(
        ServerConfig::new(Framing::Framed, Service::Cmd)
            .header_kind(kind)
            .max_frame_length(1 << 20),
    )
    .await
}

/// Sends `bytes` (then FIN if `finish`) and expects the server to close, sending nothing.
async fn expect_closed(server: &ServerHandle, bytes: &[u8], finish: bool) {
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    raw.write_all(bytes).await.unwrap();
    if finish {
        raw.shutdown().await.unwrap();
    }
    assert_eq!(
        read_until_closed(&mut raw).await,
        b"",
        "no reply to bad input"
    );
}

#[tokio::test]
async fn eof_mid_header() {
    let (logs, _guard) = Logs::capture();
    let server = framed_server(HeaderKind::Struct).await;
    expect_closed(&server, &[5, 0], true).await;
    let line = logs.wait_for("closing connection").await;
    assert!(
        line.contains("stream ended inside the length header: have 2 of 4 bytes"),
        "{line}"
    );
    still_serves(&server, Framing::Framed, HeaderKind::Struct).await;
}

#[tokio::test]
async fn eof_mid_body() {
    let (logs, _guard) = Logs::capture();
    let server = framed_server(HeaderKind::Struct).await;
    expect_closed(&server, b"\x0a\x00\x00\x00echo", true).await;
    let line = logs.wait_for("closing connection").await;
    assert!(
        line.contains("stream ended inside the body: have 4 of 10 bytes"),
        "{line}"
    );
    still_serves(&server, Framing::Framed, HeaderKind::Struct).await;
}

#[tokio::test]
async fn negative_length() {
    let (logs, _guard) = Logs::capture();
    let server = framed_server(HeaderKind::Struct).await;
    expect_closed(&server, &(-5i32).to_le_bytes(), false).await;
    let line = logs.wait_for("closing connection").await;
    assert!(line.contains("negative length -5"), "{line}");
    still_serves(&server, Framing::Framed, HeaderKind::Struct).await;
}

#[tokio::test]
async fn oversize_length() {
    let (logs, _guard) = Logs::capture();
    let server = framed_server(HeaderKind::Struct).await;
    // 2 GiB announced, nothing else sent: refused from the header alone.
    expect_closed(&server, &i32::MAX.to_le_bytes(), false).await;
    let line = logs.wait_for("closing connection").await;
    assert!(
        line.contains("frame of 2147483647 bytes is over the limit of 1048576"),
        "{line}"
    );
    still_serves(&server, Framing::Framed, HeaderKind::Struct).await;
}

#[tokio::test]
async fn bad_json_header() {
    let (logs, _guard) = Logs::capture();
    let server = framed_server(HeaderKind::Json).await;
    let mut bytes = 5i32.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{nope");
    expect_closed(&server, &bytes, false).await;
    let line = logs.wait_for("closing connection").await;
    assert!(line.contains("header is not valid JSON"), "{line}");
    still_serves(&server, Framing::Framed, HeaderKind::Json).await;
}

#[tokio::test]
async fn wrong_ready_token() {
    let (logs, _guard) = Logs::capture();
    let server = serve(ServerConfig::new(Framing::Ready, Service::Cmd)).await;
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    raw.write_all(b"echo hi").await.unwrap();
    let mut digits = [0u8; 8];
    let n = raw.read(&mut digits).await.unwrap();
    assert_eq!(&digits[..n], b"3");
    raw.write_all(b"steady").await.unwrap();
    assert_eq!(
        read_until_closed(&mut raw).await,
        b"",
        "no body after a wrong token"
    );
    let line = logs.wait_for("closing connection").await;
    assert!(
        line.contains("expected the token \"ready\", got \"steady\""),
        "{line}"
    );
    still_serves(&server, Framing::Ready, HeaderKind::Struct).await;
}

async fn upload_server(dir: &Path, max_upload_size: usize) -> ServerHandle {
    serve(
        ServerConfig::new(Framing::Upload, Service::Echo)
            .storage_dir(dir)
            .max_upload_size(max_upload_size),
    )
    .await
}

/// Sends a raw upload request and returns the JSON status.
async fn raw_upload(server: &ServerHandle, header: &Value, body: &[u8], finish: bool) -> Value {
    let json = header.to_string().into_bytes();
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    raw.write_all(&(json.len() as i32).to_le_bytes())
        .await
        .unwrap();
    raw.write_all(&json).await.unwrap();
    raw.write_all(body).await.unwrap();
    if finish {
        raw.shutdown().await.unwrap();
    }
    let reply = read_until_closed(&mut raw).await;
    assert!(reply.len() >= 4, "a status reply: {reply:?}");
    let n = i32::from_le_bytes(reply[..4].try_into().unwrap()) as usize;
    assert_eq!(reply.len(), 4 + n, "one struct-framed status");
    serde_json::from_slice(&reply[4..]).unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn upload_md5_mismatch() {
    let (logs, _guard) = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let server = upload_server(dir.path(), 1 << 20).await;
    let header =
        serde_json::json!({"file_name": "a.txt", "file_size": 5, "md5": md5_hex(b"other")});
    let status = raw_upload(&server, &header, b"hello", false).await;
    assert_eq!(status["ok"], false);
    assert!(
        status["error"].as_str().unwrap().contains("md5 mismatch"),
        "{status}"
    );
    let line = logs.wait_for("closing connection").await;
    assert!(line.contains("md5 mismatch"), "{line}");
    assert!(
        files_in(dir.path()).is_empty(),
        "no file, no temporary file"
    );
    still_serves(&server, Framing::Upload, HeaderKind::Struct).await;
}

#[tokio::test]
async fn upload_cut_mid_body() {
    let (logs, _guard) = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let server = upload_server(dir.path(), 1 << 20).await;
    let header =
        serde_json::json!({"file_name": "a.txt", "file_size": 1000, "md5": md5_hex(&[7; 1000])});
    let status = raw_upload(&server, &header, &[7; 500], true).await;
    assert_eq!(status["ok"], false);
    let line = logs.wait_for("closing connection").await;
    assert!(
        line.contains("stream ended inside the body: have 500 of 1000 bytes"),
        "{line}"
    );
    assert!(files_in(dir.path()).is_empty(), "no partial file left");
    still_serves(&server, Framing::Upload, HeaderKind::Struct).await;
}

#[tokio::test]
async fn upload_unsafe_names() {
    let (logs, _guard) = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let server = upload_server(dir.path(), 1 << 20).await;
    for name in ["..", "", "a\0b", "/etc/..", "x/."] {
        let header = serde_json::json!({"file_name": name, "file_size": 2, "md5": md5_hex(b"hi")});
        let status = raw_upload(&server, &header, b"hi", false).await;
        assert_eq!(status["ok"], false, "{name:?}");
        assert!(
            status["error"]
                .as_str()
                .unwrap()
                .contains("unsafe upload file name"),
            "{status}"
        );
    }
    logs.wait_for("unsafe upload file name").await;
    assert!(files_in(dir.path()).is_empty());
    still_serves(&server, Framing::Upload, HeaderKind::Struct).await;
}

#[tokio::test]
async fn upload_over_size_limit() {
    let (logs, _guard) = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let server = upload_server(dir.path(), 1000).await;
    let body = vec![1u8; 5000];
    let header = serde_json::json!({"file_name": "big", "file_size": 5000, "md5": md5_hex(&body)});
    let status = raw_upload(&server, &header, &body, false).await;
    assert_eq!(status["ok"], false);
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .contains("over the limit of 1000"),
        "{status}"
    );
    logs.wait_for("over the limit of 1000").await;
    assert!(files_in(dir.path()).is_empty());
    still_serves(&server, Framing::Upload, HeaderKind::Struct).await;
}

#[tokio::test]
async fn upload_without_md5() {
    let (logs, _guard) = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let server = upload_server(dir.path(), 1 << 20).await;
    let header = serde_json::json!({"file_name": "a", "file_size": 2});
    let status = raw_upload(&server, &header, b"hi", false).await;
    assert_eq!(status["ok"], false);
    logs.wait_for("`md5` is missing").await;
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn client_vanishes_mid_reply() {
    let (logs, _guard) = Logs::capture();
    let server = serve(ServerConfig::new(Framing::Struct, Service::Cmd)).await;
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    // About 2.7 MB of reply, far more than the socket buffers hold; read a little, then reset.
    raw.write_all(b"seq 1 400000").await.unwrap();
    let mut some = [0u8; 1024];
    raw.read_exact(&mut some).await.unwrap();
    socket2::SockRef::from(&raw)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(raw);
    let line = logs.wait_for("closing connection").await;
    assert!(line.contains("I/O error"), "{line}");
    still_serves(&server, Framing::Struct, HeaderKind::Struct).await;
}
