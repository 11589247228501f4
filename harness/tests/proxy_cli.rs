//! `stickler proxy` as a user runs it: a real process relaying, recording to a file, and
//! replaying that recording.

mod proxy_api_util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use proxy_api_util::echo_server;
use stickler::chaos::Direction;
use stickler::proxy::record::{read_events, PieceSchedule};

/// A free port on 127.0.0.1 (bound, then released for the child to take).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Proxy(Child);

impl Proxy {
    fn spawn(listen: SocketAddr, upstream: SocketAddr, extra: &[&str]) -> Proxy {
        let child = Command::new(assert_cmd::cargo::cargo_bin("stickler"))
            .args([
                "proxy",
                "--listen",
                &listen.to_string(),
                "--upstream",
                &upstream.to_string(),
            ])
            .args(extra)
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while TcpStream::connect(listen).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the proxy never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Proxy(child)
    }

    /// Ctrl-C, as a user would stop it; waits for a clean exit.
    fn stop(mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                assert!(st.success(), "{st}");
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the proxy did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn echo_via(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(msg).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    back
}

/// Connection 1: connection 0 is `spawn`'s probe that waits for the listener.
fn up_lengths(path: &Path) -> Vec<usize> {
    let s = PieceSchedule::load(path).unwrap();
    s.pieces(1, Direction::Up)
        .unwrap()
        .iter()
        .map(|p| p.len)
        .collect()
}

#[test]
fn the_binary_relays_records_and_replays() {
    let echo = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("run1.jsonl");
    let msg: Vec<u8> = (0..200u8).collect();

    let listen = free_addr();
    let p = Proxy::spawn(
        listen,
        echo,
        &[
            "--toxic",
            "up:split=1..4,gap=1ms",
            "--seed",
            "3",
            "--record",
            rec.to_str().unwrap(),
            "--record-bytes",
        ],
    );
    assert_eq!(echo_via(listen, &msg), msg);
    p.stop();
    let events = read_events(&rec).unwrap();
    let up: Vec<_> = events.iter().filter(|e| e.dir == Direction::Up).collect();
    assert!(up
        .iter()
        .all(|e| e.conn == 1 && (1..=4).contains(&e.len) && e.toxic == "split"));
    let bytes: Vec<u8> = up.iter().flat_map(|e| e.bytes().unwrap()).collect();
    assert_eq!(bytes, msg);

    // Replay the recording with no toxic: the same piece boundaries.
    let rec2 = dir.path().join("run2.jsonl");
    let listen = free_addr();
    let p = Proxy::spawn(
        listen,
        echo,
        &[
            "--replay",
            rec.to_str().unwrap(),
            "--record",
            rec2.to_str().unwrap(),
        ],
    );
    assert_eq!(echo_via(listen, &msg), msg);
    p.stop();
    assert_eq!(up_lengths(&rec2), up_lengths(&rec));

    // Show the first recording through a framing's decoder.
    let out = Command::new(assert_cmd::cargo::cargo_bin("stickler"))
        .args([
            "proxy",
            "--show",
            rec.to_str().unwrap(),
            "--framing",
            "naive",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("connection 1 up:") && text.contains("split"),
        "{text}"
    );
}

#[test]
fn show_decodes_a_recording_by_a_description() {
    let echo = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("lines.jsonl");
    let listen = free_addr();
    let p = Proxy::spawn(
        listen,
        echo,
        &[
            "--toxic",
            "up:split=1..3",
            "--record",
            rec.to_str().unwrap(),
            "--record-bytes",
        ],
    );
    let msg = b"alpha\nbravo\ncharlie\n";
    assert_eq!(echo_via(listen, msg), msg);
    p.stop();
    let out = Command::new(assert_cmd::cargo::cargo_bin("stickler"))
        .args([
            "proxy",
            "--show",
            rec.to_str().unwrap(),
            "--framing",
            "lines",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // Three messages each way, whatever pieces the split cut them into.
    assert!(
        text.contains("connection 1 up:") && text.matches(" pieces, 3 frames").count() == 2,
        "{text}"
    );
    let bad = Command::new(assert_cmd::cargo::cargo_bin("stickler"))
        .args([
            "proxy",
            "--show",
            rec.to_str().unwrap(),
            "--framing",
            "length:u9",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown length type"));
}
