//! SVG charts: the series-drawing helper of the plotters line charts (latency), and the
//! hand-written heatmap of the matrices (rows × columns, colour = a rate in 0..=1, the number
//! written in each cell).

use std::fmt::Write as _;

use plotters::prelude::*;

use super::xml_escape;

/// A named line of a chart: its legend label and its points.
pub type Series<X, Y> = (String, Vec<(X, Y)>);

/// Draws each series as a coloured line with a dot per point, labelled for the legend.
pub fn draw_series<'a, X, Y>(
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

/// One measured cell of a [`heatmap`].
#[derive(Debug, Clone, PartialEq)]
pub struct HeatCell {
    /// The rate the colour shows, in 0..=1 (clamped).
    pub value: f64,
    /// Hover text.
    pub title: String,
    /// Where a click on the cell goes (e.g. `#fail-…`), if anywhere.
    pub href: Option<String>,
}

/// `v` as a whole percentage for a cell: `0%`, `<1%`, `37%`, `>99%`, `100%`.
pub fn percent(v: f64) -> String {
    let p = v.clamp(0.0, 1.0) * 100.0;
    if p > 0.0 && p < 1.0 {
        "<1%".into()
    } else if p > 99.0 && p < 100.0 {
        ">99%".into()
    } else {
        format!("{p:.0}%")
    }
}

/// The fill of a rate: pale green at 0, amber at 0.5, red at 1.
pub fn heat_color(v: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, (f64, f64, f64)); 3] = [
        (0.0, (230.0, 244.0, 234.0)),
        (0.5, (253.0, 214.0, 99.0)),
        (1.0, (217.0, 48.0, 37.0)),
    ];
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (lo, hi) = if v <= 0.5 {
        (STOPS[0], STOPS[1])
    } else {
        (STOPS[1], STOPS[2])
    };
    let t = (v - lo.0) / (hi.0 - lo.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    (
        mix(lo.1 .0, hi.1 .0),
        mix(lo.1 .1, hi.1 .1),
        mix(lo.1 .2, hi.1 .2),
    )
}

const CELL_W: usize = 104;
const CELL_H: usize = 24;
const CHAR_W: usize = 7;

/// A heatmap as an SVG document: a caption, the column headings, one row per `(name, cells)`
/// (a missing cell is grey, `–`), each cell coloured by its rate ([`heat_color`]), showing it
/// as a percentage and linking to its `href`; under it a colour scale labelled `scale`.
/// Everything is escaped.
pub fn heatmap(
    caption: &str,
    scale: &str,
    columns: &[&str],
    rows: &[(String, Vec<Option<HeatCell>>)],
) -> String {
    let label_w = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
        * CHAR_W
        + 16;
    let top = 52;
    let width = label_w + columns.len().max(1) * CELL_W + 12;
    let grid_bottom = top + rows.len() * CELL_H;
    let height = grid_bottom + 56;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"heatmap\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" \
         font-size=\"12\" role=\"img\" aria-label=\"{}\">\n<title>{0}</title>\n\
         <text x=\"{}\" y=\"20\" font-size=\"16\" text-anchor=\"middle\">{0}</text>\n",
        xml_escape(caption),
        width / 2
    );
    for (i, c) in columns.iter().enumerate() {
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            label_w + i * CELL_W + CELL_W / 2,
            top - 8,
            xml_escape(c)
        );
    }
    for (r, (name, cells)) in rows.iter().enumerate() {
        let y = top + r * CELL_H;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 8,
            y + CELL_H / 2 + 4,
            xml_escape(name)
        );
        for (i, cell) in cells.iter().enumerate() {
            let x = label_w + i * CELL_W;
            let (fill, text, ink) = match cell {
                None => ((240, 240, 240), "–".to_string(), "#777"),
                Some(c) => (
                    heat_color(c.value),
                    percent(c.value),
                    if c.value > 0.6 { "#fff" } else { "#202124" },
                ),
            };
            let body = format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{CELL_W}\" height=\"{CELL_H}\" \
                 fill=\"rgb({},{},{})\" stroke=\"#fff\"/><text x=\"{}\" y=\"{}\" \
                 text-anchor=\"middle\" fill=\"{ink}\">{text}</text>",
                fill.0,
                fill.1,
                fill.2,
                x + CELL_W / 2,
                y + CELL_H / 2 + 4
            );
            match cell {
                Some(HeatCell {
                    title, href: None, ..
                }) => {
                    let _ = writeln!(svg, "<g><title>{}</title>{body}</g>", xml_escape(title));
                }
                Some(HeatCell {
                    title,
                    href: Some(href),
                    ..
                }) => {
                    let _ = writeln!(
                        svg,
                        "<a href=\"{}\"><title>{}</title>{body}</a>",
                        xml_escape(href),
                        xml_escape(title)
                    );
                }
                None => {
                    let _ = writeln!(svg, "<g>{body}</g>");
                }
            }
        }
    }
    // The colour scale: eleven steps from 0 to 1.
    let sy = grid_bottom + 16;
    let step = 24;
    let sx = label_w;
    for k in 0..=10 {
        let (r, g, b) = heat_color(k as f64 / 10.0);
        let _ = writeln!(
            svg,
            "<rect x=\"{}\" y=\"{sy}\" width=\"{step}\" height=\"12\" fill=\"rgb({r},{g},{b})\"/>",
            sx + k * step
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{sx}\" y=\"{}\" font-size=\"11\">0%</text>\
         <text x=\"{}\" y=\"{0}\" font-size=\"11\" text-anchor=\"end\">100%</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
        sy + 26,
        sx + 11 * step,
        sx + 11 * step + 10,
        sy + 10,
        xml_escape(scale)
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_never_round_a_failure_away() {
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.004), "<1%");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(percent(0.996), ">99%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(2.0), "100%");
    }

    #[test]
    fn colours_run_from_green_to_red() {
        assert_eq!(heat_color(0.0), (230, 244, 234));
        assert_eq!(heat_color(1.0), (217, 48, 37));
        assert_eq!(heat_color(f64::NAN), heat_color(0.0));
        assert!(heat_color(0.75).1 < heat_color(0.25).1);
    }

    #[test]
    fn heatmap_shows_each_cell_links_and_escapes() {
        let svg = heatmap(
            "rates <a&b>",
            "failed / all",
            &["x", "y"],
            &[(
                "row&1".into(),
                vec![
                    Some(HeatCell {
                        value: 1.0,
                        title: "t\"".into(),
                        href: Some("#fail-a/b".into()),
                    }),
                    None,
                ],
            )],
        );
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("<title>rates &lt;a&amp;b&gt;</title>"));
        assert!(svg.contains(">row&amp;1</text>"));
        assert!(svg.contains("<a href=\"#fail-a/b\"><title>t&quot;</title>"));
        assert!(svg.contains(">100%</text>") && svg.contains(">–</text>"));
        assert!(svg.ends_with("</svg>\n"));
    }
}
