//! Your own codec under the chaos proxy's toxics, in-process: a tiny u16-big-endian length
//! codec (written here, as yours would be), a server on one end of `tokio::io::duplex`, and a
//! client through `ChaosStream` under `tokio_util::codec::Framed`, checked under several chaos
//! profiles and seeds. Prints each check; exits 1 if one fails.
//!
//! Run: `cargo run -p stickler --example codec_under_chaos`

use std::io;
use std::process::ExitCode;

use bytes::{Buf, BufMut, BytesMut};
use futures_util::StreamExt;
use stickler::ChaosStream;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio_util::codec::{Decoder, Encoder, Framed};

/// The codec under test: `[len: u16 BE][len bytes]`.
struct U16Codec;

impl Decoder for U16Codec {
    type Item = Vec<u8>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Vec<u8>>> {
        if src.len() < 2 {
            return Ok(None);
        }
        let n = u16::from_be_bytes([src[0], src[1]]) as usize;
        if src.len() < 2 + n {
            src.reserve(2 + n - src.len());
            return Ok(None);
        }
        src.advance(2);
        Ok(Some(src.split_to(n).to_vec()))
    }
}

impl Encoder<&[u8]> for U16Codec {
    type Error = io::Error;

    fn encode(&mut self, msg: &[u8], dst: &mut BytesMut) -> io::Result<()> {
        let len = u16::try_from(msg.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message over 64 KiB"))?;
        dst.put_u16(len);
        dst.put_slice(msg);
        Ok(())
    }
}

/// Encodes `msgs` and writes them in one go, then flushes (what `SinkExt::send_all` does; the
/// example needs no `futures` sink).
async fn send<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    framed: &mut Framed<S, U16Codec>,
    msgs: &[Vec<u8>],
) -> io::Result<()> {
    let mut buf = BytesMut::new();
    for m in msgs {
        framed.codec_mut().encode(m, &mut buf)?;
    }
    framed.get_mut().write_all(&buf).await?;
    framed.get_mut().flush().await
}

/// The server: echoes every message, reversed.
async fn server(io: DuplexStream) -> io::Result<()> {
    let mut framed = Framed::new(io, U16Codec);
    while let Some(m) = framed.next().await {
        let mut m = m?;
        m.reverse();
        send(&mut framed, &[m]).await?;
    }
    Ok(())
}

/// Reads the next message: message `i`, reversed, or what went wrong.
async fn expect(
    framed: &mut Framed<ChaosStream<DuplexStream>, U16Codec>,
    msgs: &[Vec<u8>],
    i: usize,
) -> Result<(), String> {
    let mut want = msgs[i].clone();
    want.reverse();
    match framed.next().await {
        Some(Ok(m)) if m == want => Ok(()),
        Some(Ok(m)) => Err(format!("message {i}: {} bytes, not the ones sent", m.len())),
        Some(Err(e)) => Err(format!("message {i}: {e}")),
        None => Err(format!("message {i}: the stream ended")),
    }
}

/// One run: 30 messages, lockstep and then pipelined 10 at a time. What went wrong, if anything.
async fn run(seed: u64, toxics: &[&str]) -> Result<usize, String> {
    let (client, server_io) = tokio::io::duplex(64 << 10);
    let server = tokio::spawn(server(server_io));
    let mut builder = ChaosStream::builder().seed(seed).record(true);
    for t in toxics {
        builder = builder.toxic(t).map_err(|e| e.to_string())?;
    }
    let mut framed = Framed::new(builder.build(client), U16Codec);
    let msgs: Vec<Vec<u8>> = (0..30u32)
        .map(|i| (0..(i * 37 % 300)).map(|j| (i + j) as u8).collect())
        .collect();
    for i in 0..10 {
        send(&mut framed, &msgs[i..=i])
            .await
            .map_err(|e| e.to_string())?;
        expect(&mut framed, &msgs, i).await?;
    }
    for batch in [10..20, 20..30] {
        send(&mut framed, &msgs[batch.clone()])
            .await
            .map_err(|e| e.to_string())?;
        for i in batch {
            expect(&mut framed, &msgs, i).await?;
        }
    }
    let pieces = framed.get_ref().recorded().len();
    drop(framed);
    server
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(pieces)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let profiles: [(&str, &[&str]); 5] = [
        ("none", &[]),
        ("split-down", &["down:split=1..4"]),
        ("split-up", &["up:split=1..4"]),
        ("coalesce-down", &["down:coalesce=2ms,max=512"]),
        (
            "combined",
            &[
                "both:latency=1ms,jitter=1ms",
                "both:coalesce=1ms",
                "both:split=1..8",
            ],
        ),
    ];
    let mut failed = 0;
    for (name, toxics) in profiles {
        for seed in 1..=3 {
            match run(seed, toxics).await {
                Ok(pieces) => {
                    println!(
                        "ok    {name:<14} seed {seed}: 30 messages back intact ({pieces} pieces)"
                    )
                }
                Err(e) => {
                    failed += 1;
                    println!("FAIL  {name:<14} seed {seed}: {e}");
                }
            }
        }
    }
    if failed == 0 {
        println!("all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("{failed} checks failed (rerun a seed with the same toxics to replay it)");
        ExitCode::FAILURE
    }
}
