//! `stickler record`: a transparent proxy between a real client and a real server that writes
//! their conversation to a session file.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use stickler::codec::spec::FrameSpec;
use stickler::session::format::temp_beside;
use stickler::session::record::{self, Ending, RecordConfig, DEFAULT_MAX_BYTES};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Args)]
#[command(after_help = "The session file format is described in docs/sessions.md.")]
pub struct RecordArgs {
    /// Address to listen on; a bare port means 127.0.0.1:PORT, port 0 any free port. Printed
    /// first as `listening on ADDR`.
    #[arg(long, value_name = "ADDR", value_parser = super::addr, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The real server to relay to.
    #[arg(long, value_name = "ADDR", value_parser = super::addr)]
    upstream: SocketAddr,
    /// The session file to write (atomically, when recording ends).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Write the file once this many connections have closed (default: on Ctrl-C/SIGTERM only).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    connections: Option<u64>,
    /// How messages are framed (a description: length:u16be, dns, lines, ...; see `stickler
    /// framings`), stored in the file; dropped with a warning if the recorded turns are not
    /// whole messages of it.
    #[arg(long, value_name = "SPEC")]
    framing: Option<FrameSpec>,
    /// A name stored in the file.
    #[arg(long)]
    name: Option<String>,
    /// Cap on recorded bytes (each connection and turn also counts 64); past it, forwarding
    /// goes on and recording stops.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BYTES)]
    max_bytes: u64,
}

pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    // Fail before recording anything if the file could never be written.
    temp_beside(&args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: RecordArgs) -> anyhow::Result<ExitCode> {
    // Installed before `listening on` is printed, so that a signal sent from then on is
    // always handled.
    let mut interrupt = signal(SignalKind::interrupt()).context("handling Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let listener = stickler::proxy::bind(args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    let local = listener
        .local_addr()
        .context("reading the listening address")?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {local}")?;
    out.flush()?;
    eprintln!(
        "stickler record: {local} -> {}, writing {} {}",
        args.upstream,
        args.out.display(),
        match args.connections {
            Some(n) => format!("after {n} connections or on Ctrl-C/SIGTERM"),
            None => "on Ctrl-C/SIGTERM".to_owned(),
        }
    );

    let mut config = RecordConfig::new(args.upstream);
    config.connections = args.connections.map(|n| n as usize);
    config.max_bytes = args.max_bytes;
    config.progress = Some(Arc::new(|p| eprintln!("stickler record: {p}")));
    let stop = async {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    let recording = record::record(listener, config, stop).await;

    let mut session = recording.session;
    session.name = args.name;
    if let Some(spec) = &args.framing {
        session.framing = Some(spec.to_string());
        // Nothing recorded is lost to a wrong description: the file is written without it.
        if let Err(e) = session.validate() {
            eprintln!("stickler record: warning: --framing {spec} left out of the file: {e}");
            session.framing = None;
        }
    }
    session.save(&args.out)?;
    let turns: usize = session.connections.iter().map(|c| c.turns.len()).sum();
    eprintln!(
        "stickler record: {} {}: {} connections, {turns} turns",
        match recording.ending {
            Ending::Connections => "wrote",
            Ending::Stopped => "stopped; wrote",
        },
        args.out.display(),
        session.connections.len(),
    );
    if recording.still_open > 0 {
        eprintln!(
            "stickler record: {} connections were still open: kept as recorded so far, marked \
             incomplete",
            recording.still_open
        );
    }
    if recording.capped {
        eprintln!(
            "stickler record: the --max-bytes cap of {} was reached: later bytes were forwarded, \
             not recorded ({} connections not recorded at all)",
            args.max_bytes, recording.unrecorded
        );
    }
    Ok(ExitCode::SUCCESS)
}
