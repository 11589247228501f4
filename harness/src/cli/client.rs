//! `stickler client`: one exchange per command over one connection, as the client of a framing.
//! Prints each reply, or with `--digest` one line `LEN MD5HEX` per reply. A protocol error or
//! timeout ends the run with exit code 1 and a message naming the exchange and what was read.
//! With `--framing upload` each argument is a local file to upload; the reply is the status.
//! With `--udp`, each command is one datagram and its reply one read of at most 1024 bytes; a
//! reply that does not come within the timeout ends the run with exit code 1.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use stickler::codec::framed::HeaderKind;
use stickler::codec::json::md5_hex;
use stickler::codec::spec::FramingChoice;
use stickler::codec::Framing;
use stickler::peer::client::{Client, ClientConfig, ClientError, ReadEvent};

#[derive(Debug, Args)]
pub struct ClientArgs {
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
    /// Talk UDP: one datagram per command, one reply read with a 1024-byte buffer.
    #[arg(long)]
    udp: bool,
    /// Server address (host:port).
    #[arg(long, value_parser = super::addr)]
    connect: SocketAddr,
    /// Print `LEN MD5HEX` per reply instead of the reply.
    #[arg(long)]
    digest: bool,
    /// Header of the `framed` framing.
    #[arg(long, value_enum, default_value_t = HeaderKind::Struct)]
    header: HeaderKind,
    /// Token the `ready` client sends.
    #[arg(long, default_value = "ready")]
    token: String,
    /// How long a reply may go without a byte (e.g. 5s, 500ms; a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = super::seconds_or_duration, default_value = "5s")]
    timeout: Duration,
    /// Commands to send, one exchange each (files to upload with `--framing upload`).
    #[arg(required = true)]
    commands: Vec<String>,
}

fn describe_reads(reads: &[ReadEvent]) -> String {
    const SHOWN: usize = 8;
    let mut parts: Vec<String> = reads
        .iter()
        .take(SHOWN)
        .map(|r| format!("{}B@{:.1}ms", r.len, r.at.as_secs_f64() * 1e3))
        .collect();
    if reads.len() > SHOWN {
        parts.push(format!("… {} reads in all", reads.len()));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

pub fn run(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let Some(choice) = &args.framing else {
        return super::udp::client(args.connect, &args.commands, args.digest, args.timeout);
    };
    let config = ClientConfig::of_choice(choice)
        .header_kind(args.header)
        .token(args.token.clone().into_bytes())
        .timeout(args.timeout);
    let framing = config.framing;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut client = Client::connect(args.connect, config).await?;
        let mut stdout = std::io::stdout().lock();
        for (i, command) in args.commands.iter().enumerate() {
            let result = if framing == Framing::Upload {
                let data = std::fs::read(command)
                    .map_err(|e| anyhow::anyhow!("cannot read {command}: {e}"))?;
                client.upload(command, &data).await
            } else {
                client.exchange(command.as_bytes()).await
            };
            match result {
                Ok(reply) => {
                    if args.digest {
                        writeln!(stdout, "{} {}", reply.body.len(), md5_hex(&reply.body))?;
                    } else {
                        stdout.write_all(&reply.body)?;
                        if framing == Framing::Upload {
                            // The JSON status has no newline of its own.
                            writeln!(stdout)?;
                        }
                    }
                    stdout.flush()?;
                }
                Err(e) => {
                    let reads = describe_reads(e.reads());
                    eprintln!(
                        "stickler: exchange {} ({command:?}) failed: {e} (reads: {reads})",
                        i + 1
                    );
                    return Ok(exit_code(&e));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn exit_code(e: &ClientError) -> ExitCode {
    match e {
        ClientError::Connect { .. } | ClientError::Unsupported { .. } => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}
