//! Flags are parsed into plain values here, then each subcommand builds what it needs.
//! Exit codes: 0 success, 1 a check failed, 2 usage or setup error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod proxy;

#[derive(Debug, Parser)]
#[command(
    name = "stickler",
    version,
    about = "Protocol test harness, chaos proxy and fuzzer for TCP message framing",
    long_about = "stickler runs reference servers and clients for every framing, drives them (or \
                  yours) through a seeded chaos proxy that splits, coalesces, delays and cuts \
                  TCP streams, and reports which framing survives which chaos."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the chaos proxy (or, with --api, the toxiproxy HTTP API).
    Proxy(proxy::ProxyArgs),
    /// Benchmarks a user can run (`stickler bench proxy`).
    Bench(bench::BenchArgs),
}

/// Sets up logging to stderr; `RUST_LOG` overrides the default level (`info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Proxy(args) => proxy::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stickler: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
