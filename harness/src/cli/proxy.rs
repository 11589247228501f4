//! `stickler proxy`: the chaos proxy on the command line, or the toxiproxy HTTP API (`--api`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use stickler::chaos::Direction;
use stickler::codec::spec::FramingChoice;
use stickler::proxy::config_file::ConfigFile;
use stickler::proxy::record::read_events;
use stickler::proxy::toxic::parse::SYNTAX_HELP;
use stickler::proxy::transcript::transcript_for;
use stickler::proxy::{api, FastMode, PieceSchedule, Proxy, ProxyConfig, RecordSink, ToxicSpec};
use stickler::units::parse_usize;

#[derive(Debug, Args)]
#[command(after_help = SYNTAX_HELP)]
pub struct ProxyArgs {
    /// Address to listen on (e.g. 127.0.0.1:9001).
    #[arg(long, value_parser = super::addr)]
    listen: Option<SocketAddr>,
    /// The server to relay to.
    #[arg(long, value_parser = super::addr)]
    upstream: Option<SocketAddr>,
    /// A toxic, e.g. 'down:split=1..16,gap=1ms' (repeatable; syntax below).
    #[arg(long = "toxic", value_name = "SPEC")]
    toxics: Vec<ToxicSpec>,
    /// Seed for every random choice (same seed + same bytes = same pieces and delays).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write one JSON line per piece written to FILE.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// With --record: include each piece's bytes (hex).
    #[arg(long, requires = "record")]
    record_bytes: bool,
    /// Replay the piece boundaries of a schedule (JSON) or a recording (JSON lines).
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Leave Nagle's algorithm on (split pieces may then merge in the sender).
    #[arg(long)]
    no_nodelay: bool,
    /// How a direction with no toxic moves bytes.
    #[arg(long, value_enum, default_value_t = FastMode::Copy)]
    fast_path: FastMode,
    /// The budget of bytes held read but not yet written, across all connections and both
    /// directions (512, 64k, 64m, 1g); a direction that finds it spent stops reading until
    /// writes free room. With --api: each proxy's own.
    #[arg(long, value_name = "BYTES", default_value = "64m", value_parser = parse_usize)]
    max_queued: usize,
    /// What one direction of one connection may hold read but not yet written before it stops
    /// reading. A latency toxic of d moves at most this much per d: a message larger than it
    /// comes out one d later. Not with --api alone.
    #[arg(long, value_name = "BYTES", default_value = "1m", value_parser = parse_usize)]
    queue_cap: usize,
    /// Show a recording made with --record-bytes, piece by piece with the frames each carries
    /// under --framing, then exit.
    #[arg(long, value_name = "FILE", requires = "framing")]
    show: Option<PathBuf>,
    /// The framing to decode a --show recording with: a built-in name, or a description
    /// (length:u16be, dns, lines, ...; see `stickler framings`).
    #[arg(long, value_name = "FRAMING")]
    framing: Option<FramingChoice>,
    /// Serve the toxiproxy HTTP API on this address (e.g. 127.0.0.1:8474).
    #[arg(long, value_name = "ADDR", value_parser = super::addr)]
    api: Option<SocketAddr>,
    /// With --api: start with the proxies of FILE, toxiproxy's -config file (a JSON list of
    /// {name, listen, upstream, enabled}), each with an optional "toxics" list in the API's
    /// toxic shape. A listen address without a host binds 127.0.0.1. See docs/api.md.
    #[arg(long, value_name = "FILE", requires = "api")]
    config: Option<PathBuf>,
}

pub fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    if let (Some(path), Some(framing)) = (&args.show, &args.framing) {
        return show(path, framing);
    }
    // One thread: relaying is cheap per byte, and on a small machine the peers need the other
    // cores (a second worker only adds cross-thread wake-ups to every round trip).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let single = match (args.listen, args.upstream) {
        (Some(l), Some(u)) => Some((l, u)),
        (None, None) if args.api.is_some() => None,
        _ => bail!("give both --listen and --upstream (or --api alone)"),
    };
    // A bad file is refused before anything listens.
    let config = match &args.config {
        Some(path) => Some(ConfigFile::read(path)?),
        None => None,
    };
    let mut handle = None;
    if let Some((listen, upstream)) = single {
        let mut config = ProxyConfig::new(upstream);
        config.toxics = args.toxics;
        config.seed = args.seed;
        config.nodelay = !args.no_nodelay;
        config.fast_mode = args.fast_path;
        config.max_queued = args.max_queued;
        config.queue_cap = args.queue_cap;
        if let Some(path) = &args.record {
            config.record = Some(
                RecordSink::file(path, args.record_bytes)
                    .with_context(|| format!("creating {}", path.display()))?,
            );
        }
        if let Some(path) = &args.replay {
            config.replay = Some(
                PieceSchedule::load(path).with_context(|| format!("reading {}", path.display()))?,
            );
        }
        let listener =
            stickler::proxy::bind(listen).with_context(|| format!("listening on {listen}"))?;
        let names: Vec<String> = config.toxics.iter().map(|t| t.name.clone()).collect();
        let h = Proxy::start(listener, config);
        eprintln!(
            "stickler proxy: {} -> {upstream}, seed {}, toxics [{}]",
            h.local_addr(),
            args.seed,
            names.join(", ")
        );
        handle = Some(h);
    }
    let api_server = match args.api {
        Some(addr) => {
            let server = api::ApiServer::bind(addr)
                .await
                .with_context(|| format!("serving the API on {addr}"))?;
            server.set_max_queued(args.max_queued);
            eprintln!(
                "stickler proxy: toxiproxy API on http://{}",
                server.local_addr()
            );
            if let Some(file) = &config {
                match server.load(file).await {
                    Ok(proxies) => {
                        for p in proxies {
                            let toxics: Vec<&str> =
                                p.toxics.iter().map(|t| t.name.as_str()).collect();
                            eprintln!(
                                "stickler proxy: {} on {} -> {}{}, toxics [{}]",
                                p.name,
                                p.listen,
                                p.upstream,
                                if p.enabled { "" } else { " (disabled)" },
                                toxics.join(", ")
                            );
                        }
                    }
                    Err(e) => {
                        server.shutdown().await;
                        if let Some(h) = handle {
                            h.shutdown().await;
                        }
                        return Err(e.into());
                    }
                }
            }
            Some(server)
        }
        None => None,
    };
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    if let Some(h) = handle {
        h.shutdown().await;
    }
    if let Some(s) = api_server {
        s.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(path: &std::path::Path, framing: &FramingChoice) -> anyhow::Result<ExitCode> {
    let events = read_events(path).with_context(|| format!("reading {}", path.display()))?;
    let mut streams: Vec<(u64, Direction)> = events.iter().map(|e| (e.conn, e.dir)).collect();
    streams.sort();
    streams.dedup();
    for (conn, dir) in streams {
        let t = transcript_for(&events, conn, dir, framing)?;
        print!("{t}");
    }
    Ok(ExitCode::SUCCESS)
}
