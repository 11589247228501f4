//! The line reader of expected tables: `ID VALUE` per line, `#` comments, blank lines skipped.
//! Each feature decides what its IDs and values mean.

use std::collections::BTreeMap;

/// A line of an expected table that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ExpectError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// Reads `ID VALUE` lines (`#` starts a comment, blank lines are skipped): each pair goes
/// through `entry`; a line of another shape, a refused pair or an ID listed twice is an error
/// naming its line. `shape` describes a line for that error, e.g. "`CASE pass|fail`".
pub fn parse_table<K: Ord, V>(
    text: &str,
    shape: &str,
    mut entry: impl FnMut(&str, &str) -> Result<(K, V), String>,
) -> Result<BTreeMap<K, V>, ExpectError> {
    let mut table = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let err = |message: String| ExpectError {
            line: i + 1,
            message,
        };
        let mut words = line.split_whitespace();
        let (Some(id), Some(value), None) = (words.next(), words.next(), words.next()) else {
            return Err(err(format!("expected {shape}, got {line:?}")));
        };
        let (key, value) = entry(id, value).map_err(err)?;
        if table.insert(key, value).is_some() {
            return Err(err(format!("{id} listed twice")));
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(text: &str) -> Result<BTreeMap<String, u32>, ExpectError> {
        parse_table(text, "`ID N`", |id, n| {
            Ok((id.to_string(), n.parse().map_err(|e| format!("{e}"))?))
        })
    }

    #[test]
    fn reads_pairs_skipping_comments_and_blanks() {
        let t = numbers("# head\n\n a 1 \nb 2 # two\n   # only a comment\n").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t["a"], 1);
        assert_eq!(t["b"], 2);
        assert!(numbers("").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let e = numbers("a 1\nb\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("expected `ID N`"), "{e}");
        let e = numbers("a 1\nb 2 3").unwrap_err();
        assert_eq!(e.line, 2);
        let e = numbers("a x").unwrap_err();
        assert_eq!((e.line, e.to_string().starts_with("line 1: ")), (1, true));
        let e = numbers("a 1\n# c\na 2").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("a listed twice"), "{e}");
    }
}
