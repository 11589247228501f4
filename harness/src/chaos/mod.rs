//! The transport-neutral chaos core shared by the TCP proxy ([`crate::proxy`]) and the UDP proxy
//! ([`crate::udp::proxy`]).
//!
//! - [`direction`]: which way bytes travel ([`Direction`]) and which ways a toxic applies to
//!   ([`Side`]).
//! - [`grammar`]: the one parser of `[DIR:]TYPE=VALUE,...` toxic lists; the TCP and the UDP
//!   toxic sets are two [`grammar::Vocabulary`]s of it.
//! - [`seed`]: the one derivation of every random stream from a run seed (connections, clients,
//!   conformance cases, UDP matrix cells).
//! - [`sink`]: the recording sink (memory or JSON lines) both proxies write their events to.
//! - [`timer`]: a microsecond timer, for delays tokio's millisecond timer would round up.

pub mod direction;
pub mod grammar;
pub mod seed;
pub mod sink;
pub mod timer;

pub use direction::{Direction, Side};
pub use sink::Sink;
