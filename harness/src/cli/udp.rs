//! `stickler udp-proxy` (the datagram chaos proxy), `stickler udp-check` (the UDP matrix), and
//! the UDP halves of `stickler serve --udp` and `stickler client --udp`. Servers and the proxy
//! print `listening on ADDR` first, as the TCP ones do.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stickler::codec::json::md5_hex;
use stickler::present::{write_dir, Section};
use stickler::udp::client::{UdpClient, UdpClientError};
use stickler::udp::expect::UdpExpectTable;
use stickler::udp::harness::{run_udp_matrix, UdpMatrixConfig, UdpReport};
use stickler::udp::proxy::{self, UdpProxy, UdpProxyConfig};
use stickler::udp::record::DatagramSink;
use stickler::udp::server::{self, UdpServerConfig};
use stickler::udp::toxic::{UdpToxic, UDP_SYNTAX_HELP};
use stickler::udp::UdpService;

/// The expected UDP verdicts, every cell (format: docs/verdicts.md#expected-tables).
pub const UDP_EXPECTED: &str = include_str!("../../expected/udp.txt");

#[derive(Debug, Args)]
#[command(after_help = UDP_SYNTAX_HELP)]
pub struct UdpProxyArgs {
    /// Address to listen on (e.g. 127.0.0.1:9001; port 0: any, printed on the first line).
    #[arg(long, value_parser = super::addr)]
    listen: SocketAddr,
    /// The UDP server to relay to.
    #[arg(long, value_parser = super::addr)]
    upstream: SocketAddr,
    /// A toxic, e.g. 'both:drop=0.1,burst=3' (repeatable; syntax below).
    #[arg(long = "toxic", value_name = "SPEC")]
    toxics: Vec<UdpToxic>,
    /// Seed for every random choice (same seed + same datagrams = same decisions).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write one JSON line per decision (drop, send, overflow) to FILE.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// With --record: include each datagram's bytes (hex).
    #[arg(long, requires = "record")]
    record_bytes: bool,
    /// Client addresses mapped at once; a new one evicts the least recently active.
    #[arg(long, default_value_t = proxy::DEFAULT_MAX_CLIENTS)]
    max_clients: usize,
    /// How long an idle client mapping lives (e.g. 60s; a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = super::seconds_or_duration, default_value = "60s")]
    idle_timeout: Duration,
}

pub fn run_proxy(args: UdpProxyArgs) -> anyhow::Result<ExitCode> {
    let mut config = UdpProxyConfig::new(args.upstream);
    config.toxics = args.toxics;
    config.seed = args.seed;
    config.max_clients = args.max_clients.max(1);
    config.idle_timeout = args.idle_timeout;
    if let Some(path) = &args.record {
        config.record = Some(
            DatagramSink::file(path, args.record_bytes)
                .with_context(|| format!("cannot write {}", path.display()))?,
        );
    }
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(async move {
        let socket = tokio::net::UdpSocket::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let proxy = UdpProxy::start(socket, config)?;
        println!("listening on {}", proxy.local_addr());
        std::io::stdout().flush()?;
        tracing::info!(listen = %proxy.local_addr(), upstream = %args.upstream, "UDP proxy relaying");
        shutdown_signal().await;
        proxy.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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
    tracing::info!("shutdown requested");
}

/// `stickler serve --udp`: a UDP server until Ctrl-C or SIGTERM.
pub fn serve(listen: SocketAddr, service: UdpService) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(async move {
        let socket = tokio::net::UdpSocket::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (UDP)"))?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {}", socket.local_addr()?)?;
        stdout.flush()?;
        drop(stdout);
        server::run(socket, UdpServerConfig::new(service), shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `stickler client --udp`: one datagram per command, one reply read (1024-byte buffer) each.
pub fn client(
    connect: SocketAddr,
    commands: &[String],
    digest: bool,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut client = UdpClient::connect(connect).await?.timeout(timeout);
        let mut stdout = std::io::stdout().lock();
        for (i, command) in commands.iter().enumerate() {
            match client.exchange(command.as_bytes()).await {
                Ok(reply) => {
                    if digest {
                        writeln!(stdout, "{} {}", reply.data.len(), md5_hex(&reply.data))?;
                    } else {
                        stdout.write_all(&reply.data)?;
                    }
                    stdout.flush()?;
                    if reply.truncated() {
                        eprintln!(
                            "stickler: reply {} was truncated: {} of {} bytes kept (1024-byte buffer)",
                            i + 1,
                            reply.data.len(),
                            reply.wire_len
                        );
                    }
                }
                Err(e) => {
                    eprintln!("stickler: datagram {} ({command:?}) failed: {e}", i + 1);
                    return Ok(match e {
                        UdpClientError::Connect { .. } | UdpClientError::Oversize { .. } => {
                            ExitCode::from(2)
                        }
                        _ => ExitCode::from(1),
                    });
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, Args)]
#[command(
    after_help = "Cells are SERVICE/PROFILE/WORKLOAD, e.g. echo/drop/burst; services \
    echo, upper, cmd, time; profiles none, drop, duplicate, reorder, delay, truncate, combined; \
    workloads small, large, burst. The measured verdict sets are compared with \
    harness/expected/udp.txt (built in).\n\
    Exit status: 0 the matrix matched, 1 it did not (or a message boundary broke), 2 usage or \
    setup error."
)]
pub struct UdpCheckArgs {
    /// Seed of the proxy's random choices (cell seeds derive from it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the matrix as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write index.html and report.md with the UDP section into DIR.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Write the measured verdict sets as an expected table.
    #[arg(long, value_name = "FILE")]
    write_expect: Option<PathBuf>,
}

fn measure(seed: u64) -> anyhow::Result<UdpReport> {
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let config = UdpMatrixConfig {
        seed,
        ..UdpMatrixConfig::default()
    };
    Ok(rt.block_on(run_udp_matrix(&config))?)
}

/// Differences between the measured matrix and the built-in expected table.
fn differences(report: &UdpReport) -> anyhow::Result<Vec<String>> {
    let table = UdpExpectTable::parse(UDP_EXPECTED).context("built-in UDP expected table")?;
    Ok(table.compare(&report.outcomes()))
}

pub fn run_check(args: UdpCheckArgs) -> anyhow::Result<ExitCode> {
    let report = measure(args.seed)?;
    println!(
        "{}",
        stickler::udp::report::table(&report, std::io::stdout().is_terminal())
    );
    println!("{}", stickler::udp::report::boundary_line(&report));
    println!(
        "{} cells in {:.1} s (seed {})",
        report.cells.len(),
        report.elapsed_ms as f64 / 1000.0,
        report.seed
    );
    let diffs = if args.seed == 1 {
        differences(&report)?
    } else {
        println!("(the expected table is for seed 1: not compared)");
        Vec::new()
    };
    if let Some(path) = &args.json {
        super::write_json(path, &report)?;
    }
    if let Some(path) = &args.write_expect {
        std::fs::write(path, UdpExpectTable::render(&report.outcomes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.report {
        let section = stickler::udp::report::udp_section_with(&report, &diffs);
        write_dir(dir, "stickler UDP report", &[section])
            .with_context(|| format!("cannot write the report into {}", dir.display()))?;
        println!("report written to {}", dir.join("index.html").display());
    }
    if diffs.is_empty() && report.boundary_breaks() == 0 {
        if args.seed == 1 {
            println!("the measured UDP matrix matches the expected table");
        }
        Ok(ExitCode::SUCCESS)
    } else {
        println!("the measured UDP matrix differs from the expected table:");
        for d in &diffs {
            println!("  {d}");
        }
        Ok(ExitCode::from(1))
    }
}

/// For the main job: measures the UDP matrix (seed 1, a few seconds), compares it with the
/// built-in expected table, and returns the report section and the differences (empty = match).
pub fn main_job_section() -> anyhow::Result<(Section, Vec<String>)> {
    let report = measure(1)?;
    let mut diffs = differences(&report)?;
    if report.boundary_breaks() > 0 {
        diffs.push(stickler::udp::report::boundary_line(&report));
    }
    Ok((
        stickler::udp::report::udp_section_with(&report, &diffs),
        diffs,
    ))
}
