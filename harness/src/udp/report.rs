//! Rendering the UDP matrix: a terminal table, and a section of the report page (Markdown + HTML
//! with an inline SVG chart), built from [`crate::present`].

use std::fmt::Write as _;

use comfy_table::{Cell, Color as CellColor};

use super::harness::{UdpCell, UdpReport, UdpWorkload, PROFILES};
use crate::present::chart::{heatmap, HeatCell};
use crate::present::table::{html_matrix, html_table, md_matrix, terminal_table, MatrixCell};
use crate::present::{xml_escape, Section};

/// Rows `service/workload` in measured order, each with its cells per profile.
fn grid(report: &UdpReport) -> Vec<(String, Vec<Option<&UdpCell>>)> {
    let mut rows: Vec<(super::UdpService, UdpWorkload)> = Vec::new();
    for c in &report.cells {
        if !rows.contains(&(c.service, c.workload)) {
            rows.push((c.service, c.workload));
        }
    }
    rows.into_iter()
        .map(|(s, w)| {
            let cells = PROFILES
                .iter()
                .map(|p| {
                    report
                        .cells
                        .iter()
                        .find(|c| c.service == s && c.workload == w && c.profile == p.name)
                })
                .collect();
            (format!("{s}/{}", w.name()), cells)
        })
        .collect()
}

fn cell_text(c: &UdpCell) -> String {
    c.counts.summary()
}

fn all_ok(c: &UdpCell) -> bool {
    c.counts.ok == c.requests && c.counts.kinds() == "ok"
}

/// The terminal table; coloured when `color`.
pub fn table(report: &UdpReport, color: bool) -> String {
    let mut t = terminal_table(color);
    let mut header = vec![Cell::new("service/workload")];
    header.extend(PROFILES.iter().map(|p| Cell::new(p.name)));
    t.set_header(header);
    for (name, cells) in grid(report) {
        let mut row = vec![Cell::new(name)];
        for c in cells {
            row.push(match c {
                None => Cell::new("-"),
                Some(c) if all_ok(c) => Cell::new(cell_text(c)).fg(CellColor::Green),
                Some(c) if c.counts.boundary_breaks() > 0 => {
                    Cell::new(cell_text(c)).fg(CellColor::Red)
                }
                Some(c) => Cell::new(cell_text(c)).fg(CellColor::Yellow),
            });
        }
        t.add_row(row);
    }
    t.to_string()
}

/// One line on message boundaries: how many datagrams came back, and how many were merged,
/// split or foreign (0 over UDP).
pub fn boundary_line(report: &UdpReport) -> String {
    let (merged, split, foreign) = report.cells.iter().fold((0, 0, 0), |acc, c| {
        (
            acc.0 + c.counts.merged,
            acc.1 + c.counts.split,
            acc.2 + c.counts.foreign,
        )
    });
    format!(
        "{} datagrams came back in {} cells: merged {merged}, split {split}, foreign {foreign}{}",
        report.total_arrivals(),
        report.cells.len(),
        if merged + split + foreign == 0 {
            " — no message boundary was ever broken (UDP loses, truncates, duplicates and \
             reorders; it never sticks)"
        } else {
            " — MESSAGE BOUNDARIES BROKEN: a datagram held more or less than one reply"
        }
    )
}

/// Share of requests not answered `ok`, per row and profile, as an SVG heatmap.
pub fn chart(report: &UdpReport) -> String {
    let labels: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
    let rows: Vec<(String, Vec<Option<HeatCell>>)> = grid(report)
        .into_iter()
        .map(|(name, cells)| {
            let values = cells
                .iter()
                .map(|c| {
                    c.map(|c| HeatCell {
                        value: 1.0 - c.counts.ok as f64 / c.requests.max(1) as f64,
                        title: format!("{}: {}", c.id(), cell_text(c)),
                        href: None,
                    })
                })
                .collect();
            (name, values)
        })
        .collect();
    heatmap(
        "UDP: requests not answered ok, per chaos profile",
        "not ok / requests",
        &labels,
        &rows,
    )
}

/// The UDP section of the report page. `diffs` are the differences from the expected table
/// (shown when there are any).
pub fn udp_section(report: &UdpReport) -> Section {
    udp_section_with(report, &[])
}

/// [`udp_section`], listing differences from the expected table.
pub fn udp_section_with(report: &UdpReport, diffs: &[String]) -> Section {
    let rows = grid(report);
    let intro = format!(
        "Seed {}. {} cells ({} requests each), measured in {:.1} s on loopback sockets through \
         the datagram chaos proxy; every reply read with a 1024-byte buffer.",
        report.seed,
        report.cells.len(),
        report.datagrams,
        report.elapsed_ms as f64 / 1000.0
    );
    let boundaries = boundary_line(report);
    let mut md = format!("{intro}\n\n{boundaries}.\n\n");
    let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
    md.push_str(&md_matrix(
        "service/workload",
        &names,
        rows.iter().map(|(name, cells)| {
            let texts = cells
                .iter()
                .map(|c| c.map(cell_text).unwrap_or_else(|| "-".into()))
                .collect();
            (name.clone(), texts)
        }),
    ));
    md.push_str("\nProfiles:\n");
    for p in PROFILES {
        let toxics = if p.toxics.is_empty() {
            "no toxic".to_string()
        } else {
            format!("`{}`", p.toxics.join("`, `"))
        };
        let _ = writeln!(md, "- `{}`: {} ({toxics})", p.name, p.about);
    }
    md.push_str(
        "\nVerdicts: `ok` the whole reply, in order; `lost` no reply; `duplicated` an extra copy; \
         `reordered` after a later request's reply; `truncated` a prefix, the rest cut off \
         (a `large` reply meets the 1024-byte buffer); `merged`, `split`, `foreign` a datagram \
         that is not one whole reply or a prefix of one. `time` replies carry no tag: a reply is \
         matched to its request by the exchange it arrived in (lockstep) or the socket it \
         reached (burst, one socket per request), and reordering cannot be seen.\n",
    );
    if !diffs.is_empty() {
        md.push_str("\nDifferences from the expected table:\n");
        for d in diffs {
            let _ = writeln!(md, "- {d}");
        }
    }

    let svg = chart(report);
    let mut html = format!(
        "<p>{}</p>\n<p>{}.</p>\n",
        xml_escape(&intro),
        xml_escape(&boundaries)
    );
    html.push_str(&html_matrix(
        "service/workload",
        &names,
        rows.iter().map(|(name, cells)| {
            let cells = cells
                .iter()
                .map(|c| {
                    c.map(|c| MatrixCell {
                        class: if all_ok(c) { "pass" } else { "fail" },
                        title: format!(
                            "{} seed {} proxy: dropped {}, duplicated {}, truncated {}",
                            c.id(),
                            c.seed,
                            c.proxy.dropped,
                            c.proxy.duplicated,
                            c.proxy.truncated
                        ),
                        text: cell_text(c),
                        href: None,
                    })
                })
                .collect();
            (name.clone(), cells)
        }),
    ));
    html.push_str(&svg);
    html.push_str("<h3>Chaos profiles</h3>\n");
    html.push_str(&html_table(
        &["profile", "what it does to the datagrams", "toxics"],
        PROFILES.iter().map(|p| {
            vec![
                p.name.to_string(),
                p.about.to_string(),
                if p.toxics.is_empty() {
                    "(none)".to_string()
                } else {
                    p.toxics.join(" ")
                },
            ]
        }),
    ));
    if !diffs.is_empty() {
        html.push_str("<h3>Differences from the expected table</h3><ul>");
        for d in diffs {
            let _ = write!(html, "<li>{}</li>", xml_escape(d));
        }
        html.push_str("</ul>\n");
    }
    Section {
        title: "UDP: datagram verdicts".into(),
        markdown: md,
        html,
    }
}
