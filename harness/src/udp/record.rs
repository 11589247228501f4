//! What the UDP proxy did to every datagram: one [`DatagramEvent`] per decision, kept in memory
//! or written as JSON lines (`stickler udp-proxy --record FILE`).
//!
//! Datagrams are numbered per client and direction (`seq` 0, 1, 2… in arrival order); a `send`
//! event names the datagram it came from, so the order of `send` events shows reordering, two
//! sends of one `seq` a duplication, and a `drop` event a loss.

use crate::chaos::Direction;

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

/// Where datagram events go: memory or a JSON-lines file (the TCP proxy's kind of sink).
pub type DatagramSink = crate::chaos::Sink<DatagramEvent>;
