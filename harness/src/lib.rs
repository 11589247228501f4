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
//! # In your own `cargo test`
//!
//! Four types at the crate root are what a test of yours needs; the modules below are the
//! harness's own layers (the `stickler` command line is built on them).
//! - [`ChaosStream`]: the proxy's toxics around any `AsyncRead + AsyncWrite` (a `TcpStream`, a
//!   `tokio::io::duplex` half), in-process, seeded, usable under `tokio_util::codec::Framed`.
//! - [`ChaosProxy`]: a chaos proxy on 127.0.0.1:0 in front of your server; toxics added and
//!   removed while traffic flows; what it cut, recorded.
//! - [`SessionCheck`] and [`SessionVerdicts`]: a recorded (or [`Session::builder`]-written)
//!   conversation replayed against your server under every chaos profile, verdicts as values.
//! - With the cargo feature `proptest`, `strategies`: chunkings and toxic lists to draw.
//!
//! Runnable examples: `harness/examples/` of the repository (`cargo run -p stickler --example
//! codec_under_chaos`, `server_through_proxy`, `session_check`).
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

// The front door for a user's own tests: these four, and with the `proptest` feature
// `strategies`.
pub use check::session::api::{SessionCheck, SessionVerdicts};
pub use proxy::builder::ChaosProxy;
pub use proxy::stream::ChaosStream;
pub use session::Session;

#[cfg(feature = "proptest")]
pub mod strategies;
