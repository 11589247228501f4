//! The toxiproxy HTTP API.

use std::net::SocketAddr;

/// The API server.
pub struct ApiServer {
    addr: SocketAddr,
}

impl ApiServer {
    pub async fn bind(addr: SocketAddr) -> std::io::Result<ApiServer> {
        Err(std::io::Error::other(format!(
            "the API on {addr} is not available in this build"
        )))
    }
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    pub async fn shutdown(self) {}
}
