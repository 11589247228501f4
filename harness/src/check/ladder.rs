//! The data of a failing case's ladder diagram ([`crate::present::ladder`]): the failing
//! connection's pieces, the failing exchange's reads, and where each expected reply ends.

use crate::present::ladder::{Item, Kind, Ladder};
use crate::proxy::PieceEvent;

use super::run::ExchangeOutcome;
use super::workload::Step;
use crate::service::Service;

/// Pieces of the failing connection kept for its ladder, at most.
const LADDER_PIECES: usize = 60;
/// Reads of the failing exchange kept for its ladder: the first ones and the last ones.
const LADDER_READS: (usize, usize) = (24, 16);

/// Where each of `bodies` ends in `stream`, found in order (each after the previous one's
/// end); stops at the first one not found. Framing headers come before a body, so a body's end
/// is its message's end.
fn ends_in(stream: &[u8], bodies: impl IntoIterator<Item = Vec<u8>>) -> Vec<u64> {
    let mut ends = Vec::new();
    let mut pos = 0;
    for body in bodies {
        if body.is_empty() {
            continue;
        }
        let Some(i) = stream[pos..]
            .windows(body.len())
            .position(|w| w == body.as_slice())
        else {
            break;
        };
        pos += i + body.len();
        ends.push(pos as u64);
    }
    ends
}

/// The bytes of one direction of connection `conn`, from its recorded pieces (empty when a
/// piece has no bytes).
fn stream_of(events: &[&PieceEvent], dir: crate::chaos::Direction) -> Vec<u8> {
    let mut pieces: Vec<&&PieceEvent> = events.iter().filter(|e| e.dir == dir).collect();
    pieces.sort_by_key(|e| e.offset);
    let mut out = Vec::new();
    for p in pieces {
        match p.bytes() {
            Some(b) if p.offset as usize == out.len() => out.extend(b),
            _ => return Vec::new(),
        }
    }
    out
}

/// The ladder of connection `conn`'s first failure (exchange `index` of `outcomes`): the
/// client's requests (their ranges found in the up stream), the proxy's pieces (a bounded
/// window around the failing reads) and the failing exchange's reads, all on the proxy's clock
/// (the client's clock is aligned on its first request reaching the proxy), and where each
/// expected reply ends in the down stream.
pub fn ladder_of(
    events: &[PieceEvent],
    conn: u64,
    outcomes: &[ExchangeOutcome],
    index: usize,
    steps: &[Step],
    service: Service,
) -> Ladder {
    use crate::chaos::Direction;
    let mut pieces: Vec<&PieceEvent> = events.iter().filter(|e| e.conn == conn).collect();
    pieces.sort_by_key(|e| e.t_us);
    let up = stream_of(&pieces, Direction::Up);
    let down = stream_of(&pieces, Direction::Down);
    let requests: Vec<Vec<u8>> = steps
        .iter()
        .flat_map(|s| match s {
            Step::Lockstep(r) => vec![r.clone()],
            Step::Pipelined(rs) => rs.clone(),
            Step::Upload { data, .. } => vec![data.clone()],
        })
        .collect();
    let replies = steps.iter().flat_map(|s| match s {
        Step::Lockstep(r) => vec![service.reply(r)],
        Step::Pipelined(rs) => rs.iter().map(|r| service.reply(r)).collect(),
        Step::Upload { .. } => Vec::new(),
    });
    let request_ends = ends_in(&up, requests);
    let boundaries = ends_in(&down, replies);
    // The client's clock on the proxy's: its first request reaches the proxy as the first up
    // piece is written.
    let first_up = pieces
        .iter()
        .find(|e| e.dir == Direction::Up)
        .map(|e| e.t_us);
    let first_sent = outcomes.iter().find_map(|o| o.sent_us);
    let shift = match (first_up, first_sent) {
        (Some(u), Some(s)) => u as i64 - s as i64,
        _ => 0,
    };
    let on_proxy = |t: u64| (t as i64 + shift).max(0) as u64;
    // When the piece holding byte `at` of `dir` was written.
    let written = |dir: Direction, at: u64| {
        pieces
            .iter()
            .find(|e| e.dir == dir && e.offset <= at && at < e.offset + e.len as u64)
            .map(|e| e.t_us)
    };
    let mut items = Vec::new();
    let mut from = 0u64;
    for (i, o) in outcomes.iter().enumerate() {
        let Some(sent) = o.sent_us else { continue };
        let end = request_ends.get(i).copied().unwrap_or(from);
        let mut t = on_proxy(sent);
        if let Some(w) = written(Direction::Up, from) {
            t = t.min(w);
        }
        items.push(Item {
            kind: Kind::Request,
            t_us: t,
            offset: from,
            len: (end - from) as usize,
            note: format!("{:?}", o.request),
        });
        from = end;
    }
    let mut omitted = 0;
    let mut focus = None;
    if let Some(o) = outcomes.get(index) {
        let mut at = o.down_from;
        let (head, tail) = LADDER_READS;
        let n = o.reads_at.len();
        for (k, &(t, len)) in o.reads_at.iter().enumerate() {
            let mut t = on_proxy(t);
            if len > 0 {
                if let Some(w) = written(Direction::Down, at + len as u64 - 1) {
                    t = t.max(w);
                }
            }
            if k < head || k + tail >= n {
                focus.get_or_insert(t);
                items.push(Item {
                    kind: Kind::Read,
                    t_us: t,
                    offset: at,
                    len,
                    note: String::new(),
                });
            } else {
                omitted += 1;
            }
            at += len as u64;
        }
        if focus.is_none() {
            focus = o.sent_us.map(on_proxy);
        }
    }
    // A window of pieces around the failing exchange's first read.
    let focus = focus.unwrap_or(u64::MAX);
    let before = pieces.iter().filter(|e| e.t_us <= focus).count();
    let start = before
        .saturating_sub(LADDER_PIECES * 2 / 3)
        .min(pieces.len().saturating_sub(LADDER_PIECES));
    let end = (start + LADDER_PIECES).min(pieces.len());
    omitted += pieces.len() - (end - start);
    items.extend(pieces[start..end].iter().map(|e| Item {
        kind: if e.dir == Direction::Up {
            Kind::Up
        } else {
            Kind::Down
        },
        t_us: e.t_us,
        offset: e.offset,
        len: e.len,
        note: e.toxic.clone(),
    }));
    Ladder {
        items,
        boundaries,
        omitted,
    }
}
