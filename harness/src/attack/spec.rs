//! Attacking any protocol a framing description ([`FrameSpec`]) describes, with a recorded
//! session as the source of valid bytes:
//!
//! ```text
//! session: connection 0 ── client turn 0 (request) ──▶ server turn 1 (reply)
//!          hostile inputs: the first message of turn 0, its length field (or varint, or
//!                          delimiter) replaced; the `offset` bytes before it kept as recorded
//!          health probe:   fresh connection, turn 0 sent whole, the reply read up to turn 1's
//!                          length and compared with turn 1 under the session's masks
//! ```
//!
//! The cases ([`cases`]) depend on the description alone, so `--list` needs no session; a
//! case's [`Script`] is built from the [`SessionTarget`] and runs on the catalogue's runner
//! ([`super::run::run_case`]), reported like every other case.

use std::ops::Range;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::script::{Count, End, Script};
use super::wire::{random_bytes, Wire, ONE_TB};
use super::{AttackConfig, AttackError, AttackReport, CaseResult};
use crate::codec::spec::{FrameSpec, LengthHeader, LengthType, SpecCodec, VARINT_MAX_BYTES};
use crate::session::masks::ranges_for;
use crate::session::{Session, Side};

/// The largest value a varint of [`VARINT_MAX_BYTES`] bytes holds (MQTT's 268,435,455).
pub const VARINT_MAX: usize = (1 << (7 * VARINT_MAX_BYTES)) - 1;
/// Header cuts up to this many bytes are named cases of their own (`header-cut-N`); longer
/// headers are cut at every point in one case (`header-cut-every`).
pub const NAMED_CUTS: usize = 8;
/// `delim-oversize` applies when the description's `max` is below this (it sends `max + 1`
/// bytes, all held in memory).
pub const OVERSIZE_CAP: usize = 64 << 20;
/// Most bytes `pipeline-no-read` writes.
pub const PIPELINE_CAP: usize = 16 << 20;

/// What the session gives the attack: the description, the bytes hostile inputs are built
/// from, and the health probe's exchange.
#[derive(Debug, Clone)]
pub struct SessionTarget {
    pub spec: FrameSpec,
    /// The first whole message of the first client turn: hostile inputs are made of it.
    pub message: Vec<u8>,
    /// The first client turn of the first connection, whole: the probe's request.
    pub request: Vec<u8>,
    /// The server turn after it: the reply the probe expects.
    pub expected: Vec<u8>,
    /// Ranges of `expected` not compared: the session's masks of that turn, and those
    /// [`calibrate`] found.
    pub masks: Vec<Range<usize>>,
}

/// A session the attack cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionProblem {
    #[error(
        "the session has no connection: the health probe needs a recorded request and its reply"
    )]
    NoConnection,
    #[error("the session's first connection has no turns: the health probe needs a recorded request and its reply")]
    NoTurn,
    #[error(
        "the session's first connection starts with the server ({len} bytes): the health probe \
         needs a client turn first (the request) and the server's reply after it"
    )]
    ServerFirst { len: usize },
    #[error(
        "the session's first connection has no server turn after its first client turn: the \
         health probe has no reply to expect"
    )]
    NoReply,
    #[error(
        "the first client turn ({len} bytes) does not start with a whole `{spec}` message: \
         {why} (is the framing right?)"
    )]
    NotAMessage {
        len: usize,
        spec: String,
        why: String,
    },
}

impl SessionTarget {
    /// The probe's exchange and the first message, from the first connection of `session`.
    pub fn new(session: &Session, spec: FrameSpec) -> Result<SessionTarget, SessionProblem> {
        let conn = session
            .connections
            .first()
            .ok_or(SessionProblem::NoConnection)?;
        let first = conn.turns.first().ok_or(SessionProblem::NoTurn)?;
        if first.from != Side::Client {
            return Err(SessionProblem::ServerFirst {
                len: first.bytes.len(),
            });
        }
        let reply = conn
            .turns
            .get(1)
            .filter(|t| t.from == Side::Server)
            .ok_or(SessionProblem::NoReply)?;
        let not_a_message = |why: String| SessionProblem::NotAMessage {
            len: first.bytes.len(),
            spec: spec.to_string(),
            why,
        };
        let mut codec = SpecCodec::new(spec.clone());
        let mut buf = BytesMut::from(&first.bytes[..]);
        let message = match codec.decode_eof(&mut buf) {
            Ok(Some(m)) => m.to_vec(),
            Ok(None) => return Err(not_a_message("it is empty".into())),
            Err(e) => return Err(not_a_message(e.to_string())),
        };
        Ok(SessionTarget {
            spec,
            message,
            request: first.bytes.clone(),
            expected: reply.bytes.clone(),
            masks: ranges_for(&session.masks, 0, 1),
        })
    }

    /// Bytes of the message before its body: the offset and the length field or varint (0 for
    /// a delimiter).
    pub fn header_len(&self) -> usize {
        self.spec.header_len(&self.message)
    }

    /// The message's `offset` bytes, `field`, then the recorded body when `body`.
    fn with_field(&self, field: &[u8], body: bool) -> Vec<u8> {
        let offset = self.spec.offset().min(self.message.len());
        let mut out = self.message[..offset].to_vec();
        out.extend_from_slice(field);
        if body {
            out.extend_from_slice(&self.message[self.header_len().min(self.message.len())..]);
        }
        out
    }

    /// The message without its delimiter (the message itself for other descriptions).
    fn undelimited(&self) -> &[u8] {
        match &self.spec {
            FrameSpec::Delimiter { delimiter, .. } => self
                .message
                .strip_suffix(&delimiter[..])
                .unwrap_or(&self.message),
            _ => &self.message,
        }
    }
}

/// The bytes of a length field of type `ty` holding `value` (any value the type holds,
/// negative ones of signed types included: what [`LengthHeader::write_field`] rightly refuses
/// to write); `None` when the type cannot hold it.
pub fn field_bytes(ty: LengthType, value: i128) -> Option<Vec<u8>> {
    ty.bytes(value).map(|b| b[..ty.size()].to_vec())
}

/// MQTT's varint for `value` (7 bits a byte, least significant first); more than
/// [`VARINT_MAX_BYTES`] bytes for values past [`VARINT_MAX`], as a hostile peer would write.
pub fn varint_bytes(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// What one description case sends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// The message with its length field holding `value`, the recorded body after it when
    /// `body`.
    Field {
        value: i128,
        body: bool,
        end: End,
    },
    /// The message with its length written in the other byte order.
    OtherOrder,
    /// The message with `varint` in place of its varint, the recorded body after it.
    Varint {
        varint: Vec<u8>,
        end: End,
    },
    /// The first `n` bytes of the message's header, then FIN.
    HeaderCut(usize),
    /// The header cut after each of its bytes, each on its own connection.
    HeaderCutEvery,
    /// The header alone, held open.
    HeaderThenSilence,
    /// The message cut inside its length, a pause (`--slow-interval`), the rest, then FIN.
    HeaderPause,
    /// `n` bytes without the delimiter, then FIN.
    DelimOversize(usize),
    /// The message without its delimiter, then FIN.
    DelimMissing,
    MessageCutEvery,
    ResetMid,
    Slowloris,
    Garbage,
    ConnectClose,
    ConnectReset,
    PipelineNoRead,
    /// Many connections, each announcing the most the length holds, held.
    Flood,
    Idle,
}

/// One case of a description: named like the catalogue's cases.
#[derive(Debug, Clone)]
pub struct SpecCase {
    pub name: String,
    /// One line: what it sends.
    pub about: String,
    kind: Kind,
}

fn case(name: impl Into<String>, about: impl Into<String>, kind: Kind) -> SpecCase {
    SpecCase {
        name: name.into(),
        about: about.into(),
        kind,
    }
}

/// The most a length header says: 1 TB, or the most its type holds.
fn huge(h: &LengthHeader) -> i128 {
    h.ty.range().1.min(i128::from(ONE_TB))
}

fn length_cases(h: &LengthHeader) -> Vec<SpecCase> {
    let ty = h.ty;
    let (min, max) = ty.range();
    let mut out = vec![case(
        "len-huge",
        format!(
            "length field {} (1 TB, or the most a {ty} holds) and the recorded body, held open",
            huge(h)
        ),
        Kind::Field {
            value: huge(h),
            body: true,
            end: End::Hold,
        },
    )];
    out.push(case(
        "len-type-max",
        format!("length field {max} (the most a {ty} holds) and the recorded body, then FIN"),
        Kind::Field {
            value: max,
            body: true,
            end: End::Fin,
        },
    ));
    if min < 0 {
        out.push(case(
            "len-negative",
            format!("length field -1 (a signed {ty}) and the recorded body, then FIN"),
            Kind::Field {
                value: -1,
                body: true,
                end: End::Fin,
            },
        ));
        out.push(case(
            "len-type-min",
            format!("length field {min} (the least a {ty} holds) and the recorded body, then FIN"),
            Kind::Field {
                value: min,
                body: true,
                end: End::Fin,
            },
        ));
    }
    let over = h.max as i128 + 1 - i128::from(h.adjust);
    if over >= 0 && over <= max {
        out.push(case(
            "len-over-max",
            format!(
                "length field {over}: a body of max+1 = {} bytes (max={}), the recorded body, \
                 then FIN",
                h.max + 1,
                h.max
            ),
            Kind::Field {
                value: over,
                body: true,
                end: End::Fin,
            },
        ));
    }
    out.push(case(
        "len-zero",
        match h.adjust {
            0 => "length field 0, then FIN".to_string(),
            a => format!("length field 0 (a body of {a} bytes with adjust={a}), then FIN"),
        },
        Kind::Field {
            value: 0,
            body: false,
            end: End::Fin,
        },
    ));
    if let Some(other) = ty.swapped() {
        out.push(case(
            "len-wrong-byte-order",
            format!("the recorded message with its length written as {other}, then FIN"),
            Kind::OtherOrder,
        ));
    }
    out.extend(header_cases(h.header_len()));
    out.push(case(
        "flood-huge-announce",
        format!(
            "many connections (--flood-connections, default 1,000) each announcing {}, held \
             while probed",
            huge(h)
        ),
        Kind::Flood,
    ));
    out
}

/// The header cuts of a header of `len` bytes (0: of a varint header, whose length depends on
/// the message), the header held, and the pause inside the length.
fn header_cases(len: usize) -> Vec<SpecCase> {
    let mut out = Vec::new();
    if (1..=NAMED_CUTS).contains(&len) {
        for n in 1..=len {
            let about = if n == len {
                format!("the whole {len}-byte header and no body, then FIN")
            } else {
                format!("the first {n} of the {len} header bytes, then FIN")
            };
            out.push(case(format!("header-cut-{n}"), about, Kind::HeaderCut(n)));
        }
    } else {
        out.push(case(
            "header-cut-every",
            "the header cut after each of its bytes (at most --max-cuts), each on its own \
             connection, then FIN",
            Kind::HeaderCutEvery,
        ));
    }
    out.push(case(
        "header-then-silence",
        "the header alone, then nothing (held open)",
        Kind::HeaderThenSilence,
    ));
    out.push(case(
        "header-pause",
        "the recorded message cut inside its length, a pause (--slow-interval), the rest, \
         then FIN",
        Kind::HeaderPause,
    ));
    out
}

fn varint_cases(max: usize) -> Vec<SpecCase> {
    let mut out = vec![case(
        "varint-max",
        format!(
            "varint {VARINT_MAX} (the most {VARINT_MAX_BYTES} bytes hold) and the recorded body, \
             held open"
        ),
        Kind::Varint {
            varint: varint_bytes(VARINT_MAX as u64),
            end: End::Hold,
        },
    )];
    if max < VARINT_MAX {
        out.push(case(
            "varint-over-max",
            format!(
                "varint {} (max={max}) and the recorded body, then FIN",
                max + 1
            ),
            Kind::Varint {
                varint: varint_bytes(max as u64 + 1),
                end: End::Fin,
            },
        ));
    }
    out.push(case(
        "varint-too-long",
        format!(
            "a varint of {} bytes (at most {VARINT_MAX_BYTES} are allowed), then FIN",
            VARINT_MAX_BYTES + 1
        ),
        Kind::Varint {
            varint: vec![0xff; VARINT_MAX_BYTES]
                .into_iter()
                .chain([0x7f])
                .collect(),
            end: End::Fin,
        },
    ));
    out.extend(header_cases(0));
    out.push(case(
        "flood-huge-announce",
        format!(
            "many connections (--flood-connections, default 1,000) each announcing {VARINT_MAX} \
             bytes, held while probed"
        ),
        Kind::Flood,
    ));
    out
}

fn delimiter_cases(max: usize) -> Vec<SpecCase> {
    let mut out = Vec::new();
    if max < OVERSIZE_CAP {
        out.push(case(
            "delim-oversize",
            format!(
                "{} bytes without the delimiter (max={max}), then FIN",
                max + 1
            ),
            Kind::DelimOversize(max + 1),
        ));
    }
    out.push(case(
        "delim-missing",
        "the recorded message without its delimiter, then FIN",
        Kind::DelimMissing,
    ));
    out
}

/// The cases that apply to `spec`, in report order.
pub fn cases(spec: &FrameSpec) -> Vec<SpecCase> {
    let mut out = match spec {
        FrameSpec::Length(h) => length_cases(h),
        FrameSpec::Varint { max, .. } => varint_cases(*max),
        FrameSpec::Delimiter { max, .. } => delimiter_cases(*max),
    };
    out.extend([
        case(
            "message-cut-every",
            "the recorded message cut at every point (at most --max-cuts), each cut on its own \
             connection, then FIN",
            Kind::MessageCutEvery,
        ),
        case(
            "reset-mid-message",
            "half of the recorded message, then a reset (RST)",
            Kind::ResetMid,
        ),
        case(
            "slowloris",
            "the recorded message one byte per --slow-interval while the target is probed",
            Kind::Slowloris,
        ),
        case(
            "garbage",
            "4 KiB of seeded random bytes, then FIN",
            Kind::Garbage,
        ),
        case(
            "connect-close",
            "connect and close at once, sending nothing",
            Kind::ConnectClose,
        ),
        case(
            "connect-reset",
            "connect and reset at once, sending nothing",
            Kind::ConnectReset,
        ),
        case(
            "pipeline-no-read",
            "the recorded message 2,000 times back to back (at most 16 MiB), never reading a \
             reply (held open)",
            Kind::PipelineNoRead,
        ),
        case(
            "idle-connections",
            "many idle connections at once (--idle-connections, default 10,000); served again \
             once they go",
            Kind::Idle,
        ),
    ]);
    out
}

/// A byte no delimiter byte is (filler that never ends a message).
fn filler(delimiter: &[u8]) -> u8 {
    [b'x', b'a', b' ', 0xff, 0]
        .into_iter()
        .find(|b| !delimiter.contains(b))
        .unwrap_or(b'x')
}

impl SpecCase {
    /// What the case sends, for `t`'s message.
    pub fn build(&self, t: &SessionTarget, config: &AttackConfig) -> Script {
        let fin = |bytes| Script::once(bytes, End::Fin);
        let m = &t.message;
        let header = t.header_len().min(m.len());
        match &self.kind {
            Kind::Field { value, body, end } => {
                let FrameSpec::Length(h) = &t.spec else {
                    return fin(m.clone());
                };
                let field = field_bytes(h.ty, *value).unwrap_or_default();
                Script::once(t.with_field(&field, *body), *end)
            }
            Kind::OtherOrder => match &t.spec {
                FrameSpec::Length(h) => {
                    let other = h.ty.swapped().unwrap_or(h.ty);
                    let value = m.get(h.offset..).and_then(|f| h.ty.read(f)).unwrap_or(0);
                    // The value read fits the other order's type: same width and signedness.
                    let field = field_bytes(other, value).unwrap_or_default();
                    fin(t.with_field(&field, true))
                }
                _ => fin(m.clone()),
            },
            Kind::Varint { varint, end } => Script::once(t.with_field(varint, true), *end),
            Kind::HeaderCut(n) => fin(m[..(*n).min(header)].to_vec()),
            Kind::HeaderCutEvery => Script::EveryCut {
                bytes: m[..(header + 1).min(m.len())].to_vec(),
            },
            Kind::HeaderThenSilence => Script::once(m[..header].to_vec(), End::Hold),
            Kind::HeaderPause => {
                let cut = (t.spec.offset() + 1).clamp(1, m.len().saturating_sub(1).max(1));
                let cut = cut.min(m.len());
                Script::Send {
                    parts: vec![m[..cut].to_vec(), m[cut..].to_vec()],
                    gap: config.slow_interval,
                    end: End::Fin,
                }
            }
            Kind::DelimOversize(n) => {
                let byte = match &t.spec {
                    FrameSpec::Delimiter { delimiter, .. } => filler(delimiter),
                    _ => b'x',
                };
                fin(vec![byte; *n])
            }
            Kind::DelimMissing => fin(t.undelimited().to_vec()),
            Kind::MessageCutEvery => Script::EveryCut { bytes: m.clone() },
            Kind::ResetMid => Script::once(m[..m.len() / 2].to_vec(), End::Reset),
            Kind::Slowloris => Script::Trickle { bytes: m.clone() },
            Kind::Garbage => fin(random_bytes(config.seed, 4096)),
            Kind::ConnectClose => fin(Vec::new()),
            Kind::ConnectReset => Script::once(Vec::new(), End::Reset),
            Kind::PipelineNoRead => {
                let times = (PIPELINE_CAP / m.len().max(1)).clamp(1, 2000);
                Script::once(m.repeat(times), End::Hold)
            }
            Kind::Flood => {
                let announce = match &t.spec {
                    FrameSpec::Length(h) => {
                        t.with_field(&field_bytes(h.ty, huge(h)).unwrap_or_default(), false)
                    }
                    FrameSpec::Varint { .. } => {
                        t.with_field(&varint_bytes(VARINT_MAX as u64), false)
                    }
                    FrameSpec::Delimiter { .. } => t.undelimited().to_vec(),
                };
                Script::Many {
                    count: Count::Flood,
                    bytes: announce,
                    probe_while_held: true,
                }
            }
            Kind::Idle => Script::Many {
                count: Count::Idle,
                bytes: Vec::new(),
                probe_while_held: false,
            },
        }
    }
}

/// The cases of `spec` whose name matches `globs` (all when empty).
pub fn select(spec: &FrameSpec, globs: &[String]) -> Result<Vec<SpecCase>, AttackError> {
    let set = super::glob_set(globs)?;
    let cases: Vec<SpecCase> = cases(spec)
        .into_iter()
        .filter(|c| set.as_ref().is_none_or(|s| s.is_match(&c.name)))
        .collect();
    if cases.is_empty() {
        return Err(AttackError::NoSpecCase {
            globs: globs.to_vec(),
            spec: spec.to_string(),
        });
    }
    Ok(cases)
}

/// Runs `cases` against the target of `config` (whose `session` must be set: it is what the
/// probe replays); `on_done` sees each result as it comes.
pub async fn run_cases(
    config: &AttackConfig,
    cases: &[SpecCase],
    on_done: impl FnMut(&CaseResult),
) -> Result<AttackReport, AttackError> {
    let t = config.session.as_ref().ok_or(AttackError::NoSession)?;
    let wire = match t.spec {
        FrameSpec::Delimiter { .. } => Wire::Raw,
        _ => Wire::Len,
    };
    let scripts = cases
        .iter()
        .map(|c| (c.name.clone(), c.about.clone(), c.build(t, config)));
    Ok(super::run_scripts(config, wire, scripts, on_done).await)
}

mod probe;
pub use probe::{calibrate, exchange, probe_once};

#[cfg(test)]
mod tests;
