//! The peers of every framing: reference [`server`]s over a bound listener, and the [`client`]
//! of each framing, which records every read it made; every server runs behind a
//! [`ServerHandle`], and a [`pool`] starts the built-in server of each framing wanted.

pub mod client;
mod handle;
pub mod pool;
pub mod server;

pub use handle::ServerHandle;
