//! The catalogue: named malformed inputs, each a small item saying where it applies and what it
//! sends. A case builds a [`Script`] from the target's [`Shape`]; valid parts come from the
//! project's encoders ([`Shape::request`], [`Shape::json_request`]).

use serde_json::{json, Value};

use super::script::{Count, End, Script};
use super::wire::{max_of, min_of, random_bytes, Shape, Wire, COMMAND, FILE, ONE_TB};
use crate::codec::json::md5_hex;
use crate::codec::length::{ByteOrder, LengthField, Width};

/// One named malformed input.
pub struct Case {
    pub name: &'static str,
    /// One line: what it sends.
    pub about: &'static str,
    /// The wires it applies to.
    pub wires: &'static [Wire],
    pub build: fn(&Shape) -> Script,
}

impl Case {
    pub fn applies(&self, wire: Wire) -> bool {
        self.wires.contains(&wire)
    }
}

const ALL: &[Wire] = &[Wire::Raw, Wire::Ready, Wire::Len, Wire::Json, Wire::Upload];
const HEADER: &[Wire] = &[Wire::Len, Wire::Json, Wire::Upload];
const JSON: &[Wire] = &[Wire::Json, Wire::Upload];
const COMMANDS: &[Wire] = &[Wire::Raw, Wire::Ready, Wire::Len, Wire::Json];
const FRAMED: &[Wire] = &[Wire::Len, Wire::Json];
const UPLOAD: &[Wire] = &[Wire::Upload];
const READY: &[Wire] = &[Wire::Ready];

fn fin(bytes: Vec<u8>) -> Script {
    Script::once(bytes, End::Fin)
}

fn hold(bytes: Vec<u8>) -> Script {
    Script::once(bytes, End::Hold)
}

/// A JSON-wire request whose valid header has `key` set to `value` (or removed, for `None`).
fn json_with(s: &Shape, key: &str, value: Option<Value>) -> Vec<u8> {
    let mut v = s.valid_json(FILE);
    if let Value::Object(map) = &mut v {
        match value {
            Some(value) => {
                map.insert(key.into(), value);
            }
            None => {
                map.remove(key);
            }
        }
    }
    s.json_request(&v, FILE)
}

/// An upload of [`FILE`] named `name`.
fn upload_named(s: &Shape, name: &str) -> Vec<u8> {
    json_with(s, "file_name", Some(json!(name)))
}

/// The command `body` as a request of the wire (raw, or framed).
fn command(s: &Shape, body: &[u8]) -> Vec<u8> {
    s.request(body)
}

/// A JSON-wire request whose header is the valid one (without its `file_size` unless `keep`)
/// with the raw text `extra` added as the last member: for what a JSON value cannot hold
/// (duplicate keys, numbers past u64).
fn json_raw(s: &Shape, keep: bool, extra: &str) -> Vec<u8> {
    let mut v = s.valid_json(FILE);
    if let (false, Value::Object(map)) = (keep, &mut v) {
        map.remove("file_size");
    }
    let text = String::from_utf8_lossy(&crate::codec::json::python_dumps(&v)).into_owned();
    let inner = text.trim_start_matches('{').trim_end_matches('}');
    let joined = if inner.is_empty() {
        format!("{{{extra}}}")
    } else {
        format!("{{{inner}, {extra}}}")
    };
    s.json_frame(joined.as_bytes(), FILE)
}

/// The ready handshake with `token` after the digits.
fn ready(token: Option<&[u8]>, end: End) -> Script {
    Script::Ready {
        command: COMMAND.to_vec(),
        token: token.map(<[u8]>::to_vec),
        end,
    }
}

/// A JSON header nested `depth` arrays deep (serde_json stops at 128; a recursive parser
/// without a limit overflows its stack).
fn deep_json(depth: usize) -> Vec<u8> {
    let mut out = br#"{"file_size": 21, "x": "#.to_vec();
    out.extend(vec![b'['; depth]);
    out.extend(vec![b']'; depth]);
    out.push(b'}');
    out
}

/// The whole catalogue, in report order.
pub fn catalogue() -> Vec<Case> {
    vec![
        // ---- the length field ----
        Case { name: "len-negative", about: "length field -1, then FIN", wires: HEADER,
            build: |s| fin(s.with_field(-1, COMMAND)) },
        Case { name: "len-i32-min", about: "length field at its minimum (-2^31), then FIN", wires: HEADER,
            build: |s| fin(s.with_field(min_of(s.field), COMMAND)) },
        Case { name: "len-i32-max", about: "length field 2^31-1 and a few bytes, then FIN", wires: HEADER,
            build: |s| fin(s.with_field(max_of(s.field), COMMAND)) },
        Case { name: "len-over-limit", about: "length one over the limit (8 MiB body / 64 KiB JSON header), then FIN", wires: HEADER,
            build: |s| fin(s.with_field(s.field_limit() as i64 + 1, COMMAND)) },
        Case { name: "len-limit-then-silence", about: "length exactly at the limit, then silence (held open)", wires: HEADER,
            build: |s| hold(s.with_field(s.field_limit() as i64, b"")) },
        Case { name: "len-zero", about: "length field 0, then FIN", wires: HEADER,
            build: |s| fin(s.with_field(0, b"")) },
        Case { name: "len-wrong-byte-order", about: "the valid request with its length written in the other byte order", wires: HEADER,
            build: |s| {
                let mut bytes = s.valid();
                let n = s.field.read(&bytes).unwrap_or_default();
                let other = LengthField { order: match s.field.order { ByteOrder::Little => ByteOrder::Big, ByteOrder::Big => ByteOrder::Little }, ..s.field };
                let raw = super::wire::raw_field(other, n);
                bytes[..raw.len()].copy_from_slice(&raw);
                fin(bytes)
            } },
        Case { name: "len-wrong-width", about: "the length written 8 bytes wide ('q') where 4 are expected, or 4 for 8", wires: HEADER,
            build: |s| {
                let valid = s.valid();
                let n = s.field.read(&valid).unwrap_or_default();
                let other = LengthField { width: match s.field.width { Width::Four => Width::Eight, Width::Eight => Width::Four }, ..s.field };
                let mut bytes = super::wire::raw_field(other, n);
                bytes.extend_from_slice(&valid[s.field.size()..]);
                fin(bytes)
            } },
        Case { name: "header-cut-1", about: "1 byte of the length field, then FIN", wires: HEADER,
            build: |s| fin(s.valid()[..1].to_vec()) },
        Case { name: "header-cut-2", about: "2 bytes of the length field, then FIN", wires: HEADER,
            build: |s| fin(s.valid()[..2].to_vec()) },
        Case { name: "header-cut-3", about: "3 bytes of the length field, then FIN", wires: HEADER,
            build: |s| fin(s.valid()[..3].to_vec()) },
        Case { name: "header-then-silence", about: "a valid header, then nothing (held open)", wires: HEADER,
            build: |s| {
                let valid = s.valid();
                let cut = if s.wire == Wire::Len { s.field.size() } else { valid.len() - FILE.len() };
                hold(valid[..cut].to_vec())
            } },
        Case { name: "announce-huge", about: "a header announcing 1 TB (2^31-1 in a 4-byte length field), held open", wires: HEADER,
            build: |s| hold(s.announce_huge()) },
        // ---- the stream ----
        Case { name: "body-cut-every", about: "the valid request cut at every point, each cut on its own connection, then FIN", wires: ALL,
            build: |s| Script::EveryCut { bytes: s.valid() } },
        Case { name: "reset-mid-frame", about: "half of the valid request, then a reset (RST)", wires: ALL,
            build: |s| { let v = s.valid(); Script::once(v[..v.len() / 2].to_vec(), End::Reset) } },
        Case { name: "slowloris", about: "the valid request one byte per interval (default 1 s) while the target is probed", wires: ALL,
            build: |s| Script::Trickle { bytes: s.valid() } },
        Case { name: "garbage", about: "4 KiB of seeded random bytes, then FIN", wires: ALL,
            build: |s| fin(random_bytes(s.seed, 4096)) },
        Case { name: "connect-close", about: "connect and close at once, sending nothing", wires: ALL,
            build: |_| fin(Vec::new()) },
        Case { name: "connect-reset", about: "connect and reset at once, sending nothing", wires: ALL,
            build: |_| Script::once(Vec::new(), End::Reset) },
        Case { name: "pipeline-no-read", about: "2,000 valid requests back to back, never reading a reply (held open)", wires: COMMANDS,
            build: |s| hold(s.valid().repeat(2000)) },
        Case { name: "idle-connections", about: "many idle connections at once (--idle-connections, default 10,000); served again once they go", wires: ALL,
            build: |_| Script::Many { count: Count::Idle, bytes: Vec::new(), probe_while_held: false } },
        Case { name: "flood-huge-announce", about: "many connections (--flood-connections, default 1,000) each announcing 1 TB, held while probed", wires: HEADER,
            build: |s| Script::Many { count: Count::Flood, bytes: s.announce_huge(), probe_while_held: true } },
        Case { name: "flood-frames-one-short", about: "many connections (--flood-connections) each sending a frame of the largest accepted length but its last byte, held while probed", wires: FRAMED,
            build: |s| Script::Many { count: Count::Flood, bytes: s.frame_one_short(), probe_while_held: true } },
        // ---- the JSON header ----
        Case { name: "json-not-json", about: "JSON header that is not JSON (cut mid-object)", wires: JSON,
            build: |s| fin(s.json_frame(br#"{"file_size": 21, "#, FILE)) },
        Case { name: "json-not-object", about: "JSON header that is an array, not an object", wires: JSON,
            build: |s| fin(s.json_frame(b"[21]", FILE)) },
        Case { name: "json-invalid-utf8", about: "JSON header with invalid UTF-8 in a string", wires: JSON,
            build: |s| fin(s.json_frame(b"{\"file_size\": 21, \"name\": \"\xff\xfe\"}", FILE)) },
        Case { name: "json-size-missing", about: "JSON header with neither file_size nor data_size", wires: JSON,
            build: |s| fin(json_with(s, "file_size", None)) },
        Case { name: "json-sizes-disagree", about: "file_size and data_size both present and different", wires: JSON,
            build: |s| fin(json_with(s, "data_size", Some(json!(FILE.len() + 1)))) },
        Case { name: "json-size-string", about: "file_size as a string (\"21\")", wires: JSON,
            build: |s| fin(json_with(s, "file_size", Some(json!(FILE.len().to_string())))) },
        Case { name: "json-size-float", about: "file_size as a float (21.0)", wires: JSON,
            build: |s| fin(json_with(s, "file_size", Some(json!(FILE.len() as f64)))) },
        Case { name: "json-size-negative", about: "file_size -21", wires: JSON,
            build: |s| fin(json_with(s, "file_size", Some(json!(-(FILE.len() as i64))))) },
        Case { name: "json-size-1tb", about: "file_size 1 TB, a few bytes, then FIN", wires: JSON,
            build: |s| fin(json_with(s, "file_size", Some(json!(ONE_TB)))) },
        Case { name: "json-size-over-u64", about: "file_size 2^64 (does not fit any integer type)", wires: JSON,
            build: |s| fin(json_raw(s, false, "\"file_size\": 18446744073709551616")) },
        Case { name: "json-duplicate-size", about: "file_size given twice, the second 1 TB", wires: JSON,
            build: |s| fin(json_raw(s, true, &format!("\"file_size\": {ONE_TB}"))) },
        Case { name: "json-deep-nesting", about: "JSON header nested 10,000 arrays deep", wires: JSON,
            build: |s| fin(s.json_frame(&deep_json(10_000), FILE)) },
        Case { name: "json-md5-mismatch", about: "md5 that is not the body's", wires: JSON,
            build: |s| fin(json_with(s, "md5", Some(json!(md5_hex(b"something else"))))) },
        Case { name: "json-md5-not-string", about: "md5 as a number", wires: JSON,
            build: |s| fin(json_with(s, "md5", Some(json!(12345)))) },
        // ---- upload names ----
        Case { name: "upload-name-dotdot", about: "upload named ../x", wires: UPLOAD,
            build: |s| fin(upload_named(s, "../x")) },
        Case { name: "upload-name-absolute", about: "upload named /etc/passwd (only the base name may be kept)", wires: UPLOAD,
            build: |s| fin(upload_named(s, "/etc/passwd")) },
        Case { name: "upload-name-empty", about: "upload with an empty name", wires: UPLOAD,
            build: |s| fin(upload_named(s, "")) },
        Case { name: "upload-name-nul", about: "upload named a<NUL>b", wires: UPLOAD,
            build: |s| fin(upload_named(s, "a\0b")) },
        Case { name: "upload-name-missing", about: "upload header without file_name", wires: UPLOAD,
            build: |s| fin(json_with(s, "file_name", None)) },
        Case { name: "upload-md5-missing", about: "upload header without md5", wires: UPLOAD,
            build: |s| fin(json_with(s, "md5", None)) },
        // ---- the ready token ----
        Case { name: "ready-token-wrong", about: "a wrong token (\"steady\") after the digits", wires: READY,
            build: |_| ready(Some(b"steady"), End::Fin) },
        Case { name: "ready-token-too-long", about: "the token followed by 4 KiB more", wires: READY,
            build: |s| { let mut t = s.token.to_vec(); t.extend([b'x'; 4096]); ready(Some(&t), End::Fin) } },
        Case { name: "ready-token-never", about: "no token after the digits (held open)", wires: READY,
            build: |_| ready(None, End::Hold) },
        Case { name: "ready-token-eof", about: "end of stream instead of the token", wires: READY,
            build: |_| ready(None, End::Fin) },
        Case { name: "ready-token-early", about: "command and token in one write, before the digits", wires: READY,
            build: |s| fin([COMMAND, &s.token[..]].concat()) },
        // ---- commands ----
        Case { name: "cmd-empty", about: "an empty command (a blank line unframed, a zero-length body framed)", wires: COMMANDS,
            build: |s| fin(command(s, if s.wire.has_header() { b"" } else { b"\n" })) },
        Case { name: "cmd-nul", about: "a command with a NUL byte", wires: COMMANDS,
            build: |s| fin(command(s, b"echo a\0b")) },
        Case { name: "cmd-binary", about: "1 KiB of seeded random bytes as a command", wires: COMMANDS,
            build: |s| fin(command(s, &random_bytes(s.seed ^ 1, 1024))) },
        Case { name: "cmd-oversize", about: "a 64 KiB command", wires: COMMANDS,
            build: |s| fin(command(s, &[&b"echo "[..], &[b'a'; 64 << 10][..]].concat())) },
        Case { name: "cmd-huge-output", about: "a command whose output would be gigabytes (seq 1 1000000000)", wires: COMMANDS,
            build: |s| fin(command(s, b"seq 1 1000000000")) },
        Case { name: "cmd-many-lines", about: "1,000 commands in one request", wires: COMMANDS,
            build: |s| fin(command(s, &b"echo x\n".repeat(1000))) },
        Case { name: "cmd-shell-syntax", about: "shell syntax ($(...), ;, |) that must never reach a shell", wires: COMMANDS,
            build: |s| fin(command(s, b"echo $(id); cat /etc/passwd | sh")) },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn catalogue_is_large_named_uniquely_and_covers_every_wire() {
        let cases = catalogue();
        assert!(cases.len() >= 30, "{}", cases.len());
        let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases.len(), "case names are unique");
        for wire in [Wire::Raw, Wire::Ready, Wire::Len, Wire::Json, Wire::Upload] {
            assert!(
                cases.iter().filter(|c| c.applies(wire)).count() >= 10,
                "{wire:?}"
            );
        }
    }

    #[test]
    fn every_case_builds_for_every_wire_it_applies_to() {
        for case in catalogue() {
            for &wire in case.wires {
                let s = Shape {
                    wire,
                    field: LengthField::I32_LE,
                    max_frame_length: 8 << 20,
                    max_json_header: 64 << 10,
                    token: Bytes::from_static(b"ready"),
                    seed: 3,
                };
                let _ = (case.build)(&s);
            }
        }
    }

    #[test]
    fn duplicate_size_case_has_two_size_keys() {
        let s = Shape {
            wire: Wire::Json,
            field: LengthField::I32_LE,
            max_frame_length: 8 << 20,
            max_json_header: 64 << 10,
            token: Bytes::from_static(b"ready"),
            seed: 3,
        };
        let case = catalogue()
            .into_iter()
            .find(|c| c.name == "json-duplicate-size")
            .unwrap();
        let bytes = (case.build)(&s).bytes().unwrap();
        let text = String::from_utf8_lossy(&bytes[4..]);
        assert_eq!(text.matches("file_size").count(), 2, "{text}");
        assert!(text.contains(&ONE_TB.to_string()), "{text}");
    }
}
