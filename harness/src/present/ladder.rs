//! A ladder (sequence) diagram of one connection through the chaos proxy, as SVG: the client's
//! requests, the pieces the proxy wrote towards the server (`up`) and towards the client
//! (`down`) with their byte ranges, and the client's reads, one row each down a time axis.
//! Where each expected reply ends in the down stream is ticked on the pieces and reads that
//! hold it; the first read that crosses such a boundary (bytes of two replies in one read) or
//! cuts one (the client stopped inside a reply that did arrive whole) is drawn red.
//!
//! [`ladder`] is a pure function of a [`Ladder`]; it draws at most [`MAX_ROWS`] rows, a window
//! around the highlighted read, and says how many rows it left out.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::xml_escape;

/// Rows drawn at most; the rest is counted (`… N more`).
pub const MAX_ROWS: usize = 40;

/// What one row of the ladder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The client wrote a request (its range in the up stream).
    Request,
    /// The proxy wrote a piece towards the server.
    Up,
    /// The proxy wrote a piece towards the client.
    Down,
    /// The client read bytes of the down stream.
    Read,
}

/// One write or read, at a time on the proxy's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub kind: Kind,
    /// Microseconds (all items on one clock).
    pub t_us: u64,
    /// Offset of the first byte in its direction's stream (requests: up, reads: down).
    pub offset: u64,
    pub len: usize,
    /// The request, or the toxic that shaped a piece.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Item {
    fn end(&self) -> u64 {
        self.offset + self.len as u64
    }
}

/// What a ladder diagram draws.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ladder {
    /// Requests, pieces and reads, in any order (drawn sorted by time).
    pub items: Vec<Item>,
    /// Where each expected reply ends in the down stream, ascending.
    #[serde(default)]
    pub boundaries: Vec<u64>,
    /// Items left out before they got here (bounded when recorded).
    #[serde(default)]
    pub omitted: usize,
}

/// The first read that crosses or cuts a reply boundary: its index in `items`, and why.
pub fn first_crossing(ladder: &Ladder) -> Option<(usize, String)> {
    let reads: Vec<usize> = (0..ladder.items.len())
        .filter(|i| ladder.items[*i].kind == Kind::Read)
        .collect();
    let reply = |k: u64| ladder.boundaries.iter().position(|b| *b == k).unwrap_or(0) + 1;
    for (n, &i) in reads.iter().enumerate() {
        let r = &ladder.items[i];
        if let Some(k) = ladder
            .boundaries
            .iter()
            .find(|k| r.offset < **k && **k < r.end())
        {
            return Some((
                i,
                format!(
                    "read [{}, {}) crosses the end of reply {} at byte {k}: bytes of two replies in one read",
                    r.offset,
                    r.end(),
                    reply(*k)
                ),
            ));
        }
        let last = n + 1 == reads.len();
        if last && r.len > 0 && !ladder.boundaries.contains(&r.end()) {
            if let Some(k) = ladder.boundaries.iter().find(|k| **k > r.end()) {
                return Some((
                    i,
                    format!(
                        "read [{}, {}) is the last read of the reply but cuts reply {} (it ends at byte {k})",
                        r.offset,
                        r.end(),
                        reply(*k)
                    ),
                ));
            }
        }
    }
    None
}

const ROW_H: usize = 20;
const TOP: usize = 64;
const X_TIME: usize = 8;
const X_READ: usize = 92;
const X_CLIENT: usize = 250;
const X_PROXY: usize = 500;
const X_SERVER: usize = 750;
const WIDTH: usize = 800;

const C_REQUEST: &str = "#1a73e8";
const C_UP: &str = "#188038";
const C_DOWN: &str = "#e37400";
const C_BOUNDARY: &str = "#9334e6";
const C_CROSS: &str = "#d93025";

fn kind_rank(k: Kind) -> u8 {
    match k {
        Kind::Request => 0,
        Kind::Up => 1,
        Kind::Down => 2,
        Kind::Read => 3,
    }
}

/// A horizontal arrow from `x1` to `x2` at `y`, with its head at `x2`.
fn arrow(svg: &mut String, x1: usize, x2: usize, y: usize, color: &str, width: f64) {
    let head = if x2 > x1 { x2 - 7 } else { x2 + 7 };
    let _ = write!(
        svg,
        "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{color}\" \
         stroke-width=\"{width}\"/><polygon points=\"{x2},{y} {head},{} {head},{}\" \
         fill=\"{color}\"/>",
        y - 4,
        y + 4
    );
}

/// The ladder as an SVG document (see the module docs). Everything is escaped.
pub fn ladder(caption: &str, data: &Ladder) -> String {
    let crossing = first_crossing(data);
    let mut order: Vec<usize> = (0..data.items.len()).collect();
    order.sort_by_key(|&i| (data.items[i].t_us, kind_rank(data.items[i].kind)));
    // A window of at most MAX_ROWS rows, around the highlighted read (or the first read).
    let focus = crossing
        .as_ref()
        .map(|(i, _)| *i)
        .or_else(|| data.items.iter().position(|it| it.kind == Kind::Read));
    let focus_row = focus
        .and_then(|f| order.iter().position(|&i| i == f))
        .unwrap_or(0);
    let start = if order.len() <= MAX_ROWS {
        0
    } else {
        focus_row
            .saturating_sub(MAX_ROWS * 3 / 4)
            .min(order.len() - MAX_ROWS)
    };
    let end = (start + MAX_ROWS).min(order.len());
    let shown = &order[start..end];
    let earlier = start;
    let later = order.len() - end + data.omitted;

    let rows = shown.len() + usize::from(earlier > 0) + usize::from(later > 0);
    let bottom = TOP + rows.max(1) * ROW_H;
    let height = bottom + 56;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"ladder\" width=\"{WIDTH}\" \
         height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" \
         font-size=\"11\" role=\"img\" aria-label=\"{}\">\n<title>{0}</title>\n\
         <text x=\"{}\" y=\"16\" font-size=\"14\" text-anchor=\"middle\">{0}</text>\n",
        xml_escape(caption),
        WIDTH / 2
    );
    match &crossing {
        Some((_, why)) => {
            let _ = writeln!(
                svg,
                "<text class=\"crossing-note\" x=\"{}\" y=\"32\" text-anchor=\"middle\" \
                 fill=\"{C_CROSS}\">✗ {}</text>",
                WIDTH / 2,
                xml_escape(why)
            );
        }
        None => {
            let why = if data.boundaries.is_empty() {
                "no expected reply found in the down stream: no boundary to mark"
            } else {
                "no read crosses or cuts a reply boundary"
            };
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"32\" text-anchor=\"middle\" fill=\"#5f6368\">{why}</text>",
                WIDTH / 2
            );
        }
    }
    // Lifelines and their names.
    for (x, name) in [
        (X_CLIENT, "client"),
        (X_PROXY, "chaos proxy"),
        (X_SERVER, "server"),
    ] {
        let _ = writeln!(
            svg,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{name}</text>\
             <line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#9aa0a6\"/>",
            TOP - 14,
            TOP - 8
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{X_TIME}\" y=\"{}\" font-weight=\"bold\">time ↓</text>\
         <text x=\"{}\" y=\"{0}\" text-anchor=\"middle\" font-weight=\"bold\">reads</text>",
        TOP - 14,
        (X_READ + X_CLIENT) / 2
    );
    let mut row = 0;
    let text_row = |svg: &mut String, row: &mut usize, text: String| {
        let y = TOP + *row * ROW_H + ROW_H / 2 + 4;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{y}\" text-anchor=\"middle\" fill=\"#5f6368\">{}</text>",
            WIDTH / 2,
            xml_escape(&text)
        );
        *row += 1;
    };
    if earlier > 0 {
        text_row(&mut svg, &mut row, format!("… {earlier} earlier"));
    }
    let reply_of = |k: u64| data.boundaries.iter().position(|b| *b == k).unwrap_or(0) + 1;
    for &i in shown {
        let it = &data.items[i];
        let y = TOP + row * ROW_H + ROW_H / 2 + 4;
        let range = format!("[{}, {})", it.offset, it.end());
        let ticks: Vec<u64> = data
            .boundaries
            .iter()
            .copied()
            .filter(|k| it.offset < *k && *k <= it.end())
            .collect();
        let _ = write!(
            svg,
            "<g class=\"{}\"><text x=\"{X_TIME}\" y=\"{}\" fill=\"#5f6368\">{:.3} ms</text>",
            match it.kind {
                Kind::Request => "request",
                Kind::Up => "up",
                Kind::Down => "down",
                Kind::Read => "read",
            },
            y + 4,
            it.t_us as f64 / 1000.0
        );
        let ay = y + 2;
        match it.kind {
            Kind::Request | Kind::Up | Kind::Down => {
                let (x1, x2, color, label) = match it.kind {
                    Kind::Request => (
                        X_CLIENT,
                        X_PROXY,
                        C_REQUEST,
                        format!("request {} {range}", super::printable(&it.note)),
                    ),
                    Kind::Up => (X_PROXY, X_SERVER, C_UP, format!("up {range} {}", it.note)),
                    _ => (
                        X_PROXY,
                        X_CLIENT,
                        C_DOWN,
                        format!("down {range} {}", it.note),
                    ),
                };
                let ends: Vec<String> = if it.kind == Kind::Down {
                    ticks
                        .iter()
                        .map(|k| format!("reply {} ends @{k}", reply_of(*k)))
                        .collect()
                } else {
                    Vec::new()
                };
                let label = if ends.is_empty() {
                    label
                } else {
                    format!("{label} · {}", ends.join(", "))
                };
                arrow(&mut svg, x1, x2, ay, color, 1.5);
                let _ = write!(
                    svg,
                    "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
                    (x1 + x2) / 2,
                    ay - 4,
                    xml_escape(&label)
                );
                if it.kind == Kind::Down && it.len > 0 {
                    for k in &ticks {
                        let frac = (k - it.offset) as f64 / it.len as f64;
                        let x = X_PROXY as f64 - frac * (X_PROXY - X_CLIENT) as f64;
                        let _ = write!(
                            svg,
                            "<line class=\"boundary\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" \
                             y2=\"{}\" stroke=\"{C_BOUNDARY}\" stroke-width=\"2\"/>",
                            ay - 6,
                            ay + 6
                        );
                    }
                }
            }
            Kind::Read => {
                let hl = crossing.as_ref().filter(|(c, _)| *c == i);
                let (fill, stroke, class) = match hl {
                    Some(_) => ("#fce8e6", C_CROSS, " class=\"crossing\""),
                    None => ("#f1f3f4", "#5f6368", ""),
                };
                let (x, w, h) = (X_READ, X_CLIENT - 4 - X_READ, ROW_H - 4);
                let title = match hl {
                    Some((_, why)) => why.clone(),
                    None => format!("read {range}, {} bytes", it.len),
                };
                let _ = write!(
                    svg,
                    "<rect{class} x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{h}\" fill=\"{fill}\" \
                     stroke=\"{stroke}\" stroke-width=\"{}\"><title>{}</title></rect>",
                    ay - h / 2,
                    if hl.is_some() { 2 } else { 1 },
                    xml_escape(&title)
                );
                for k in ticks.iter().filter(|k| **k < it.end()) {
                    let frac = (k - it.offset) as f64 / it.len.max(1) as f64;
                    let tx = x as f64 + frac * w as f64;
                    let _ = write!(
                        svg,
                        "<line class=\"boundary\" x1=\"{tx:.1}\" y1=\"{}\" x2=\"{tx:.1}\" \
                         y2=\"{}\" stroke=\"{C_BOUNDARY}\" stroke-width=\"2\"/>",
                        ay - h / 2,
                        ay + h / 2
                    );
                }
                let _ = write!(
                    svg,
                    "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" \
                     fill=\"{}\">read {range}{}</text>",
                    x + w / 2,
                    ay + 4,
                    if hl.is_some() { C_CROSS } else { "#202124" },
                    if hl.is_some() { " ✗" } else { "" }
                );
                let _ = write!(
                    svg,
                    "<line x1=\"{}\" y1=\"{ay}\" x2=\"{X_CLIENT}\" y2=\"{ay}\" stroke=\"{stroke}\"/>",
                    x + w
                );
            }
        }
        svg.push_str("</g>\n");
        row += 1;
    }
    if later > 0 {
        text_row(&mut svg, &mut row, format!("… {later} more"));
    }
    if shown.is_empty() && earlier == 0 && later == 0 {
        text_row(&mut svg, &mut row, "nothing recorded".into());
    }
    // Legend.
    let ly = bottom + 22;
    let mut x = X_TIME;
    for (color, name) in [
        (C_REQUEST, "client request"),
        (C_UP, "proxy → server piece"),
        (C_DOWN, "proxy → client piece"),
        (C_BOUNDARY, "end of an expected reply"),
        (C_CROSS, "read crossing/cutting a reply"),
    ] {
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"{color}\"/>\
             <text x=\"{}\" y=\"{ly}\" font-size=\"10\">{name}</text>",
            ly - 9,
            x + 16
        );
        x += 16 + name.chars().count() * 6 + 14;
    }
    let _ = writeln!(
        svg,
        "\n<text x=\"{X_TIME}\" y=\"{}\" font-size=\"10\" fill=\"#5f6368\">byte ranges are \
         [first, end) offsets in each direction's stream; reply ends: {}</text>",
        ly + 18,
        if data.boundaries.is_empty() {
            "none found".to_string()
        } else {
            let mut s = data
                .boundaries
                .iter()
                .take(12)
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            if data.boundaries.len() > 12 {
                s += ", …";
            }
            s
        }
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: Kind, t_us: u64, offset: u64, len: usize) -> Item {
        Item {
            kind,
            t_us,
            offset,
            len,
            note: String::new(),
        }
    }

    /// Two 6-byte replies coalesced into one down piece; the client reads `reads`.
    fn sticky(reads: &[(u64, usize)]) -> Ladder {
        let mut items = vec![
            Item {
                note: "echo <a&b>".into(),
                ..item(Kind::Request, 0, 0, 10)
            },
            item(Kind::Up, 10, 0, 10),
            Item {
                note: "coalesce".into(),
                ..item(Kind::Down, 100, 0, 12)
            },
        ];
        items.extend(
            reads
                .iter()
                .enumerate()
                .map(|(n, (off, len))| item(Kind::Read, 110 + n as u64, *off, *len)),
        );
        Ladder {
            items,
            boundaries: vec![6, 12],
            omitted: 0,
        }
    }

    fn parses(svg: &str) -> roxmltree::Document<'_> {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        doc
    }

    fn highlighted(doc: &roxmltree::Document) -> usize {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("crossing"))
            .count()
    }

    #[test]
    fn a_read_across_a_reply_end_is_highlighted() {
        let data = sticky(&[(0, 12)]);
        let (i, why) = first_crossing(&data).unwrap();
        assert_eq!(data.items[i].kind, Kind::Read);
        assert!(
            why.contains("crosses the end of reply 1 at byte 6"),
            "{why}"
        );
        let svg = ladder("case <x>", &data);
        let doc = parses(&svg);
        assert_eq!(highlighted(&doc), 1);
        assert!(svg.contains("<title>case &lt;x&gt;</title>"));
        assert!(svg.contains("echo &lt;a&amp;b&gt;"));
        assert!(svg.contains("reply 1 ends @6, reply 2 ends @12"));
    }

    #[test]
    fn a_last_read_inside_a_reply_is_a_cut() {
        let data = sticky(&[(0, 4)]);
        let (_, why) = first_crossing(&data).unwrap();
        assert!(why.contains("cuts reply 1"), "{why}");
        assert_eq!(highlighted(&parses(&ladder("cut", &data))), 1);
    }

    #[test]
    fn reads_on_the_boundaries_are_not_highlighted() {
        for data in [
            sticky(&[(0, 6)]),
            sticky(&[(0, 3), (3, 3)]),
            Ladder {
                boundaries: Vec::new(),
                ..sticky(&[(0, 4)])
            },
        ] {
            assert_eq!(first_crossing(&data), None);
            let svg = ladder("fine", &data);
            assert_eq!(highlighted(&parses(&svg)), 0, "{svg}");
            assert!(!svg.contains("✗"));
        }
    }

    #[test]
    fn it_stays_bounded_and_keeps_the_highlight_in_view() {
        let mut data = Ladder {
            items: (0..500)
                .map(|n| item(Kind::Down, n, n, 1))
                .chain((0..200).map(|n| item(Kind::Read, 1000 + n, n, 1)))
                .collect(),
            boundaries: vec![150, 700],
            omitted: 7,
        };
        // The read [149, 151) crosses byte 150.
        data.items.push(item(Kind::Read, 1149, 149, 2));
        let svg = ladder("big", &data);
        let doc = parses(&svg);
        let rows = doc
            .descendants()
            .filter(|n| {
                matches!(
                    n.attribute("class"),
                    Some("request" | "up" | "down" | "read")
                )
            })
            .count();
        assert_eq!(rows, MAX_ROWS);
        assert_eq!(highlighted(&doc), 1);
        assert!(svg.contains(" earlier</text>"));
        assert!(svg.contains(" more</text>"));
        assert!(svg.len() < 40_000, "{} bytes", svg.len());
    }

    #[test]
    fn it_serialises_and_reads_back() {
        let data = sticky(&[(0, 12)]);
        let json = serde_json::to_string(&data).unwrap();
        assert!(json.contains("\"kind\":\"read\""));
        assert_eq!(serde_json::from_str::<Ladder>(&json).unwrap(), data);
        assert_eq!(
            serde_json::from_str::<Ladder>("{\"items\":[]}").unwrap(),
            Ladder::default()
        );
    }

    #[test]
    fn nothing_recorded_still_draws() {
        parses(&ladder("empty", &Ladder::default()));
    }
}
