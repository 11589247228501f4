//! The peers of every framing: reference [`server`]s over a bound listener, and the [`client`]
//! of each framing, which records every read it made.

pub mod client;
pub mod server;
