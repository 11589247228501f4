//! How a server behaves: [`ServerConfig`] and its defaults.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

use crate::codec::framed::HeaderKind;
use crate::codec::json::SizeKey;
use crate::codec::length::LengthField;
use crate::codec::naive::DEFAULT_READ_SIZE;
use crate::codec::ready::DEFAULT_TOKEN;
use crate::codec::spec::{FrameSpec, FramingChoice};
use crate::codec::upload::DEFAULT_MAX_FILE_SIZE;
use crate::codec::{
    Format, FormatConfig, Formats, Framing, DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_JSON_HEADER,
};
use crate::service::Service;

/// Default cap on concurrent connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default idle timeout: a connection waiting this long for a request (or for the next byte of
/// one in flight) is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time shutdown waits for exchanges in flight.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default budget of request bytes all connections together may buffer: 32 MiB. With 1,024
/// connections' own 4 KiB and their tasks, a server stays under the 64 MiB growth that
/// `stickler attack --pid` counts as breaking it.
pub const DEFAULT_MAX_BUFFERED: usize = 32 << 20;
/// Default quota of stored uploads: 4 GiB.
pub const DEFAULT_MAX_STORAGE: u64 = 4 << 30;

/// How a server behaves. Build with [`ServerConfig::new`], then set fields or chain setters.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub framing: Framing,
    pub service: Service,
    /// Header of `framed` requests and replies (default `struct`).
    pub header_kind: HeaderKind,
    /// Length field of `struct`, `json` and `framed` (default `i32` little-endian).
    pub length_field: LengthField,
    /// Key `json` replies carry the body size under (default `file_size`; seed 001: `data_size`).
    pub size_key: SizeKey,
    /// Token the `ready` server waits for (default `ready`).
    pub ready_token: Bytes,
    /// Size of the one read that is one command (default 1024).
    pub read_size: usize,
    /// Concurrent connections served; more are closed at once (default 1024).
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub drain_timeout: Duration,
    /// Where uploads are stored; `None` = a fresh temporary directory, removed when the server
    /// stops.
    pub storage_dir: Option<PathBuf>,
    /// Largest frame body read or written (default 8 MiB).
    pub max_frame_length: usize,
    /// Largest upload accepted (default 1 GiB).
    pub max_upload_size: usize,
    /// Request bytes all connections together may buffer (default 32 MiB), beyond the
    /// 4 KiB each connection always may ([`CONN_ALLOWANCE`](super::CONN_ALLOWANCE)). A connection with no room left
    /// is not read (its peer's writes back up) until room frees, and is closed if that takes
    /// longer than the idle timeout. At least [`largest_request`](Self::largest_request).
    pub max_buffered: usize,
    /// Bytes of uploads stored by this server (files kept, and uploads in progress), default
    /// 4 GiB: an upload that would pass it is refused with an error status.
    pub max_storage: u64,
    /// Set `TCP_NODELAY` on accepted sockets (default true).
    pub nodelay: bool,
    /// Requests and replies framed by this description instead (with `framing` `framed`): a
    /// `cmd` server speaking someone's own length-field, varint or delimiter protocol.
    pub spec: Option<FrameSpec>,
}

impl ServerConfig {
    pub fn new(framing: Framing, service: Service) -> Self {
        ServerConfig {
            framing,
            service,
            header_kind: HeaderKind::default(),
            length_field: LengthField::I32_LE,
            size_key: SizeKey::FileSize,
            ready_token: Bytes::from_static(DEFAULT_TOKEN),
            read_size: DEFAULT_READ_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            storage_dir: None,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            max_upload_size: DEFAULT_MAX_FILE_SIZE,
            max_buffered: DEFAULT_MAX_BUFFERED,
            max_storage: DEFAULT_MAX_STORAGE,
            nodelay: true,
            spec: None,
        }
    }

    /// A server of `service` whose requests and replies are framed by `choice`: a built-in
    /// framing, or a description (served as `framed` with that header).
    pub fn of_choice(choice: &FramingChoice, service: Service) -> Self {
        match choice {
            FramingChoice::Builtin(framing) => ServerConfig::new(*framing, service),
            FramingChoice::Spec(spec) => ServerConfig {
                spec: Some(spec.clone()),
                ..ServerConfig::new(Framing::Framed, service)
            },
        }
    }
    pub fn header_kind(mut self, kind: HeaderKind) -> Self {
        self.header_kind = kind;
        self
    }
    pub fn ready_token(mut self, token: impl Into<Bytes>) -> Self {
        self.ready_token = token.into();
        self
    }
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    pub fn storage_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage_dir = Some(dir.into());
        self
    }
    pub fn max_frame_length(mut self, n: usize) -> Self {
        self.max_frame_length = n;
        self
    }
    pub fn max_upload_size(mut self, n: usize) -> Self {
        self.max_upload_size = n;
        self
    }
    pub fn max_buffered(mut self, n: usize) -> Self {
        self.max_buffered = n;
        self
    }
    pub fn max_storage(mut self, n: u64) -> Self {
        self.max_storage = n;
        self
    }
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }
}

impl ServerConfig {
    /// The formats of this server's requests and replies.
    pub fn formats(&self) -> Formats {
        match self.spec {
            Some(_) => Formats {
                request: Format::Spec,
                reply: Format::Spec,
            },
            None => self.framing.formats(self.header_kind),
        }
    }

    /// The framing as `--framing` names it: the description, or the built-in name.
    pub fn framing_name(&self) -> String {
        match &self.spec {
            Some(spec) => spec.to_string(),
            None => self.framing.to_string(),
        }
    }

    /// The most request bytes one connection must buffer to take a whole request (headers past
    /// the first 4 KiB aside): a frame body at the limit, the largest JSON header, the one read
    /// of a faithful server; an upload streams, only its header is held. With its flag.
    pub fn largest_request(&self) -> (usize, &'static str) {
        match self.formats().request {
            Format::OneRead | Format::Ready => (self.read_size, "the read size"),
            Format::Length => (self.max_frame_length, "--max-frame-length"),
            Format::Json if self.max_frame_length >= DEFAULT_MAX_JSON_HEADER => {
                (self.max_frame_length, "--max-frame-length")
            }
            Format::Json | Format::Upload => (DEFAULT_MAX_JSON_HEADER, "the JSON header limit"),
            Format::Spec => match &self.spec {
                Some(spec) => (spec.max(), "the description's max="),
                None => (self.max_frame_length, "--max-frame-length"),
            },
        }
    }

    /// Refuses settings a server cannot work with: a budget below the largest request (one
    /// such request alone could never be read whole).
    pub fn check(&self) -> Result<(), String> {
        let (largest, what) = self.largest_request();
        if self.max_buffered < largest {
            return Err(format!(
                "--max-buffered {} is below the largest request a connection must hold \
                 ({largest} bytes: {what}): raise --max-buffered or lower the limit",
                self.max_buffered
            ));
        }
        Ok(())
    }

    /// What this server's decoders and encoders need.
    pub fn format_config(&self) -> FormatConfig {
        FormatConfig {
            length_field: self.length_field,
            max_frame_length: self.max_frame_length,
            read_size: self.read_size,
            size_key: self.size_key,
            max_upload_size: self.max_upload_size,
            spec: self.spec.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_must_hold_the_largest_request() {
        let framed = ServerConfig::new(Framing::Framed, Service::Echo);
        assert_eq!(framed.largest_request().0, DEFAULT_MAX_FRAME_LENGTH);
        assert!(framed.check().is_ok(), "the defaults work together");
        let err = framed
            .clone()
            .max_buffered(DEFAULT_MAX_FRAME_LENGTH - 1)
            .check()
            .unwrap_err();
        assert!(err.contains("--max-frame-length"), "{err}");
        assert!(framed
            .max_frame_length(1 << 20)
            .max_buffered(1 << 20)
            .check()
            .is_ok());
        // One read of a faithful server; an upload's header; a description's own max=.
        let naive = ServerConfig::new(Framing::Naive, Service::Cmd).max_buffered(1024);
        assert!(naive.check().is_ok());
        let upload = ServerConfig::new(Framing::Upload, Service::Cmd);
        assert_eq!(upload.largest_request().0, DEFAULT_MAX_JSON_HEADER);
        let spec: FramingChoice = "length:u16be,max=1000".parse().unwrap();
        let spec = ServerConfig::of_choice(&spec, Service::Cmd).max_buffered(1 << 20);
        assert_eq!(spec.largest_request(), (1000, "the description's max="));
        assert!(spec.check().is_ok(), "max_frame_length does not apply");
    }
}
