//! A server running on its own task: its address, a shutdown signal, and the drain to await.
//!
//! Every server of the project (each TCP framing's, the UDP ones) is started the same way and
//! returns a [`ServerHandle`]: [`shutdown`](ServerHandle::shutdown) signals the server to stop,
//! [`join`](ServerHandle::join) awaits its end (the drain of exchanges in flight) and returns
//! its result, and dropping the handle signals shutdown without waiting.

use std::future::Future;
use std::net::SocketAddr;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A running server. Stops (without waiting for the drain) when dropped.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl ServerHandle {
    /// Runs `serve` on a new task, giving it the future that completes on shutdown; `what`
    /// names the server in the log line written if it stops with an error.
    pub(crate) fn spawn<F>(
        addr: SocketAddr,
        what: String,
        serve: impl FnOnce(WaitForCancellationFutureOwned) -> F,
    ) -> ServerHandle
    where
        F: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let served = serve(stop.clone().cancelled_owned());
        let task = tokio::spawn(async move {
            let result = served.await;
            if let Err(e) = &result {
                tracing::error!(%addr, "{what} stopped: {e}");
            }
            result
        });
        ServerHandle {
            addr,
            stop,
            task: Some(task),
        }
    }

    /// The address the server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Signals the server to stop: it stops accepting and drains; [`join`](Self::join) waits
    /// for that.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// Whether the server has stopped (its drain is over).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits until the server has stopped (after [`shutdown`](Self::shutdown), or on its own)
    /// and returns its result; a server task that panicked is an error.
    pub async fn join(mut self) -> std::io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }

    /// [`shutdown`](Self::shutdown), then [`join`](Self::join).
    pub async fn stop(self) -> std::io::Result<()> {
        self.shutdown();
        self.join().await
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
