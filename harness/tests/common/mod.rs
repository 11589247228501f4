//! Shared test helpers: in-process servers on 127.0.0.1:0, child processes killed on drop, log
//! capture, and the Python peers' location.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stickler::peer::server::{self, ServerConfig, ServerHandle};

/// Generous bound on anything a test waits for: a bug fails, it does not hang.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A reference server running in this process, on a free 127.0.0.1 port.
pub async fn serve(config: ServerConfig) -> ServerHandle {
    server::spawn_local(config).await.expect("start the server")
}

/// Stops `server`: it must drain within [`LIMIT`] and end without an error.
pub async fn stop(server: ServerHandle) {
    tokio::time::timeout(LIMIT, server.stop())
        .await
        .expect("server drained in time")
        .expect("server stopped cleanly");
}

/// A child process killed when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a process printing `listening on ADDR` first and returns it with the address.
pub fn spawn_listening(command: Command) -> (ChildGuard, SocketAddr) {
    spawn_listening_with_stderr(command, Stdio::null())
}

/// [`spawn_listening`], with the process's stderr going to `stderr`.
pub fn spawn_listening_with_stderr(
    mut command: Command,
    stderr: Stdio,
) -> (ChildGuard, SocketAddr) {
    let child = command
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn server process");
    let mut guard = ChildGuard(child);
    let stdout = guard.0.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (guard, addr)
}

pub fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/peers")
}

/// `python3 fixtures/peers/SCRIPT ARGS...`
pub fn python(script: &str) -> Command {
    let mut command = Command::new("python3");
    command
        .arg(peers_dir().join(script))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// Runs a command to completion within [`LIMIT`], returning stdout; panics with stderr on
/// failure.
pub fn run_ok(mut command: Command) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_within_limit(&mut child, &format!("{command:?}"));
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits for `child` to exit within [`LIMIT`]; kills it and panics naming `what` otherwise.
pub fn wait_within_limit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("{what} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A `struct` reply as it travels: the body's length (i32 little-endian), then the body.
pub fn struct_reply(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as i32).to_le_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// `LEN MD5HEX` lines of replies, as `stickler client --digest` prints them.
pub fn digests<'a>(replies: impl IntoIterator<Item = &'a [u8]>) -> String {
    replies
        .into_iter()
        .map(|r| format!("{} {}\n", r.len(), stickler::codec::json::md5_hex(r)))
        .collect()
}

/// Log lines written through `tracing` while the guard lives (this thread only: use a
/// current-thread runtime so server tasks log here too).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        (logs.clone(), tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits until a log line contains `needle`, returning that line.
    pub async fn wait_for(&self, needle: &str) -> String {
        let start = std::time::Instant::now();
        loop {
            if let Some(line) = self.text().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                start.elapsed() < LIMIT,
                "no log line containing {needle:?}; logs:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
