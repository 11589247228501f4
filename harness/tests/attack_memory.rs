//! Memory under the flood: 1,000 connections each announcing 1 TB (and, harder, 1,000 each
//! announcing the largest frame the server accepts, then silent; and, hardest, for `framed`,
//! 1,000 each sending that whole frame but its last byte, which the server's buffer budget
//! bounds), held open against an in-process server, must grow this process's resident memory
//! (`VmRSS`, client and server together) by less than 64 MiB. The same through the chaos proxy
//! with toxics (its slow path buffers per connection), idle connections included. One test, run
//! alone in its own process, so no other test's allocations land in the measurement; the meter
//! itself is checked to see a real growth.

mod common;

use std::time::Duration;

use common::{serve, stop, LIMIT};
use stickler::attack::script::{Count, Script};
use stickler::attack::{run::run_case, sys, AttackConfig, Outcome, Shape};
use stickler::codec::framed::HeaderKind;
use stickler::codec::length::{LengthField, Width};
use stickler::codec::Framing;
use stickler::peer::server::ServerConfig;
use stickler::proxy::{Proxy, ProxyConfig};
use stickler::service::Service;

const CONNECTIONS: usize = 1_000;
const MAX_GROWTH: i64 = 64 << 20;

/// Floods one server: with 1 TB announcements, with held at-the-limit headers, and (`framed`)
/// with at-the-limit frames one byte short.
async fn flood(framing: Framing, kind: HeaderKind, field: LengthField) {
    let mut server_config = ServerConfig::new(framing, Service::Cmd).header_kind(kind);
    server_config.length_field = field;
    let server = serve(server_config).await;
    let mut config = AttackConfig::new(server.addr(), framing);
    config.header_kind = kind;
    config.length_field = field;
    config.observe = Duration::from_millis(300);
    config.flood_connections = CONNECTIONS;
    config.pid = Some(std::process::id());
    let shape: Shape = config.shape();
    let at_limit = shape.with_field(shape.field_limit() as i64, b"");
    let mut floods = vec![
        ("announcing 1 TB", shape.announce_huge()),
        ("announcing the limit, held", at_limit),
    ];
    if framing == Framing::Framed {
        floods.push((
            "the largest frame but its last byte",
            shape.frame_one_short(),
        ));
    }
    for (what, bytes) in floods {
        let script = Script::Many {
            count: Count::Flood,
            bytes,
            probe_while_held: true,
        };
        let r = tokio::time::timeout(LIMIT, run_case(&config, what, what, &script))
            .await
            .expect("flood finished in time");
        let label = format!("{framing}/{kind:?}/{field:?} {what}");
        assert_eq!(
            r.reaction.connections, CONNECTIONS,
            "{label}: {:?}",
            r.reaction
        );
        assert_eq!(r.reaction.refused, 0, "{label}: {:?}", r.reaction);
        assert_eq!(r.outcome, Outcome::Survived, "{label}: {}", r.detail);
        let growth = r.rss_growth.expect("VmRSS is readable");
        eprintln!(
            "{label}: {:?}; rss growth {} KiB",
            r.reaction,
            growth / 1024
        );
        assert!(growth < MAX_GROWTH, "{label}: grew {} MiB", growth >> 20);
    }
    stop(server).await;
}

/// 1,000 connections through the proxy (toxics in both directions) to a framed server: idle,
/// then each announcing 1 TB.
async fn flood_through_proxy() {
    let server = serve(ServerConfig::new(Framing::Framed, Service::Cmd)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut proxy_config = ProxyConfig::new(server.addr());
    proxy_config
        .toxics
        .push("both:latency=2ms,jitter=1ms".parse().unwrap());
    let proxy = Proxy::start(listener, proxy_config);
    let mut config = AttackConfig::new(proxy.local_addr(), Framing::Framed);
    config.observe = Duration::from_millis(300);
    config.flood_connections = CONNECTIONS;
    config.pid = Some(std::process::id());
    for (what, bytes) in [
        ("idle, through the proxy", Vec::new()),
        (
            "announcing 1 TB, through the proxy",
            config.shape().announce_huge(),
        ),
    ] {
        let script = Script::Many {
            count: Count::Flood,
            bytes,
            probe_while_held: true,
        };
        let r = tokio::time::timeout(LIMIT, run_case(&config, what, what, &script))
            .await
            .expect("flood finished in time");
        assert_eq!(
            r.reaction.connections, CONNECTIONS,
            "{what}: {:?}",
            r.reaction
        );
        assert_eq!(r.outcome, Outcome::Survived, "{what}: {}", r.detail);
        let growth = r.rss_growth.expect("VmRSS is readable");
        eprintln!("{what}: {:?}; rss growth {} KiB", r.reaction, growth / 1024);
        assert!(growth < MAX_GROWTH, "{what}: grew {} MiB", growth >> 20);
    }
    proxy.shutdown().await;
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_connections_announcing_1_tb_stay_under_64_mib() {
    flood_through_proxy().await;
    let wide = LengthField {
        width: Width::Eight,
        ..LengthField::I32_LE
    };
    flood(Framing::Framed, HeaderKind::Struct, LengthField::I32_LE).await;
    flood(Framing::Framed, HeaderKind::Struct, wide).await;
    flood(Framing::Framed, HeaderKind::Json, LengthField::I32_LE).await;
    flood(Framing::Upload, HeaderKind::Struct, LengthField::I32_LE).await;

    // The meter sees real growth: 96 MiB touched shows up.
    let me = std::process::id();
    let before = sys::rss_bytes(me).unwrap() as i64;
    let block = vec![1u8; 96 << 20];
    let during = sys::rss_bytes(me).unwrap() as i64;
    assert!(block.iter().step_by(4096).all(|&b| b == 1));
    assert!(
        during - before > MAX_GROWTH,
        "meter saw {} KiB",
        (during - before) / 1024
    );
}
