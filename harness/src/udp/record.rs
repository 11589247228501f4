//! What the UDP proxy did to every datagram: one [`DatagramEvent`] per decision, kept in memory
//! or written as JSON lines (`stickler udp-proxy --record FILE`).
//!
//! Datagrams are numbered per client and direction (`seq` 0, 1, 2… in arrival order); a `send`
//! event names the datagram it came from, so the order of `send` events shows reordering, two
//! sends of one `seq` a duplication, and a `drop` event a loss.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::proxy::toxic::Direction;

/// What happened to a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Dropped by the `drop` toxic.
    Drop,
    /// Written to its destination (`copy` 1 is a duplicate).
    Send,
    /// Dropped because a bound was reached (held or delayed datagrams, per client).
    Overflow,
}

/// One decision of the proxy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatagramEvent {
    /// Client index, 0, 1, 2… in order of first datagram (a client evicted and seen again gets a
    /// new index).
    pub client: u64,
    pub dir: Direction,
    /// The datagram's number in this client and direction.
    pub seq: u64,
    pub action: Action,
    /// Bytes received (`drop`, `overflow`) or written (`send`).
    pub len: usize,
    /// For `send`: 0 the original, 1 the duplicate.
    pub copy: u8,
    /// For `send`: the length before the `truncate` toxic cut it, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_from: Option<usize>,
    /// For `send`: the delay drawn by the `delay` toxic, in microseconds.
    pub delay_us: u64,
    /// Microseconds from the proxy's start.
    pub t_us: u64,
    /// The bytes, as lowercase hex, when recording with bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

#[derive(Debug)]
enum Target {
    Memory(Vec<DatagramEvent>),
    File(BufWriter<File>),
}

/// Where events go. Clones share the target.
#[derive(Debug, Clone)]
pub struct DatagramSink {
    target: Arc<Mutex<Target>>,
    with_bytes: bool,
}

impl DatagramSink {
    pub fn memory(with_bytes: bool) -> DatagramSink {
        DatagramSink {
            target: Arc::new(Mutex::new(Target::Memory(Vec::new()))),
            with_bytes,
        }
    }

    /// Creates (truncates) `path`; one JSON object per line.
    pub fn file(path: &Path, with_bytes: bool) -> io::Result<DatagramSink> {
        let f = File::create(path)?;
        Ok(DatagramSink {
            target: Arc::new(Mutex::new(Target::File(BufWriter::new(f)))),
            with_bytes,
        })
    }

    pub fn with_bytes(&self) -> bool {
        self.with_bytes
    }

    pub(crate) fn push(&self, event: DatagramEvent) {
        let mut t = self.target.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *t {
            Target::Memory(v) => v.push(event),
            Target::File(w) => {
                let line = serde_json::to_string(&event).expect("event serializes");
                if let Err(e) = writeln!(w, "{line}") {
                    tracing::warn!("recording failed: {e}");
                }
            }
        }
    }

    /// Events so far (empty for a file sink).
    pub fn events(&self) -> Vec<DatagramEvent> {
        match &*self.target.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Memory(v) => v.clone(),
            Target::File(_) => Vec::new(),
        }
    }

    pub fn flush(&self) -> io::Result<()> {
        match &mut *self.target.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Memory(_) => Ok(()),
            Target::File(w) => w.flush(),
        }
    }
}
