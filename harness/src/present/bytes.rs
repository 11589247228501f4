//! Readable views of bytes: lowercase hex, and a short escaped preview.

pub use crate::codec::hex;

/// The first `max` bytes as lossy UTF-8 with quotes, backslashes and control characters
/// escaped as Rust would write them, and `…` when bytes were left off.
pub fn preview(bytes: &[u8], max: usize) -> String {
    let mut s: String = String::from_utf8_lossy(&bytes[..bytes.len().min(max)])
        .escape_debug()
        .collect();
    if bytes.len() > max {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(b""), "");
        assert_eq!(hex(&[0, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn preview_escapes_and_cuts() {
        assert_eq!(preview(b"hi\n\0\"", 10), "hi\\n\\0\\\"");
        assert_eq!(preview(b"abcdef", 3), "abc…");
        assert_eq!(preview(b"abc", 3), "abc");
        assert_eq!(preview(&[0xff, b'a'], 8), "\u{fffd}a");
        assert_eq!(preview(b"", 0), "");
    }
}
