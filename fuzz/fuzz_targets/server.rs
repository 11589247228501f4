//! One connection of a built-in server, served in-process over `tokio::io::duplex` with
//! fuzzer-chosen bytes and reads: the server must not panic, hang or grow memory past
//! `-rss_limit_mb`, whatever the client sends and however it is split.
//!
//! ```text
//! input: [server][k][k piece lengths][stream]
//!   server % 9  = which server (SERVERS): naive, ready, struct, json, framed (struct header),
//!                 framed (json header), upload, length:u16be, lines
//!   server / 9 % 3 = its service: cmd, upper, echo (upload has none)
//!   the stream is written in pieces of the given lengths (stickler::codec::property::cut:
//!   cycled, at most 16 pieces, then the rest), each piece read by the server before the next
//!   is written (the client waits until the server is idle); then the write half is shut down
//! ```
//!
//! The client reads the replies as they come (at most `REPLY_CAP` bytes; past that it drops
//! the connection) and the server is awaited to its end; why it ended (`ConnError`) is not
//! judged, bad input ends connections. Time is virtual (a current-thread runtime started
//! paused, built once per process): idle timeouts fire at once when nothing else can run, and a
//! server still running `HANG_AFTER` of virtual time after the client started is a hang, which
//! panics. Uploads are stored in one temporary directory per process (under /dev/shm when it
//! exists), emptied after each input and removed at exit; a process that crashed leaves its
//! directory, which the next run removes.
//!
//! Seeds: `fuzz/corpus/server/`, written by `python3 fuzz/server_seeds.py` (a valid exchange per
//! server, pipelined and split ones, and a few malformed ones).

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use stickler::codec::framed::HeaderKind;
use stickler::codec::property::cut;
use stickler::codec::spec::FrameSpec;
use stickler::codec::Framing;
use stickler::peer::server::{serve_io, ServerConfig};
use stickler::service::Service;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// The servers an input chooses from, in selector order.
const SERVERS: [&str; 9] = [
    "naive",
    "ready",
    "struct",
    "json",
    "framed",
    "framed json",
    "upload",
    "length:u16be",
    "lines",
];
const SERVICES: [Service; 3] = [Service::Cmd, Service::Upper, Service::Echo];
/// Capacity of each direction of the in-memory stream.
const PIPE: usize = 64 << 10;
/// Reply bytes the client reads before it drops the connection (past any one reply: `cmd`
/// refuses replies over 4 MiB).
const REPLY_CAP: usize = 16 << 20;
/// Virtual time after which a connection still open is a hang (the idle timeout is 60 s).
const HANG_AFTER: Duration = Duration::from_secs(600);
/// Virtual pause after each piece: the server reads it on its own before the next comes.
const PIECE_GAP: Duration = Duration::from_millis(1);

struct Fixture {
    rt: Runtime,
    configs: Vec<Arc<ServerConfig>>,
    storage: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Timers only: the stream is in memory and uploads use the blocking pool, so there is
        // no IO driver, whose wake-ups would each cost a system call.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime");
        // In memory where there is a tmpfs: a file per upload input costs less there.
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        remove_left_behind(&base);
        let prefix = format!("{STORAGE_PREFIX}{}-", std::process::id());
        let storage = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(&base)
            .or_else(|_| tempfile::Builder::new().prefix(&prefix).tempdir())
            .expect("a temporary upload directory")
            .keep();
        remove_at_exit(&storage);
        let configs = SERVICES
            .iter()
            .flat_map(|&service| SERVERS.iter().map(move |&name| config(name, service)))
            .map(|c| Arc::new(c.storage_dir(&storage)))
            .collect();
        Fixture {
            rt,
            configs,
            storage,
        }
    })
}

/// The server called `name` (see [`SERVERS`]), with the defaults of `stickler serve`.
fn config(name: &str, service: Service) -> ServerConfig {
    match name {
        "naive" => ServerConfig::new(Framing::Naive, service),
        "ready" => ServerConfig::new(Framing::Ready, service),
        "struct" => ServerConfig::new(Framing::Struct, service),
        "json" => ServerConfig::new(Framing::Json, service),
        "framed" => ServerConfig::new(Framing::Framed, service).header_kind(HeaderKind::Struct),
        "framed json" => ServerConfig::new(Framing::Framed, service).header_kind(HeaderKind::Json),
        "upload" => ServerConfig::new(Framing::Upload, service),
        spec => ServerConfig {
            spec: Some(spec.parse::<FrameSpec>().expect("a valid description")),
            ..ServerConfig::new(Framing::Framed, service)
        },
    }
}

/// How the upload directories are named: this prefix, the process id, `-`, a random part.
const STORAGE_PREFIX: &str = "stickler-fuzz-server-";

/// Removes the upload directories in `base` of fuzzing processes that are gone: one that
/// crashed, timed out or ran out of memory never reached its exit handler.
fn remove_left_behind(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(STORAGE_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The upload directory goes when the process exits normally (libFuzzer's end of a run).
fn remove_at_exit(dir: &Path) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove() {
        if let Some(dir) = DIR.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    if DIR.set(dir.to_path_buf()).is_ok() {
        // SAFETY: `remove` is an `extern "C" fn()` that neither unwinds nor touches freed state.
        unsafe {
            libc::atexit(remove);
        }
    }
}

/// Writes `stream` in `pieces`, each read before the next, then shuts the write half down;
/// meanwhile reads the replies (at most [`REPLY_CAP`] bytes, then gives up). Returns when both
/// are done, or when the reads pass the cap (the connection is then dropped).
async fn client(io: tokio::io::DuplexStream, pieces: Vec<&[u8]>) {
    let (mut rd, mut wr) = tokio::io::split(io);
    let write = async {
        for piece in pieces {
            if wr.write_all(piece).await.is_err() {
                return Ok(());
            }
            tokio::time::sleep(PIECE_GAP).await;
        }
        let _ = wr.shutdown().await;
        Ok(())
    };
    let read = async {
        let mut buf = vec![0u8; PIPE];
        let mut total = 0usize;
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => {
                    total += n;
                    if total > REPLY_CAP {
                        return Err(());
                    }
                }
            }
        }
    };
    let _ = tokio::try_join!(write, read);
}

fuzz_target!(|data: &[u8]| {
    let Some((&server, rest)) = data.split_first() else {
        return;
    };
    let fx = fixture();
    let (which, service) = (
        usize::from(server) % SERVERS.len(),
        usize::from(server) / SERVERS.len() % SERVICES.len(),
    );
    let config = Arc::clone(&fx.configs[service * SERVERS.len() + which]);
    let (k, rest) = rest
        .split_first()
        .map_or((0, rest), |(k, r)| (usize::from(*k), r));
    let (lens, stream) = rest.split_at(k.min(rest.len()));
    let pieces = cut(stream, lens);
    let upload = config.framing == Framing::Upload;

    fx.rt.block_on(async {
        let (near, far) = tokio::io::duplex(PIPE);
        let exchange = async {
            let _ = tokio::join!(serve_io(far, config), client(near, pieces));
        };
        if tokio::time::timeout(HANG_AFTER, exchange).await.is_err() {
            panic!(
                "{} server still running after {HANG_AFTER:?} of virtual time",
                SERVERS[which]
            );
        }
    });

    if upload {
        if let Ok(entries) = std::fs::read_dir(&fx.storage) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
});
