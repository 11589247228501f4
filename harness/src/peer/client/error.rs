//! What can go wrong in an exchange, with what the client observed up to that point (every
//! read and the bytes received), so a report can say *why*: replies merged, a reply cut short,
//! a header misread, a hang ended by a timeout, a reset.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::ReadEvent;
use crate::codec::{CodecError, Framing};

/// Every read made for a reply so far, and the bytes they returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadsSoFar {
    pub reads: Vec<ReadEvent>,
    pub received: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("timed out after {waited:?} waiting for the reply ({} reads, {} bytes received)", .reads_so_far.len(), .received.len())]
    Timeout {
        waited: Duration,
        reads_so_far: Vec<ReadEvent>,
        received: Bytes,
    },
    #[error("connection reset by the peer ({} reads, {} bytes received)", .reads_so_far.len(), .received.len())]
    Reset {
        reads_so_far: Vec<ReadEvent>,
        received: Bytes,
    },
    #[error("connection closed before the reply was complete: have {have} of {need} bytes")]
    ClosedEarly {
        have: usize,
        need: usize,
        reads_so_far: Vec<ReadEvent>,
        received: Bytes,
    },
    #[error("protocol error in the reply: {source}")]
    Protocol {
        source: CodecError,
        reads_so_far: Vec<ReadEvent>,
        received: Bytes,
    },
    #[error("I/O error: {source}")]
    Io {
        source: std::io::Error,
        reads_so_far: Vec<ReadEvent>,
        received: Bytes,
    },
    #[error("the {framing} client cannot {what}")]
    Unsupported {
        framing: Framing,
        what: &'static str,
    },
}

impl ClientError {
    /// The reads made before the error (empty for errors outside an exchange).
    pub fn reads(&self) -> &[ReadEvent] {
        match self {
            ClientError::Timeout { reads_so_far, .. }
            | ClientError::Reset { reads_so_far, .. }
            | ClientError::ClosedEarly { reads_so_far, .. }
            | ClientError::Protocol { reads_so_far, .. }
            | ClientError::Io { reads_so_far, .. } => reads_so_far,
            ClientError::Connect { .. } | ClientError::Unsupported { .. } => &[],
        }
    }

    /// The bytes received before the error.
    pub fn received(&self) -> &[u8] {
        match self {
            ClientError::Timeout { received, .. }
            | ClientError::Reset { received, .. }
            | ClientError::ClosedEarly { received, .. }
            | ClientError::Protocol { received, .. }
            | ClientError::Io { received, .. } => received,
            ClientError::Connect { .. } | ClientError::Unsupported { .. } => &[],
        }
    }

    pub(crate) fn timeout(waited: Duration, o: ReadsSoFar) -> Self {
        ClientError::Timeout {
            waited,
            reads_so_far: o.reads,
            received: o.received,
        }
    }

    /// Maps an IO error to `Reset` or `Io`.
    pub(crate) fn from_io(source: std::io::Error, o: ReadsSoFar) -> Self {
        use std::io::ErrorKind::*;
        match source.kind() {
            ConnectionReset | ConnectionAborted | BrokenPipe => ClientError::Reset {
                reads_so_far: o.reads,
                received: o.received,
            },
            _ => ClientError::Io {
                source,
                reads_so_far: o.reads,
                received: o.received,
            },
        }
    }

    /// Maps a codec error: a stream cut inside a frame is `ClosedEarly`, the rest `Protocol`.
    pub(crate) fn from_codec(source: CodecError, o: ReadsSoFar) -> Self {
        match source {
            CodecError::Truncated { have, need, .. } => ClientError::ClosedEarly {
                have,
                need,
                reads_so_far: o.reads,
                received: o.received,
            },
            source => ClientError::Protocol {
                source,
                reads_so_far: o.reads,
                received: o.received,
            },
        }
    }

    pub(crate) fn closed_early(have: usize, need: usize, o: ReadsSoFar) -> Self {
        ClientError::ClosedEarly {
            have,
            need,
            reads_so_far: o.reads,
            received: o.received,
        }
    }
}
