//! SVG line charts (plotters): the series-drawing helper and the rate chart of the matrices.

use plotters::prelude::*;

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
