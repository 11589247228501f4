//! Shared helpers for the criterion benches live next to them; this crate has no library code.
