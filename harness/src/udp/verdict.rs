//! Datagram verdicts: what became of each request, named from the datagrams that came back.
//!
//! A datagram that is exactly the expected reply, first of its request, after no reply to a
//! later request is `ok`; after one, `reordered`; a proper prefix of it, `truncated`. A request
//! with no reply is `lost`, another copy of a reply `duplicated`. A datagram that is neither a
//! whole reply nor a prefix of one is `merged`, `split` or `foreign`: UDP never does that, and
//! the matrix counts them to show it.

use serde::{Deserialize, Serialize};

use super::is_time_reply;

/// The verdict on one request, or on one datagram that came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatagramVerdict {
    /// The whole expected reply, in order.
    Ok,
    /// No reply came back.
    Lost,
    /// A copy of a reply that already came back.
    Duplicated,
    /// The whole reply, after a reply to a later request.
    Reordered,
    /// A proper prefix of the expected reply: the rest was cut off.
    Truncated,
    /// A datagram holding a whole reply and more (never happens over UDP).
    Merged,
    /// A datagram holding a piece from inside a reply (never happens over UDP).
    Split,
    /// A datagram that is no reply and no piece of one.
    Foreign,
}

impl DatagramVerdict {
    pub const ALL: [DatagramVerdict; 8] = [
        DatagramVerdict::Ok,
        DatagramVerdict::Lost,
        DatagramVerdict::Duplicated,
        DatagramVerdict::Reordered,
        DatagramVerdict::Truncated,
        DatagramVerdict::Merged,
        DatagramVerdict::Split,
        DatagramVerdict::Foreign,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DatagramVerdict::Ok => "ok",
            DatagramVerdict::Lost => "lost",
            DatagramVerdict::Duplicated => "duplicated",
            DatagramVerdict::Reordered => "reordered",
            DatagramVerdict::Truncated => "truncated",
            DatagramVerdict::Merged => "merged",
            DatagramVerdict::Split => "split",
            DatagramVerdict::Foreign => "foreign",
        }
    }

    pub fn parse(s: &str) -> Option<DatagramVerdict> {
        DatagramVerdict::ALL.into_iter().find(|v| v.name() == s)
    }
}

/// Counts per verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatagramCounts {
    pub ok: u32,
    pub lost: u32,
    pub duplicated: u32,
    pub reordered: u32,
    pub truncated: u32,
    pub merged: u32,
    pub split: u32,
    pub foreign: u32,
}

impl DatagramCounts {
    pub fn get(&self, v: DatagramVerdict) -> u32 {
        match v {
            DatagramVerdict::Ok => self.ok,
            DatagramVerdict::Lost => self.lost,
            DatagramVerdict::Duplicated => self.duplicated,
            DatagramVerdict::Reordered => self.reordered,
            DatagramVerdict::Truncated => self.truncated,
            DatagramVerdict::Merged => self.merged,
            DatagramVerdict::Split => self.split,
            DatagramVerdict::Foreign => self.foreign,
        }
    }

    fn add(&mut self, v: DatagramVerdict) {
        let slot = match v {
            DatagramVerdict::Ok => &mut self.ok,
            DatagramVerdict::Lost => &mut self.lost,
            DatagramVerdict::Duplicated => &mut self.duplicated,
            DatagramVerdict::Reordered => &mut self.reordered,
            DatagramVerdict::Truncated => &mut self.truncated,
            DatagramVerdict::Merged => &mut self.merged,
            DatagramVerdict::Split => &mut self.split,
            DatagramVerdict::Foreign => &mut self.foreign,
        };
        *slot += 1;
    }

    /// The verdicts seen, in table order, joined by `+` (`ok+lost`); `none` when nothing at all.
    pub fn kinds(&self) -> String {
        let seen: Vec<&str> = DatagramVerdict::ALL
            .into_iter()
            .filter(|v| self.get(*v) > 0)
            .map(|v| v.name())
            .collect();
        if seen.is_empty() {
            "none".into()
        } else {
            seen.join("+")
        }
    }

    /// `ok 30, lost 2`: every non-zero count.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = DatagramVerdict::ALL
            .into_iter()
            .filter(|v| self.get(*v) > 0)
            .map(|v| format!("{} {}", v.name(), self.get(v)))
            .collect();
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }

    /// Datagrams that broke a message boundary (merged, split or foreign): always 0 over UDP.
    pub fn boundary_breaks(&self) -> u32 {
        self.merged + self.split + self.foreign
    }
}

/// What a correct reply to each request is.
pub(crate) enum Expected {
    /// The exact replies, by request index.
    Exact(Vec<Vec<u8>>),
    /// `time`: a clock reading, the same shape for every request.
    Clock,
}

impl Expected {
    /// The request a datagram answers, and whether it was cut short.
    pub(crate) fn identify(&self, data: &[u8]) -> Option<(usize, bool)> {
        match self {
            Expected::Exact(replies) => replies.iter().enumerate().find_map(|(i, r)| {
                if r == data {
                    Some((i, false))
                } else if data.len() < r.len() && r.starts_with(data) {
                    Some((i, true))
                } else {
                    None
                }
            }),
            Expected::Clock => {
                if is_time_reply(data, false) {
                    Some((0, false))
                } else if is_time_reply(data, true) {
                    Some((0, true))
                } else {
                    None
                }
            }
        }
    }

    /// Names a datagram that answers no request.
    fn boundary_verdict(&self, data: &[u8]) -> DatagramVerdict {
        let whole: Vec<&[u8]> = match self {
            Expected::Exact(replies) => replies.iter().map(|r| &r[..]).collect(),
            Expected::Clock => {
                if data.len() > 19 && is_time_reply(&data[..19], false) {
                    return DatagramVerdict::Merged;
                }
                return DatagramVerdict::Foreign;
            }
        };
        if whole
            .iter()
            .any(|r| data.len() > r.len() && data.starts_with(r))
        {
            DatagramVerdict::Merged
        } else if !data.is_empty()
            && whole
                .iter()
                .any(|r| r.windows(data.len()).skip(1).any(|w| w == data))
        {
            DatagramVerdict::Split
        } else {
            DatagramVerdict::Foreign
        }
    }
}

/// A datagram that came back, and the lockstep exchange it arrived during (`None`: in a burst's
/// read-out or the final one).
#[derive(Debug, Clone)]
pub(crate) struct Arrived {
    pub window: Option<usize>,
    pub data: Vec<u8>,
}

/// Classifies what came back for `requests` requests.
pub(crate) fn classify(
    expected: &Expected,
    requests: usize,
    arrivals: &[Arrived],
) -> DatagramCounts {
    let mut counts = DatagramCounts::default();
    if let Expected::Clock = expected {
        // Untagged: in lockstep, the first clock reading during exchange i answers i and any
        // other is a copy; otherwise only totals can be compared.
        let mut answered = vec![false; requests];
        let (mut whole, mut cut) = (0usize, 0usize);
        for a in arrivals {
            let Some((_, truncated)) = expected.identify(&a.data) else {
                counts.add(expected.boundary_verdict(&a.data));
                continue;
            };
            match a.window {
                Some(i) if i < requests && !answered[i] => {
                    answered[i] = true;
                    counts.add(if truncated {
                        DatagramVerdict::Truncated
                    } else {
                        DatagramVerdict::Ok
                    });
                }
                Some(_) => counts.add(DatagramVerdict::Duplicated),
                None if truncated => cut += 1,
                None => whole += 1,
            }
        }
        let unplaced = whole + cut;
        let open = answered.iter().filter(|a| !**a).count();
        let delivered = unplaced.min(open);
        let cut_delivered = cut.min(delivered);
        counts.ok += (delivered - cut_delivered) as u32;
        counts.truncated += cut_delivered as u32;
        counts.lost += (open - delivered) as u32;
        counts.duplicated += (unplaced - delivered) as u32;
        return counts;
    }
    let mut first: Vec<Option<DatagramVerdict>> = vec![None; requests];
    let mut highest: Option<usize> = None;
    for a in arrivals {
        let a = &a.data;
        let Some((i, cut)) = expected.identify(a) else {
            counts.add(expected.boundary_verdict(a));
            continue;
        };
        if first[i].is_some() {
            counts.add(DatagramVerdict::Duplicated);
            continue;
        }
        first[i] = Some(if cut {
            DatagramVerdict::Truncated
        } else if highest.is_some_and(|h| h > i) {
            DatagramVerdict::Reordered
        } else {
            DatagramVerdict::Ok
        });
        highest = Some(highest.map_or(i, |h| h.max(i)));
    }
    for v in first {
        counts.add(v.unwrap_or(DatagramVerdict::Lost));
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(replies: &[&str]) -> Expected {
        Expected::Exact(replies.iter().map(|r| r.as_bytes().to_vec()).collect())
    }

    #[test]
    fn classifies_every_kind() {
        let e = exact(&["udp-0000 a\n", "udp-0001 b\n", "udp-0002 c\n"]);
        let got = burst(&[b"udp-0001 b\n", b"udp-0000 a\n", b"udp-0001 b\n"]);
        let c = classify(&e, 3, &got);
        assert_eq!((c.ok, c.reordered, c.duplicated, c.lost), (1, 1, 1, 1));
        let got = burst(&[
            b"udp-0000",
            b"udp-0001 b\nudp-0002 c\n",
            b"0002 c\n",
            b"zzz",
        ]);
        let c = classify(&e, 3, &got);
        assert_eq!(
            (c.truncated, c.merged, c.split, c.foreign, c.lost),
            (1, 1, 1, 1, 2)
        );
        assert_eq!(c.kinds(), "lost+truncated+merged+split+foreign");
    }

    fn burst(data: &[&[u8]]) -> Vec<Arrived> {
        data.iter()
            .map(|d| Arrived {
                window: None,
                data: d.to_vec(),
            })
            .collect()
    }

    #[test]
    fn clock_counts_from_totals_in_a_burst() {
        let got = burst(&[
            b"2026-01-01 00:00:00",
            b"2026-01-01 00:00:00",
            b"2026-01-01 00",
        ]);
        let c = classify(&Expected::Clock, 2, &got);
        assert_eq!((c.ok, c.truncated, c.duplicated, c.lost), (1, 1, 1, 0));
        let c = classify(&Expected::Clock, 4, &got[..1]);
        assert_eq!((c.ok, c.lost), (1, 3));
    }

    #[test]
    fn clock_by_exchange_in_lockstep() {
        let at = |w: usize| Arrived {
            window: Some(w),
            data: b"2026-01-01 00:00:00".to_vec(),
        };
        // Exchange 1 lost, exchange 2 answered twice: both seen, not cancelled out.
        let c = classify(&Expected::Clock, 3, &[at(0), at(2), at(2)]);
        assert_eq!((c.ok, c.lost, c.duplicated), (2, 1, 1));
    }
}
