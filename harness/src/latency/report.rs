//! Rendering a sweep: the terminal tables, and the report section (Markdown, HTML with SVG
//! charts: latency against RTT per framing, and the ready cost in RTTs against RTT).

use std::fmt::Write as _;

use comfy_table::{Cell, Color as CellColor};
use plotters::prelude::*;

use super::config::ReplySize;
use super::cost::{self, TARGET_FROM_US, THEORY_RTTS, TOLERANCE};
use super::{LatencyReport, Point};
use crate::present::chart::draw_series;
use crate::present::table::{html_table, md_table, terminal_table};
use crate::present::{xml_escape, Section};

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn ratio(v: Option<f64>, spread: Option<(f64, f64)>) -> String {
    match (v, spread) {
        (Some(v), Some((lo, hi))) => format!("{v:.2} [{lo:.2}–{hi:.2}]"),
        (Some(v), None) => format!("{v:.2}"),
        _ => "-".into(),
    }
}

/// The point at d = 0 for `size` (the undelayed path), when swept.
fn undelayed(report: &LatencyReport, size: ReplySize) -> Option<&Point> {
    report
        .points
        .iter()
        .find(|p| p.delay_us == 0 && p.size == size)
}

/// How a measured figure compares with its target (the last column of the cost and path
/// tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Within,
    Outside,
    NotJudged,
    Unmeasured,
}

impl Verdict {
    fn of(off: Option<bool>, delay_us: u64) -> Verdict {
        match off {
            Some(true) => Verdict::Outside,
            Some(false) if delay_us >= TARGET_FROM_US => Verdict::Within,
            Some(false) => Verdict::NotJudged,
            None if delay_us < TARGET_FROM_US => Verdict::NotJudged,
            None => Verdict::Unmeasured,
        }
    }

    fn label(self) -> String {
        match self {
            Verdict::Within => format!("within ±{:.0}%", TOLERANCE * 100.0),
            Verdict::Outside => format!("outside ±{:.0}%", TOLERANCE * 100.0),
            Verdict::NotJudged => format!("not judged (d < {} ms)", TARGET_FROM_US / 1000),
            Verdict::Unmeasured => "-".into(),
        }
    }

    fn cell(self, text: String) -> Cell {
        match self {
            Verdict::Outside => Cell::new(text).fg(CellColor::Yellow),
            Verdict::Within => Cell::new(text).fg(CellColor::Green),
            _ => Cell::new(text),
        }
    }
}

fn cost_verdict(p: &Point) -> Verdict {
    match &p.cost {
        Some(c) => Verdict::of(Some(c.off_target), p.delay_us),
        None => Verdict::Unmeasured,
    }
}

fn ping_verdict(p: &Point) -> Verdict {
    if p.delay_us == 0 {
        return Verdict::Unmeasured;
    }
    Verdict::of(cost::ping_off_target(p), p.delay_us)
}

/// Rows of the latency table: (d ms, size, lane, n, p50, p90, p99, max, errors).
fn latency_rows(points: &[Point]) -> Vec<[String; 9]> {
    let mut rows = Vec::new();
    for p in points {
        for l in p.direct.iter().chain(&p.ping).chain(&p.framings) {
            rows.push([
                ms(p.delay_us),
                p.size.label().to_string(),
                l.lane.clone(),
                l.exchanges.to_string(),
                ms(l.p50_us),
                ms(l.p90_us),
                ms(l.p99_us),
                ms(l.max_us),
                l.errors.to_string(),
            ]);
        }
    }
    rows
}

const LATENCY_HEADER: [&str; 9] = [
    "d (ms)", "reply", "lane", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors",
];
const COST_HEADER: [&str; 8] = [
    "d (ms)",
    "reply",
    "ready−struct ms",
    "RTT 2d ms",
    "ping RTT ms",
    "cost in 2d [batches]",
    "cost in ping RTTs [batches]",
    "vs theory (1.0 RTT)",
];

fn cost_rows(points: &[Point]) -> Vec<([String; 8], Verdict)> {
    points
        .iter()
        .filter_map(|p| {
            let c = p.cost.as_ref()?;
            let v = cost_verdict(p);
            Some((
                [
                    ms(p.delay_us),
                    p.size.label().to_string(),
                    format!("{:.3}", c.delta_us as f64 / 1000.0),
                    ms(c.nominal_rtt_us),
                    ms(c.path_rtt_us),
                    ratio(c.rtts, c.rtts_spread),
                    ratio(c.path_rtts, c.path_rtts_spread),
                    v.label(),
                ],
                v,
            ))
        })
        .collect()
}

const PATH_HEADER: [&str; 8] = [
    "d (ms)",
    "reply",
    "direct ms",
    "ping ms",
    "2d + direct ms",
    "ping − (2d + direct) µs",
    "vs 2d + direct",
    "target",
];

/// Rows of the delayed-path table: the ping lane's p50 next to 2d + the direct RTT.
fn path_rows(points: &[Point]) -> Vec<([String; 8], Verdict)> {
    points
        .iter()
        .filter(|p| p.delay_us > 0)
        .filter_map(|p| {
            let direct = p.direct.as_ref()?;
            let ping = p.ping.as_ref()?;
            let expected = p.expected_ping_us()?;
            let excess = p.ping_excess_us()?;
            let v = ping_verdict(p);
            Some((
                [
                    ms(p.delay_us),
                    p.size.label().to_string(),
                    ms(direct.p50_us),
                    ms(ping.p50_us),
                    ms(expected),
                    format!("{excess:+}"),
                    format!("{:+.1}%", excess as f64 / expected as f64 * 100.0),
                    v.label(),
                ],
                v,
            ))
        })
        .collect()
}

/// The terminal tables: latencies per lane, then the ready cost; coloured when `color`.
pub fn table(report: &LatencyReport, color: bool) -> String {
    let mut t = terminal_table(color);
    t.set_header(LATENCY_HEADER);
    for row in latency_rows(&report.points) {
        t.add_row(row);
    }
    let mut c = terminal_table(color);
    c.set_header(COST_HEADER);
    for (row, v) in cost_rows(&report.points) {
        c.add_row(row.into_iter().map(|s| v.cell(s)).collect::<Vec<_>>());
    }
    let mut d = terminal_table(color);
    d.set_header(PATH_HEADER);
    for (row, v) in path_rows(&report.points) {
        d.add_row(row.into_iter().map(|s| v.cell(s)).collect::<Vec<_>>());
    }
    let mut out = format!(
        "{t}\n\nthe delayed path: ping p50 vs 2d + the direct RTT\n{d}\n\n\
         ready cost (theory: 1 RTT per exchange)\n{c}\n"
    );
    if let Some(probe) = &report.nodelay_probe {
        let _ = write!(out, "\n{}", nodelay_text(probe));
    }
    out
}

/// Side by side: p50 per lane with TCP_NODELAY on and off.
fn nodelay_text(probe: &super::NodelayProbe) -> String {
    let mut out =
        String::from("TCP_NODELAY on vs off (p50 ms, same delay, measured back to back):\n");
    for (on, off) in probe.on.iter().zip(&probe.off) {
        let _ = write!(out, "  d={} ms, {}:", ms(on.delay_us), on.size.label());
        for l in on.ping.iter().chain(&on.framings) {
            let other = off
                .ping
                .iter()
                .chain(&off.framings)
                .find(|o| o.lane == l.lane);
            if let Some(o) = other {
                let _ = write!(out, " {} {}→{}", l.lane, ms(l.p50_us), ms(o.p50_us));
            }
        }
        out.push('\n');
    }
    out
}

fn svg_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// p50 latency against the nominal RTT, one line per framing and size.
pub fn latency_chart(report: &LatencyReport) -> Result<String, String> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for size in &report.sizes {
        let lanes: Vec<String> = report
            .points
            .iter()
            .filter(|p| p.size == *size)
            .flat_map(|p| p.framings.iter().map(|l| l.lane.clone()))
            .collect();
        let mut names = lanes;
        names.dedup();
        names.sort();
        names.dedup();
        for lane in names {
            let pts: Vec<(f64, f64)> = report
                .points
                .iter()
                .filter(|p| p.size == *size)
                .filter_map(|p| {
                    let l = p.lane(&lane)?;
                    Some((p.nominal_rtt_us() as f64 / 1000.0, l.p50_us as f64 / 1000.0))
                })
                .collect();
            series.push((format!("{lane} {}", size.label()), pts));
        }
    }
    let max_x = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let max_y = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(svg_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("p50 exchange latency vs RTT (2d)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..max_x * 1.05, 0.0..max_y * 1.1)
            .map_err(svg_err)?;
        chart
            .configure_mesh()
            .x_desc("RTT asked for, ms")
            .y_desc("p50 latency, ms")
            .draw()
            .map_err(svg_err)?;
        draw_series(&mut chart, &series)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 10))
            .draw()
            .map_err(svg_err)?;
        root.present().map_err(svg_err)?;
    }
    Ok(svg)
}

/// The ready cost in RTTs (2d, and the ping's RTT) against the nominal RTT, per size, with
/// the theory and the band of the target.
pub fn cost_chart(report: &LatencyReport) -> Result<String, String> {
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for size in &report.sizes {
        let at = |f: &dyn Fn(&cost::Cost) -> Option<f64>| -> Vec<(f64, f64)> {
            report
                .points
                .iter()
                .filter(|p| p.size == *size && p.delay_us > 0)
                .filter_map(|p| Some((p.nominal_rtt_us() as f64 / 1000.0, f(p.cost.as_ref()?)?)))
                .collect()
        };
        series.push((format!("{} in 2d", size.label()), at(&|c| c.rtts)));
        series.push((
            format!("{} in ping RTTs", size.label()),
            at(&|c| c.path_rtts),
        ));
    }
    let max_x = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let max_y = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .fold(1.5f64, f64::max);
    // A point can come out negative (ready faster than struct when the transfer's noise
    // outweighs the RTT): keep it on the chart.
    let min_y = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .fold(0.0f64, f64::min);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(svg_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "ready cost in RTTs vs RTT (theory 1.0, band ±{:.0}%)",
                    TOLERANCE * 100.0
                ),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..max_x * 1.05, min_y * 1.1..max_y * 1.1)
            .map_err(svg_err)?;
        chart
            .configure_mesh()
            .x_desc("RTT asked for, ms")
            .y_desc("(ready − struct) / RTT")
            .draw()
            .map_err(svg_err)?;
        let band = [1.0 - TOLERANCE, THEORY_RTTS, 1.0 + TOLERANCE];
        for (k, y) in band.into_iter().enumerate() {
            let style = if k == 1 {
                BLACK.stroke_width(2)
            } else {
                BLACK.mix(0.3).stroke_width(1)
            };
            chart
                .draw_series(LineSeries::new(vec![(0.0, y), (max_x * 1.05, y)], style))
                .map_err(svg_err)?;
        }
        draw_series(&mut chart, &series)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 10))
            .draw()
            .map_err(svg_err)?;
        root.present().map_err(svg_err)?;
    }
    Ok(svg)
}

/// What the cost figures say against the theory, one line per point off the target, and the
/// TCP_NODELAY probe.
fn findings(report: &LatencyReport) -> Vec<String> {
    let mut out = Vec::new();
    let judged: Vec<&Point> = report
        .points
        .iter()
        .filter(|p| p.delay_us >= TARGET_FROM_US && p.cost.is_some())
        .collect();
    let off: Vec<&Point> = judged
        .iter()
        .copied()
        .filter(|p| p.cost.as_ref().is_some_and(|c| c.off_target))
        .collect();
    out.push(format!(
        "Target: the ready cost within ±{:.0}% of {THEORY_RTTS:.1} RTT for d ≥ {} ms: {} of {} \
         points within it.",
        TOLERANCE * 100.0,
        TARGET_FROM_US / 1000,
        judged.len() - off.len(),
        judged.len()
    ));
    for p in off {
        if let Some(why) = cost::explain(p, undelayed(report, p.size)) {
            out.push(format!(
                "d = {} ms, {}: {why}",
                ms(p.delay_us),
                p.size.label()
            ));
        }
    }
    let paths: Vec<(&Point, Verdict)> = report
        .points
        .iter()
        .map(|p| (p, ping_verdict(p)))
        .filter(|(_, v)| matches!(v, Verdict::Within | Verdict::Outside))
        .collect();
    if !paths.is_empty() {
        let worst = paths
            .iter()
            .filter_map(|(p, _)| {
                let e = p.ping_excess_us()?;
                Some((e as f64 / p.expected_ping_us()? as f64 * 100.0, *p))
            })
            .max_by(|a, b| a.0.abs().total_cmp(&b.0.abs()));
        let mut line = format!(
            "The delayed path: the ping lane's p50 within ±{:.0}% of 2d + the direct RTT for d ≥ \
             {} ms at {} of {} points",
            TOLERANCE * 100.0,
            TARGET_FROM_US / 1000,
            paths.iter().filter(|(_, v)| *v == Verdict::Within).count(),
            paths.len()
        );
        if let Some((pct, p)) = worst {
            line.push_str(&format!(
                "; farthest: {pct:+.1}% at d = {} ms, {}",
                ms(p.delay_us),
                p.size.label()
            ));
        }
        line.push('.');
        out.push(line);
    }
    let failed: Vec<String> = report
        .points
        .iter()
        .flat_map(|p| {
            p.ping
                .iter()
                .chain(&p.framings)
                .filter(|l| l.errors > 0)
                .map(move |l| {
                    format!(
                        "d = {} ms, {}, {}: {} failed exchanges (first: {})",
                        ms(p.delay_us),
                        p.size.label(),
                        l.lane,
                        l.errors,
                        l.first_error.clone().unwrap_or_default()
                    )
                })
        })
        .collect();
    out.extend(failed);
    if let Some(probe) = &report.nodelay_probe {
        out.push(nodelay_text(probe).trim_end().replace('\n', "\n  "));
    }
    out
}

/// The measured cost next to the theory, one sentence per reply size: the median over the
/// judged delays (d ≥ 1 ms) and the spread over their batches.
fn headline(report: &LatencyReport) -> Vec<String> {
    let mut out = Vec::new();
    for size in &report.sizes {
        let judged: Vec<&cost::Cost> = report
            .points
            .iter()
            .filter(|p| p.size == *size && p.delay_us >= TARGET_FROM_US)
            .filter_map(|p| p.cost.as_ref())
            .filter(|c| c.rtts.is_some())
            .collect();
        let mut values: Vec<f64> = judged.iter().filter_map(|c| c.rtts).collect();
        if values.is_empty() {
            continue;
        }
        values.sort_by(f64::total_cmp);
        let median = values[values.len() / 2];
        let lo = judged
            .iter()
            .filter_map(|c| c.rtts_spread.map(|s| s.0).or(c.rtts))
            .fold(f64::INFINITY, f64::min);
        let hi = judged
            .iter()
            .filter_map(|c| c.rtts_spread.map(|s| s.1).or(c.rtts))
            .fold(f64::NEG_INFINITY, f64::max);
        let within = judged.iter().filter(|c| !c.off_target).count();
        out.push(format!(
            "{} replies: the ready round trip measured {median:.2} RTT per exchange \
             (median over {} delays of d ≥ {} ms; spread {lo:.2}–{hi:.2} over batches), \
             against {THEORY_RTTS:.1} RTT in theory; {within} of {} delays within ±{:.0}%.",
            size.label(),
            judged.len(),
            TARGET_FROM_US / 1000,
            judged.len(),
            TOLERANCE * 100.0
        ));
    }
    out
}

/// The latency section of the report page.
pub fn latency_section(report: &LatencyReport) -> Section {
    let intro = format!(
        "Lockstep exchanges through a proxy delaying every byte by d each way (RTT = 2d), \
         every framing on its own connection through its own proxy, servers, proxies and \
         clients on one thread of their own; lanes staggered (lane i of k starts its exchanges \
         i/k of d past a multiple of d, so no two lanes wake at once; at d = 0 and for 1 MiB \
         replies they take turns, exchange by exchange), {} measured exchanges per lane at \
         most, warm-up excluded, TCP_NODELAY {}, timers woken {} µs early to spin until their \
         deadline; the `ping` lane (1 byte each way, nothing \
         to parse) measures the delayed path itself, the `direct` lane the same ping without \
         the proxy. Measured in {:.1} s. Ready cost = (p50(ready) − p50(struct)) / RTT, in \
         RTTs of 2d and of the ping's measured RTT; [range over batches of consecutive \
         exchanges].",
        report.max_exchanges,
        if report.nodelay { "on" } else { "off" },
        report.spin_ahead_us,
        report.elapsed_ms as f64 / 1000.0
    );
    let lat_rows = || latency_rows(&report.points).into_iter().map(|r| r.to_vec());
    let cost_rows = || {
        cost_rows(&report.points)
            .into_iter()
            .map(|(r, _)| r.to_vec())
    };
    let path_rows = || {
        path_rows(&report.points)
            .into_iter()
            .map(|(r, _)| r.to_vec())
    };
    let notes = findings(report);
    let lead = headline(report);
    let mut md = String::new();
    for l in &lead {
        let _ = writeln!(md, "**{l}**\n");
    }
    let _ = write!(md, "{intro}\n\n### Ready cost vs theory\n\n");
    md.push_str(&md_table(&COST_HEADER, cost_rows()));
    md.push('\n');
    for n in &notes {
        let _ = writeln!(md, "- {n}");
    }
    md.push_str("\n### The delayed path: ping vs 2d + direct\n\n");
    md.push_str(&md_table(&PATH_HEADER, path_rows()));
    md.push_str("\n### Latency per lane\n\n");
    md.push_str(&md_table(&LATENCY_HEADER, lat_rows()));

    let mut html = String::new();
    if !lead.is_empty() {
        html.push_str("<div class=\"lead neutral\">");
        for l in &lead {
            let _ = write!(html, "<p>{}</p>", xml_escape(l));
        }
        html.push_str("</div>\n");
    }
    let _ = write!(
        html,
        "<p>{}</p>\n<h3>Ready cost vs theory</h3>\n",
        xml_escape(&intro)
    );
    html.push_str(&html_table(&COST_HEADER, cost_rows()));
    html.push_str("<ul>");
    for n in &notes {
        if n.contains('\n') {
            let _ = write!(html, "<li><pre>{}</pre></li>", xml_escape(n));
        } else {
            let _ = write!(html, "<li>{}</li>", xml_escape(n));
        }
    }
    html.push_str("</ul>\n");
    for chart in [cost_chart(report), latency_chart(report)] {
        match chart {
            Ok(svg) => html.push_str(&svg),
            Err(e) => {
                let _ = write!(html, "<p>chart failed: {}</p>", xml_escape(&e));
            }
        }
        html.push('\n');
    }
    html.push_str("<h3>The delayed path: ping vs 2d + direct</h3>\n");
    html.push_str(&html_table(&PATH_HEADER, path_rows()));
    html.push_str("<h3>Latency per lane</h3>\n");
    html.push_str(&html_table(&LATENCY_HEADER, lat_rows()));
    Section {
        title: "Latency: what the ready round trip costs".into(),
        markdown: md,
        html,
    }
}
