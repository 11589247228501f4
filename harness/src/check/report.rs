//! Rendering a measured matrix: terminal table, JSON, JUnit XML, and the sections of the
//! `--report DIR` page (Markdown + HTML with inline SVG charts).

use std::fmt::Write as _;
use std::path::Path;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color as CellColor, Table};
use plotters::prelude::*;

use super::matrix::{Workload, PROFILES};
use super::verdict::Verdict;
use super::{CellResult, MatrixReport};
use crate::codec::Framing;

/// One titled part of the report page.
pub struct Section {
    pub title: String,
    pub markdown: String,
    pub html: String,
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
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    if !color {
        t.force_no_tty();
    }
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

/// Escapes `&`, `<`, `>` and `"` for XML text and attributes (also used by `attack`'s JUnit).
pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one testsuite per framing, one testcase per cell, failed cells as `<failure>`.
pub fn junit(report: &MatrixReport) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"stickler\">\n",
    );
    let mut framings: Vec<Framing> = report.cells.iter().map(|c| c.case.framing).collect();
    framings.dedup();
    for f in framings {
        let cells: Vec<_> = report
            .cells
            .iter()
            .filter(|c| c.case.framing == f)
            .collect();
        let failures = cells.iter().filter(|c| !c.counts.passed()).count();
        let secs: f64 = cells.iter().map(|c| c.elapsed_ms as f64 / 1000.0).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{f}\" tests=\"{}\" failures=\"{failures}\" time=\"{secs:.3}\">",
            cells.len()
        );
        for c in cells {
            let _ = write!(
                out,
                "    <testcase classname=\"{f}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&c.case.to_string()),
                c.elapsed_ms as f64 / 1000.0
            );
            if c.counts.passed() {
                out.push_str("/>\n");
                continue;
            }
            let mut body = format!("verdicts: {}\n", c.counts.summary());
            if let Some(fail) = &c.failure {
                let _ = writeln!(body, "first failure: {}", fail.describe());
                let _ = writeln!(body, "repro: {}", fail.repro_command);
            }
            let _ = write!(
                out,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                xml_escape(&c.counts.summary()),
                xml_escape(&body)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// A named line of a chart: its legend label and its points.
pub(crate) type Series<X, Y> = (String, Vec<(X, Y)>);

/// Draws each series as a coloured line with a dot per point, labelled for the legend.
pub(crate) fn draw_series<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    series: &[Series<X::ValueType, Y::ValueType>],
) -> Result<(), String>
where
    X: Ranged,
    Y: Ranged,
    X::ValueType: Clone + 'static,
    Y::ValueType: Clone + 'static,
{
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new(p.clone(), 3, color.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A line chart of rates in 0..=1: one x position per label, one line per row (`None` = not
/// measured there), as an SVG document.
pub fn rate_chart(
    caption: &str,
    y_desc: &str,
    labels: &[&str],
    rows: &[(String, Vec<Option<f64>>)],
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0..labels.len().max(1), 0.0..1.05f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_labels(labels.len().max(1))
            .x_label_formatter(&|i| labels.get(*i).map(|s| s.to_string()).unwrap_or_default())
            .y_desc(y_desc)
            .draw()
            .map_err(|e| e.to_string())?;
        let series: Vec<(String, Vec<(usize, f64)>)> = rows
            .iter()
            .map(|(name, values)| {
                let points = values
                    .iter()
                    .enumerate()
                    .filter_map(|(x, v)| v.map(|v| (x, v)))
                    .collect();
                (name.clone(), points)
            })
            .collect();
        draw_series(&mut chart, &series)?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
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
    let rows = grid(report);
    let failed: Vec<&CellResult> = report.cells.iter().filter(|c| !c.counts.passed()).collect();

    let mut md = format!(
        "Subject: {}. Seed {}. {} cases, {} failed, measured in {:.1} s on live sockets.\n\n",
        report.subject,
        report.seed,
        report.cells.len(),
        failed.len(),
        report.elapsed_ms as f64 / 1000.0
    );
    let _ = writeln!(md, "| framing/workload | {} |", profiles.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(profiles.len()));
    for (name, cells) in &rows {
        let texts: Vec<String> = PROFILES
            .iter()
            .zip(cells)
            .filter(|(p, _)| profiles.contains(&p.name))
            .map(|(_, c)| c.map(cell_text).unwrap_or_else(|| "-".into()))
            .collect();
        let _ = writeln!(md, "| {name} | {} |", texts.join(" | "));
    }
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
    let _ = write!(
        html,
        "<p>Subject: {}. Seed {}. {} cases, {} failed, measured in {:.1} s on live sockets.</p>\n<table class=\"matrix\"><tr><th>framing/workload</th>",
        xml_escape(&report.subject),
        report.seed,
        report.cells.len(),
        failed.len(),
        report.elapsed_ms as f64 / 1000.0
    );
    for p in &profiles {
        let _ = write!(html, "<th>{p}</th>");
    }
    html.push_str("</tr>\n");
    for (name, cells) in &rows {
        let _ = write!(html, "<tr><th>{name}</th>");
        for (p, c) in PROFILES.iter().zip(cells) {
            if !profiles.contains(&p.name) {
                continue;
            }
            match c {
                None => html.push_str("<td>-</td>"),
                Some(c) => {
                    let class = if c.counts.passed() { "pass" } else { "fail" };
                    let _ = write!(
                        html,
                        "<td class=\"{class}\" title=\"{}\">{}</td>",
                        c.case,
                        xml_escape(&cell_text(c))
                    );
                }
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
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

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}\
td.pass{background:#e6f4ea}td.fail{background:#fce8e6}pre{background:#f6f6f6;padding:8px;overflow:auto}";

/// Writes `index.html` and `report.md` into `dir` (created if missing).
pub fn write_dir(dir: &Path, title: &str, sections: &[Section]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut md = format!("# {title}\n");
    let mut html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{0}</title><style>{STYLE}</style></head><body><h1>{0}</h1>\n",
        xml_escape(title)
    );
    for s in sections {
        let _ = write!(md, "\n## {}\n\n{}", s.title, s.markdown);
        let _ = write!(html, "<h2>{}</h2>\n{}\n", xml_escape(&s.title), s.html);
    }
    html.push_str("</body></html>\n");
    std::fs::write(dir.join("report.md"), md)?;
    std::fs::write(dir.join("index.html"), html)
}
