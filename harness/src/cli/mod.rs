//! Flags are parsed into plain values here, then each subcommand builds what it needs.
//! Exit codes: 0 success, 1 a check failed, 2 usage or setup error.

mod attack;
mod check;
mod check_session;
mod client;
mod framings;
mod latency;
mod record;
mod replay;
mod serve;
mod udp;

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
                  TCP streams, and reports which framing survives which chaos.",
    after_help = "With no command, stickler runs the main job: the conformance matrix of the \
                  built-in servers (compared with the expected table), the UDP matrix and a \
                  quick latency sweep; it prints the tables, writes ./report/ (index.html, \
                  report.md, matrix.json, junit.xml) and exits 0 when the measurements match \
                  the expected tables.\n\
                  Documentation: docs/ in the repository (start at docs/README.md): wire formats \
                  (docs/wire.md), services, chaos profiles and toxics, verdicts, benchmarks."
)]
pub struct Cli {
    /// With no command: the main job (see the text after the options).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the conformance matrix (framings x chaos profiles x workloads) on live sockets.
    Check(check::CheckArgs),
    /// Re-run a minimised case file and say whether its failure came back.
    Replay(replay::ReplayArgs),
    /// Run a reference server of one framing (or UDP, with --udp) and service.
    Serve(serve::ServeArgs),
    /// Run the client of one framing (or UDP, with --udp): one exchange per command.
    Client(client::ClientArgs),
    /// Run the chaos proxy (or, with --api, the toxiproxy HTTP API).
    Proxy(proxy::ProxyArgs),
    /// Benchmarks a user can run (`stickler bench proxy`).
    Bench(bench::BenchArgs),
    /// Fire the bad-input catalogue (or seeded mutants) at a server; check it survives each.
    Attack(attack::AttackArgs),
    /// Run the datagram chaos proxy (drop, duplicate, reorder, delay, truncate) for UDP.
    UdpProxy(udp::UdpProxyArgs),
    /// Measure the UDP matrix (services x chaos profiles x workloads) on loopback sockets.
    UdpCheck(udp::UdpCheckArgs),
    /// Measure each framing's latency through a delaying proxy, and what the ready round trip costs.
    Latency(latency::LatencyArgs),
    /// Record a real client/server conversation through a transparent proxy to a session file.
    Record(record::RecordArgs),
    // Its help (with the grammar) is on `FramingsArgs`.
    Framings(framings::FramingsArgs),
}

/// An address as the command line takes it: `IP:PORT`, `HOST:PORT` (resolved once, here; an
/// IPv4 address preferred, so `localhost` is 127.0.0.1), or a bare port (on 127.0.0.1).
fn addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    if !s.contains(':') {
        return Err(format!(
            "{s:?} has no port: write HOST:PORT (e.g. localhost:7000 or 127.0.0.1:7000)"
        ));
    }
    let all: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {s:?}: {e} (write HOST:PORT, e.g. 127.0.0.1:7000)"))?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

/// A time as every option takes it: `3s`, `250ms`, `1.5s`, `500us` (a bare number is
/// milliseconds, as everywhere in stickler); more than zero.
fn duration(s: &str) -> Result<std::time::Duration, String> {
    match stickler::units::parse_duration(s)? {
        d if d.is_zero() => Err(format!("{s:?}: a time must be more than zero")),
        d => Ok(d),
    }
}

/// [`duration`], for an option that used to take seconds: a bare number is still seconds there
/// (its old meaning), `5s` or `250ms` as everywhere.
fn seconds_or_duration(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() && n <= stickler::units::MAX_DURATION.as_secs_f64() => {
            Ok(std::time::Duration::from_secs_f64(n))
        }
        Ok(_) => Err(format!(
            "{s:?}: a time must be more than zero and at most an hour"
        )),
        Err(_) => duration(s),
    }
}

/// Writes `value` as pretty JSON (with a final newline) to `path`: every `--json` output.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    use anyhow::Context;
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// Sets up logging to stderr; `RUST_LOG` overrides the default level. Colours only when
/// stderr is a terminal (and `NO_COLOR` is not set): a log redirected to a file stays plain.
fn init_tracing(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .try_init();
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The harness breaks its own servers on purpose: their warnings are expected noise there.
    init_tracing(match cli.command {
        None
        | Some(Command::Check(_))
        | Some(Command::Replay(_))
        | Some(Command::Attack(_))
        | Some(Command::UdpCheck(_))
        | Some(Command::Latency(_)) => "error",
        _ => "info",
    });
    let result: anyhow::Result<ExitCode> = match cli.command {
        None => check::main_job(),
        Some(Command::Check(args)) if args.session.is_some() => check_session::run(&args),
        Some(Command::Check(args)) => check::run(args),
        Some(Command::Replay(args)) => replay::run(args),
        Some(Command::Serve(args)) => serve::run(args),
        Some(Command::Client(args)) => client::run(args),
        Some(Command::Proxy(args)) => proxy::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Attack(args)) => attack::run(args),
        Some(Command::UdpProxy(args)) => udp::run_proxy(args),
        Some(Command::UdpCheck(args)) => udp::run_check(args),
        Some(Command::Latency(args)) => latency::run(args),
        Some(Command::Record(args)) => record::run(args),
        Some(Command::Framings(args)) => framings::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stickler: error: {}", describe(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, each said once: a cause whose text a message before it already
/// carries is left out.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_take_host_names_and_bare_ports() {
        use std::net::SocketAddr;
        let local: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(super::addr("127.0.0.1:7000"), Ok(local));
        assert_eq!(super::addr("7000"), Ok(local));
        assert_eq!(super::addr("localhost:7000"), Ok(local));
        assert!(super::addr("[::1]:7000").unwrap().is_ipv6());
        assert!(super::addr("localhost").unwrap_err().contains("no port"));
    }

    #[test]
    fn times_are_written_one_way_and_old_seconds_still_read() {
        use std::time::Duration;
        assert_eq!(super::duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(super::duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(super::duration("0s").is_err());
        // Options that took seconds keep reading a bare number as seconds.
        assert_eq!(
            super::seconds_or_duration("0.3"),
            Ok(Duration::from_millis(300))
        );
        assert_eq!(
            super::seconds_or_duration("500ms"),
            Ok(Duration::from_millis(500))
        );
        assert!(super::seconds_or_duration("-1").is_err());
    }

    #[test]
    fn a_cause_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = anyhow::Error::new(io).context("cannot connect to 127.0.0.1:9: refused");
        assert_eq!(
            super::describe(&e),
            "cannot connect to 127.0.0.1:9: refused"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::describe(&e), "outer: inner");
    }
}
