//! `bench-guard`: the ratios of the criterion benches, measured side by side in one run, against
//! their floors and the baselines kept in `benches/baseline.json`.
//!
//! Each ratio is `reference time / subject time`, each time the fastest of the bench's samples
//! (`target/criterion/<id>/new/sample.json`): above 1 the subject is faster than its reference. A ratio under its floor fails; the floors sit well under today's values, so a
//! noisy machine does not fail the guard, a real regression does.
//!
//! ```text
//! cargo bench -p stickler-benches -- --noplot          # or the short pass of ci/bench.sh
//! cargo run -p stickler-benches --bin bench-guard      # the table; exit 1 under a floor
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};

/// Compares the criterion benches' ratios with their floors and baselines.
#[derive(Debug, Parser)]
#[command(name = "bench-guard")]
struct Args {
    /// The ratios, their baselines and floors.
    #[arg(long, default_value = "benches/baseline.json")]
    baseline: PathBuf,
    /// criterion's output directory (default: `$CARGO_TARGET_DIR/criterion`, else
    /// `target/criterion`).
    #[arg(long)]
    criterion_dir: Option<PathBuf>,
    /// Refuse estimates older than this file (so a bench that did not run in this pass is not
    /// judged on an old figure).
    #[arg(long, value_name = "FILE")]
    newer_than: Option<PathBuf>,
    /// Write the measured ratios into the baseline file as the new baselines (floors kept).
    #[arg(long)]
    update: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    /// Where and how the baselines were measured.
    measured: String,
    ratios: Vec<Ratio>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Ratio {
    name: String,
    /// criterion id of what is guarded (`group/function[/parameter]`).
    subject: String,
    /// criterion id of what it is compared with, measured in the same run.
    reference: String,
    /// The ratio when the baseline was measured.
    baseline: f64,
    /// Under this, the guard fails.
    floor: f64,
}

/// The fastest sample's time per iteration of one criterion benchmark, in nanoseconds
/// (`<id>/new/sample.json`). Load on a shared machine only ever adds time, so the fastest of a
/// bench's samples is the figure least disturbed by it; a median moves with the load.
fn fastest_ns(dir: &Path, id: &str, newer_than: Option<SystemTime>) -> Result<f64> {
    #[derive(Deserialize)]
    struct Samples {
        iters: Vec<f64>,
        times: Vec<f64>,
    }
    let path = dir.join(id).join("new").join("sample.json");
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "no samples for `{id}` at {}: run the benches first (ci/bench.sh, or cargo bench -p stickler-benches)",
            path.display()
        )
    })?;
    if let Some(since) = newer_than {
        let modified = fs::metadata(&path)?.modified()?;
        if modified < since {
            bail!(
                "the samples of `{id}` ({}) are older than this pass: its bench did not run",
                path.display()
            );
        }
    }
    let samples: Samples = serde_json::from_str(&text)
        .with_context(|| format!("{} is not criterion's sample.json", path.display()))?;
    let fastest = samples
        .iters
        .iter()
        .zip(&samples.times)
        .filter(|(iters, _)| **iters > 0.0)
        .map(|(iters, time)| time / iters)
        .fold(f64::INFINITY, f64::min);
    if !(fastest.is_finite() && fastest > 0.0) {
        bail!("{}: no sample with a positive time", path.display());
    }
    Ok(fastest)
}

fn criterion_dir(args: &Args) -> PathBuf {
    if let Some(dir) = &args.criterion_dir {
        return dir.clone();
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => PathBuf::from(target).join("criterion"),
        None => PathBuf::from("target/criterion"),
    }
}

fn run(args: &Args) -> Result<bool> {
    let text = fs::read_to_string(&args.baseline)
        .with_context(|| format!("cannot read {}", args.baseline.display()))?;
    let mut baseline: Baseline = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a baseline file", args.baseline.display()))?;
    let dir = criterion_dir(args);
    let since = match &args.newer_than {
        Some(stamp) => Some(
            fs::metadata(stamp)
                .and_then(|m| m.modified())
                .with_context(|| format!("cannot read the time of {}", stamp.display()))?,
        ),
        None => None,
    };
    let mut table = stickler::present::table::terminal_table(false);
    table.set_header(vec![
        "ratio", "measured", "baseline", "change", "floor", "verdict",
    ]);
    let mut below = Vec::new();
    for ratio in &mut baseline.ratios {
        let measured =
            fastest_ns(&dir, &ratio.reference, since)? / fastest_ns(&dir, &ratio.subject, since)?;
        let ok = measured >= ratio.floor;
        if !ok {
            below.push(format!(
                "{}: {measured:.2}× is under its floor {:.2}× ({} vs {})",
                ratio.name, ratio.floor, ratio.subject, ratio.reference
            ));
        }
        table.add_row(vec![
            ratio.name.clone(),
            format!("{measured:.2}×"),
            format!("{:.2}×", ratio.baseline),
            format!("{:+.0}%", (measured / ratio.baseline - 1.0) * 100.0),
            format!("{:.2}×", ratio.floor),
            if ok { "ok" } else { "UNDER FLOOR" }.to_string(),
        ]);
        if args.update {
            ratio.baseline = (measured * 100.0).round() / 100.0;
        }
    }
    println!("{table}");
    println!(
        "ratio = reference time / subject time, fastest criterion sample of each, from {}; baselines: {}",
        dir.display(),
        baseline.measured
    );
    if args.update {
        let json = serde_json::to_string_pretty(&baseline)? + "\n";
        fs::write(&args.baseline, json)
            .with_context(|| format!("cannot write {}", args.baseline.display()))?;
        println!(
            "baselines written to {}: edit its `measured` line to say when, where and how",
            args.baseline.display()
        );
    }
    for line in &below {
        eprintln!("bench-guard: {line}");
    }
    Ok(below.is_empty())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "bench-guard: a ratio fell under its floor. Re-run the bench alone on a quiet \
                 machine (cargo bench -p stickler-benches --bench NAME) to confirm before \
                 looking for the regression."
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("bench-guard: {e:#}");
            ExitCode::from(2)
        }
    }
}
