//! `stickler framings [NAME]`: the built-in framings, the description grammar and every preset
//! with its description, summary and wire diagram.

use std::process::ExitCode;

use clap::Args;
use stickler::codec::spec::{builtin_summary, Preset, GRAMMAR, PRESETS};
use stickler::codec::Framing;

#[derive(Debug, Args)]
#[command(
    about = "List the built-in framings, the framing description grammar and the presets",
    long_about = format!(
        "List the built-in framings, the framing description grammar and the presets (dns, \
         modbus, mqtt, postgres, kafka, thrift, tls, lines, crlf), each with its description \
         and wire diagram. A varint length is at most 4 bytes.\n\nGrammar:\n{GRAMMAR}"
    ),
    after_help = "Exit status: 0 listed, 2 NAME is neither a built-in framing nor a preset."
)]
pub struct FramingsArgs {
    /// Show only this built-in framing or preset.
    pub name: Option<String>,
}

pub fn run(args: FramingsArgs) -> anyhow::Result<ExitCode> {
    match args.name.as_deref() {
        None => print!("{}", listing()),
        Some(name) => {
            let shown = match (
                Framing::ALL.into_iter().find(|f| f.name() == name),
                Preset::find(name),
            ) {
                (Some(f), _) => builtin(f),
                (None, Some(p)) => preset(p),
                (None, None) => anyhow::bail!(
                    "no framing or preset named {name:?} (`stickler framings` lists them)"
                ),
            };
            print!("{shown}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn listing() -> String {
    let mut out = String::from("Built-in framings (--framing NAME):\n\n");
    for f in Framing::ALL {
        out.push_str(&builtin(f));
    }
    out.push_str("Framing descriptions (a decoded message keeps its header):\n\n");
    for line in GRAMMAR.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("\nPresets:\n\n");
    for p in &PRESETS {
        out.push_str(&preset(p));
    }
    out
}

fn builtin(f: Framing) -> String {
    let (summary, diagram) = builtin_summary(f);
    entry(f.name(), "built-in", summary, diagram)
}

fn preset(p: &Preset) -> String {
    entry(p.name, &p.spec().to_string(), p.summary, p.diagram)
}

fn entry(name: &str, description: &str, summary: &str, diagram: &str) -> String {
    let mut out = format!("{name}  ({description})\n  {summary}\n");
    for line in diagram.lines() {
        out.push_str(&format!("    {line}\n"));
    }
    out.push('\n');
    out
}
