//! Framing descriptions: one codec for any length-field, varint or delimiter protocol.
//!
//! A [`FrameSpec`] says where a message ends; [`SpecCodec`] decodes and encodes by it. The
//! grammar (what [`FrameSpec::from_str`](std::str::FromStr) accepts, and `Display` writes back):
//!
//! ```text
//! length:TYPE[,offset=N][,adjust=N][,max=SIZE]   offset bytes, the field, field+adjust body bytes
//! varint[,offset=N][,max=SIZE]                   offset bytes, a varint of 1-4 bytes, the body
//! delimiter:SEQ[,max=SIZE]                       the body, then SEQ
//! lines[,max=SIZE]                               delimiter:\n
//! PRESET[,option=...]                            dns modbus mqtt postgres kafka thrift tls lines crlf
//! ```
//!
//! `TYPE` is one of `u8 u16be u16le u24be u24le u32be u32le i32be i32le u64be u64le i64be
//! i64le`; `offset` and `adjust` mean what tokio-util's `length_field_offset` and
//! `length_adjustment` mean. The varint is MQTT's: 7 bits a byte, least significant first, the
//! top bit set on every byte but the last, at most [`VARINT_MAX_BYTES`] bytes. `SEQ` takes the
//! escapes `\n \r \t \0 \\ \xHH` (`\x2c` for a comma). `SIZE` is bytes, or a number with `k`,
//! `m` or `g` (powers of 1024); the default `max` is 8 MiB (`8m`).
//!
//! A decoded item is the **whole message**, header included (tokio-util's `num_skip(0)`):
//! what a recorded session replays. The [presets](PRESETS) name real protocols.
//!
//! ```
//! use bytes::BytesMut;
//! use stickler::codec::spec::{FrameSpec, SpecCodec};
//! use tokio_util::codec::Decoder;
//!
//! let spec: FrameSpec = "modbus".parse().unwrap();
//! assert_eq!(spec.to_string(), "length:u16be,offset=4");
//! // MBAP header (transaction 1, protocol 0, length 6), unit 1, read holding registers 0..2.
//! let mut buf = BytesMut::from(&b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x02rest"[..]);
//! let frame = SpecCodec::new(spec).decode(&mut buf).unwrap().unwrap();
//! assert_eq!(frame.len(), 12);
//! assert_eq!(&buf[..], b"rest");
//! ```

mod codec;
mod field;
mod preset;

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

pub use codec::SpecCodec;
pub use field::{LengthError, LengthHeader, LengthProblem, LengthType};
pub use preset::{builtin_summary, Preset, PRESETS};

use super::{Framing, DEFAULT_MAX_FRAME_LENGTH};
use crate::units as size;

/// Most bytes of a varint length (MQTT's remaining length: up to 268,435,455).
pub const VARINT_MAX_BYTES: usize = 4;
/// Largest `max=` accepted: 1 GiB.
pub const MAX_LIMIT: usize = 1 << 30;
/// Largest `offset=` accepted.
pub const MAX_OFFSET: usize = 4096;
/// Largest `|adjust=|` accepted.
pub const MAX_ADJUST: i64 = 1 << 32;
/// Longest delimiter accepted, in bytes.
pub const MAX_DELIMITER: usize = 64;

/// The grammar, as `--help` and `stickler framings` show it.
pub const GRAMMAR: &str = "\
length:TYPE[,offset=N][,adjust=N][,max=SIZE]
    offset bytes, a TYPE length field, then field+adjust body bytes (tokio-util's
    length_field_offset and length_adjustment). TYPE: u8 u16be u16le u24be u24le u32be
    u32le i32be i32le u64be u64le i64be i64le. Signed fields below zero are errors.
varint[,offset=N][,max=SIZE]
    offset bytes, a varint length of 1 to 4 bytes (MQTT's remaining length: 7 bits a byte,
    least significant first, top bit set when another byte follows), then that many bytes.
delimiter:SEQ[,max=SIZE]
    the body, then SEQ. Escapes: \\n \\r \\t \\0 \\\\ \\xHH (\\x2c is a comma).
lines[,max=SIZE]
    delimiter:\\n
PRESET[,option=...]
    a named description (below), optionally with its options changed.
SIZE: bytes, or with k, m, g (powers of 1024). max bounds the body (and the search for
a delimiter); default 8m, at most 1g. offset at most 4096.
A decoded message is the whole message, header included.";

/// Where one message ends on a TCP stream (see the [module docs](self) for the grammar).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FrameSpec {
    /// A length field after `offset` bytes.
    Length(LengthHeader),
    /// A varint length (at most [`VARINT_MAX_BYTES`]) after `offset` bytes; `max` bounds the body.
    Varint { offset: usize, max: usize },
    /// The body, then `delimiter`; `max` bounds the body.
    Delimiter { delimiter: Bytes, max: usize },
}

impl FrameSpec {
    /// The largest body accepted.
    pub fn max(&self) -> usize {
        match self {
            FrameSpec::Length(h) => h.max,
            FrameSpec::Varint { max, .. } | FrameSpec::Delimiter { max, .. } => *max,
        }
    }

    /// Bytes before the length of a length or varint description (0 for a delimiter):
    /// the bytes an encoded item starts with.
    pub fn offset(&self) -> usize {
        match self {
            FrameSpec::Length(h) => h.offset,
            FrameSpec::Varint { offset, .. } => *offset,
            FrameSpec::Delimiter { .. } => 0,
        }
    }

    /// Bytes of `message` before its body: the offset and the length field, or the offset and
    /// the varint's bytes (as many as the message has, at most [`VARINT_MAX_BYTES`]); 0 for a
    /// delimiter (whose body comes first).
    pub fn header_len(&self, message: &[u8]) -> usize {
        match self {
            FrameSpec::Length(h) => h.header_len(),
            FrameSpec::Varint { offset, .. } => {
                let rest = message.get(*offset..).unwrap_or_default();
                let used = rest
                    .iter()
                    .take(VARINT_MAX_BYTES)
                    .position(|b| b & 0x80 == 0)
                    .map_or(rest.len().min(VARINT_MAX_BYTES), |i| i + 1);
                offset + used
            }
            FrameSpec::Delimiter { .. } => 0,
        }
    }

    /// A length description with offset 0, adjust 0 and the default max.
    pub const fn length(ty: LengthType) -> FrameSpec {
        FrameSpec::Length(LengthHeader {
            ty,
            offset: 0,
            adjust: 0,
            max: DEFAULT_MAX_FRAME_LENGTH,
        })
    }
}

/// A description that did not parse: the input, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad framing description {input:?}: {problem}")]
pub struct SpecError {
    pub input: String,
    pub problem: String,
}

impl FromStr for FrameSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        parse(s.trim()).map_err(|problem| SpecError {
            input: s.to_string(),
            problem,
        })
    }
}

const FORMS: &str = "expected length:TYPE, varint, delimiter:SEQ, lines or a preset (dns modbus \
                     mqtt postgres kafka thrift tls lines crlf); see `stickler framings`";

fn parse(s: &str) -> Result<FrameSpec, String> {
    let mut parts = s.split(',');
    let head = parts.next().unwrap_or_default();
    let mut spec = match head.split_once(':') {
        Some(("length", ty)) => FrameSpec::length(parse_type(ty)?),
        Some(("delimiter", seq)) => FrameSpec::Delimiter {
            delimiter: Bytes::from(unescape(seq)?),
            max: DEFAULT_MAX_FRAME_LENGTH,
        },
        Some((form, _)) => return Err(format!("unknown form `{form}:`; {FORMS}")),
        None if head == "varint" => FrameSpec::Varint {
            offset: 0,
            max: DEFAULT_MAX_FRAME_LENGTH,
        },
        None if head == "length" => {
            return Err(format!(
                "`length` needs a type: length:TYPE, TYPE one of {}",
                types()
            ))
        }
        None if head == "delimiter" => {
            return Err("`delimiter` needs its bytes: delimiter:SEQ (e.g. delimiter:\\r\\n)".into())
        }
        None => match Preset::find(head) {
            Some(p) => p.spec(),
            None if Framing::ALL.iter().any(|f| f.name() == head) => {
                return Err(format!(
                    "`{head}` is a built-in framing, not a description; {FORMS}"
                ))
            }
            None if head.is_empty() => return Err(format!("empty; {FORMS}")),
            None => return Err(format!("unknown framing `{head}`; {FORMS}")),
        },
    };
    let mut seen: Vec<&str> = Vec::new();
    for part in parts {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("option `{part}` is not KEY=VALUE"));
        };
        if seen.contains(&key) {
            return Err(format!("option `{key}` given twice"));
        }
        seen.push(key);
        set_option(&mut spec, key, value)?;
    }
    Ok(spec)
}

fn types() -> String {
    let names: Vec<&str> = LengthType::ALL.iter().map(|t| t.name()).collect();
    names.join(" ")
}

fn parse_type(s: &str) -> Result<LengthType, String> {
    LengthType::ALL
        .into_iter()
        .find(|t| t.name() == s)
        .ok_or_else(|| format!("unknown length type `{s}`; expected one of {}", types()))
}

fn set_option(spec: &mut FrameSpec, key: &str, value: &str) -> Result<(), String> {
    match (spec, key) {
        (FrameSpec::Length(h), "max") => h.max = parse_size(value)?,
        (FrameSpec::Varint { max, .. } | FrameSpec::Delimiter { max, .. }, "max") => {
            *max = parse_size(value)?
        }
        (
            FrameSpec::Length(LengthHeader { offset, .. }) | FrameSpec::Varint { offset, .. },
            "offset",
        ) => *offset = parse_number(key, value, 0, MAX_OFFSET as i64)? as usize,
        (FrameSpec::Length(h), "adjust") => {
            h.adjust = parse_number(key, value, -MAX_ADJUST, MAX_ADJUST)?
        }
        (spec, _) => {
            let accepted = match spec {
                FrameSpec::Length(_) => "offset, adjust and max",
                FrameSpec::Varint { .. } => "offset and max",
                FrameSpec::Delimiter { .. } => "max",
            };
            return Err(format!(
                "unknown option `{key}` here; this form takes {accepted}"
            ));
        }
    }
    Ok(())
}

fn parse_number(key: &str, value: &str, lo: i64, hi: i64) -> Result<i64, String> {
    match value.parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{key}={value}`: expected a whole number from {lo} to {hi}"
        )),
    }
}

fn parse_size(value: &str) -> Result<usize, String> {
    let n = size::parse_size(value).map_err(|e| format!("`max={value}`: {e}"))?;
    match usize::try_from(n) {
        Ok(n) if n <= MAX_LIMIT => Ok(n),
        _ => Err(format!("`max={value}` is over the largest max, 1g")),
    }
}

/// `max` as `parse_size` reads it back: `8m`, `64k`, `1000`.
fn format_size(n: usize) -> String {
    [("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)]
        .iter()
        .find(|(_, scale)| n != 0 && n % scale == 0)
        .map_or_else(
            || n.to_string(),
            |(unit, scale)| format!("{}{unit}", n / scale),
        )
}

fn unescape(seq: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut bytes = seq.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next() {
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'0') => 0,
            Some(b'\\') => b'\\',
            Some(b'x') => {
                let hex = [bytes.next(), bytes.next()];
                let hex: Option<Vec<u8>> = hex.into_iter().collect();
                hex.and_then(|h| std::str::from_utf8(&h).ok().map(str::to_owned))
                    .and_then(|h| u8::from_str_radix(&h, 16).ok())
                    .ok_or("`\\x` needs two hex digits (e.g. \\x2c)")?
            }
            _ => {
                return Err(
                    "unknown escape in the delimiter; use \\n \\r \\t \\0 \\\\ or \\xHH".into(),
                )
            }
        });
    }
    if out.is_empty() {
        return Err("the delimiter is empty (e.g. delimiter:\\r\\n)".into());
    }
    if out.len() > MAX_DELIMITER {
        return Err(format!(
            "the delimiter is {} bytes; at most {MAX_DELIMITER}",
            out.len()
        ));
    }
    Ok(out)
}

/// Writes `bytes` in the delimiter escapes, so that it reads back the same.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0 => out.push_str("\\0"),
            b'\\' => out.push_str("\\\\"),
            b'!'..=b'~' if b != b',' => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

impl fmt::Display for FrameSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = match self {
            FrameSpec::Length(h) => {
                write!(f, "length:{}", h.ty)?;
                h.offset
            }
            FrameSpec::Varint { offset, .. } => {
                f.write_str("varint")?;
                *offset
            }
            FrameSpec::Delimiter { delimiter, .. } => {
                write!(f, "delimiter:{}", escape(delimiter))?;
                0
            }
        };
        if offset != 0 {
            write!(f, ",offset={offset}")?;
        }
        if let FrameSpec::Length(h) = self {
            if h.adjust != 0 {
                write!(f, ",adjust={}", h.adjust)?;
            }
        }
        if self.max() != DEFAULT_MAX_FRAME_LENGTH {
            write!(f, ",max={}", format_size(self.max()))?;
        }
        Ok(())
    }
}

impl serde::Serialize for FrameSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FrameSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What `--framing` names: a built-in framing, or a description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FramingChoice {
    Builtin(Framing),
    Spec(FrameSpec),
}

impl FromStr for FramingChoice {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        match Framing::ALL.into_iter().find(|f| f.name() == s.trim()) {
            Some(f) => Ok(FramingChoice::Builtin(f)),
            None => s.parse().map(FramingChoice::Spec),
        }
    }
}

impl fmt::Display for FramingChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingChoice::Builtin(b) => b.fmt(f),
            FramingChoice::Spec(s) => s.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> FrameSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn problem(s: &str) -> String {
        s.parse::<FrameSpec>().unwrap_err().problem
    }

    fn header(ty: LengthType, offset: usize, adjust: i64, max: usize) -> FrameSpec {
        FrameSpec::Length(LengthHeader {
            ty,
            offset,
            adjust,
            max,
        })
    }

    #[test]
    fn limits() {
        assert_eq!(MAX_LIMIT, 1024 * 1024 * 1024);
        assert_eq!(MAX_ADJUST, 4 * 1024 * 1024 * 1024);
        assert_eq!(
            FrameSpec::length(LengthType::U8),
            header(LengthType::U8, 0, 0, DEFAULT_MAX_FRAME_LENGTH)
        );
    }

    #[test]
    fn each_form_parses_with_its_options() {
        assert_eq!(
            spec(" length:u8,offset=2,adjust=-5,max=1k "),
            header(LengthType::U8, 2, -5, 1024)
        );
        assert_eq!(
            spec("length:u16le,offset=4096,adjust=-4294967296"),
            header(
                LengthType::U16Le,
                4096,
                -MAX_ADJUST,
                DEFAULT_MAX_FRAME_LENGTH
            )
        );
        assert_eq!(
            spec("length:u16le,adjust=4294967296,max=1g"),
            header(LengthType::U16Le, 0, MAX_ADJUST, MAX_LIMIT)
        );
        assert_eq!(
            spec("varint,offset=1,max=10"),
            FrameSpec::Varint { offset: 1, max: 10 }
        );
        assert_eq!(
            spec("delimiter:\\r\\n,max=5"),
            FrameSpec::Delimiter {
                delimiter: Bytes::from_static(b"\r\n"),
                max: 5
            }
        );
        assert_eq!(
            spec("delimiter:\\n\\r\\t\\0\\\\\\x2c\\xFfa"),
            FrameSpec::Delimiter {
                delimiter: Bytes::from_static(b"\n\r\t\0\\,\xffa"),
                max: DEFAULT_MAX_FRAME_LENGTH
            }
        );
        assert_eq!(spec("lines"), spec("delimiter:\\n"));
        assert_eq!(spec("lines,max=3").max(), 3);
        assert_eq!(
            spec("mqtt,offset=2"),
            FrameSpec::Varint {
                offset: 2,
                max: DEFAULT_MAX_FRAME_LENGTH
            }
        );
    }

    #[test]
    fn each_mistake_is_named() {
        for (bad, says) in [
            ("", "empty;"),
            ("length", "`length` needs a type"),
            ("delimiter", "`delimiter` needs its bytes"),
            ("struct", "`struct` is a built-in framing"),
            ("naive", "`naive` is a built-in framing"),
            ("bogus", "unknown framing `bogus`"),
            ("foo:bar", "unknown form `foo:`"),
            ("length:u17", "unknown length type `u17`"),
            ("length:u8,offset", "option `offset` is not KEY=VALUE"),
            ("length:u8,max=1,max=2", "option `max` given twice"),
            (
                "length:u8,offset=4097",
                "`offset=4097`: expected a whole number from 0 to 4096",
            ),
            ("length:u8,offset=-1", "from 0 to 4096"),
            (
                "length:u8,adjust=4294967297",
                "from -4294967296 to 4294967296",
            ),
            (
                "length:u8,adjust=-4294967297",
                "from -4294967296 to 4294967296",
            ),
            ("length:u8,adjust=x", "expected a whole number"),
            (
                "length:u8,max=1025m",
                "`max=1025m` is over the largest max, 1g",
            ),
            ("length:u8,max=abc", "`max=abc`:"),
            (
                "length:u8,bogus=1",
                "unknown option `bogus` here; this form takes offset, adjust and max",
            ),
            ("varint,adjust=1", "this form takes offset and max"),
            ("delimiter:x,offset=1", "this form takes max"),
            ("delimiter:", "the delimiter is empty"),
            ("delimiter:\\q", "unknown escape"),
            ("delimiter:\\x2", "`\\x` needs two hex digits"),
            ("delimiter:\\xzz", "`\\x` needs two hex digits"),
        ] {
            let p = problem(bad);
            assert!(p.contains(says), "{bad:?}: {p}");
        }
        let sixty_five = "x".repeat(65);
        assert_eq!(
            problem(&format!("delimiter:{sixty_five}")),
            "the delimiter is 65 bytes; at most 64"
        );
        assert_eq!(
            spec(&format!("delimiter:{}", "x".repeat(64))).max(),
            DEFAULT_MAX_FRAME_LENGTH
        );
        let e = "bogus".parse::<FrameSpec>().unwrap_err();
        assert_eq!(e.input, "bogus");
        assert!(e
            .to_string()
            .starts_with("bad framing description \"bogus\": unknown framing"));
        // The type list names every type.
        assert!(problem("length:x").ends_with(
            "u8 u16be u16le u24be u24le u32be u32le i32be i32le u64be u64le i64be i64le"
        ));
    }

    #[test]
    fn accessors_per_form() {
        let l = header(LengthType::U16Be, 3, 0, 9);
        let v = FrameSpec::Varint { offset: 2, max: 8 };
        let d = spec("delimiter:ab,max=7");
        assert_eq!((l.max(), l.offset(), l.header_len(b"")), (9, 3, 5));
        assert_eq!((v.max(), v.offset()), (8, 2));
        assert_eq!((d.max(), d.offset(), d.header_len(b"xyzab")), (7, 0, 0));
        // A varint's bytes: up to and including the first without the top bit, at most 4.
        assert_eq!(v.header_len(b"tt\x05body"), 3);
        assert_eq!(v.header_len(b"tt\x80\x01body"), 4);
        assert_eq!(v.header_len(b"tt\x80\x80\x80\x01"), 6);
        assert_eq!(v.header_len(b"tt\x80\x80\x80\x80\x01"), 6);
        assert_eq!(v.header_len(b"tt\x80"), 3);
        assert_eq!(v.header_len(b"tt"), 2);
        assert_eq!(v.header_len(b"t"), 2);
        let v1 = FrameSpec::Varint { offset: 1, max: 8 };
        assert_eq!(v1.header_len(b"t\x00"), 2);
    }

    #[test]
    fn displays_back_to_what_parses() {
        for (input, shown) in [
            ("length:u16be", "length:u16be"),
            ("modbus", "length:u16be,offset=4"),
            ("postgres", "length:i32be,offset=1,adjust=-4"),
            ("length:u8,adjust=3,max=64k", "length:u8,adjust=3,max=64k"),
            ("length:u8,max=1g", "length:u8,max=1g"),
            ("length:u8,max=3m", "length:u8,max=3m"),
            ("length:u8,max=2048", "length:u8,max=2k"),
            ("length:u8,max=1000", "length:u8,max=1000"),
            ("length:u8,max=1536", "length:u8,max=1536"),
            ("length:u8,max=0", "length:u8,max=0"),
            ("length:u8,max=8m", "length:u8"),
            ("varint", "varint"),
            ("mqtt", "varint,offset=1"),
            ("delimiter:\\r\\n", "delimiter:\\r\\n"),
            (
                "delimiter:\\x2c \\t\\0\\\\~!\\x7f,max=9",
                "delimiter:\\x2c\\x20\\t\\0\\\\~!\\x7f,max=9",
            ),
        ] {
            let s = spec(input);
            assert_eq!(s.to_string(), shown, "{input}");
            assert_eq!(spec(shown), s, "{shown}");
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, serde_json::to_string(shown).unwrap());
            assert_eq!(serde_json::from_str::<FrameSpec>(&json).unwrap(), s);
        }
        assert!(serde_json::from_str::<FrameSpec>("\"bogus\"").is_err());
        assert_eq!(
            escape(b"\n\r\t\0\\,a ~\x7f\xff"),
            "\\n\\r\\t\\0\\\\\\x2ca\\x20~\\x7f\\xff"
        );
    }

    #[test]
    fn a_framing_choice_is_a_builtin_or_a_description() {
        let c = |s: &str| s.parse::<FramingChoice>().unwrap();
        assert_eq!(c("struct"), FramingChoice::Builtin(Framing::Struct));
        assert_eq!(c(" ready "), FramingChoice::Builtin(Framing::Ready));
        assert_eq!(c("dns"), FramingChoice::Spec(spec("length:u16be")));
        assert_eq!(c("struct").to_string(), "struct");
        assert_eq!(c("dns").to_string(), "length:u16be");
        assert!("bogus".parse::<FramingChoice>().is_err());
    }
}
