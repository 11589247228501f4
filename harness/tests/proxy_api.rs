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

/// One sample of a Prometheus text page: the value of the line that starts with `prefix`.
fn sample(page: &str, prefix: &str) -> Option<u64> {
    page.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_show_toxiproxys_own_names_and_labels() {
    let api = Api::start();
    let echo = echo_server();
    let a = api.addr;
    let body = format!(r#"{{"name":"p","upstream":"{echo}"}}"#);
    let (st, b) = http(a, "POST", "/proxies", &body);
    assert_eq!(st, 201, "{b}");
    let listen = serde_json::from_str::<serde_json::Value>(&b).unwrap()["listen"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(echo_once(&listen, b"hello").0, b"hello");

    // toxiproxy's collectors/proxy.go: namespace "toxiproxy", subsystem "proxy", name
    // "sent_bytes_total", labels direction, proxy, listener, upstream (printed sorted).
    let up = format!(
        "toxiproxy_proxy_sent_bytes_total{{direction=\"upstream\",listener=\"{listen}\",proxy=\"p\",upstream=\"{echo}\"}} "
    );
    let down = up.replace("\"upstream\",listener", "\"downstream\",listener");
    let t0 = Instant::now();
    let page = loop {
        let (st, page) = http(a, "GET", "/metrics", "");
        assert_eq!(st, 200);
        if sample(&page, &down) == Some(5) || t0.elapsed() > Duration::from_secs(10) {
            break page;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        page.contains("# TYPE toxiproxy_proxy_sent_bytes_total counter"),
        "{page}"
    );
    assert_eq!(sample(&page, &up), Some(5), "{page}");
    assert_eq!(sample(&page, &down), Some(5), "{page}");
    // And its received family: what came in, before the toxics (none here: the same count).
    let received = up.replace("_sent_", "_received_");
    assert!(
        page.contains("# TYPE toxiproxy_proxy_received_bytes_total counter"),
        "{page}"
    );
    assert_eq!(sample(&page, &received), Some(5), "{page}");
    // stickler's own names are still there, with the same count.
    assert!(
        page.contains("stickler_proxy_sent_bytes_total{proxy=\"p\""),
        "{page}"
    );
}

#[test]
fn bodies_over_the_limit_get_one_json_413() {
    use stickler::proxy::api_model::MAX_BODY;
    let api = Api::start();
    let a = api.addr;
    let head = |len: usize| {
        format!(
            "POST /proxies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    let chunked = {
        // 2 MiB in 64 KiB chunks, no length given.
        let mut b = Vec::new();
        for _ in 0..32 {
            b.extend_from_slice(format!("{:x}\r\n", 64 << 10).as_bytes());
            b.extend_from_slice(&[b' '; 64 << 10]);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"0\r\n\r\n");
        b
    };
    for (what, head, body) in [
        (
            "one byte over",
            head(MAX_BODY + 1),
            vec![b' '; MAX_BODY + 1],
        ),
        ("far over", head(16 << 20), vec![b' '; 16 << 20]),
        (
            "chunked, no length",
            "POST /proxies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_string(),
            chunked,
        ),
    ] {
        let (st, b) = http_raw(a, head, body);
        assert_eq!(st, 413, "{what}: {b}");
        let v: serde_json::Value =
            serde_json::from_str(&b).unwrap_or_else(|_| panic!("{what}: not JSON: {b}"));
        assert_eq!(
            v,
            serde_json::json!({"error": format!("request body over {MAX_BODY} bytes"), "status": 413}),
            "{what}"
        );
    }
    // At the limit it is read (and is not JSON: a 400, not a 413).
    let (st, b) = http_raw(a, head(MAX_BODY), vec![b'x'; MAX_BODY]);
    assert_eq!(st, 400, "{b}");
    assert_eq!(http(a, "GET", "/proxies", "").0, 200);
}
