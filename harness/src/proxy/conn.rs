//! One proxied connection: dial the upstream, pump both directions at once, and end the way a
//! toxic or a peer asked (FIN, or RST with SO_LINGER 0).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::pipeline::pump;
use super::shared::{Conn, Shared};
use super::toxic::Teardown;
use crate::chaos::Direction;

/// How long dialling the upstream may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn reset(s: &TcpStream) {
    let _ = SockRef::from(s).set_linger(Some(Duration::ZERO));
}

pub(crate) async fn serve(
    client: TcpStream,
    index: u64,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let upstream = shared.upstream();
    let server = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(conn = index, %upstream, "upstream refused: {e}; resetting the client");
            shared.refused.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            return;
        }
        Err(_) => {
            tracing::warn!(conn = index, %upstream, "upstream did not answer in {CONNECT_TIMEOUT:?}; resetting the client");
            shared.refused.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            return;
        }
    };
    if shared.nodelay {
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
    }
    shared.active.fetch_add(1, Ordering::Relaxed);
    let conn = Conn::new(index, shared.clone(), cancel);
    // Ended first: a connection the proxy's shutdown (or a toxic) ended does not run its
    // directions once more (a turn can be a read and thousands of pieces).
    tokio::select! {
        biased;
        _ = conn.ended() => {}
        _ = async {
            tokio::join!(
                run(&conn, Direction::Up, &client, &server),
                run(&conn, Direction::Down, &server, &client)
            )
        } => {}
    }
    if conn.is_resetting() {
        reset(&client);
        reset(&server);
    }
    shared.active.fetch_sub(1, Ordering::Relaxed);
    if let Some(sink) = &shared.record {
        let _ = sink.flush();
    }
}

/// One direction; any error ends the whole connection with a reset, passed on to both peers.
async fn run(conn: &Conn, dir: Direction, src: &TcpStream, dst: &TcpStream) {
    if let Err(e) = pump(conn, dir, src, dst).await {
        if !conn.is_closing() {
            tracing::debug!(conn = conn.index, %dir, "connection reset: {e}");
        }
        conn.close(Teardown::Reset);
    }
}
