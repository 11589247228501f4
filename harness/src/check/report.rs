//! Rendering a measured matrix: terminal table, JSON, JUnit XML, and the sections of the
//! `--report DIR` page (Markdown + HTML with inline SVG charts).

use std::fmt::Write as _;

use comfy_table::{Cell, Color as CellColor};

use super::matrix::{Workload, PROFILES};
use super::verdict::Verdict;
use super::{CellResult, MatrixReport};
use crate::codec::Framing;
use crate::present::chart::rate_chart;
use crate::present::junit::{self, Failure, Suites};
use crate::present::table::{html_matrix, md_matrix, terminal_table, MatrixCell};
use crate::present::{xml_escape, Section};

/// `pass` or the worst verdicts with counts, for a table cell.
fn cell_text(cell: &CellResult) -> String {
    if cell.counts.passed() {
        format!("pass {}/{}", cell.counts.total(), cell.counts.total())
    } else {
        format!("FAIL {}", cell.counts.summary())
    }
}

/// Rows `framing/workload`, columns the profiles.
fn grid(report: &MatrixReport) -> Vec<(String, Vec<Option<&CellResult>>)> {
    let mut rows: Vec<(Framing, Workload)> = report
        .cells
        .iter()
        .map(|c| (c.case.framing, c.case.workload))
        .collect();
    rows.sort();
    rows.dedup();
    rows.into_iter()
        .map(|(f, w)| {
            let cells = PROFILES
                .iter()
                .map(|p| {
                    report.cells.iter().find(|c| {
                        c.case.framing == f && c.case.workload == w && c.case.profile == p.name
                    })
                })
                .collect();
            (format!("{f}/{}", w.name()), cells)
        })
        .collect()
}

fn used_profiles(report: &MatrixReport) -> Vec<&'static str> {
    PROFILES
        .iter()
        .filter(|p| report.cells.iter().any(|c| c.case.profile == p.name))
        .map(|p| p.name)
        .collect()
}

/// The terminal table; coloured when `color` (a tty).
pub fn table(report: &MatrixReport, color: bool) -> String {
    let profiles = used_profiles(report);
    let mut t = terminal_table(color);
    let mut header = vec![Cell::new("framing/workload")];
    header.extend(profiles.iter().map(Cell::new));
    t.set_header(header);
    for (name, cells) in grid(report) {
        let mut row = vec![Cell::new(name)];
        for (p, cell) in PROFILES.iter().zip(cells) {
            if !profiles.contains(&p.name) {
                continue;
            }
            row.push(match cell {
                None => Cell::new("-"),
                Some(c) if c.counts.passed() => Cell::new(cell_text(c)).fg(CellColor::Green),
                Some(c) => Cell::new(cell_text(c)).fg(CellColor::Red),
            });
        }
        t.add_row(row);
    }
    t.to_string()
}

/// JUnit XML: one testsuite per framing, one testcase per cell, failed cells as `<failure>`.
pub fn junit(report: &MatrixReport) -> String {
    let mut framings: Vec<Framing> = report.cells.iter().map(|c| c.case.framing).collect();
    framings.dedup();
    let suites = framings
        .into_iter()
        .map(|f| {
            let cells: Vec<_> = report
                .cells
                .iter()
                .filter(|c| c.case.framing == f)
                .collect();
            let cases = cells
                .iter()
                .map(|c| junit::Case {
                    classname: f.to_string(),
                    name: c.case.to_string(),
                    secs: c.elapsed_ms as f64 / 1000.0,
                    failure: (!c.counts.passed()).then(|| {
                        let mut body = format!("verdicts: {}\n", c.counts.summary());
                        if let Some(fail) = &c.failure {
                            let _ = writeln!(body, "first failure: {}", fail.describe());
                            let _ = writeln!(body, "repro: {}", fail.repro_command);
                        }
                        Failure {
                            message: c.counts.summary(),
                            body,
                        }
                    }),
                })
                .collect();
            junit::Suite {
                name: f.to_string(),
                secs: cells.iter().map(|c| c.elapsed_ms as f64 / 1000.0).sum(),
                cases,
            }
        })
        .collect();
    Suites {
        name: "stickler".into(),
        suites,
    }
    .to_xml()
}

/// Failure rate per profile, one line per framing/workload row, as an SVG document.
pub fn failure_chart(report: &MatrixReport) -> Result<String, String> {
    let profiles = used_profiles(report);
    let rows: Vec<(String, Vec<Option<f64>>)> = grid(report)
        .into_iter()
        .map(|(name, cells)| {
            let values = PROFILES
                .iter()
                .zip(cells)
                .filter(|(p, _)| profiles.contains(&p.name))
                .map(|(_, c)| c.map(|c| 1.0 - c.counts.rate(Verdict::Ok)))
                .collect();
            (name, values)
        })
        .collect();
    rate_chart(
        "failure rate per chaos profile",
        "failed exchanges / all",
        &profiles,
        &rows,
    )
}

/// The matrix section of the report page.
pub fn section(report: &MatrixReport) -> Section {
    let profiles = used_profiles(report);
    // The grid's rows, with only the columns of the profiles measured.
    let rows: Vec<(String, Vec<Option<&CellResult>>)> = grid(report)
        .into_iter()
        .map(|(name, cells)| {
            let shown = PROFILES
                .iter()
                .zip(cells)
                .filter(|(p, _)| profiles.contains(&p.name))
                .map(|(_, c)| c)
                .collect();
            (name, shown)
        })
        .collect();
    let failed: Vec<&CellResult> = report.cells.iter().filter(|c| !c.counts.passed()).collect();

    let mut md = format!(
        "Subject: {}. Seed {}. {} cases, {} failed, measured in {:.1} s on live sockets.\n\n",
        report.subject,
        report.seed,
        report.cells.len(),
        failed.len(),
        report.elapsed_ms as f64 / 1000.0
    );
    md.push_str(&md_matrix(
        "framing/workload",
        &profiles,
        rows.iter().map(|(name, cells)| {
            let texts = cells
                .iter()
                .map(|c| c.map(cell_text).unwrap_or_else(|| "-".into()))
                .collect();
            (name.clone(), texts)
        }),
    ));
    md.push_str("\nProfiles:\n");
    for p in PROFILES.iter().filter(|p| profiles.contains(&p.name)) {
        let _ = writeln!(
            md,
            "- `{}`: {} (`{}`)",
            p.name,
            p.about,
            p.toxics.join("`, `")
        );
    }
    if !failed.is_empty() {
        md.push_str("\n### Failures\n");
        for c in &failed {
            let _ = writeln!(md, "\n#### `{}`: {}\n", c.case, c.counts.summary());
            if let Some(f) = &c.failure {
                let _ = writeln!(md, "- first failure: {}", f.describe());
                let _ = writeln!(md, "- what it means: {}", f.verdict.explain());
                if let Some(m) = &f.minimised {
                    let _ = writeln!(md, "- minimised: {m}");
                }
                let _ = writeln!(md, "- repro: `{}`", f.repro_command);
                if !f.transcript.is_empty() {
                    let _ = writeln!(
                        md,
                        "- transcript (first pieces):\n\n```\n{}\n```",
                        f.transcript.join("\n")
                    );
                }
            }
        }
    }

    let chart = failure_chart(report)
        .unwrap_or_else(|e| format!("<p>chart failed: {}</p>", xml_escape(&e)));
    let mut html = String::new();
    let _ = writeln!(
        html,
        "<p>Subject: {}. Seed {}. {} cases, {} failed, measured in {:.1} s on live sockets.</p>",
        xml_escape(&report.subject),
        report.seed,
        report.cells.len(),
        failed.len(),
        report.elapsed_ms as f64 / 1000.0
    );
    html.push_str(&html_matrix(
        "framing/workload",
        &profiles,
        rows.iter().map(|(name, cells)| {
            let cells = cells
                .iter()
                .map(|c| {
                    c.map(|c| MatrixCell {
                        class: if c.counts.passed() { "pass" } else { "fail" },
                        title: c.case.to_string(),
                        text: cell_text(c),
                    })
                })
                .collect();
            (name.clone(), cells)
        }),
    ));
    html.push_str(&chart);
    if !failed.is_empty() {
        html.push_str("<h3>Failures</h3>\n");
        for c in &failed {
            let _ = write!(
                html,
                "<h4><code>{}</code>: {}</h4><ul>",
                c.case,
                xml_escape(&c.counts.summary())
            );
            if let Some(f) = &c.failure {
                let _ = write!(
                    html,
                    "<li>first failure: {}</li><li>what it means: {}</li>",
                    xml_escape(&f.describe()),
                    f.verdict.explain()
                );
                if let Some(m) = &f.minimised {
                    let _ = write!(html, "<li>minimised: {}</li>", xml_escape(m));
                }
                let _ = write!(
                    html,
                    "<li>repro: <code>{}</code></li>",
                    xml_escape(&f.repro_command)
                );
                if !f.transcript.is_empty() {
                    let _ = write!(
                        html,
                        "<li>transcript:<pre>{}</pre></li>",
                        xml_escape(&f.transcript.join("\n"))
                    );
                }
            }
            html.push_str("</ul>\n");
        }
    }
    Section {
        title: "Conformance matrix".into(),
        markdown: md,
        html,
    }
}

/// One line per failing case, for the console: what happened first and how to reproduce it.
pub fn failure_lines(report: &MatrixReport) -> Vec<String> {
    report
        .cells
        .iter()
        .filter_map(|c| {
            let f = c.failure.as_ref()?;
            Some(format!(
                "FAIL {}: {}\n     repro: {}",
                c.case,
                f.describe(),
                f.repro_command
            ))
        })
        .collect()
}
