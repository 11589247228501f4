//! The `text` form of a turn's bytes: a string a person can type, with backslash escapes for
//! the bytes a JSON string cannot carry as themselves.
//!
//! The JSON string is read first (JSON's own escapes such as `\n` or `\u0000` apply there), then
//! the resulting characters are turned into bytes:
//!
//! | written | byte(s) |
//! |---|---|
//! | any character other than `\` | its UTF-8 bytes (one byte for ASCII) |
//! | `\\` | `\` (0x5C) |
//! | `\n`, `\r`, `\t`, `\0` | 0x0A, 0x0D, 0x09, 0x00 |
//! | `\xNN` (exactly two hex digits, either case) | the byte 0xNN, any of 0x00–0xFF |
//!
//! Any other backslash sequence is an error, so a typo never becomes bytes silently. Because
//! the file is JSON, a stickler escape is written with a doubled backslash there:
//! `"text": "PING\\r\\n\\xff"` is the bytes `P I N G 0x0D 0x0A 0xFF`. A character beyond ASCII
//! (`é`, or JSON's `\u00e9`) is its UTF-8 encoding (two bytes here): to write the single byte
//! 0xE9, write `\\xe9`.

/// Where and why a `text` string could not be turned into bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {at}: {message}")]
pub struct EscapeError {
    /// Index of the offending character (0 = the first) in the string as JSON decoded it.
    pub at: usize,
    pub message: String,
}

/// The escapes [`decode_text`] understands, for error messages.
const KNOWN: &str = r"\\ \n \r \t \0 \xNN";

/// Turns the text form of a turn into its bytes (syntax in the [module docs](self)).
pub fn decode_text(text: &str) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().enumerate();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        let err = |message: String| EscapeError { at, message };
        let byte = match chars.next().map(|(_, e)| e) {
            None => {
                return Err(err(
                    r"a lone \ at the end (write \\ for a backslash)".to_owned()
                ))
            }
            Some('\\') => b'\\',
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('t') => b'\t',
            Some('0') => 0,
            Some('x') => {
                let digits: String = chars.by_ref().take(2).map(|(_, d)| d).collect();
                match (digits.len(), u8::from_str_radix(&digits, 16)) {
                    (2, Ok(b)) if digits.chars().all(|d| d.is_ascii_hexdigit()) => b,
                    _ => {
                        return Err(err(format!(
                            r"\x needs exactly two hex digits, got {digits:?}"
                        )))
                    }
                }
            }
            Some(other) => {
                return Err(err(format!(
                    r"unknown escape \{other} (the escapes are {KNOWN})"
                )))
            }
        };
        out.push(byte);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_its_bytes() {
        assert_eq!(decode_text("PING").unwrap(), b"PING");
        assert_eq!(decode_text("").unwrap(), b"");
        // Real control characters (from JSON's own escapes) pass through.
        assert_eq!(decode_text("a\r\n\u{0}").unwrap(), b"a\r\n\0");
    }

    #[test]
    fn every_escape() {
        assert_eq!(
            decode_text(r"PING\r\n\x00\xff\xAb\t\0\\").unwrap(),
            b"PING\r\n\x00\xff\xab\t\0\\"
        );
    }

    #[test]
    fn beyond_ascii_is_utf8() {
        assert_eq!(decode_text("é").unwrap(), [0xc3, 0xa9]);
        assert_eq!(decode_text(r"\xe9").unwrap(), [0xe9]);
    }

    #[test]
    fn bad_escapes_say_where_and_what() {
        let e = decode_text(r"ab\q").unwrap_err();
        assert_eq!(e.at, 2);
        assert!(e.message.contains(r"unknown escape \q"), "{e}");
        assert!(e.message.contains(r"\xNN"), "{e}");

        let e = decode_text(r"ok\").unwrap_err();
        assert_eq!(e.at, 2);
        assert!(e.message.contains("lone"), "{e}");

        for bad in [r"\x", r"\x4", r"\x4g", r"\x+1", r"\xé1"] {
            let e = decode_text(bad).unwrap_err();
            assert_eq!(e.at, 0, "{bad}");
            assert!(e.message.contains("two hex digits"), "{bad}: {e}");
        }
        // Positions count characters, not bytes.
        assert_eq!(decode_text(r"éé\z").unwrap_err().at, 2);
    }
}
