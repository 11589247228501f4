//! What `ChaosStream` costs in-process: a transfer in 64 KiB writes over `tokio::io::duplex`
//! (64 KiB buffer), read in 64 KiB reads, plain and through a `ChaosStream` on the reading end:
//! - `duplex`: the plain pipe, the baseline;
//! - `chaos_none`: no toxic (the pass-through fast path);
//! - `chaos_latency_0`: `down:latency=0ms`, a toxic that changes nothing, so every byte takes
//!   the toxic path (pipeline, queue, one piece per read) at its cheapest;
//! - `chaos_split_1_16`: `down:split=1..16`, one read per 1..16-byte piece.
//!
//! The split moves a smaller transfer (it costs per piece); every case reports bytes/s
//! (`Throughput::Bytes`), so the ratios compare.
//!
//! ```text
//! cargo bench -p stickler-benches --bench stream -- --noplot
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stickler::ChaosStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// Size of each write, each read, and the duplex buffer.
const CHUNK: usize = 64 << 10;
/// The full transfer.
const BIG: usize = 64 << 20;
/// The split's transfer.
const SMALL: usize = 4 << 20;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Moves `total` bytes from a writer task through a duplex to `wrap(reading end)`.
async fn transfer<R: AsyncRead + Unpin>(
    total: usize,
    wrap: impl FnOnce(tokio::io::DuplexStream) -> R,
) -> usize {
    let (mut w, r) = tokio::io::duplex(CHUNK);
    let writer = tokio::spawn(async move {
        let chunk = vec![0x5au8; CHUNK];
        for _ in 0..total / CHUNK {
            w.write_all(&chunk).await.expect("write");
        }
        w.shutdown().await.expect("shutdown");
    });
    let mut r = wrap(r);
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0;
    loop {
        let n = r.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        got += n;
    }
    writer.await.expect("writer");
    assert_eq!(got, total);
    black_box(got)
}

fn chaos(
    toxic: Option<&str>,
) -> impl FnOnce(tokio::io::DuplexStream) -> ChaosStream<tokio::io::DuplexStream> + '_ {
    move |r| match toxic {
        None => ChaosStream::new(r),
        Some(t) => ChaosStream::builder()
            .seed(1)
            .toxic(t)
            .expect("a valid toxic")
            .build(r),
    }
}

fn stream(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("stream");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(BIG as u64));
    group.bench_function("duplex", |b| b.iter(|| rt.block_on(transfer(BIG, |r| r))));
    group.bench_function("chaos_none", |b| {
        b.iter(|| rt.block_on(transfer(BIG, chaos(None))))
    });
    group.bench_function("chaos_latency_0", |b| {
        b.iter(|| rt.block_on(transfer(BIG, chaos(Some("down:latency=0ms")))))
    });
    group.throughput(Throughput::Bytes(SMALL as u64));
    group.bench_function("chaos_split_1_16", |b| {
        b.iter(|| rt.block_on(transfer(SMALL, chaos(Some("down:split=1..16")))))
    });
    group.finish();
}

criterion_group!(benches, stream);
criterion_main!(benches);
