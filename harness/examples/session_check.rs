//! A session check of your own server, from a session written in code.
//!
//! The session is two connections of u16be-length-prefixed echo exchanges; the server is a
//! small echo written here. The check plays every connection under the nine chaos profiles
//! (split, coalesce, latency, and every cut of every request and reply) and prints the
//! verdicts per profile.
//!
//! ```sh
//! cargo run -p stickler --example session_check             # a correct server: all pass
//! cargo run -p stickler --example session_check -- --naive  # one read = one message: caught
//! ```
//!
//! Exits 0 when every profile passed, 1 otherwise.

use std::time::Duration;

use stickler::check::session::api::SessionCheck;
use stickler::session::Session;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A correct server: reads the 2-byte header, then exactly the body.
async fn echo_whole_messages(mut stream: TcpStream) {
    let mut header = [0u8; 2];
    while stream.read_exact(&mut header).await.is_ok() {
        let mut body = vec![0u8; u16::from_be_bytes(header) as usize];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let mut reply = header.to_vec();
        reply.extend_from_slice(&body);
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// The classic bug: one `read()` is taken for one whole message.
async fn echo_one_read_per_message(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let body = buf.get(2..n).unwrap_or_default();
        let mut reply = (body.len() as u16).to_be_bytes().to_vec();
        reply.extend_from_slice(body);
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

fn frame(body: &str) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body.as_bytes());
    v
}

#[tokio::main]
async fn main() {
    let naive = std::env::args().any(|a| a == "--naive");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("bound");
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            match naive {
                true => tokio::spawn(echo_one_read_per_message(stream)),
                false => tokio::spawn(echo_whole_messages(stream)),
            };
        }
    });

    let session = Session::builder()
        .name("u16be echo")
        .framing("length:u16be")
        .connection()
        .client(frame("hello"))
        .server(frame("hello"))
        .client(frame("sticky packets"))
        .server(frame("sticky packets"))
        .connection()
        .client(frame("one more"))
        .server(frame("one more"))
        .build()
        .expect("a valid session");

    println!(
        "checking the {} server at {addr} with {} connections under every profile …",
        if naive {
            "one-read-per-message"
        } else {
            "correct"
        },
        session.connections.len()
    );
    let check = SessionCheck::new(session)
        .seed(1)
        .configure(|c| c.cut_gap = Duration::from_millis(2));
    let verdicts =
        match tokio::time::timeout(Duration::from_secs(60), check.run_against(addr)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                eprintln!("session_check: {e}");
                std::process::exit(1);
            }
            Err(_) => {
                eprintln!("session_check: timed out");
                std::process::exit(1);
            }
        };
    print!("{verdicts}");
    server.abort();
    if verdicts.passed() {
        println!(
            "passed: {} profiles, {} ms",
            verdicts.profiles().len(),
            verdicts.report().elapsed_ms
        );
    } else {
        std::process::exit(1);
    }
}
