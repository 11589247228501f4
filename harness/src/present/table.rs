//! Tables: the terminal table's setup, Markdown tables, plain HTML tables and the HTML matrix
//! (row names down the side, one cell per column, each cell classed and titled).

use std::fmt::Write as _;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::xml_escape;

/// An empty terminal table in the report style; coloured only when `color` (a tty).
pub fn terminal_table(color: bool) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    if !color {
        t.force_no_tty();
    }
    t
}

/// A Markdown table: the header row, the `---` row, one line per row (cells as given).
pub fn md_table<S: AsRef<str>>(
    header: &[S],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> String {
    let header: Vec<&str> = header.iter().map(AsRef::as_ref).collect();
    let mut md = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for r in rows {
        let _ = writeln!(md, "| {} |", r.join(" | "));
    }
    md
}

/// A Markdown matrix: a corner heading and the column headings, then one row per
/// `(name, cells)`.
pub fn md_matrix(
    corner: &str,
    columns: &[&str],
    rows: impl IntoIterator<Item = (String, Vec<String>)>,
) -> String {
    let header: Vec<&str> = std::iter::once(corner)
        .chain(columns.iter().copied())
        .collect();
    md_table(
        &header,
        rows.into_iter().map(|(name, cells)| {
            let mut row = vec![name];
            row.extend(cells);
            row
        }),
    )
}

/// A plain HTML table on one line: header cells, then data cells, all escaped.
pub fn html_table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut h = String::from("<table><tr>");
    for c in header {
        let _ = write!(h, "<th>{}</th>", xml_escape(c));
    }
    h.push_str("</tr>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{}</td>", xml_escape(&c));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>\n");
    h
}

/// One measured cell of an HTML matrix.
pub struct MatrixCell {
    /// CSS class (`pass` or `fail` in the page style).
    pub class: &'static str,
    /// Hover text.
    pub title: String,
    /// What the cell shows.
    pub text: String,
    /// Where the cell's text links to (e.g. `#fail-…`), if anywhere.
    pub href: Option<String>,
}

/// An HTML matrix (`class="matrix"`): a corner heading and the column headings, then one row
/// per `(name, cells)`, a missing cell shown as `-`, a cell with an `href` linking its text.
/// Everything is escaped.
pub fn html_matrix(
    corner: &str,
    columns: &[&str],
    rows: impl IntoIterator<Item = (String, Vec<Option<MatrixCell>>)>,
) -> String {
    let mut html = format!(
        "<table class=\"matrix\"><tr><th>{}</th>",
        xml_escape(corner)
    );
    for c in columns {
        let _ = write!(html, "<th>{}</th>", xml_escape(c));
    }
    html.push_str("</tr>\n");
    for (name, cells) in rows {
        let _ = write!(html, "<tr><th>{}</th>", xml_escape(&name));
        for c in cells {
            match c {
                None => html.push_str("<td>-</td>"),
                Some(c) => {
                    let text = match &c.href {
                        Some(href) => {
                            format!(
                                "<a href=\"{}\">{}</a>",
                                xml_escape(href),
                                xml_escape(&c.text)
                            )
                        }
                        None => xml_escape(&c.text),
                    };
                    let _ = write!(
                        html,
                        "<td class=\"{}\" title=\"{}\">{text}</td>",
                        c.class,
                        xml_escape(&c.title),
                    );
                }
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_table_has_header_rule_and_rows() {
        let md = md_table(&["a", "b"], vec![vec!["1".into(), "2".into()]]);
        assert_eq!(md, "| a | b |\n|---|---|\n| 1 | 2 |\n");
        let m = md_matrix("r/c", &["x"], vec![("r".to_string(), vec!["1".into()])]);
        assert_eq!(m, "| r/c | x |\n|---|---|\n| r | 1 |\n");
    }

    #[test]
    fn html_tables_escape() {
        let h = html_table(&["<h>"], vec![vec!["a&b".into()]]);
        assert_eq!(
            h,
            "<table><tr><th>&lt;h&gt;</th></tr><tr><td>a&amp;b</td></tr></table>\n"
        );
        let m = html_matrix(
            "row/col",
            &["x", "y"],
            vec![(
                "r".to_string(),
                vec![
                    None,
                    Some(MatrixCell {
                        class: "fail",
                        title: "t\"".into(),
                        text: "<1>".into(),
                        href: Some("#fail-r/y".into()),
                    }),
                ],
            )],
        );
        assert_eq!(
            m,
            "<table class=\"matrix\"><tr><th>row/col</th><th>x</th><th>y</th></tr>\n\
             <tr><th>r</th><td>-</td><td class=\"fail\" title=\"t&quot;\"><a href=\"#fail-r/y\">&lt;1&gt;</a></td></tr>\n</table>\n"
        );
    }
}
