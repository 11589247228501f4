//! `stickler bench ...`: measurements a user can run; figures are printed side by side with
//! their baseline from the same run.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use stickler::proxy::bench::{self, BenchOptions};
use stickler::units::parse_size;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Debug, Subcommand)]
enum BenchWhat {
    /// Proxy pass-through (no toxic) against a direct loopback connection: throughput of a
    /// large push, and round-trip latency of a small lockstep ping-pong.
    Proxy {
        /// Bytes per push (k/m/g suffixes).
        #[arg(long, default_value = "2g", value_parser = parse_size)]
        bytes: u64,
        /// Size of each write of the pusher.
        #[arg(long, default_value = "64k", value_parser = parse_size)]
        write_size: u64,
        /// Pushes per path (the best counts).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Ping-pong round trips per path.
        #[arg(long, default_value_t = 20_000)]
        rounds: usize,
        /// Bytes per ping.
        #[arg(long, default_value_t = 64)]
        ping_size: usize,
    },
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        BenchWhat::Proxy {
            bytes,
            write_size,
            runs,
            rounds,
            ping_size,
        } => {
            let opts = BenchOptions {
                bytes,
                write_size: usize::try_from(write_size)?.clamp(1, 64 << 20),
                runs,
                rounds,
                ping_size: ping_size.clamp(1, 1 << 20),
            };
            eprintln!(
                "pushing {bytes} bytes in {}-byte writes ({runs} runs, best counts), \
                 {rounds} round trips of {} bytes, per path",
                opts.write_size, opts.ping_size
            );
            let results = bench::run(&opts)?;
            println!("{}", bench::report(&results));
            Ok(ExitCode::SUCCESS)
        }
    }
}
