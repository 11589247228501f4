//! The recording sink both proxies write their events to: memory or a JSON-lines file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
enum Target<E> {
    Memory(Vec<E>),
    File(BufWriter<File>),
}

/// Where events go: memory (read back with [`Sink::events`]) or a JSON-lines file.
/// Clones share the same target. The TCP proxy records its piece events
/// ([`crate::proxy::RecordSink`]) and the UDP proxy its datagram events
/// ([`crate::udp::record::DatagramSink`]) in one.
#[derive(Debug)]
pub struct Sink<E> {
    target: Arc<Mutex<Target<E>>>,
    with_bytes: bool,
}

impl<E> Clone for Sink<E> {
    fn clone(&self) -> Self {
        Sink {
            target: self.target.clone(),
            with_bytes: self.with_bytes,
        }
    }
}

impl<E: serde::Serialize + Clone> Sink<E> {
    /// A sink that keeps events in memory.
    pub fn memory(with_bytes: bool) -> Sink<E> {
        Sink {
            target: Arc::new(Mutex::new(Target::Memory(Vec::new()))),
            with_bytes,
        }
    }

    /// Creates (truncates) `path`; one JSON object per line.
    pub fn file(path: &Path, with_bytes: bool) -> io::Result<Sink<E>> {
        let f = File::create(path)?;
        Ok(Sink {
            target: Arc::new(Mutex::new(Target::File(BufWriter::new(f)))),
            with_bytes,
        })
    }

    /// Whether events carry the bytes.
    pub fn with_bytes(&self) -> bool {
        self.with_bytes
    }

    pub(crate) fn push(&self, event: E) {
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
    pub fn events(&self) -> Vec<E> {
        match &*self.target.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Memory(v) => v.clone(),
            Target::File(_) => Vec::new(),
        }
    }

    /// Writes out what a file sink buffered.
    pub fn flush(&self) -> io::Result<()> {
        match &mut *self.target.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::Memory(_) => Ok(()),
            Target::File(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_memory() {
        assert_eq!(crate::codec::hex(b"\x00\xffa"), "00ff61");
        let sink = Sink::<u32>::memory(false);
        sink.clone().push(7);
        assert_eq!(sink.events(), [7]);
    }
}
