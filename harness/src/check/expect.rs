//! Expected verdict tables: one line per case, `FRAMING/PROFILE/WORKLOAD pass|fail`, `#` comments.
//! The measured matrix is compared with one like a snapshot.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::matrix::CaseId;
use crate::present::{parse_table, ExpectError};

/// Expected outcome per case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectTable(pub BTreeMap<CaseId, bool>);

impl ExpectTable {
    pub fn parse(text: &str) -> Result<ExpectTable, ExpectError> {
        parse_table(text, "`CASE pass|fail`", |id, outcome| {
            let case: CaseId = id.parse()?;
            match outcome {
                "pass" => Ok((case, true)),
                "fail" => Ok((case, false)),
                other => Err(format!("outcome must be pass or fail, got {other:?}")),
            }
        })
        .map(ExpectTable)
    }

    pub fn render(&self) -> String {
        let mut out = String::from("# stickler expected verdicts: CASE pass|fail\n");
        for (case, pass) in &self.0 {
            let _ = writeln!(out, "{case} {}", if *pass { "pass" } else { "fail" });
        }
        out
    }

    /// Differences between this table and `measured`: for each measured case, a line when the
    /// outcome differs or the case is not in the table.
    pub fn compare(&self, measured: &[(CaseId, bool)]) -> Vec<String> {
        let word = |p: bool| if p { "pass" } else { "fail" };
        measured
            .iter()
            .filter_map(|(case, pass)| match self.0.get(case) {
                None => Some(format!(
                    "{case}: measured {} but the table has no such case",
                    word(*pass)
                )),
                Some(want) if want != pass => Some(format!(
                    "{case}: expected {}, measured {}",
                    word(*want),
                    word(*pass)
                )),
                Some(_) => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_renders_and_compares() {
        let t = ExpectTable::parse("# c\nstruct/none/small pass\nnaive/none/large fail # spills\n")
            .unwrap();
        assert_eq!(ExpectTable::parse(&t.render()).unwrap(), t);
        let a: CaseId = "struct/none/small".parse().unwrap();
        let b: CaseId = "naive/none/large".parse().unwrap();
        let c: CaseId = "ready/none/small".parse().unwrap();
        assert!(t.compare(&[(a, true), (b, false)]).is_empty());
        assert_eq!(t.compare(&[(a, false)]).len(), 1);
        assert_eq!(t.compare(&[(c, true)]).len(), 1);
        assert!(ExpectTable::parse("struct/none/small maybe").is_err());
        assert!(ExpectTable::parse("a b c").is_err());
    }
}
