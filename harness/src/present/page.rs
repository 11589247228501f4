//! A report page: titled sections, written as `index.html` and `report.md`.

use std::fmt::Write as _;
use std::path::Path;

use super::xml_escape;

/// One titled part of the report page.
pub struct Section {
    /// The section's heading.
    pub title: String,
    /// Its body in Markdown.
    pub markdown: String,
    /// Its body in HTML (escaped already).
    pub html: String,
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
