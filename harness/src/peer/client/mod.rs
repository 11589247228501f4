//! The client of each framing, reading exactly as that framing's client does, and recording
//! every read it made so a failed exchange can be explained.
//!
//! | framing | request | reply is read as |
//! |---|---|---|
//! | `naive` | raw, one write | one read of at most `read_size` (1024) bytes |
//! | `ready` | raw, one write | one read = the digits; write the token; read to length |
//! | `struct`, `json` | raw, one write | the codec over the stream, exactly |
//! | `framed` | framed | the codec over the stream, exactly |
//! | `upload` | header, then file | a `struct` frame holding the JSON status |
//!
//! `naive` and `ready` take one read as the tutorials' `recv(1024)` does, decoded by
//! [`NaiveCodec`](crate::codec::naive::NaiveCodec) and
//! [`ReadyReplyDecoder`](crate::codec::ready::ReadyReplyDecoder) over a buffer filled by exactly
//! that read. Reads never go past the reply they are for, except in `struct`/`json`/`framed`,
//! where bytes past a reply stay buffered for the next one.

mod error;
mod receive;

pub use error::{ClientError, ReadsSoFar};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Encoder;

use crate::codec::framed::{FramedCodec, HeaderKind};
use crate::codec::json::md5_hex;
use crate::codec::length::LengthField;
use crate::codec::naive::DEFAULT_READ_SIZE;
use crate::codec::ready::DEFAULT_TOKEN;
use crate::codec::spec::{FrameSpec, FramingChoice};
use crate::codec::upload::UploadHeader;
use crate::codec::{AnyDecoder, Format, FormatConfig, Framing, DEFAULT_MAX_FRAME_LENGTH};

/// Default time one reply may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How a client behaves. Build with [`ClientConfig::new`], then set fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub framing: Framing,
    /// Header of `framed` (default `struct`).
    pub header_kind: HeaderKind,
    /// Length field of `struct`, `json`, `framed` and `upload` (default `i32` little-endian).
    pub length_field: LengthField,
    /// Token a `ready` client sends after the digits (default `ready`).
    pub token: Bytes,
    /// Time allowed for connecting, for one send, and without progress while reading a reply
    /// (default 5 s): a reply that keeps trickling in is never cut by it.
    pub timeout: Duration,
    /// Largest reply body accepted (default 8 MiB).
    pub max_frame_length: usize,
    /// Size of each read (default 1024, the tutorials' `recv(1024)`).
    pub read_size: usize,
    /// Set `TCP_NODELAY` (default true).
    pub nodelay: bool,
    /// Requests and replies framed by this description instead (with `framing` `framed`).
    pub spec: Option<FrameSpec>,
}

impl ClientConfig {
    pub fn new(framing: Framing) -> Self {
        ClientConfig {
            framing,
            header_kind: HeaderKind::default(),
            length_field: LengthField::I32_LE,
            token: Bytes::from_static(DEFAULT_TOKEN),
            timeout: DEFAULT_TIMEOUT,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            read_size: DEFAULT_READ_SIZE,
            nodelay: true,
            spec: None,
        }
    }

    /// The client of `choice`: a built-in framing, or a description (spoken as `framed` with
    /// that header).
    pub fn of_choice(choice: &FramingChoice) -> Self {
        match choice {
            FramingChoice::Builtin(framing) => ClientConfig::new(*framing),
            FramingChoice::Spec(spec) => ClientConfig {
                spec: Some(spec.clone()),
                ..ClientConfig::new(Framing::Framed)
            },
        }
    }
    pub fn header_kind(mut self, kind: HeaderKind) -> Self {
        self.header_kind = kind;
        self
    }
    pub fn token(mut self, token: impl Into<Bytes>) -> Self {
        self.token = token.into();
        self
    }
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The format replies arrive in.
    fn reply_format(&self) -> Format {
        match self.spec {
            Some(_) => Format::Spec,
            None => self.framing.formats(self.header_kind).reply,
        }
    }

    /// What the reply decoders need.
    fn format_config(&self) -> FormatConfig {
        FormatConfig {
            length_field: self.length_field,
            max_frame_length: self.max_frame_length,
            read_size: self.read_size,
            spec: self.spec.clone(),
            ..FormatConfig::default()
        }
    }
}

/// One read the client made: when (since the exchange started) and how many bytes it returned
/// (0 = end of stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadEvent {
    pub at: Duration,
    pub len: usize,
}

/// One reply and how it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub body: Bytes,
    /// Every read made for this reply, in order.
    pub reads: Vec<ReadEvent>,
    /// The JSON header (`json`, and `framed` with a JSON header).
    pub header: Option<Map<String, Value>>,
    /// The length the reply announced (`ready` digits, `struct`/`json` header).
    pub declared_len: Option<usize>,
    /// When the `ready` token was written.
    pub token_sent_at: Option<Duration>,
    /// When the reply was complete.
    pub elapsed: Duration,
}

/// A connection speaking one framing.
pub struct Client {
    stream: TcpStream,
    config: ClientConfig,
    /// Bytes read past a reply (`struct`, `json`, `framed`, `upload` only).
    pending: BytesMut,
    /// The decoder of replies decoded over the stream (`naive` and `ready` decode each reply
    /// afresh from single reads).
    decoder: AnyDecoder,
}

impl Client {
    /// Connects to `addr` (within the configured timeout).
    pub async fn connect(addr: SocketAddr, config: ClientConfig) -> Result<Client, ClientError> {
        let stream = match tokio::time::timeout(config.timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => return Err(ClientError::Connect { addr, source }),
            Err(_) => {
                return Err(ClientError::Connect {
                    addr,
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer within {:?}", config.timeout),
                    ),
                })
            }
        };
        if config.nodelay {
            stream
                .set_nodelay(true)
                .map_err(|source| ClientError::Connect { addr, source })?;
        }
        Ok(Client {
            stream,
            decoder: config.reply_format().decoder(&config.format_config()),
            config,
            pending: BytesMut::new(),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Writes one request as this framing's client does: raw in one write, or framed.
    pub async fn send(&mut self, request: &[u8]) -> Result<(), ClientError> {
        match self.config.framing {
            Framing::Upload => Err(ClientError::Unsupported {
                framing: Framing::Upload,
                what: "send a command (use `upload`)",
            }),
            Framing::Framed => {
                let mut codec = FramedCodec::of(
                    self.config.spec.as_ref(),
                    self.config.header_kind,
                    self.config.length_field,
                    usize::MAX,
                );
                let mut frame = BytesMut::new();
                codec
                    .encode(Bytes::copy_from_slice(request), &mut frame)
                    .map_err(|e| ClientError::from_codec(e, ReadsSoFar::default()))?;
                self.write(&frame).await
            }
            _ => self.write(request).await,
        }
    }

    /// Reads one reply exactly as this framing's client does (sending the `ready` token).
    pub async fn receive(&mut self) -> Result<Reply, ClientError> {
        self.receive_since(Instant::now()).await
    }

    /// `send` then `receive`; read times count from before the send.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<Reply, ClientError> {
        let start = Instant::now();
        self.send(request).await?;
        self.receive_since(start).await
    }

    /// Uploads `data` under `file_name` (the `upload` framing): the header (length, then JSON
    /// with `file_name`, `file_size`, `md5`) and the file in three writes, as seed 001 does;
    /// `Reply::body` is the server's JSON status.
    pub async fn upload(&mut self, file_name: &str, data: &[u8]) -> Result<Reply, ClientError> {
        let start = Instant::now();
        let header = UploadHeader {
            file_name: file_name.to_owned(),
            file_size: data.len(),
            md5: Some(md5_hex(data)),
        };
        let mut head = BytesMut::new();
        header
            .encode(self.config.length_field, &mut head)
            .map_err(|e| ClientError::from_codec(e, ReadsSoFar::default()))?;
        let json = head.split_off(self.config.length_field.size());
        self.write(&head).await?;
        self.write(&json).await?;
        self.write(data).await?;
        self.receive_since(start).await
    }

    /// Sends FIN: the server sees end of stream; replies can still be read.
    pub async fn shutdown_write(&mut self) -> Result<(), ClientError> {
        self.stream
            .shutdown()
            .await
            .map_err(|e| ClientError::from_io(e, ReadsSoFar::default()))
    }

    /// Sends FIN and closes the connection.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.shutdown_write().await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let start = Instant::now();
        match tokio::time::timeout(self.config.timeout, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ClientError::from_io(e, ReadsSoFar::default())),
            Err(_) => Err(ClientError::timeout(start.elapsed(), ReadsSoFar::default())),
        }
    }
}
