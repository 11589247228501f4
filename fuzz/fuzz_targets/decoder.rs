//! Every decoder over one input, and the framing-description codec under fuzzer-chosen
//! descriptions: the same outcome however the input is split, and encoded messages decode back
//! to themselves. The properties live in `stickler::codec::property`, shared
//! with `harness/tests/regressions.rs`, which replays `fixtures/regressions/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(failure) = stickler::codec::property::run(data) {
        panic!("{failure}");
    }
});
