//! The one escaper for XML and HTML text and attributes, and the view of text that XML 1.0
//! can carry.

/// Escapes `&`, `<`, `>` and `"` for XML or HTML text and attribute values.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `s` with every control character other than newline and tab (not allowed in XML 1.0)
/// shown as a Rust `\u{..}` escape.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !c.is_control() || c == '\n' || c == '\t' {
            out.push(c);
        } else {
            out.extend(c.escape_unicode());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(xml_escape(r#"a<b>&"c"'"#), "a&lt;b&gt;&amp;&quot;c&quot;'");
        assert_eq!(xml_escape("&amp;"), "&amp;amp;");
        assert_eq!(xml_escape("plain ü"), "plain ü");
    }

    #[test]
    fn printable_escapes_controls_but_newline_and_tab() {
        assert_eq!(printable("a\0b\u{1b}\n\tc"), "a\\u{0}b\\u{1b}\n\tc");
        assert_eq!(printable("ok ü"), "ok ü");
    }
}
