//! Rendering an attack: the terminal table, JSON (the serialised [`AttackReport`]) and JUnit XML
//! (one testsuite, one testcase per case), as `stickler check` does.

use comfy_table::{Cell, Color};

use super::mutate::MUTANT_PREFIX;
use super::{AttackReport, CaseResult};
use crate::present::junit::{Case, Failure, Suite, Suites};
use crate::present::table::terminal_table;

fn is_mutant(r: &CaseResult) -> bool {
    r.name.starts_with(MUTANT_PREFIX)
}

fn growth(r: &CaseResult) -> String {
    match r.rss_growth {
        None => "-".into(),
        Some(b) if b.abs() < 1 << 20 => format!("{:+} KiB", b / 1024),
        Some(b) => format!("{:+.1} MiB", b as f64 / (1u64 << 20) as f64),
    }
}

/// The terminal table: every catalogue case, and the mutants that broke the target (the
/// others are counted in a last row); coloured when `color` (a tty).
pub fn table(report: &AttackReport, color: bool) -> String {
    let mut t = terminal_table(color);
    t.set_header(vec![
        "case",
        "outcome",
        "target's reaction",
        "memory",
        "detail",
    ]);
    for r in report
        .results
        .iter()
        .filter(|r| !is_mutant(r) || !r.survived())
    {
        let outcome = Cell::new(r.outcome.name()).fg(if r.survived() {
            Color::Green
        } else {
            Color::Red
        });
        t.add_row(vec![
            Cell::new(&r.name),
            outcome,
            Cell::new(r.reaction.summary()),
            Cell::new(growth(r)),
            Cell::new(cut(&r.detail, 100)),
        ]);
    }
    let mutants: Vec<&CaseResult> = report.results.iter().filter(|r| is_mutant(r)).collect();
    if !mutants.is_empty() {
        let broken = mutants.iter().filter(|r| !r.survived()).count();
        t.add_row(vec![
            Cell::new(format!("{MUTANT_PREFIX}* ({} mutants)", mutants.len())),
            Cell::new(format!("{} survived", mutants.len() - broken)),
            Cell::new(""),
            Cell::new(""),
            Cell::new(format!("seed {}; broken ones listed above", report.seed)),
        ]);
    }
    t.to_string()
}

/// One line: how many cases, how many broke the target.
pub fn summary(report: &AttackReport) -> String {
    let broken = report.broken();
    format!(
        "{} cases against {} ({} framing), {} survived, {} broke it, in {:.1} s (seed {})",
        report.results.len(),
        report.target,
        report.framing,
        report.results.len() - broken,
        broken,
        report.elapsed_ms as f64 / 1000.0,
        report.seed
    )
}

fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// JUnit XML: one testsuite named after the framing, one testcase per case, a `<failure>` for
/// each case that broke the target.
pub fn junit(report: &AttackReport) -> String {
    let cases = report
        .results
        .iter()
        .map(|r| Case {
            classname: format!("attack.{}", report.framing),
            name: r.name.clone(),
            secs: r.elapsed_ms as f64 / 1000.0,
            failure: (!r.survived()).then(|| Failure {
                message: r.outcome.name().to_string(),
                body: format!(
                    "{}\nreaction: {}\nmemory: {}\n{}",
                    r.about,
                    r.reaction.summary(),
                    growth(r),
                    r.detail
                ),
            }),
        })
        .collect();
    Suites {
        name: "stickler attack".into(),
        suites: vec![Suite {
            name: format!("attack {}", report.framing),
            secs: report.elapsed_ms as f64 / 1000.0,
            cases,
        }],
    }
    .to_xml()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::{Outcome, Reaction, Wire};

    fn result(name: &str, outcome: Outcome, detail: &str) -> CaseResult {
        CaseResult {
            name: name.into(),
            about: "about <it>".into(),
            outcome,
            reaction: Reaction {
                connections: 1,
                closed: 1,
                ..Reaction::default()
            },
            detail: detail.into(),
            rss_growth: Some(3 << 20),
            elapsed_ms: 12,
        }
    }

    fn report() -> AttackReport {
        AttackReport {
            target: "127.0.0.1:9".parse().unwrap(),
            framing: "framed".into(),
            wire: Wire::Len,
            seed: 5,
            results: vec![
                result("len-negative", Outcome::Survived, "probe answered in 1 ms"),
                result("len-i32-max", Outcome::Hung, "probe: timed out \u{0}<&>"),
                result("mutate-0001", Outcome::Survived, ""),
            ],
            elapsed_ms: 40,
        }
    }

    #[test]
    fn junit_counts_failures_and_escapes() {
        let xml = junit(&report());
        assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
        assert!(xml.contains("<failure message=\"hung\">"), "{xml}");
        assert!(xml.contains("timed out \\u{0}&lt;&amp;&gt;"), "{xml}");
        assert!(xml.contains("about &lt;it&gt;"), "{xml}");
        assert!(!xml.contains('\0'));
    }

    #[test]
    fn table_lists_cases_and_counts_mutants() {
        let t = table(&report(), false);
        assert!(t.contains("len-i32-max") && t.contains("hung"), "{t}");
        assert!(!t.contains("mutate-0001"), "{t}");
        assert!(t.contains("mutate-* (1 mutants)"), "{t}");
        assert!(t.contains("+3.0 MiB"), "{t}");
        assert!(
            summary(&report()).contains("3 cases"),
            "{}",
            summary(&report())
        );
    }
}
