//! `stickler proxy --api ADDR --config FILE`: toxiproxy's `-config` file, with toxics.

mod proxy_api_util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use assert_cmd::Command as AssertCommand;
use proxy_api_util::*;

/// `stickler proxy --api 127.0.0.1:0 --config FILE`, killed when dropped.
struct Running {
    child: Child,
    api: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &std::path::Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stickler"))
        .args(["proxy", "--api", "127.0.0.1:0", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let api = line
        .split_once("http://")
        .unwrap_or_else(|| panic!("no API address in {line:?}"))
        .1
        .trim()
        .parse()
        .unwrap();
    // Keep reading stderr so the child never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    Running { child, api }
}

/// Sends `msg` through `addr` to the echo server; returns what came back and each read's size.
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
fn a_config_file_starts_proxies_with_their_toxics() {
    let echo = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("toxiproxy.json");
    // The first proxy as toxiproxy's own example writes it (capitalised keys); the second
    // gives no host and gains a split toxic.
    std::fs::write(
        &path,
        format!(
            r#"[
  {{"Name": "plain", "Listen": "127.0.0.1:0", "Upstream": "{echo}", "enabled": true}},
  {{"name": "sliced", "listen": ":0", "upstream": "{echo}",
    "toxics": [{{"name": "tiny", "type": "split", "stream": "downstream",
                 "attributes": {{"min": 1, "max": 4, "gap_us": 200}}}}]}}
]"#
        ),
    )
    .unwrap();
    let run = start(&path);
    let (st, b) = http(run.api, "GET", "/proxies", "");
    assert_eq!(st, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 2, "{b}");
    assert_eq!(v["plain"]["enabled"], true);
    assert_eq!(v["plain"]["toxics"], serde_json::json!([]));
    assert_eq!(
        v["sliced"]["toxics"],
        serde_json::json!([{"name": "tiny", "type": "split", "stream": "downstream",
            "toxicity": 1.0, "attributes": {"min": 1, "max": 4, "gap_us": 200}}])
    );
    let plain = v["plain"]["listen"].as_str().unwrap().to_string();
    let sliced = v["sliced"]["listen"].as_str().unwrap().to_string();
    assert!(sliced.starts_with("127.0.0.1:"), "{sliced}");

    let msg: Vec<u8> = (0..200u8).collect();
    let (got, sizes) = echo_once(&sliced, &msg);
    assert_eq!(got, msg);
    let small = sizes.iter().filter(|&&n| n <= 4).count();
    assert!(small * 100 >= sizes.len() * 95, "reads {sizes:?}");
    let (got, sizes) = echo_once(&plain, &msg);
    assert_eq!(got, msg);
    assert!(sizes.len() < 10, "the plain proxy split: {sizes:?}");

    // The API drives what the file made.
    assert_eq!(
        http(run.api, "DELETE", "/proxies/sliced/toxics/tiny", "").0,
        204
    );
}

#[test]
fn bad_config_files_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, says) in [
        ("syntax.json", "[{\"name\": ", "not JSON"),
        (
            "shape.json",
            r#"{"name":"a","upstream":"127.0.0.1:1"}"#,
            "must be a JSON list of proxies",
        ),
        (
            "upstream.json",
            r#"[{"name":"a"}]"#,
            "proxies[0] \"a\": missing required field: upstream",
        ),
        (
            "typo.json",
            r#"[{"name":"a","upstream":"127.0.0.1:1","toxic":[]}]"#,
            "unknown field \"toxic\"",
        ),
        (
            "type.json",
            r#"[{"name":"a","upstream":"127.0.0.1:1","toxics":[{"type":"explode"}]}]"#,
            "proxies[0] \"a\" toxics[0]: invalid toxic type: explode",
        ),
        (
            "attr.json",
            r#"[{"name":"a","upstream":"127.0.0.1:1",
                 "toxics":[{"type":"split","attributes":{"min":0}}]}]"#,
            "proxies[0] \"a\" toxics[0]: split size out of range",
        ),
        (
            "listen.json",
            r#"[{"name":"a","upstream":"127.0.0.1:1","listen":5}]"#,
            "field listen must be a string",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = AssertCommand::new(env!("CARGO_BIN_EXE_stickler"))
            .args(["proxy", "--api", "127.0.0.1:0", "--config"])
            .arg(&path)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    // Over the size limit: refused before it is read.
    let path = dir.path().join("huge.json");
    std::fs::write(&path, vec![b' '; (1 << 20) + 1]).unwrap();
    let out = AssertCommand::new(env!("CARGO_BIN_EXE_stickler"))
        .args(["proxy", "--api", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("huge.json") && err.contains("over the limit"),
        "{err}"
    );
    // --config needs --api.
    let out = AssertCommand::new(env!("CARGO_BIN_EXE_stickler"))
        .args(["proxy", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
