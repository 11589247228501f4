//! stickler: a protocol test harness, chaos proxy and fuzzer for TCP message framing.
//!
//! The data path, in the order bytes travel:
//! - [`codec`]: every framing's wire format, as resumable decoders and encoders (no IO).
//! - [`proxy`]: the chaos proxy that splits, coalesces, delays and cuts TCP streams, seeded.

pub mod codec;
pub mod proxy;
