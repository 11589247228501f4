//! `stickler check --session FILE`: a recorded session replayed under every chaos profile
//! against a server (`--target`) or a client (`--client`).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context};

use stickler::check::drive::MinimiseTo;
use stickler::check::external::{ClientOutput, ExternalClient};
use stickler::check::minimise::Budget;
use stickler::check::session::client::check_client;
use stickler::check::session::report;
use stickler::check::session::{check_server, SessionConfig, SessionProfile};
use stickler::codec::spec::{FrameSpec, FramingChoice};
use stickler::session::{Mask, Session};

use super::check::CheckArgs;

/// `--framing` with `--session`: one description, the session's framing.
fn given_framing(args: &CheckArgs) -> anyhow::Result<Option<FrameSpec>> {
    match &super::check::framing_choices(&args.framing)?[..] {
        [] => Ok(None),
        [FramingChoice::Spec(spec)] => Ok(Some(spec.clone())),
        [FramingChoice::Builtin(f)] => bail!(
            "--framing {f} is a built-in framing; a session is framed by a description \
             (length:u16be, dns, lines, ...; see `stickler framings`)"
        ),
        _ => bail!("--session takes one --framing"),
    }
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let path = args.session.as_ref().expect("--session given");
    let mut session = Session::load(path)?;
    if let Some(given) = given_framing(args)? {
        match &session.framing {
            Some(own) if own.parse::<FrameSpec>().ok().as_ref() != Some(&given) => bail!(
                "{} is framed by {own}, and --framing says {given}: drop --framing, or fix the \
                 file's \"framing\"",
                path.display()
            ),
            _ => session.framing = Some(given.to_string()),
        }
        session
            .validate()
            .with_context(|| format!("{} under --framing {given}", path.display()))?;
    }
    let mut masks = session.masks.clone();
    for m in &args.mask {
        masks.push(
            m.parse::<Mask>()
                .with_context(|| format!("bad --mask {m:?}"))?,
        );
    }
    let profiles = if args.profiles.is_empty() {
        SessionProfile::all()
    } else {
        args.profiles
            .iter()
            .map(|p| SessionProfile::parse(p.trim()).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()
            .context("bad --profiles")?
    };
    let framing = match &session.framing {
        None => None,
        Some(text) => {
            // Session::load has checked that it parses and that every turn is whole messages.
            let spec: FrameSpec = text
                .parse()
                .with_context(|| format!("{}: framing {text:?}", path.display()))?;
            Some(spec)
        }
    };
    // Flags a repro command must carry besides the session, subject, profile and seed.
    let mut flags = Vec::new();
    for m in &args.mask {
        flags.extend(["--mask".to_string(), m.clone()]);
    }
    if args.timeout() != super::check::DEFAULT_TIMEOUT {
        flags.extend([
            "--timeout".to_string(),
            format!("{}ms", args.timeout().as_millis()),
        ]);
    }
    // Failing cells against a server are minimised into case files: into --cases-dir, or
    // beside the report.
    let cases_dir = args
        .cases_dir
        .clone()
        .or_else(|| args.report.as_ref().map(|r| r.join("cases")));
    let cfg = SessionConfig {
        framing,
        minimise: cases_dir.map(|dir| MinimiseTo {
            dir,
            budget: Budget::default(),
        }),
        source: path.display().to_string(),
        flags,
        seed: args.seed,
        runs: args.connections.max(1),
        idle: args.timeout(),
        profiles,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        ..SessionConfig::default()
    };
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = match (&args.target, &args.client) {
        (Some(addr), None) => {
            eprintln!(
                "stickler: checking the server at {addr} with {} ({} connection(s)) …",
                path.display(),
                session.connections.len()
            );
            rt.block_on(check_server(*addr, &session.connections, &masks, &cfg))?
        }
        (None, Some(command)) => {
            if args.client_output != ClientOutput::Raw {
                bail!("--client-output applies to the built-in workloads, not to --session");
            }
            let client =
                ExternalClient::parse(command, ClientOutput::Raw).context("bad --client")?;
            eprintln!(
                "stickler: checking the client `{command}` with {} ({} connection(s)) …",
                path.display(),
                session.connections.len()
            );
            rt.block_on(check_client(&client, &session.connections, &masks, &cfg))?
        }
        _ => bail!(
            "--session needs --target ADDR (the server to test) or --client 'CMD {{addr}} …' \
             (the client to test)"
        ),
    };
    println!(
        "{}",
        report::table(&report, std::io::stdout().is_terminal())
    );
    for line in report::failure_lines(&report) {
        println!("{line}");
    }
    for m in &report.masks {
        println!("masked: {m}");
    }
    let failed = report.cells.iter().filter(|c| !c.counts.passed()).count();
    println!(
        "{} cells, {} passed, {} failed, in {:.1} s (seed {})",
        report.cells.len(),
        report.cells.len() - failed,
        failed,
        report.elapsed_ms as f64 / 1000.0,
        report.seed
    );
    if let Some(path) = &args.json {
        super::write_json(path, &report)?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.report {
        stickler::present::write_dir(dir, "stickler session report", &[report::section(&report)])
            .with_context(|| format!("cannot write the report into {}", dir.display()))?;
        println!("report written to {}", dir.join("index.html").display());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
