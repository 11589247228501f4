//! The toxiproxy HTTP API, driven by a toxiproxy client library from crates.io
//! (`toxiproxy_rust`, used unchanged) and by raw requests for status codes and bad input.

mod proxy_api_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use proxy_api_util::*;
use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::ProxyPack;

fn echo_once(addr: &str, msg: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(msg).unwrap();
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    let mut buf = [0u8; 64 << 10];
    while got.len() < msg.len() {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        sizes.push(n);
        got.extend_from_slice(&buf[..n]);
    }
    (got, sizes)
}

#[test]
fn toxiproxy_client_library_drives_the_api() {
    let api = Api::start();
    let echo = echo_server();
    let client = Client::new(api.addr);
    assert!(client.is_running());
    assert!(client.version().unwrap().contains("version"));

    let proxies = client
        .populate(vec![ProxyPack::new(
            "echo".into(),
            "127.0.0.1:0".into(),
            echo.to_string(),
        )])
        .unwrap();
    assert_eq!(proxies.len(), 1);
    let listen = proxies[0].proxy_pack.listen.clone();
    assert_ne!(listen, "127.0.0.1:0", "the API shows the bound address");
    assert_eq!(echo_once(&listen, b"hello").0, b"hello");

    let proxy = client.find_proxy("echo").unwrap();
    assert!(client.find_proxy("nope").is_err());

    // toxiproxy's slicer, as its clients send it: pieces of 4±2 bytes, 1000 us apart.
    proxy.with_slicer("downstream".into(), 4, 2, 1000, 1.0);
    let toxics = proxy.toxics().unwrap();
    assert_eq!(toxics.len(), 1);
    assert_eq!(toxics[0].name, "slicer_downstream");
    assert_eq!(toxics[0].attributes["average_size"], 4);
    let msg = [b'x'; 300];
    let (got, sizes) = echo_once(&listen, &msg);
    assert_eq!(got, msg);
    let small = sizes.iter().filter(|&&n| n <= 6).count();
    assert!(small * 100 >= sizes.len() * 95, "reads {sizes:?}");
    proxy.delete_all_toxics().unwrap();
    assert!(proxy.toxics().unwrap().is_empty());

    proxy.with_latency("downstream".into(), 60, 0, 1.0);
    let t0 = Instant::now();
    echo_once(&listen, b"slow");
    assert!(
        t0.elapsed() >= Duration::from_millis(55),
        "{:?}",
        t0.elapsed()
    );

    proxy.disable().unwrap();
    assert!(
        TcpStream::connect(&listen).is_err(),
        "a disabled proxy still listens"
    );
    proxy.enable().unwrap();
    assert_eq!(echo_once(&listen, b"back").0, b"back");

    client.reset().unwrap();
    assert!(client
        .find_proxy("echo")
        .unwrap()
        .toxics()
        .unwrap()
        .is_empty());
    let all = client.all().unwrap();
    assert!(all.contains_key("echo"));
    proxy.delete().unwrap();
    assert!(client.all().unwrap().is_empty());
}

#[test]
fn status_codes_and_shapes_match_toxiproxy() {
    let api = Api::start();
    let echo = echo_server();
    let a = api.addr;
    let body = format!(r#"{{"name":"p","listen":"127.0.0.1:0","upstream":"{echo}"}}"#);
    let (st, b) = http(a, "POST", "/proxies", &body);
    assert_eq!(st, 201, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["toxics"], serde_json::json!([]));
    assert_eq!(http(a, "POST", "/proxies", &body).0, 409);
    assert_eq!(http(a, "GET", "/proxies/p", "").0, 200);
    let (st, b) = http(a, "GET", "/proxies/missing", "");
    assert_eq!(st, 404);
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"error": "proxy not found", "status": 404})
    );

    let t = r#"{"type":"latency","stream":"upstream","attributes":{"latency":5}}"#;
    let (st, b) = http(a, "POST", "/proxies/p/toxics", t);
    assert_eq!(st, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["name"], "latency_upstream");
    assert_eq!(v["toxicity"], 1.0);
    assert_eq!(
        v["attributes"],
        serde_json::json!({"latency": 5, "jitter": 0})
    );
    assert_eq!(http(a, "POST", "/proxies/p/toxics", t).0, 409);
    let (st, b) = http(
        a,
        "POST",
        "/proxies/p/toxics/latency_upstream",
        r#"{"attributes":{"jitter":2}}"#,
    );
    assert_eq!(st, 200, "{b}");
    assert!(
        b.contains(r#""jitter":2"#) && b.contains(r#""latency":5"#),
        "{b}"
    );
    assert_eq!(
        http(a, "GET", "/proxies/p/toxics/latency_upstream", "").0,
        200
    );
    assert_eq!(http(a, "GET", "/proxies/p/toxics/nope", "").0, 404);
    assert_eq!(
        http(a, "DELETE", "/proxies/p/toxics/latency_upstream", "").0,
        204
    );
    assert_eq!(
        http(a, "DELETE", "/proxies/p/toxics/latency_upstream", "").0,
        404
    );

    // Ours, next to toxiproxy's.
    let t = r#"{"type":"split","attributes":{"min":1,"max":4,"gap_us":500}}"#;
    assert_eq!(http(a, "POST", "/proxies/p/toxics", t).0, 200);
    let t = r#"{"type":"coalesce","stream":"upstream","attributes":{"window_us":2000}}"#;
    assert_eq!(http(a, "POST", "/proxies/p/toxics", t).0, 200);
    let (_, b) = http(a, "GET", "/proxies/p/toxics", "");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&b)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Partial update: only `enabled`.
    let (st, b) = http(a, "POST", "/proxies/p", r#"{"enabled":false}"#);
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["enabled"], false);
    assert_eq!(v["toxics"].as_array().unwrap().len(), 2);
    assert_eq!(http(a, "POST", "/reset", "").0, 204);
    let (_, b) = http(a, "GET", "/proxies", "");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["p"]["enabled"], true);
    assert_eq!(v["p"]["toxics"], serde_json::json!([]));

    let (st, b) = http(a, "GET", "/metrics", "");
    assert_eq!(st, 200);
    assert!(
        b.contains("stickler_proxy_connections_total{proxy=\"p\""),
        "{b}"
    );
    let (st, b) = http(a, "GET", "/version", "");
    assert_eq!(st, 200);
    assert!(b.contains("version"));

    let (st, b) = http(
        a,
        "POST",
        "/populate",
        &format!(r#"[{{"name":"q","upstream":"{echo}"}}]"#),
    );
    assert_eq!(st, 201, "{b}");
    assert!(b.contains(r#""proxies""#));
    assert_eq!(http(a, "DELETE", "/proxies/q", "").0, 204);
    assert_eq!(http(a, "DELETE", "/proxies/q", "").0, 404);
}

#[test]
fn bad_input_gets_a_clear_400() {
    let api = Api::start();
    let echo = echo_server();
    let a = api.addr;
    let body = format!(r#"{{"name":"p","upstream":"{echo}"}}"#);
    assert_eq!(http(a, "POST", "/proxies", &body).0, 201);
    for (path, body, says) in [
        ("/proxies", "{not json", "bad request body"),
        ("/proxies", "[1,2]", "JSON object"),
        (
            "/proxies",
            r#"{"name":"x"}"#,
            "missing required field: upstream",
        ),
        (
            "/proxies",
            r#"{"name":"x","upstream":"nowhere"}"#,
            "not host:port",
        ),
        (
            "/proxies/p/toxics",
            r#"{"type":"explode"}"#,
            "invalid toxic type",
        ),
        (
            "/proxies/p/toxics",
            r#"{"type":"latency","stream":"sideways"}"#,
            "stream was invalid",
        ),
        (
            "/proxies/p/toxics",
            r#"{"type":"latency","attributes":{"latency":-1}}"#,
            "non-negative integer",
        ),
        (
            "/proxies/p/toxics",
            r#"{"type":"bandwidth","attributes":{"rate":0}}"#,
            "rate out of range",
        ),
        (
            "/proxies/p/toxics",
            r#"{"type":"coalesce","attributes":{"window_us":1,"max_bytes":1099511627776}}"#,
            "coalesce max out of range",
        ),
        (
            "/proxies/p/toxics",
            r#"{"type":"coalesce","attributes":{"window_us":99999999999999}}"#,
            "over the limit",
        ),
        (
            "/proxies/p/toxics",
            r#"{"type":"latency","toxicity":7}"#,
            "toxicity out of range",
        ),
        (
            "/proxies/p/toxics",
            r#"{"type":"latency","attributes":"x"}"#,
            "attributes must be an object",
        ),
        ("/proxies/p", r#"{"enabled":"maybe"}"#, "true or false"),
    ] {
        let (st, b) = http(a, "POST", path, body);
        assert_eq!(st, 400, "{path} {body}: {b}");
        let v: serde_json::Value =
            serde_json::from_str(&b).unwrap_or_else(|_| panic!("not JSON: {b}"));
        assert_eq!(v["status"], 400);
        assert!(v["error"].as_str().unwrap().contains(says), "{body}: {b}");
    }
    // The server is still fine.
    assert_eq!(http(a, "GET", "/proxies/p", "").0, 200);
    assert_eq!(http(a, "GET", "/no/such/path", "").0, 404);
}
