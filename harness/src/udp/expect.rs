//! Expected UDP verdicts: one line per cell, `SERVICE/PROFILE/WORKLOAD KINDS`, where KINDS is
//! the set of datagram verdicts seen, in table order, joined by `+` (`ok+lost`), and `#` starts
//! a comment. The measured matrix is compared with one like a snapshot
//! (`harness/expected/udp.txt`).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::verdict::DatagramVerdict;
use crate::present::{parse_table, ExpectError};

/// Expected verdict set per cell ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdpExpectTable(pub BTreeMap<String, String>);

/// A line of the table that could not be read.
pub type UdpExpectError = ExpectError;

impl UdpExpectTable {
    pub fn parse(text: &str) -> Result<UdpExpectTable, UdpExpectError> {
        parse_table(text, "`CELL KINDS`", |id, kinds| {
            if id.split('/').count() != 3 {
                return Err(format!("cell {id:?} is not SERVICE/PROFILE/WORKLOAD"));
            }
            for k in kinds.split('+') {
                if DatagramVerdict::parse(k).is_none() && kinds != "none" {
                    return Err(format!("unknown verdict {k:?}"));
                }
            }
            Ok((id.to_string(), kinds.to_string()))
        })
        .map(UdpExpectTable)
    }

    /// The table as text, cells in the order given.
    pub fn render(outcomes: &[(String, String)]) -> String {
        let mut out = String::from("# stickler expected UDP verdicts: CELL KINDS\n");
        for (id, kinds) in outcomes {
            let _ = writeln!(out, "{id} {kinds}");
        }
        out
    }

    /// One line per measured cell that differs from the table or is missing from it, and one
    /// per table cell that was not measured.
    pub fn compare(&self, measured: &[(String, String)]) -> Vec<String> {
        let mut diffs: Vec<String> = measured
            .iter()
            .filter_map(|(id, kinds)| match self.0.get(id) {
                None => Some(format!(
                    "{id}: measured {kinds} but the table has no such cell"
                )),
                Some(want) if want != kinds => {
                    Some(format!("{id}: expected {want}, measured {kinds}"))
                }
                Some(_) => None,
            })
            .collect();
        for id in self.0.keys() {
            if !measured.iter().any(|(m, _)| m == id) {
                diffs.push(format!("{id}: in the table but not measured"));
            }
        }
        diffs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares() {
        let t = UdpExpectTable::parse("# c\necho/none/small ok\necho/drop/small ok+lost # x\n")
            .unwrap();
        let m = vec![
            ("echo/none/small".to_string(), "ok".to_string()),
            ("echo/drop/small".to_string(), "ok".to_string()),
        ];
        assert_eq!(t.compare(&m).len(), 1);
        assert_eq!(
            UdpExpectTable::parse(&UdpExpectTable::render(&m))
                .unwrap()
                .0
                .len(),
            2
        );
        assert!(UdpExpectTable::parse("echo/none/small maybe").is_err());
        assert!(UdpExpectTable::parse("echo/none ok").is_err());
        assert!(UdpExpectTable::parse("a/b/c ok\na/b/c ok").is_err());
    }
}
