//! `ChaosStream` as a user meets it: only the public API (`stickler::ChaosStream`), a toy
//! protocol of u16-big-endian length-prefixed messages, and two clients of it:
//! - a naive one with the classic planted bug, "one `read` is one message";
//! - a correct one, `tokio_util::codec::Framed` with a real decoder.
//!
//! On a plain in-memory stream both pass. Under `down:split=1..4` or `down:coalesce` the chaos
//! stream catches the naive client for every seed tried, and the correct client passes the same
//! seeds. No sockets, no sleeps beyond the toxics' few milliseconds; seeded, so a failure names
//! its seed and replays.

use std::io;

use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use stickler::ChaosStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_util::codec::{Decoder, Framed};

/// The protocol's decoder: `[len: u16 BE][len bytes]`.
struct U16Codec;

impl Decoder for U16Codec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        if src.len() < 2 {
            return Ok(None);
        }
        let n = u16::from_be_bytes([src[0], src[1]]) as usize;
        if src.len() < 2 + n {
            src.reserve(2 + n - src.len());
            return Ok(None);
        }
        src.advance(2);
        Ok(Some(src.split_to(n)))
    }
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = (msg.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(msg);
    f
}

/// The messages of a run: different lengths, different bytes.
fn messages() -> Vec<Vec<u8>> {
    (0..24)
        .map(|i| {
            (0..(5 + i * 7 % 40))
                .map(|j| b'a' + ((i + j) % 26) as u8)
                .collect()
        })
        .collect()
}

/// The server: replies to each request with the same message (one write per reply), or, with
/// `burst`, writes every message of [`messages`] at once (one write each) without waiting.
async fn serve(io: DuplexStream, burst: bool) {
    let mut framed = Framed::new(io, U16Codec);
    if burst {
        for m in messages() {
            framed.get_mut().write_all(&frame(&m)).await.unwrap();
            tokio::task::yield_now().await;
        }
        return;
    }
    while let Some(Ok(m)) = framed.next().await {
        if framed.get_mut().write_all(&frame(&m)).await.is_err() {
            return;
        }
    }
}

/// The planted bug: reads once, up to 512 bytes, and takes that read as one whole message.
struct NaiveClient<S> {
    io: S,
}

impl<S: AsyncRead + AsyncWrite + Unpin> NaiveClient<S> {
    async fn request(&mut self, msg: &[u8]) -> io::Result<Vec<u8>> {
        self.io.write_all(&frame(msg)).await?;
        self.io.flush().await?;
        self.next_message().await
    }

    async fn next_message(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = [0u8; 512];
        let n = self.io.read(&mut buf).await?;
        // BUG: assumes the read holds exactly one frame, header included.
        Ok(buf[2.min(n)..n].to_vec())
    }
}

/// The correct client: `Framed` and the real decoder.
async fn framed_request<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S, U16Codec>,
    msg: &[u8],
) -> io::Result<Vec<u8>> {
    framed.get_mut().write_all(&frame(msg)).await?;
    framed.get_mut().flush().await?;
    framed_next(framed).await
}

async fn framed_next<S: AsyncRead + Unpin>(
    framed: &mut Framed<S, U16Codec>,
) -> io::Result<Vec<u8>> {
    match framed.next().await {
        Some(m) => Ok(m?.to_vec()),
        None => Err(io::ErrorKind::UnexpectedEof.into()),
    }
}

/// A chaos stream over an in-memory pipe whose other end runs the server.
fn chaos(seed: u64, toxics: &[&str], burst: bool) -> ChaosStream<DuplexStream> {
    let (client, server) = tokio::io::duplex(64 << 10);
    tokio::spawn(serve(server, burst));
    let mut b = ChaosStream::builder().seed(seed).record(true);
    for t in toxics {
        b = b.toxic(t).expect("a valid toxic");
    }
    b.build(client)
}

/// Lockstep requests through the naive client: the index of the first wrong reply, if any.
async fn naive_lockstep(io: ChaosStream<DuplexStream>) -> Option<usize> {
    let mut c = NaiveClient { io };
    for (i, m) in messages().iter().enumerate() {
        match c.request(m).await {
            Ok(reply) if &reply == m => {}
            _ => return Some(i),
        }
    }
    None
}

async fn framed_lockstep(io: ChaosStream<DuplexStream>) -> Result<(), String> {
    let mut f = Framed::new(io, U16Codec);
    for (i, m) in messages().iter().enumerate() {
        let reply = framed_request(&mut f, m)
            .await
            .map_err(|e| format!("request {i}: {e}"))?;
        if &reply != m {
            return Err(format!("request {i}: wrong reply"));
        }
    }
    Ok(())
}

const SEEDS: std::ops::RangeInclusive<u64> = 1..=8;

#[tokio::test]
async fn both_clients_pass_without_chaos() {
    assert_eq!(naive_lockstep(chaos(1, &[], false)).await, None);
    framed_lockstep(chaos(1, &[], false)).await.unwrap();
}

#[tokio::test]
async fn split_catches_the_one_read_one_message_bug() {
    for seed in SEEDS {
        let caught = naive_lockstep(chaos(seed, &["down:split=1..4"], false)).await;
        assert!(caught.is_some(), "seed {seed}: the naive client passed");
        framed_lockstep(chaos(seed, &["down:split=1..4"], false))
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: the framed client failed: {e}"));
    }
}

#[tokio::test]
async fn split_both_ways_and_latency_still_pass_the_framed_client() {
    // (A gap between pieces would cost a timer tick per piece: kept out to stay fast.)
    let toxics = ["both:split=1..4", "up:latency=1ms"];
    for seed in SEEDS {
        framed_lockstep(chaos(seed, &toxics, false))
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[tokio::test]
async fn coalesce_catches_it_too() {
    for seed in SEEDS {
        // The server writes every reply at once, one write each; the toxic merges them.
        let mut naive = NaiveClient {
            io: chaos(seed, &["down:coalesce=5ms"], true),
        };
        let first = naive.next_message().await.unwrap();
        assert_ne!(first, messages()[0], "seed {seed}: the naive client passed");

        let mut framed = Framed::new(chaos(seed, &["down:coalesce=5ms"], true), U16Codec);
        for (i, m) in messages().iter().enumerate() {
            let got = framed_next(&mut framed).await.unwrap();
            assert_eq!(&got, m, "seed {seed}, message {i}");
        }
    }
}

#[tokio::test]
async fn the_same_seed_fails_the_same_way() {
    let run = |seed| async move {
        let io = chaos(seed, &["down:split=1..4"], false);
        let mut c = NaiveClient { io };
        let mut replies = Vec::new();
        for m in messages().iter().take(5) {
            replies.push(c.request(m).await.unwrap_or_default());
        }
        // What the chaos cut, per direction: the lengths of the pieces.
        let cuts: Vec<Vec<usize>> = (c.io.schedule().streams.iter())
            .map(|s| s.pieces.iter().map(|p| p.len).collect())
            .collect();
        (replies, cuts)
    };
    let (a, cuts_a) = run(3).await;
    let (b, cuts_b) = run(3).await;
    let (c, _) = run(4).await;
    assert_eq!(a, b, "the same seed, another failure");
    assert_eq!(cuts_a, cuts_b, "the same seed, other cuts");
    assert_ne!(a, c, "another seed, the same failure");
}
