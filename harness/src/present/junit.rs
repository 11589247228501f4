//! JUnit XML: a small model (suites of test cases, some failed) and its one writer.
//!
//! Names, messages and bodies are escaped, and control characters XML 1.0 cannot carry are
//! shown as `\u{..}` escapes.

use std::fmt::Write as _;

use super::{printable, xml_escape};

/// A `<testsuites>` document.
#[derive(Debug, Clone, Default)]
pub struct Suites {
    /// The `name` of `<testsuites>`.
    pub name: String,
    /// Its suites, in order.
    pub suites: Vec<Suite>,
}

/// One `<testsuite>`; `tests` and `failures` are counted from its cases.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    /// The suite's name.
    pub name: String,
    /// Its time in seconds.
    pub secs: f64,
    /// Its cases, in order.
    pub cases: Vec<Case>,
}

/// One `<testcase>`.
#[derive(Debug, Clone, Default)]
pub struct Case {
    /// The `classname` attribute.
    pub classname: String,
    /// The case's name.
    pub name: String,
    /// Its time in seconds.
    pub secs: f64,
    /// Why it failed; `None` when it passed.
    pub failure: Option<Failure>,
}

/// The `<failure>` of a failed case.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    /// The `message` attribute.
    pub message: String,
    /// The element's text.
    pub body: String,
}

impl Suite {
    /// How many of its cases failed.
    pub fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }
}

fn text(s: &str) -> String {
    xml_escape(&printable(s))
}

impl Suites {
    /// The document as XML.
    pub fn to_xml(&self) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\">\n",
            text(&self.name)
        );
        for s in &self.suites {
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
                text(&s.name),
                s.cases.len(),
                s.failures(),
                s.secs
            );
            for c in &s.cases {
                let _ = write!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                    text(&c.classname),
                    text(&c.name),
                    c.secs
                );
                match &c.failure {
                    None => out.push_str("/>\n"),
                    Some(f) => {
                        let _ = write!(
                            out,
                            ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                            text(&f.message),
                            text(&f.body)
                        );
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, failure: Option<Failure>) -> Case {
        Case {
            classname: "suite.a".into(),
            name: name.into(),
            secs: 0.0125,
            failure,
        }
    }

    #[test]
    fn counts_failures_per_suite() {
        let doc = Suites {
            name: "all".into(),
            suites: vec![
                Suite {
                    name: "a".into(),
                    secs: 1.5,
                    cases: vec![
                        case("one", None),
                        case(
                            "two",
                            Some(Failure {
                                message: "bad".into(),
                                body: "why".into(),
                            }),
                        ),
                        case("three", None),
                    ],
                },
                Suite {
                    name: "b".into(),
                    secs: 0.0,
                    cases: vec![],
                },
            ],
        };
        let xml = doc.to_xml();
        assert!(xml.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"all\">\n"
        ));
        assert!(
            xml.contains("<testsuite name=\"a\" tests=\"3\" failures=\"1\" time=\"1.500\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"b\" tests=\"0\" failures=\"0\" time=\"0.000\">"),
            "{xml}"
        );
        assert!(xml.contains("<testcase classname=\"suite.a\" name=\"one\" time=\"0.013\"/>\n"));
        assert!(xml.contains(
            "name=\"two\" time=\"0.013\">\n      <failure message=\"bad\">why</failure>\n    </testcase>\n"
        ));
        assert!(xml.ends_with("  </testsuite>\n</testsuites>\n"));
    }

    #[test]
    fn escapes_names_messages_and_bodies() {
        let doc = Suites {
            name: "a&b".into(),
            suites: vec![Suite {
                name: "<s>".into(),
                secs: 0.0,
                cases: vec![case(
                    "n\"1\"",
                    Some(Failure {
                        message: "m\u{0}<".into(),
                        body: "x & y\n<z>\u{7}".into(),
                    }),
                )],
            }],
        };
        let xml = doc.to_xml();
        assert!(xml.contains("<testsuites name=\"a&amp;b\">"), "{xml}");
        assert!(xml.contains("<testsuite name=\"&lt;s&gt;\""), "{xml}");
        assert!(xml.contains("name=\"n&quot;1&quot;\""), "{xml}");
        assert!(
            xml.contains("<failure message=\"m\\u{0}&lt;\">x &amp; y\n&lt;z&gt;\\u{7}</failure>"),
            "{xml}"
        );
        assert!(!xml.contains('\0') && !xml.contains('\u{7}'));
    }
}
