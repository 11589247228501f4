//! The session file: versioned JSON, loaded strictly (size limit first, unknown fields and
//! versions refused, every error naming the file and the JSON line/column or the field), saved
//! atomically. The schema is documented in `docs/sessions.md`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::escape::decode_text;
use super::mask::Mask;
use crate::codec::spec::{FrameSpec, SpecCodec, SpecError};
use crate::codec::{decode_chunks, CodecError};

/// The format version this stickler writes.
pub const VERSION: u64 = 1;
/// Every format version this stickler reads.
pub const SUPPORTED_VERSIONS: &[u64] = &[VERSION];
/// Session files larger than this are refused before reading, unless the caller gives
/// another limit ([`Session::load_limited`]).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 20;

/// Which peer sent a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

/// The bytes one side sent before the other side spoke (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub from: Side,
    pub bytes: Vec<u8>,
}

/// One TCP connection: its turns in order, alternating sides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connection {
    pub turns: Vec<Turn>,
    /// Why the conversation is not whole, when it is not (still open when recording stopped,
    /// ended by an error, bytes past the recording cap): `None` for a connection that ended
    /// normally.
    pub incomplete: Option<String>,
}

impl Connection {
    /// Appends bytes sent by `from`: to the last turn when that side spoke last, else as a new
    /// turn. Empty input is ignored.
    pub fn push(&mut self, from: Side, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self.turns.last_mut() {
            Some(last) if last.from == from => last.bytes.extend_from_slice(bytes),
            _ => self.turns.push(Turn {
                from,
                bytes: bytes.to_vec(),
            }),
        }
    }

    /// Bytes sent by `from` over the whole connection.
    pub fn bytes_from(&self, from: Side) -> usize {
        self.turns
            .iter()
            .filter(|t| t.from == from)
            .map(|t| t.bytes.len())
            .sum()
    }
}

/// A recorded (or hand-written) conversation: what a replay sends and expects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Session {
    pub name: Option<String>,
    pub notes: Option<String>,
    /// How messages are framed, e.g. `length:u16be`; kept as written (not interpreted here).
    pub framing: Option<String>,
    pub masks: Vec<Mask>,
    pub connections: Vec<Connection>,
}

/// What is wrong with a session's content (no file named: [`SessionError`] adds it).
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Not JSON, or JSON that does not fit the schema; the message has the line and column.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "no \"stickler_session\" version field: not a stickler session file ({})",
        understood()
    )]
    NoVersion,
    #[error("unknown session version {found} ({})", understood())]
    Version { found: String },
    /// A field breaks a rule of the format; `field` is its path, e.g. `connections[0].turns[2].base64`.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

fn understood() -> String {
    let list: Vec<String> = SUPPORTED_VERSIONS.iter().map(u64::to_string).collect();
    format!("this stickler understands version {}", list.join(", "))
}

/// A session file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: the file is {size} bytes, over the {limit}-byte limit for session files; refused \
         without reading it",
        path.display()
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{}: {source}", path.display())]
    Format { path: PathBuf, source: FormatError },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads only the version, so that a file of another version is named as such rather than
/// failing on fields this version does not know. Only a JSON object is accepted.
struct VersionProbe {
    stickler_session: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for VersionProbe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = VersionProbe;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a session object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<VersionProbe, A::Error> {
                let mut stickler_session = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "stickler_session" {
                        stickler_session = Some(map.next_value()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(VersionProbe { stickler_session })
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "session object")]
struct FileSession {
    stickler_session: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    framing: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    masks: Vec<Mask>,
    connections: Vec<FileConnection>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "connection")]
struct FileConnection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    incomplete: Option<String>,
    turns: Vec<FileTurn>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "turn")]
struct FileTurn {
    from: Side,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

fn invalid(field: String, message: impl Into<String>) -> FormatError {
    FormatError::Invalid {
        field,
        message: message.into(),
    }
}

impl FileTurn {
    fn bytes(&self, field: String) -> Result<Vec<u8>, FormatError> {
        match (&self.base64, &self.text) {
            (Some(b), None) => BASE64
                .decode(b)
                .map_err(|e| invalid(field + ".base64", format!("not valid base64: {e}"))),
            (None, Some(t)) => {
                decode_text(t).map_err(|e| invalid(field + ".text", format!("bad escape {e}")))
            }
            (Some(_), Some(_)) => Err(invalid(
                field,
                "has both \"base64\" and \"text\": give the bytes once",
            )),
            (None, None) => Err(invalid(field, "has no bytes: give \"base64\" or \"text\"")),
        }
    }
}

impl Session {
    /// Parses and checks a session from JSON text.
    pub fn from_json(text: &str) -> Result<Session, FormatError> {
        let probe: VersionProbe = serde_json::from_str(text)?;
        match probe.stickler_session {
            None => return Err(FormatError::NoVersion),
            Some(v) if v.as_u64().is_some_and(|v| SUPPORTED_VERSIONS.contains(&v)) => {}
            Some(v) => {
                return Err(FormatError::Version {
                    found: v.to_string(),
                })
            }
        }
        let file: FileSession = serde_json::from_str(text)?;
        let mut connections = Vec::with_capacity(file.connections.len());
        for (c, conn) in file.connections.into_iter().enumerate() {
            let mut turns = Vec::with_capacity(conn.turns.len());
            for (t, turn) in conn.turns.iter().enumerate() {
                let bytes = turn.bytes(format!("connections[{c}].turns[{t}]"))?;
                turns.push(Turn {
                    from: turn.from,
                    bytes,
                });
            }
            connections.push(Connection {
                turns,
                incomplete: conn.incomplete,
            });
        }
        let session = Session {
            name: file.name,
            notes: file.notes,
            framing: file.framing,
            masks: file.masks,
            connections,
        };
        session.validate()?;
        Ok(session)
    }

    /// Checks the rules JSON's shape cannot express: no empty turn, no two adjacent turns from
    /// the same side (one side's bytes before the other speaks are one turn, so a hand-written
    /// file must join them), and every mask inside an existing turn.
    /// The framing, when given, must parse and every turn must be whole messages of it.
    fn validate_framing(&self) -> Result<(), FormatError> {
        let Some(text) = &self.framing else {
            return Ok(());
        };
        let spec: FrameSpec = text
            .parse()
            .map_err(|e: SpecError| invalid("framing".into(), e.problem))?;
        for (c, conn) in self.connections.iter().enumerate() {
            for (t, turn) in conn.turns.iter().enumerate() {
                let decoded = decode_chunks(&mut SpecCodec::new(spec.clone()), [&turn.bytes[..]]);
                // A connection still open when recording stopped may end inside a message.
                let cut_short = conn.incomplete.is_some() && t + 1 == conn.turns.len();
                let truncated = matches!(decoded.error, Some(CodecError::Truncated { .. }));
                if cut_short && truncated {
                    continue;
                }
                if let Some(e) = decoded.error {
                    return Err(invalid(
                        format!("connections[{c}].turns[{t}]"),
                        format!(
                            "({}, {} bytes) is not a whole number of {spec} messages after {} \
                             of them ({e}): is the session's framing right?",
                            turn.from,
                            turn.bytes.len(),
                            decoded.items.len()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), FormatError> {
        for (c, conn) in self.connections.iter().enumerate() {
            for (t, turn) in conn.turns.iter().enumerate() {
                let field = format!("connections[{c}].turns[{t}]");
                if turn.bytes.is_empty() {
                    return Err(invalid(field, "is empty: a turn carries at least one byte"));
                }
                if t > 0 && conn.turns[t - 1].from == turn.from {
                    return Err(invalid(
                        field,
                        format!(
                            "is from the {} again, like turn {}: a turn is everything one side \
                             sends before the other speaks, so join the two into one turn",
                            turn.from,
                            t - 1
                        ),
                    ));
                }
            }
        }
        self.validate_framing()?;
        for (m, mask) in self.masks.iter().enumerate() {
            let field = format!("masks[{m}]");
            let Some(conn) = self.connections.get(mask.conn) else {
                return Err(invalid(
                    field + ".conn",
                    format!(
                        "connection {} does not exist (the session has {})",
                        mask.conn,
                        self.connections.len()
                    ),
                ));
            };
            let Some(turn) = conn.turns.get(mask.turn) else {
                return Err(invalid(
                    field + ".turn",
                    format!(
                        "connection {} has no turn {} (it has {})",
                        mask.conn,
                        mask.turn,
                        conn.turns.len()
                    ),
                ));
            };
            if mask.start >= mask.end {
                return Err(invalid(
                    field,
                    format!("bytes {}..{} is an empty range", mask.start, mask.end),
                ));
            }
            if mask.end > turn.bytes.len() {
                return Err(invalid(
                    field + ".end",
                    format!(
                        "{} is past the end of connection {} turn {} ({} bytes)",
                        mask.end,
                        mask.conn,
                        mask.turn,
                        turn.bytes.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The file form: pretty JSON, every turn's bytes as base64.
    pub fn to_json(&self) -> String {
        let file = FileSession {
            stickler_session: VERSION,
            name: self.name.clone(),
            notes: self.notes.clone(),
            framing: self.framing.clone(),
            masks: self.masks.clone(),
            connections: self
                .connections
                .iter()
                .map(|c| FileConnection {
                    incomplete: c.incomplete.clone(),
                    turns: c
                        .turns
                        .iter()
                        .map(|t| FileTurn {
                            from: t.from,
                            base64: Some(BASE64.encode(&t.bytes)),
                            text: None,
                        })
                        .collect(),
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&file).expect("a session always serialises");
        text.push('\n');
        text
    }

    /// Loads a session file of at most [`DEFAULT_MAX_FILE_SIZE`] bytes.
    pub fn load(path: &Path) -> Result<Session, SessionError> {
        Session::load_limited(path, DEFAULT_MAX_FILE_SIZE)
    }

    /// Loads a session file, refusing one over `limit` bytes by its metadata before reading
    /// (and never reading more than `limit` bytes should it grow meanwhile).
    pub fn load_limited(path: &Path, limit: u64) -> Result<Session, SessionError> {
        let read_err = |source| SessionError::Read {
            path: path.to_owned(),
            source,
        };
        let too_large = |size| SessionError::TooLarge {
            path: path.to_owned(),
            size,
            limit,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        if size > limit {
            return Err(too_large(size));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > limit {
            return Err(too_large(bytes.len() as u64));
        }
        let format_err = |source| SessionError::Format {
            path: path.to_owned(),
            source,
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            format_err(FormatError::Invalid {
                field: "(file)".to_owned(),
                message: format!("not UTF-8 text: {e}"),
            })
        })?;
        Session::from_json(&text).map_err(format_err)
    }

    /// Writes the session to `path` atomically: a temporary file in the same directory, synced,
    /// then renamed over `path`. On any failure `path` is left as it was.
    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        self.validate().map_err(|source| SessionError::Format {
            path: path.to_owned(),
            source,
        })?;
        let write_err = |source| SessionError::Write {
            path: path.to_owned(),
            source,
        };
        let mut tmp = temp_beside(path).map_err(write_err)?;
        tmp.write_all(self.to_json().as_bytes())
            .map_err(write_err)?;
        tmp.as_file().sync_all().map_err(write_err)?;
        tmp.persist(path).map_err(|e| write_err(e.error))?;
        Ok(())
    }
}

/// A temporary file in `path`'s directory (where a rename onto `path` is atomic); also how a
/// caller checks early that `path` will be writable.
pub fn temp_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".stickler-session-")
        .suffix(".tmp")
        .tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Session::from_json(text).unwrap_err().to_string()
    }

    const HAND: &str = r#"{
  "stickler_session": 1,
  "name": "ping",
  "notes": "written by hand",
  "framing": "delimiter:\\0",
  "masks": [{"conn": 0, "turn": 1, "start": 0, "end": 2, "reason": "user"}],
  "connections": [
    {"turns": [
      {"from": "client", "text": "PING\\r\\n\\x00"},
      {"from": "server", "base64": "UE9ORw0KAA=="}
    ]},
    {"incomplete": "still open when recording stopped", "turns": []}
  ]
}"#;

    #[test]
    fn reads_a_hand_written_file() {
        let s = Session::from_json(HAND).unwrap();
        assert_eq!(s.name.as_deref(), Some("ping"));
        assert_eq!(s.framing.as_deref(), Some("delimiter:\\0"));
        assert_eq!(s.connections.len(), 2);
        let turns = &s.connections[0].turns;
        assert_eq!(turns[0].from, Side::Client);
        assert_eq!(turns[0].bytes, b"PING\r\n\0");
        assert_eq!(turns[1].from, Side::Server);
        assert_eq!(turns[1].bytes, b"PONG\r\n\0");
        assert_eq!(s.masks[0].range(), 0..2);
        assert!(s.connections[1].incomplete.is_some());
    }

    #[test]
    fn every_turn_must_be_whole_messages_of_the_framing() {
        let wrong = HAND.replace(r#""delimiter:\\0""#, r#""length:u16be""#);
        let e = err(&wrong);
        assert!(
            e.contains("connections[0].turns[0]")
                && e.contains("not a whole number of length:u16be"),
            "{e}"
        );
        let e = err(&HAND.replace(r#""delimiter:\\0""#, r#""length:u17""#));
        assert!(e.contains("framing") && e.contains("u17"), "{e}");
    }

    #[test]
    fn round_trips_through_json() {
        let s = Session::from_json(HAND).unwrap();
        let again = Session::from_json(&s.to_json()).unwrap();
        assert_eq!(again, s);
        // Only the needed fields are written.
        let empty = Session::default().to_json();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&empty).unwrap(),
            serde_json::json!({"stickler_session": 1, "connections": []})
        );
    }

    #[test]
    fn push_joins_one_sides_bytes_into_one_turn() {
        let mut c = Connection::default();
        c.push(Side::Client, b"ab");
        c.push(Side::Client, b"");
        c.push(Side::Client, b"c");
        c.push(Side::Server, b"x");
        c.push(Side::Client, b"d");
        let got: Vec<_> = c.turns.iter().map(|t| (t.from, &t.bytes[..])).collect();
        assert_eq!(
            got,
            vec![
                (Side::Client, &b"abc"[..]),
                (Side::Server, b"x"),
                (Side::Client, b"d")
            ]
        );
        assert_eq!(c.bytes_from(Side::Client), 4);
    }

    #[test]
    fn versions_are_checked_first() {
        let e = err(r#"{"stickler_session": 2, "shiny_new_field": true}"#);
        assert!(e.contains("unknown session version 2"), "{e}");
        assert!(e.contains("understands version 1"), "{e}");
        let e = err(r#"{"stickler_session": "1", "connections": []}"#);
        assert!(e.contains(r#"unknown session version "1""#), "{e}");
        let e = err(r#"{"connections": []}"#);
        assert!(e.contains("no \"stickler_session\""), "{e}");
    }

    #[test]
    fn json_errors_have_line_and_column() {
        let e = err("{\n  \"stickler_session\": 1,\n  \"connections\": [\n}");
        assert!(e.contains("line 4"), "{e}");
        let e = err("[1, 2]");
        assert!(e.contains("session object"), "{e}");
        let e = err(
            "{\"stickler_session\": 1,\n\"connections\": [{\"turns\": [{\"from\": \"client\", \"txt\": \"a\"}]}]}",
        );
        assert!(
            e.contains("unknown field `txt`") && e.contains("line 2"),
            "{e}"
        );
        let e = err(
            r#"{"stickler_session": 1, "connections": [{"turns": [{"from": "proxy", "text": "a"}]}]}"#,
        );
        assert!(e.contains("unknown variant `proxy`"), "{e}");
        let e = err(r#"{"stickler_session": 1, "extra": 0, "connections": []}"#);
        assert!(e.contains("unknown field `extra`"), "{e}");
        let e = err(r#"{"stickler_session": 1}"#);
        assert!(e.contains("missing field `connections`"), "{e}");
    }

    fn one_turn(turn: &str) -> String {
        format!(
            r#"{{"stickler_session": 1, "connections": [{{"turns": [{{"from": "client", "text": "a"}}, {turn}]}}]}}"#
        )
    }

    #[test]
    fn bad_turns_name_connection_turn_and_field() {
        let e = err(&one_turn(r#"{"from": "server", "base64": "!!!!"}"#));
        assert!(
            e.starts_with("connections[0].turns[1].base64: not valid base64"),
            "{e}"
        );
        let e = err(&one_turn(r#"{"from": "server", "text": "\\q"}"#));
        assert!(
            e.starts_with("connections[0].turns[1].text: bad escape at character 0"),
            "{e}"
        );
        let e = err(&one_turn(
            r#"{"from": "server", "text": "a", "base64": "YQ=="}"#,
        ));
        assert!(e.starts_with("connections[0].turns[1]: has both"), "{e}");
        let e = err(&one_turn(r#"{"from": "server"}"#));
        assert!(
            e.starts_with("connections[0].turns[1]: has no bytes"),
            "{e}"
        );
        let e = err(&one_turn(r#"{"from": "server", "text": ""}"#));
        assert!(e.starts_with("connections[0].turns[1]: is empty"), "{e}");
        let e = err(&one_turn(r#"{"from": "client", "text": "b"}"#));
        assert!(
            e.starts_with("connections[0].turns[1]: is from the client again, like turn 0"),
            "{e}"
        );
    }

    #[test]
    fn masks_must_fall_inside_a_turn() {
        let with_mask = |m: &str| {
            err(&format!(
                r#"{{"stickler_session": 1, "masks": [{m}], "connections": [{{"turns": [{{"from": "server", "text": "abc"}}]}}]}}"#
            ))
        };
        let e = with_mask(r#"{"conn": 1, "turn": 0, "start": 0, "end": 1}"#);
        assert!(
            e.starts_with("masks[0].conn: connection 1 does not exist"),
            "{e}"
        );
        let e = with_mask(r#"{"conn": 0, "turn": 3, "start": 0, "end": 1}"#);
        assert!(
            e.starts_with("masks[0].turn: connection 0 has no turn 3"),
            "{e}"
        );
        let e = with_mask(r#"{"conn": 0, "turn": 0, "start": 2, "end": 2}"#);
        assert!(
            e.starts_with("masks[0]: bytes 2..2 is an empty range"),
            "{e}"
        );
        let e = with_mask(r#"{"conn": 0, "turn": 0, "start": 2, "end": 4}"#);
        assert!(e.starts_with("masks[0].end: 4 is past the end"), "{e}");
        let e = with_mask(r#"{"conn": 0, "turn": 0, "start": 0, "end": 1, "why": "x"}"#);
        assert!(e.contains("unknown field `why`"), "{e}");
    }
}
