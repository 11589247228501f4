//! The UDP servers: one datagram a request, one a reply, per service; the empty datagram; the
//! 1024-byte receive buffer on both sides; oversize datagrams; a server that never answers.

use std::net::SocketAddr;
use std::time::Duration;

use stickler::udp::client::{UdpClient, UdpClientError};
use stickler::udp::server::{self, ServerHandle, UdpServerConfig};
use stickler::udp::{is_time_reply, UdpService, MAX_DATAGRAM, RECV_SIZE};
use tokio::net::UdpSocket;

const LIMIT: Duration = Duration::from_secs(20);

/// A UDP server and its config (for its counters).
struct Server {
    handle: ServerHandle,
    config: UdpServerConfig,
}

async fn start(service: UdpService) -> Server {
    let config = UdpServerConfig::new(service);
    let handle = server::spawn_local(config.clone()).await.unwrap();
    Server { handle, config }
}

impl Server {
    fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    async fn stop(self) {
        tokio::time::timeout(LIMIT, self.handle.stop())
            .await
            .expect("server stopped in time")
            .unwrap();
    }
}

async fn client(addr: SocketAddr) -> UdpClient {
    UdpClient::connect(addr)
        .await
        .unwrap()
        .timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn every_service_answers_one_datagram_with_one() {
    let cases: [(UdpService, &[u8], &[u8]); 5] = [
        (UdpService::Echo, b"hello\0world", b"hello\0world"),
        (UdpService::Upper, b"hello, udp", b"HELLO, UDP"),
        (UdpService::Cmd, b"echo hi there", b"hi there\n"),
        (UdpService::Cmd, b"ls", b"/bin/sh: 1: ls: not found\n"),
        (UdpService::Cmd, b"seq 3", b"1\n2\n3\n"),
    ];
    for (service, request, reply) in cases {
        let server = start(service).await;
        let mut c = client(server.addr()).await;
        let got = tokio::time::timeout(LIMIT, c.exchange(request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.data, reply, "{service} {request:?}");
        assert!(!got.truncated());
        server.stop().await;
    }
}

#[tokio::test]
async fn time_replies_with_the_local_time() {
    let server = start(UdpService::Time).await;
    let mut c = client(server.addr()).await;
    for request in [&b"what time is it"[..], b""] {
        let got = c.exchange(request).await.unwrap();
        assert!(
            is_time_reply(&got.data, false),
            "{:?} is not %Y-%m-%d %H:%M:%S",
            String::from_utf8_lossy(&got.data)
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn an_empty_datagram_is_a_message() {
    for (service, reply) in [
        (UdpService::Echo, &b""[..]),
        (UdpService::Upper, b""),
        (UdpService::Cmd, b""),
    ] {
        let server = start(service).await;
        let mut c = client(server.addr()).await;
        let got = c
            .exchange(b"")
            .await
            .expect("an empty datagram is answered");
        assert_eq!(got.data, reply);
        assert_eq!(got.wire_len, 0);
        let (requests, _, replies) = server.config.stats.get();
        assert_eq!((requests, replies), (1, 1));
        server.stop().await;
    }
}

#[tokio::test]
async fn the_1024_byte_buffer_truncates_requests_and_replies() {
    // The server reads 1024 of a 3000-byte request: the echo is those 1024 bytes.
    let server = start(UdpService::Echo).await;
    let request: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let mut big = client(server.addr()).await.recv_size(4096);
    let got = big.exchange(&request).await.unwrap();
    assert_eq!(got.data, &request[..RECV_SIZE]);
    let (_, truncated, _) = server.config.stats.get();
    assert_eq!(truncated, 1, "the server counted its truncated request");
    server.stop().await;

    // A cmd reply of 8893 bytes reaches a 1024-byte reader as its first 1024; the rest is gone.
    let server = start(UdpService::Cmd).await;
    let mut c = client(server.addr()).await;
    let got = c.exchange(b"seq 1 2000").await.unwrap();
    let whole = UdpService::Cmd.reply(b"seq 1 2000");
    assert_eq!(whole.len(), 8893);
    assert_eq!(got.data, &whole[..RECV_SIZE]);
    assert_eq!(
        got.wire_len, 8893,
        "MSG_TRUNC reports the datagram's real length"
    );
    assert!(got.truncated());
    // Nothing of the rest arrives later: the next exchange gets its own reply.
    let next = c.exchange(b"echo next").await.unwrap();
    assert_eq!(next.data, b"next\n");
    server.stop().await;
}

#[tokio::test]
async fn oversize_datagrams() {
    let server = start(UdpService::Echo).await;
    let mut c = client(server.addr()).await.recv_size(MAX_DATAGRAM);
    // The largest datagram goes through; the server reads its first 1024 bytes.
    let max = vec![b'x'; MAX_DATAGRAM];
    let got = c.exchange(&max).await.unwrap();
    assert_eq!(got.data.len(), RECV_SIZE);
    // One byte more is refused before sending, with a clear error.
    let err = c.send(&vec![b'x'; MAX_DATAGRAM + 1]).await.unwrap_err();
    assert!(matches!(err, UdpClientError::Oversize { len } if len == MAX_DATAGRAM + 1));
    assert!(err.to_string().contains("65507"), "{err}");
    // A reply too large for one datagram is replaced by one line saying so.
    let server2 = start(UdpService::Cmd).await;
    let mut c2 = client(server2.addr()).await.recv_size(MAX_DATAGRAM);
    let got = c2.exchange(b"seq 1 100000").await.unwrap();
    assert!(String::from_utf8_lossy(&got.data).contains("exceeds the largest UDP datagram"));
    // The servers still answer.
    assert_eq!(c.exchange(b"ok").await.unwrap().data, b"ok");
    server.stop().await;
    server2.stop().await;
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_with_a_clear_error() {
    // A bound socket nobody reads: datagrams are accepted, nothing comes back.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut c = UdpClient::connect(silent.local_addr().unwrap())
        .await
        .unwrap()
        .timeout(Duration::from_millis(200));
    let err = tokio::time::timeout(LIMIT, c.exchange(b"hello"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, UdpClientError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("lost"), "{err}");
    // A closed port is named as such (ICMP port unreachable), not waited for.
    let addr = silent.local_addr().unwrap();
    drop(silent);
    let mut c = UdpClient::connect(addr)
        .await
        .unwrap()
        .timeout(Duration::from_secs(5));
    let err = tokio::time::timeout(LIMIT, c.exchange(b"hello"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, UdpClientError::Refused { .. }), "{err:?}");
}

#[tokio::test]
async fn many_clients_each_get_their_own_replies() {
    let server = start(UdpService::Upper).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(client(server.addr()).await);
    }
    for (i, c) in clients.iter().enumerate() {
        c.send(format!("client {i}").as_bytes()).await.unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let got = c.recv().await.unwrap();
        assert_eq!(got.data, format!("CLIENT {i}").as_bytes());
    }
    server.stop().await;
}
