//! Comparing a turn with its reference under masks (byte ranges that may differ).

use std::ops::Range;

/// Byte ranges of one turn that are not compared.
pub type TurnMasks = Vec<Range<usize>>;

/// The ranges where two clean runs of a turn differ, or `Err` when their lengths differ.
pub fn derive(a: &[u8], b: &[u8]) -> Result<TurnMasks, (usize, usize)> {
    if a.len() != b.len() {
        return Err((a.len(), b.len()));
    }
    let mut out: TurnMasks = Vec::new();
    for i in (0..a.len()).filter(|&i| a[i] != b[i]) {
        match out.last_mut() {
            Some(r) if r.end + 4 >= i => r.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    Ok(out)
}

/// The first offset where `got` differs from `expected` outside `masks`, if any.
pub fn first_difference(expected: &[u8], got: &[u8], masks: &[Range<usize>]) -> Option<usize> {
    let masked = |i: usize| masks.iter().any(|r| r.contains(&i));
    (0..expected.len().max(got.len())).find(|&i| !masked(i) && expected.get(i) != got.get(i))
}
