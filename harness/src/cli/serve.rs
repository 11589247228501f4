//! `stickler serve`: a reference server on a local address until Ctrl-C (or SIGTERM), which
//! drains exchanges in flight. The first stdout line is `listening on ADDR`, with the real port
//! when the port given is 0. With `--udp`, a UDP server of one datagram a request (the `time`
//! service is UDP only).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use stickler::codec::framed::HeaderKind;
use stickler::codec::spec::FramingChoice;
use stickler::peer::server::{self, ServerConfig};
use stickler::udp::UdpService;
use stickler::units::{parse_size, parse_usize};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Framing of requests and replies (TCP; not with --udp): naive, ready, struct, json,
    /// framed, upload, or a description whose messages carry requests and replies
    /// (length:u32be, dns, lines, ...; see `stickler framings`).
    #[arg(
        long,
        value_name = "FRAMING",
        required_unless_present = "udp",
        conflicts_with = "udp"
    )]
    framing: Option<FramingChoice>,
    /// Serve UDP: one datagram a request, one a reply, read with a 1024-byte buffer.
    #[arg(long)]
    udp: bool,
    /// What a request means (`time`: the local time, UDP only).
    #[arg(long, value_enum, default_value_t = UdpService::Cmd)]
    service: UdpService,
    /// Address to listen on (port 0: any free port, printed on the first line).
    #[arg(long, default_value = "127.0.0.1:0", value_parser = super::addr)]
    listen: SocketAddr,
    /// Header of the `framed` framing.
    #[arg(long, value_enum, default_value_t = HeaderKind::Struct)]
    header: HeaderKind,
    /// Token the `ready` server waits for.
    #[arg(long, default_value = "ready")]
    token: String,
    /// Concurrent connections served; more are closed at once.
    #[arg(long, default_value_t = server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// How long a connection may stay idle (e.g. 60s; a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = super::seconds_or_duration, default_value = "60s")]
    idle_timeout: Duration,
    /// Directory uploads are stored in (default: a temporary directory removed on exit).
    #[arg(long)]
    storage_dir: Option<PathBuf>,
    /// Largest frame body, in bytes (a description's own `max=` bounds its messages).
    #[arg(long, default_value_t = stickler::codec::DEFAULT_MAX_FRAME_LENGTH)]
    max_frame_length: usize,
    /// Largest upload, in bytes.
    #[arg(long, default_value_t = stickler::codec::upload::DEFAULT_MAX_FILE_SIZE)]
    max_upload_size: usize,
    /// Request bytes all connections together may buffer (bytes, or 64m, 512k, 1g), beyond
    /// 4 KiB each; a connection with no room is not read until room frees, and is closed after
    /// --idle-timeout. At least the largest request (--max-frame-length).
    #[arg(long, value_name = "BYTES", value_parser = parse_usize, default_value_t = server::DEFAULT_MAX_BUFFERED)]
    max_buffered: usize,
    /// Bytes of uploads this server may store (bytes, or 512m, 4g), uploads in progress
    /// included; an upload that would pass it is refused with an error status.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value_t = server::DEFAULT_MAX_STORAGE)]
    max_storage: u64,
    /// Leave Nagle's algorithm on (TCP_NODELAY off) on accepted sockets.
    #[arg(long)]
    no_nodelay: bool,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if args.udp {
        return super::udp::serve(args.listen, args.service);
    }
    let (Some(framing), Some(service)) = (&args.framing, args.service.tcp()) else {
        anyhow::bail!(
            "--service {} is served over UDP only: add --udp (TCP services: cmd, upper, echo)",
            args.service
        );
    };
    let mut config = ServerConfig::of_choice(framing, service)
        .header_kind(args.header)
        .ready_token(args.token.into_bytes())
        .max_connections(args.max_connections.max(1))
        .idle_timeout(args.idle_timeout)
        .max_frame_length(args.max_frame_length)
        .max_upload_size(args.max_upload_size)
        .max_buffered(args.max_buffered)
        .max_storage(args.max_storage)
        .nodelay(!args.no_nodelay);
    config.storage_dir = args.storage_dir;
    config.check().map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr()?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {addr}")?;
        stdout.flush()?;
        drop(stdout);
        server::run(listener, config, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
}
