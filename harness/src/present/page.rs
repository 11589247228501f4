//! A report page: titled sections, written as `index.html` and `report.md`.
//!
//! The HTML page opens with its contents (a link to each section) and links to the files
//! beside it (the JSON, the JUnit XML, the Markdown, …). A section links a file by its path as
//! the program sees it (relative to the working directory, or absolute), and only when the
//! file exists ([`file_href`]); [`write_dir`] rewrites each such link relative to the page, so
//! that it resolves from `index.html`.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

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

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;\
line-height:1.4;color:#202124}\
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}\
nav{background:#f6f8fa;border:1px solid #ddd;padding:.5em 1em;font-size:14px}\
nav a{margin-right:1em}\
.lead{font-size:17px;padding:.6em 1em;border-left:5px solid #1e8e3e;background:#e6f4ea}\
.lead.differs{border-color:#d93025;background:#fce8e6}\
table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;overflow-wrap:anywhere}\
th{background:#f6f8fa;text-align:left}\
td.pass{background:#e6f4ea}td.fail{background:#fce8e6}\
td a{color:inherit}\
pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere}\
code{overflow-wrap:anywhere}\
svg{max-width:100%;height:auto;display:block;margin:1em 0}\
.lead.neutral{border-color:#1a73e8;background:#e8f0fe}.lead p{margin:.3em 0}\
section h4{margin-bottom:.3em}:target{outline:3px solid #fbbc04}";

/// `path` as an `href` (not escaped yet) when the file exists (relative to the working
/// directory or absolute); [`write_dir`] makes it relative to the page.
pub fn file_href(path: &Path) -> Option<String> {
    path.exists()
        .then(|| path.to_string_lossy().replace('\\', "/"))
}

/// An `<a>` to `path` showing `text` (escaped) when the file exists, `text` alone otherwise.
pub fn file_link(path: &Path, text: &str) -> String {
    match file_href(path) {
        Some(href) => format!("<a href=\"{}\">{}</a>", xml_escape(&href), xml_escape(text)),
        None => xml_escape(text),
    }
}

/// The id of a section's heading: its title in lowercase, letters and digits kept, every
/// other run of characters one `-`.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "section".into()
    } else {
        out
    }
}

/// `to` relative to the directory `from`, with `/` separators; both must exist.
fn relative(from: &Path, to: &Path) -> Option<String> {
    let from = from.canonicalize().ok()?;
    let to = to.canonicalize().ok()?;
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return None;
    }
    let mut parts: Vec<String> = vec!["..".into(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Some(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `html` with every `href` to an existing file (a path as the program sees it) made relative
/// to `dir`; anchors, URLs and paths that do not resolve are left as they are.
fn rebase_links(html: &str, dir: &Path) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find("href=\"") {
        let (head, tail) = rest.split_at(at + 6);
        out.push_str(head);
        let end = tail.find('"').unwrap_or(tail.len());
        let target = &tail[..end];
        let (path, fragment) = match target.find('#') {
            Some(i) => target.split_at(i),
            None => (target, ""),
        };
        let external = path.is_empty() || path.contains("://") || path.starts_with("mailto:");
        match (!external)
            .then(|| relative(dir, &PathBuf::from(unescape(path))))
            .flatten()
        {
            Some(rel) => {
                out.push_str(&xml_escape(&rel));
                out.push_str(fragment);
            }
            None => out.push_str(target),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Writes `report.md`, then `index.html` into `dir` (created if missing): the title, the
/// contents and the files in `dir` (each linked), then each section under its heading.
pub fn write_dir(dir: &Path, title: &str, sections: &[Section]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut md = format!("# {title}\n");
    for s in sections {
        let _ = write!(md, "\n## {}\n\n{}", s.title, s.markdown);
    }
    std::fs::write(dir.join("report.md"), md)?;

    let mut ids: Vec<String> = Vec::new();
    for s in sections {
        let base = slug(&s.title);
        let mut id = base.clone();
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        ids.push(id);
    }
    let mut files: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "index.html")
        .collect();
    files.sort();
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{0}</title><style>{STYLE}</style></head><body><h1>{0}</h1>\n<nav>",
        xml_escape(title)
    );
    if sections.len() > 1 {
        html.push_str("<div>Contents: ");
        for (s, id) in sections.iter().zip(&ids) {
            let _ = write!(html, "<a href=\"#{id}\">{}</a>", xml_escape(&s.title));
        }
        html.push_str("</div>");
    }
    html.push_str("<div>Files: ");
    for f in &files {
        let _ = write!(html, "<a href=\"{0}\">{0}</a>", xml_escape(f));
    }
    html.push_str("</div></nav>\n");
    for (s, id) in sections.iter().zip(&ids) {
        let _ = write!(
            html,
            "<section id=\"{id}\"><h2>{}</h2>\n{}</section>\n",
            xml_escape(&s.title),
            rebase_links(&s.html, dir)
        );
    }
    html.push_str("</body></html>\n");
    std::fs::write(dir.join("index.html"), html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_plain() {
        assert_eq!(slug("Latency: what it costs"), "latency-what-it-costs");
        assert_eq!(slug("UDP: datagram verdicts"), "udp-datagram-verdicts");
        assert_eq!(slug("!!"), "section");
    }

    #[test]
    fn links_to_files_are_made_relative_to_the_page() {
        let tmp = tempfile::tempdir().unwrap();
        let page = tmp.path().join("report");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&page).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("a b.json"), "{}").unwrap();
        let file = data.join("a b.json");
        let href = xml_escape(&file_href(&file).unwrap());
        let html = format!("<a href=\"{href}#x\">a</a><a href=\"#y\">y</a><a href=\"nope\">n</a>");
        assert_eq!(
            rebase_links(&html, &page),
            "<a href=\"../data/a b.json#x\">a</a><a href=\"#y\">y</a><a href=\"nope\">n</a>"
        );
        assert!(file_href(&data.join("missing")).is_none());
        assert_eq!(file_link(&data.join("missing"), "m&"), "m&amp;");
    }

    #[test]
    fn the_page_lists_sections_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("matrix.json"), "{}").unwrap();
        let s = |t: &str| Section {
            title: t.into(),
            markdown: "m\n".into(),
            html: "<p>h</p>".into(),
        };
        write_dir(tmp.path(), "T", &[s("A b"), s("A b")]).unwrap();
        let html = std::fs::read_to_string(tmp.path().join("index.html")).unwrap();
        assert!(html.contains("<a href=\"#a-b\">A b</a><a href=\"#a-b-2\">A b</a>"));
        assert!(html.contains("<a href=\"matrix.json\">matrix.json</a>"));
        assert!(html.contains("<a href=\"report.md\">report.md</a>"));
        assert!(html.contains("<section id=\"a-b-2\"><h2>A b</h2>"));
    }
}
