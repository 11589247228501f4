//! Your own server, tested through stickler's chaos proxy.
//!
//! The server here is a small echo of u16be-length-prefixed messages, written the right way:
//! it reads the 2-byte header and then the body with `read_exact`, whatever pieces TCP
//! delivers them in. The client sends through a [`ChaosProxy`] that cuts the replies into
//! pieces of 1 to 3 bytes; halfway, a coalesce toxic is switched on (on the open connection)
//! to merge the requests, then off again. Every reply must be the request.
//!
//! ```sh
//! cargo run -p stickler --example server_through_proxy
//! ```
//!
//! Exits 0 when every check held, 1 (with the reason) otherwise.

use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

use stickler::chaos::Direction;
use stickler::proxy::{ChaosProxy, PieceEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The server under test: echoes each u16be-length-prefixed message, however it arrives.
async fn serve(listener: TcpListener) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut header = [0u8; 2];
            while stream.read_exact(&mut header).await.is_ok() {
                let mut body = vec![0u8; u16::from_be_bytes(header) as usize];
                if stream.read_exact(&mut body).await.is_err() {
                    break;
                }
                let mut reply = header.to_vec();
                reply.extend_from_slice(&body);
                if stream.write_all(&reply).await.is_err() {
                    break;
                }
            }
        });
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Reads one u16be-length-prefixed message.
async fn read_message(stream: &mut TcpStream) -> Result<Vec<u8>> {
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).await?;
    let mut body = vec![0u8; u16::from_be_bytes(header) as usize];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Sends `count` messages back to back, then reads every reply and checks it.
async fn exchange(stream: &mut TcpStream, first: usize, count: usize) -> Result<()> {
    let bodies: Vec<Vec<u8>> = (first..first + count)
        .map(|i| format!("message number {i}").into_bytes())
        .collect();
    for b in &bodies {
        stream.write_all(&frame(b)).await?;
    }
    for b in &bodies {
        let got = read_message(stream).await?;
        if &got != b {
            return Err(format!(
                "expected {:?}, got {:?}",
                String::from_utf8_lossy(b),
                String::from_utf8_lossy(&got)
            )
            .into());
        }
    }
    Ok(())
}

/// The pieces written in direction `dir` from stream offset `from` on.
fn pieces(events: &[PieceEvent], dir: Direction, from: u64) -> Vec<&PieceEvent> {
    events
        .iter()
        .filter(|e| e.dir == dir && e.offset >= from)
        .collect()
}

fn check(ok: bool, what: String) -> Result<()> {
    println!("{} {what}", if ok { "ok  " } else { "FAIL" });
    match ok {
        true => Ok(()),
        false => Err(what.into()),
    }
}

async fn run() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let upstream: SocketAddr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener));

    let proxy = ChaosProxy::builder(upstream)
        .seed(1)
        .toxic("down:split=1..3")?
        .record(true)
        .start()
        .await?;
    println!("server on {upstream}, chaos proxy on {}", proxy.addr());
    let mut client = TcpStream::connect(proxy.addr()).await?;

    // 1. Replies cut into pieces of 1..3 bytes.
    exchange(&mut client, 0, 10).await?;
    let events = proxy.recorded();
    let down = pieces(&events, Direction::Down, 0);
    check(
        down.iter().all(|e| e.len <= 3 && e.toxic == "split"),
        format!(
            "10 replies arrived whole through down:split=1..3 ({} pieces of 1..3 bytes)",
            down.len()
        ),
    )?;

    // 2. Requests merged, switched on while the connection is open.
    let up_from = proxy.bytes(Direction::Up);
    proxy.add_toxic("merge", "up:coalesce=50ms")?;
    exchange(&mut client, 10, 10).await?;
    let events = proxy.recorded();
    let merged = pieces(&events, Direction::Up, up_from);
    let biggest = merged.iter().map(|e| e.len).max().unwrap_or(0);
    check(
        merged.iter().all(|e| e.toxic == "coalesce") && biggest > frame(b"message number 10").len(),
        format!(
            "10 requests sent back to back were merged into {} write(s) by a live up:coalesce=50ms \
             (largest {biggest} bytes), and answered right",
            merged.len()
        ),
    )?;

    // 3. Switched off again: requests pass as they come.
    proxy.remove_toxic("merge")?;
    let up_from = proxy.bytes(Direction::Up);
    for i in 20..25 {
        exchange(&mut client, i, 1).await?;
    }
    let events = proxy.recorded();
    let after = pieces(&events, Direction::Up, up_from);
    check(
        after.iter().all(|e| e.toxic == "none"),
        format!(
            "after remove_toxic(\"merge\") no request was held ({} pieces, none coalesced)",
            after.len()
        ),
    )?;

    drop(client);
    proxy.shutdown().await;
    server.abort();
    println!("all checks passed");
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(Duration::from_secs(20), run()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("server_through_proxy: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("server_through_proxy: timed out");
            std::process::exit(1);
        }
    }
}
