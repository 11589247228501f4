//! Rendering a measured matrix: terminal table, JSON, JUnit XML, and the sections of the
//! `--report DIR` page (Markdown + HTML with inline SVG charts).

use std::fmt::Write as _;
use std::path::Path;

use comfy_table::{Cell, Color as CellColor};

use super::expect::ExpectTable;
use super::matrix::{CaseId, Workload, PROFILES};
use super::verdict::Verdict;
use super::{CellResult, MatrixReport};
use crate::codec::Framing;
use crate::present::chart::{heatmap, HeatCell};
use crate::present::junit::{self, Failure, Suites};
use crate::present::ladder::ladder;
use crate::present::table::{
    html_matrix, html_table, md_matrix, md_table, terminal_table, MatrixCell,
};
use crate::present::{file_href, file_link, xml_escape, Section};

/// The id of a failing case's part of the report page: `fail-` and the case ID.
pub fn fail_anchor(case: &CaseId) -> String {
    format!("fail-{case}")
}

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

/// Failure rate (exchanges not `ok`) per framing/workload row and profile, as an SVG heatmap;
/// a failing cell links to its part of the page ([`fail_anchor`]).
pub fn failure_chart(report: &MatrixReport) -> String {
    let profiles = used_profiles(report);
    let rows: Vec<(String, Vec<Option<HeatCell>>)> = grid(report)
        .into_iter()
        .map(|(name, cells)| {
            let values = PROFILES
                .iter()
                .zip(cells)
                .filter(|(p, _)| profiles.contains(&p.name))
                .map(|(_, c)| {
                    c.map(|c| HeatCell {
                        value: 1.0 - c.counts.rate(Verdict::Ok),
                        title: format!("{}: {}", c.case, cell_text(c)),
                        href: (!c.counts.passed()).then(|| format!("#{}", fail_anchor(&c.case))),
                    })
                })
                .collect();
            (name, values)
        })
        .collect();
    heatmap(
        "failure rate per chaos profile",
        "failed exchanges / all",
        &profiles,
        &rows,
    )
}

/// The chaos profiles measured, from [`PROFILES`]: what each does to the bytes and its toxics.
fn legend(report: &MatrixReport) -> (String, String) {
    let profiles = used_profiles(report);
    let rows: Vec<Vec<String>> = PROFILES
        .iter()
        .filter(|p| profiles.contains(&p.name))
        .map(|p| {
            let toxics = if p.toxics.is_empty() {
                "(none)".to_string()
            } else {
                p.toxics.join(" ")
            };
            vec![p.name.to_string(), p.about.to_string(), toxics]
        })
        .collect();
    let header = [
        "profile",
        "what it does to the bytes",
        "toxics (proxy --toxic syntax)",
    ];
    (
        md_table(
            &header,
            rows.iter()
                .map(|r| vec![format!("`{}`", r[0]), r[1].clone(), format!("`{}`", r[2])]),
        ),
        html_table(&header, rows.iter().cloned()),
    )
}

/// The report's opening section: what the expected table (read from `source`) says and
/// whether the measured matrix matches it, cell by cell when it does not.
pub fn expectation_section(report: &MatrixReport, table: &ExpectTable, source: &Path) -> Section {
    let total = report.cells.len();
    let failed = report.cells.iter().filter(|c| !c.counts.passed()).count();
    let expected_fail = report
        .cells
        .iter()
        .filter(|c| table.0.get(&c.case) == Some(&false))
        .count();
    let word = |p: bool| if p { "pass" } else { "fail" };
    // (case, expected, measured, has a failure part on the page)
    let differs: Vec<(CaseId, Option<bool>, bool)> = report
        .cells
        .iter()
        .filter_map(|c| {
            let want = table.0.get(&c.case).copied();
            (want != Some(c.counts.passed())).then_some((c.case, want, c.counts.passed()))
        })
        .collect();
    let source_text = source.display().to_string();
    let source_html = file_link(source, &source_text);
    let docs = Path::new("docs/verdicts.md");
    let docs_html = match file_href(docs) {
        Some(h) => format!(
            "<a href=\"{}#expected-tables\">docs/verdicts.md</a>",
            xml_escape(&h)
        ),
        None => "docs/verdicts.md".into(),
    };
    let why = "unframed protocols are supposed to break under chaos";
    let (md_lead, html_lead) = if differs.is_empty() {
        let fails = match failed {
            0 => "all pass".to_string(),
            n => format!("{n} fail"),
        };
        (
            format!(
                "**{total} cases measured; {fails}, exactly as the expected table \
                 (`{source_text}`) says** ({why}: see docs/verdicts.md).\n"
            ),
            format!(
                "<p class=\"lead\">✔ <strong>{total} cases measured; {fails}, exactly as the \
                 expected table ({source_html}) says</strong> ({why}: see {docs_html}).</p>\n"
            ),
        )
    } else {
        let n = differs.len();
        let cells = if n == 1 {
            "cell differs"
        } else {
            "cells differ"
        };
        (
            format!(
                "**{total} cases measured; {failed} fail, but the expected table \
                 (`{source_text}`) says {expected_fail}: {n} {cells}** (see docs/verdicts.md):\n"
            ),
            format!(
                "<p class=\"lead differs\">✘ <strong>{total} cases measured; {failed} fail, but \
                 the expected table ({source_html}) says {expected_fail}: {n} {cells}</strong> \
                 (see {docs_html}):</p>\n"
            ),
        )
    };
    let mut md = md_lead;
    let mut html = html_lead;
    if !differs.is_empty() {
        md.push('\n');
        html.push_str("<ul>");
        for (case, want, pass) in &differs {
            let want = want.map_or("no entry".to_string(), |w| format!("expected {}", word(w)));
            let _ = writeln!(md, "- `{case}`: {want}, measured {}", word(*pass));
            let name = if *pass {
                format!("<code>{case}</code>")
            } else {
                format!("<a href=\"#{}\"><code>{case}</code></a>", fail_anchor(case))
            };
            let _ = write!(html, "<li>{name}: {want}, measured {}</li>", word(*pass));
        }
        html.push_str("</ul>\n");
    }
    // Per framing: cases, failing as expected, failing as measured.
    let mut framings: Vec<Framing> = report.cells.iter().map(|c| c.case.framing).collect();
    framings.sort();
    framings.dedup();
    let rows: Vec<Vec<String>> = framings
        .iter()
        .map(|f| {
            let cells: Vec<&CellResult> = report
                .cells
                .iter()
                .filter(|c| c.case.framing == *f)
                .collect();
            let want = cells
                .iter()
                .filter(|c| table.0.get(&c.case) == Some(&false))
                .count();
            let got = cells.iter().filter(|c| !c.counts.passed()).count();
            vec![
                f.to_string(),
                cells.len().to_string(),
                want.to_string(),
                got.to_string(),
            ]
        })
        .collect();
    let header = ["framing", "cases", "expected to fail", "failed"];
    md.push('\n');
    md.push_str(&md_table(&header, rows.iter().cloned()));
    html.push_str(&html_table(&header, rows));
    Section {
        title: "Expected vs measured".into(),
        markdown: md,
        html,
    }
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
    let (legend_md, legend_html) = legend(report);
    md.push_str("\nChaos profiles:\n\n");
    md.push_str(&legend_md);
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
                if f.ladder.is_some() {
                    let _ = writeln!(
                        md,
                        "- ladder diagram (writes, reads and reply boundaries): see index.html"
                    );
                }
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

    let chart = failure_chart(report);
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
    html.push_str("<h3>Chaos profiles</h3>\n");
    html.push_str(&legend_html);
    html.push_str("<h3>Pass/fail per case</h3>\n");
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
                        href: (!c.counts.passed()).then(|| format!("#{}", fail_anchor(&c.case))),
                    })
                })
                .collect();
            (name.clone(), cells)
        }),
    ));
    html.push_str("<h3>Failure rate per chaos profile</h3>\n");
    html.push_str(&chart);
    if !failed.is_empty() {
        html.push_str("<h3>Failures</h3>\n");
        for c in &failed {
            let _ = write!(
                html,
                "<h4 id=\"{}\"><code>{}</code>: {}</h4><ul>",
                xml_escape(&fail_anchor(&c.case)),
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
                if let Some(path) = &f.repro {
                    if let Some(href) = file_href(Path::new(path)) {
                        let _ = write!(
                            html,
                            "<li>case file: <a href=\"{}\">{}</a></li>",
                            xml_escape(&href),
                            xml_escape(path)
                        );
                    }
                }
                if !f.transcript.is_empty() {
                    let _ = write!(
                        html,
                        "<li>transcript:<pre>{}</pre></li>",
                        xml_escape(&f.transcript.join("\n"))
                    );
                }
                if let Some(l) = &f.ladder {
                    let caption = format!(
                        "{}: connection {}, exchange {}",
                        c.case, f.connection, f.exchange
                    );
                    let _ = write!(
                        html,
                        "<li>ladder (what each side wrote and read; the first read crossing or \
                         cutting a reply is red):<br>{}</li>",
                        ladder(&caption, l)
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
