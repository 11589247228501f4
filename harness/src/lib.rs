//! stickler: a protocol test harness, chaos proxy and fuzzer for TCP message framing.
//!
//! The data path, in the order bytes travel:
//! - [`codec`]: every framing's wire format, as resumable decoders and encoders (no IO).
//! - [`service`]: what a request means (`cmd`, `upper`, `echo`).
//! - [`peer`]: the reference servers and clients of every framing, and one way to start them.
//! - [`chaos`]: the transport-neutral chaos core both proxies share: directions, the toxic
//!   grammar, units, seeds, the recording sink and a microsecond timer.
//! - [`proxy`]: the chaos proxy that splits, coalesces, delays and cuts TCP streams, seeded.
//! - [`attack`]: the bad-input catalogue and mutation mode fired at a server, with a health probe.
//! - [`check`]: the conformance harness: the measured verdict matrix, minimised repros, reports.
//! - [`udp`]: the datagram servers, clients, chaos proxy and matrix (no sticky packets, but loss).
//! - [`latency`]: what each framing's safety costs in time under a delayed path.
//! - [`session`]: recorded (or hand-written) conversations with a user's client and server:
//!   the session file, masks, and the recording proxy.
//!
//! Beneath the four features' reports: [`present`], the pages, tables, charts, JUnit XML,
//! escaping, progress bars and byte previews they are built from.

pub mod attack;
pub mod chaos;
pub mod check;
pub mod codec;
pub mod latency;
pub mod peer;
pub mod present;
pub mod proxy;
pub mod service;
pub mod session;
pub mod udp;
pub mod units;
