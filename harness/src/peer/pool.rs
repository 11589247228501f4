//! The built-in servers of a run, started together: one reference server per key (a framing,
//! unless the caller keys them otherwise), each on a free 127.0.0.1 port, looked up by key and
//! stopped together.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::server::{self, ServerConfig};
use super::ServerHandle;
use crate::codec::Framing;
use crate::service::Service;

/// Running reference servers, one per key. Dropping the pool signals every server to stop.
#[derive(Debug)]
pub struct Pool<K = Framing> {
    servers: BTreeMap<K, ServerHandle>,
}

impl Pool<Framing> {
    /// The reference server of each of `framings`, answering with `service`.
    pub async fn start(framings: &[Framing], service: Service) -> std::io::Result<Self> {
        Pool::start_with(framings, service, |config| config).await
    }

    /// Like [`start`](Pool::start), each server's config passed through `tweak` first.
    pub async fn start_with(
        framings: &[Framing],
        service: Service,
        tweak: impl Fn(ServerConfig) -> ServerConfig,
    ) -> std::io::Result<Self> {
        let configs = framings
            .iter()
            .map(|&framing| (framing, tweak(ServerConfig::new(framing, service))));
        Pool::of(configs).await
    }
}

impl<K: Ord + Copy> Pool<K> {
    /// One server per `(key, config)`; a later key replaces an earlier equal one. If one fails
    /// to start, those already started are stopped.
    pub async fn of(configs: impl IntoIterator<Item = (K, ServerConfig)>) -> std::io::Result<Self> {
        let mut servers = BTreeMap::new();
        for (key, config) in configs {
            servers.insert(key, server::spawn_local(config).await?);
        }
        Ok(Pool { servers })
    }

    /// The address of the server under `key`.
    pub fn addr(&self, key: K) -> Option<SocketAddr> {
        self.servers.get(&key).map(ServerHandle::addr)
    }

    /// Signals every server to stop, waits for all of them to drain, and returns the first
    /// error any of them stopped with (each is also logged as it happens).
    pub async fn stop(self) -> std::io::Result<()> {
        for handle in self.servers.values() {
            handle.shutdown();
        }
        let mut first = Ok(());
        for (_, handle) in self.servers {
            let result = handle.join().await;
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}
