//! A checked session: the terminal table (connections × profiles), one line per failing cell,
//! JUnit XML, and the section of the `--report DIR` page — all on the presentation layer.

use comfy_table::{Cell, Color};

use super::{SessionCell, SessionProfile, SessionReport, PROFILE_NAMES};
use crate::present::junit::{Case, Failure, Suite, Suites};
use crate::present::table::{html_matrix, md_matrix, terminal_table, MatrixCell};
use crate::present::{file_href, xml_escape, Section};

/// The id of a failing cell's part of the report page: `fail-connection<N>-<profile>`.
pub fn fail_anchor(cell: &SessionCell) -> String {
    format!("fail-connection{}-{}", cell.connection, cell.profile)
}

fn cell_text(cell: &SessionCell) -> String {
    if cell.counts.passed() {
        format!("pass {}/{}", cell.counts.total(), cell.counts.total())
    } else {
        format!("FAIL {}", cell.counts.summary())
    }
}

fn profiles(report: &SessionReport) -> Vec<&'static str> {
    PROFILE_NAMES
        .iter()
        .copied()
        .filter(|p| report.cells.iter().any(|c| c.profile == *p))
        .collect()
}

fn connections(report: &SessionReport) -> Vec<usize> {
    let mut conns: Vec<usize> = report.cells.iter().map(|c| c.connection).collect();
    conns.sort_unstable();
    conns.dedup();
    conns
}

/// The rows of the matrix: per connection, its cell under each profile.
fn grid(report: &SessionReport) -> Vec<(String, Vec<Option<&SessionCell>>)> {
    let profiles = profiles(report);
    connections(report)
        .into_iter()
        .map(|c| {
            let cells = profiles
                .iter()
                .map(|p| {
                    report
                        .cells
                        .iter()
                        .find(|x| x.connection == c && x.profile == *p)
                })
                .collect();
            (format!("connection {c}"), cells)
        })
        .collect()
}

/// Rows: the session's connections; columns: the profiles played.
pub fn table(report: &SessionReport, color: bool) -> String {
    let mut t = terminal_table(color);
    let mut header = vec![Cell::new(&report.subject)];
    header.extend(profiles(report).iter().map(Cell::new));
    t.set_header(header);
    for (name, cells) in grid(report) {
        let mut row = vec![Cell::new(name)];
        row.extend(cells.into_iter().map(|cell| match cell {
            None => Cell::new("-"),
            Some(cell) => {
                let text = Cell::new(cell_text(cell));
                match (color, cell.counts.passed()) {
                    (false, _) => text,
                    (true, true) => text.fg(Color::Green),
                    (true, false) => text.fg(Color::Red),
                }
            }
        }));
        t.add_row(row);
    }
    t.to_string()
}

/// One line per failing cell: where, and what happened first.
pub fn failure_lines(report: &SessionReport) -> Vec<String> {
    report
        .cells
        .iter()
        .filter_map(|c| {
            let f = c.failure.as_ref()?;
            let mut line = format!(
                "FAIL connection {} / {} (run {} of {}, seed {}): {}: {}",
                c.connection, c.profile, f.run, c.runs, c.seed, f.verdict, f.detail
            );
            if let Some(cmd) = &f.repro_command {
                line.push_str(&format!("\n     repro: {cmd}"));
            }
            Some(line)
        })
        .collect()
}

/// One suite per connection, one case per profile.
pub fn junit(report: &SessionReport) -> String {
    let suites = connections(report)
        .into_iter()
        .map(|conn| {
            let cells: Vec<&SessionCell> = report
                .cells
                .iter()
                .filter(|c| c.connection == conn)
                .collect();
            Suite {
                name: format!("{} connection {conn}", report.subject),
                secs: cells.iter().map(|c| c.elapsed_ms as f64 / 1000.0).sum(),
                cases: cells
                    .iter()
                    .map(|c| Case {
                        classname: format!("session.connection{conn}"),
                        name: c.profile.clone(),
                        secs: c.elapsed_ms as f64 / 1000.0,
                        failure: c.failure.as_ref().map(|f| Failure {
                            message: format!("{}: {}", f.verdict, f.detail),
                            body: f.transcript.join("\n"),
                        }),
                    })
                    .collect(),
            }
        })
        .collect();
    Suites {
        name: "stickler session".into(),
        suites,
    }
    .to_xml()
}

/// The report page's section: the matrix, what each profile does, the failures, the masks.
pub fn section(report: &SessionReport) -> Section {
    let profiles = profiles(report);
    let failed = report.cells.iter().filter(|c| !c.counts.passed()).count();
    let summary = format!(
        "{}: {} cells, {} failed, in {:.1} s (seed {}).",
        report.subject,
        report.cells.len(),
        failed,
        report.elapsed_ms as f64 / 1000.0,
        report.seed
    );
    let rows = grid(report);
    let mut markdown = format!(
        "{summary}\n\n{}",
        md_matrix(
            "connection",
            &profiles,
            rows.iter().map(|(name, cells)| {
                (
                    name.clone(),
                    cells
                        .iter()
                        .map(|c| c.map_or("-".into(), cell_text))
                        .collect(),
                )
            }),
        )
    );
    let mut html = format!(
        "<p>{}</p>\n{}",
        xml_escape(&summary),
        html_matrix(
            "connection",
            &profiles,
            rows.iter().map(|(name, cells)| {
                (
                    name.clone(),
                    cells
                        .iter()
                        .map(|c| {
                            c.map(|c| MatrixCell {
                                class: if c.counts.passed() { "pass" } else { "fail" },
                                title: c
                                    .failure
                                    .as_ref()
                                    .map_or(String::new(), |f| f.detail.clone()),
                                text: cell_text(c),
                                href: c.failure.is_some().then(|| format!("#{}", fail_anchor(c))),
                            })
                        })
                        .collect(),
                )
            }),
        )
    );
    markdown.push_str("\nProfiles:\n\n");
    html.push_str("<h3>Profiles</h3>\n<ul>\n");
    for p in &profiles {
        let about = SessionProfile::parse(p).map_or("", |p| p.about());
        markdown.push_str(&format!("- `{p}`: {about}\n"));
        html.push_str(&format!(
            "<li><code>{p}</code>: {}</li>\n",
            xml_escape(about)
        ));
    }
    html.push_str("</ul>\n");
    let failures = failure_lines(report);
    if !failures.is_empty() {
        markdown.push_str("\nFailures:\n\n");
        html.push_str("<h3>Failures</h3>\n");
        for (line, cell) in failures
            .iter()
            .zip(report.cells.iter().filter(|c| c.failure.is_some()))
        {
            let transcript = cell
                .failure
                .as_ref()
                .map_or(String::new(), |f| f.transcript.join("\n"));
            markdown.push_str(&format!("- {line}\n\n```text\n{transcript}\n```\n"));
            let case_file = cell
                .failure
                .as_ref()
                .and_then(|f| f.case_file.as_deref())
                .and_then(|path| {
                    let href = file_href(std::path::Path::new(path))?;
                    Some(format!(
                        "<br>case file: <a href=\"{}\">{}</a>",
                        xml_escape(&href),
                        xml_escape(path)
                    ))
                })
                .unwrap_or_default();
            html.push_str(&format!(
                "<p id=\"{}\">{}{case_file}</p>\n<pre>{}</pre>\n",
                xml_escape(&fail_anchor(cell)),
                xml_escape(line),
                xml_escape(&transcript)
            ));
        }
    }
    if !report.masks.is_empty() {
        markdown.push_str("\nMasked (not compared):\n\n");
        html.push_str("<h3>Masked (not compared)</h3>\n<ul>\n");
        for m in &report.masks {
            markdown.push_str(&format!("- {m}\n"));
            html.push_str(&format!("<li>{}</li>\n", xml_escape(m)));
        }
        html.push_str("</ul>\n");
    }
    Section {
        title: "Session check".into(),
        markdown,
        html,
    }
}
