//! stickler: a protocol test harness, chaos proxy and fuzzer for TCP message framing.
//!
//! The layers, in the order data flows; each uses only those above it in this list:
//! 1. [`units`]: durations and sizes as the command line writes them.
//! 2. [`codec`]: every framing's wire format, built-in and described ([`codec::spec`]), as
//!    resumable decoders and encoders (no IO); which decoder reads which direction.
//! 3. [`service`]: what a request means (`cmd`, `upper`, `echo`).
//! 4. [`peer`]: the reference servers and clients of every framing, started one way
//!    ([`peer::ServerHandle`], [`peer::pool`]).
//! 5. [`chaos`] then [`proxy`]: the transport-neutral chaos core (directions, the toxic
//!    grammar, seeds, the recording sink, a microsecond timer) and the TCP chaos proxy on it.
//! 6. [`present`]: pages, tables, charts, JUnit XML, escaping, progress bars, byte previews.
//! 7. [`session`]: recorded (or hand-written) conversations: the file, masks, the recorder.
//! 8. The features, siblings on all of the above: [`check`] (the conformance matrix and the
//!    session engine, [`check::session`]), [`attack`] (the bad-input catalogue), [`latency`]
//!    (what safety costs in time) and [`udp`] (datagrams: loss, not sticky packets).
//!
//! In your own `cargo test`: [`proxy::ChaosProxy`] (a chaos proxy in front of your server),
//! [`check::session::api::SessionCheck`] (the session check as a function, sessions written in
//! code with [`session::Session::builder`]) and, with the cargo feature `proptest`,
//! `strategies` (proptest strategies for chunkings and toxic lists).
//!
//! The `stickler` command line sits on top. What goes on the wire, the chaos profiles and the
//! verdicts are described in `docs/` of the repository.

pub mod units;

pub mod codec;

pub mod service;

pub mod peer;

pub mod chaos;
pub mod proxy;

pub mod present;

pub mod session;

pub mod attack;
pub mod check;
pub mod latency;
pub mod udp;

pub use proxy::stream::ChaosStream;

#[cfg(feature = "proptest")]
pub mod strategies;
