//! Decode throughput of the `struct` framing: our `LengthCodec` against tokio-util's
//! `LengthDelimitedCodec` (4-byte little-endian length), on the same input buffers; and our
//! `json` decoder on its own.
//!
//! Each iteration decodes one whole buffer of back-to-back frames (as a coalescing socket would
//! deliver them); every frame is split off as a `BytesMut` the caller owns, by both codecs. The
//! copy of the input buffer that each iteration consumes is made, and freed, outside the timed
//! part.
//!
//! ```text
//! cargo bench -p stickler-benches --bench codec
//! ```
//! The ratio to quote is tokio-util's time over ours per frame size, from one run; `bench-guard`
//! prints it from the fastest samples (`struct_decode/{stickler,tokio-util}/SIZE`) and checks
//! it against `benches/baseline.json`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use stickler::codec::json::{JsonCodec, JsonFrame};
use stickler::codec::length::LengthCodec;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// Frame body sizes compared: small replies, the tutorials' 1 KiB read, large transfers.
const FRAME_SIZES: [usize; 3] = [64, 1024, 64 * 1024];
/// Bytes of frames in each input buffer: 16 MiB holds 256 frames even at 64 KiB, so one
/// iteration is long enough to time steadily on a shared machine, and no buffer fits in cache.
const BUFFER_BYTES: usize = 16 << 20;
/// Body sizes for the json decoder (its header parse dominates small frames).
const JSON_SIZES: [usize; 2] = [64, 1024];
/// Fixed seed of the body bytes, so every run decodes the same input.
const SEED: u64 = 0x5717_c4e1;

/// A deterministic body of `len` bytes (xorshift from `SEED`).
fn body(len: usize) -> Bytes {
    let mut x = SEED;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `BUFFER_BYTES` worth of `struct` frames of `size`-byte bodies, and how many there are.
fn struct_input(size: usize) -> (Bytes, usize) {
    let frame = body(size);
    let count = (BUFFER_BYTES / (size + 4)).max(1);
    let mut out = BytesMut::with_capacity(count * (size + 4));
    let mut codec = LengthCodec::default();
    for _ in 0..count {
        codec.encode(&frame[..], &mut out).expect("encode");
    }
    (out.freeze(), count)
}

fn tokio_codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .little_endian()
        .length_field_length(4)
        .max_frame_length(stickler::codec::DEFAULT_MAX_FRAME_LENGTH)
        .new_codec()
}

/// Decodes every frame in `buf` (each frame is dropped by the caller, as a reader would);
/// returns the count, so the work cannot be skipped, and the emptied buffer, so that freeing
/// the input is left out of the timing (criterion drops outputs after the clock stops).
fn drain<D: Decoder>(codec: &mut D, mut buf: BytesMut) -> (usize, BytesMut)
where
    D::Error: std::fmt::Debug,
{
    let mut n = 0;
    while let Some(frame) = codec.decode(&mut buf).expect("valid input") {
        black_box(frame);
        n += 1;
    }
    (n, buf)
}

fn struct_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("struct_decode");
    for size in FRAME_SIZES {
        let (input, count) = struct_input(size);
        // Both decoders must agree on the input before being timed.
        assert_eq!(
            drain(&mut LengthCodec::default(), BytesMut::from(&input[..])).0,
            count
        );
        assert_eq!(
            drain(&mut tokio_codec(), BytesMut::from(&input[..])).0,
            count
        );
        group.throughput(Throughput::Bytes(input.len() as u64));
        let setup = || BytesMut::from(&input[..]);
        group.bench_function(BenchmarkId::new("stickler", size), |b| {
            b.iter_batched(
                setup,
                |buf| drain(&mut LengthCodec::default(), buf),
                BatchSize::LargeInput,
            )
        });
        group.bench_function(BenchmarkId::new("tokio-util", size), |b| {
            b.iter_batched(
                setup,
                |buf| drain(&mut tokio_codec(), buf),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn json_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_decode");
    for size in JSON_SIZES {
        let frame = body(size);
        let mut codec = JsonCodec::builder().with_md5(false).new_codec();
        let count = (BUFFER_BYTES / (size + 32)).max(1);
        let mut input = BytesMut::new();
        for _ in 0..count {
            codec
                .encode(JsonFrame::new(frame.clone()), &mut input)
                .expect("encode");
        }
        let input = input.freeze();
        assert_eq!(
            drain(&mut JsonCodec::default(), BytesMut::from(&input[..])).0,
            count
        );
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(BenchmarkId::new("stickler", size), |b| {
            b.iter_batched(
                || BytesMut::from(&input[..]),
                |buf| drain(&mut JsonCodec::default(), buf),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, struct_decode, json_decode);
criterion_main!(benches);
