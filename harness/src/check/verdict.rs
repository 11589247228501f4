//! What happened to one exchange, named from what the client observed.
//!
//! The classifier compares the reply the client decoded with the reply the service must give,
//! and with every reply of the case (to recognise bytes that belong to another reply).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The verdict on one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The reply was exactly the expected one.
    Ok,
    /// Bytes of another reply arrived with (or instead of) this one.
    Merged,
    /// The reply was cut: a proper prefix of the expected one (the rest came later).
    Short,
    /// A length header was decoded wrong (split digits, a body read as a header, …).
    MisreadHeader,
    /// A complete reply arrived, but not the expected one (the server misread the request).
    WrongReply,
    /// Nothing (more) arrived before the timeout.
    Hang,
    /// The connection was reset.
    Reset,
    /// The peer closed before the reply was complete.
    ClosedEarly,
    /// An external client exited with a failure status.
    Crashed,
    /// Bytes differ from the clean reference run (sessions: no framing says more).
    Differs,
}

impl Verdict {
    pub const ALL: [Verdict; 10] = [
        Verdict::Ok,
        Verdict::Merged,
        Verdict::Short,
        Verdict::MisreadHeader,
        Verdict::WrongReply,
        Verdict::Hang,
        Verdict::Reset,
        Verdict::ClosedEarly,
        Verdict::Crashed,
        Verdict::Differs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Merged => "merged",
            Verdict::Short => "short",
            Verdict::MisreadHeader => "misread-header",
            Verdict::WrongReply => "wrong-reply",
            Verdict::Hang => "hang",
            Verdict::Reset => "reset",
            Verdict::ClosedEarly => "closed-early",
            Verdict::Crashed => "crashed",
            Verdict::Differs => "differs",
        }
    }

    /// One sentence for reports.
    pub fn explain(self) -> &'static str {
        match self {
            Verdict::Ok => "the reply arrived whole and alone",
            Verdict::Merged => "bytes of another reply arrived with this one: message boundaries were lost",
            Verdict::Short => "the reply was cut short; the rest arrived later and poisoned the next exchange",
            Verdict::MisreadHeader => "a length header was decoded wrong (split digits or body bytes read as a header)",
            Verdict::WrongReply => "the server answered a different request: it read a split or merged request as one command",
            Verdict::Hang => "nothing more arrived before the timeout: one side waits for bytes the other will not send",
            Verdict::Reset => "the connection was reset",
            Verdict::ClosedEarly => "the peer closed the connection before the reply was complete",
            Verdict::Crashed => "the client exited with a failure status",
            Verdict::Differs => "the bytes differ from the clean run's: the output depended on how the input was cut",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the client saw for one exchange, reduced to what the classifier needs.
#[derive(Debug, Clone)]
pub enum Observed<'a> {
    /// A reply was decoded; `declared_len` is the length its header announced, if any.
    Reply {
        body: &'a [u8],
        declared_len: Option<usize>,
    },
    /// The client's decoder refused a header (absurd length, bad digits, bad JSON, …).
    HeaderError,
    Timeout,
    Reset,
    ClosedEarly,
}

/// Names what happened to an exchange whose reply should have been `expected`; `stream` is every
/// expected reply of the case, concatenated in order (to recognise bytes of another reply).
pub fn classify(expected: &[u8], stream: &[u8], observed: &Observed<'_>) -> Verdict {
    let (body, declared_len) = match *observed {
        Observed::Reply { body, declared_len } => (body, declared_len),
        Observed::HeaderError => return Verdict::MisreadHeader,
        Observed::Timeout => return Verdict::Hang,
        Observed::Reset => return Verdict::Reset,
        Observed::ClosedEarly => return Verdict::ClosedEarly,
    };
    if body == expected {
        return Verdict::Ok;
    }
    let own_prefix = expected.starts_with(body);
    if let Some(d) = declared_len.filter(|d| *d != expected.len()) {
        // The length arrived cut (the first digits of the true one), or the body is ours under
        // a wrong length: either way the header was read wrong.
        let (got, want) = (d.to_string(), expected.len().to_string());
        if own_prefix || want.starts_with(&got) {
            return Verdict::MisreadHeader;
        }
    }
    if own_prefix {
        return Verdict::Short;
    }
    if body.starts_with(expected) || carries_stream_bytes(body, stream) {
        return Verdict::Merged;
    }
    if declared_len.is_some_and(|d| d != body.len()) {
        return Verdict::MisreadHeader;
    }
    Verdict::WrongReply
}

/// Whether `body` begins with bytes that occur in the expected stream (a piece of another reply,
/// e.g. the unread tail of the previous one).
fn carries_stream_bytes(body: &[u8], stream: &[u8]) -> bool {
    const PROBE: usize = 16;
    let probe = &body[..body.len().min(PROBE)];
    !probe.is_empty() && stream.windows(probe.len()).any(|w| w == probe)
}

/// Verdict counts of one cell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts(pub BTreeMap<Verdict, u64>);

impl Counts {
    pub fn add(&mut self, v: Verdict) {
        *self.0.entry(v).or_default() += 1;
    }
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
    pub fn get(&self, v: Verdict) -> u64 {
        self.0.get(&v).copied().unwrap_or(0)
    }
    pub fn failures(&self) -> u64 {
        self.total() - self.get(Verdict::Ok)
    }
    /// Passed: at least one exchange ran and every one was ok.
    pub fn passed(&self) -> bool {
        self.total() > 0 && self.failures() == 0
    }
    /// Share of exchanges with verdict `v`.
    pub fn rate(&self, v: Verdict) -> f64 {
        match self.total() {
            0 => 0.0,
            n => self.get(v) as f64 / n as f64,
        }
    }
    /// `ok 3, short 2` style summary, worst first.
    pub fn summary(&self) -> String {
        let mut parts: Vec<_> = self.0.iter().filter(|(_, n)| **n > 0).collect();
        parts.sort_by_key(|(v, _)| (**v == Verdict::Ok, **v));
        parts
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply<'a>(body: &'a [u8], declared_len: Option<usize>) -> Observed<'a> {
        Observed::Reply { body, declared_len }
    }

    #[test]
    fn names_each_way_a_reply_goes_wrong() {
        let e = b"hello\n";
        let stream = b"hello\nhello\n";
        assert_eq!(
            classify(e, stream, &reply(b"hello\n", Some(6))),
            Verdict::Ok
        );
        assert_eq!(classify(e, stream, &reply(b"hel", None)), Verdict::Short);
        assert_eq!(
            classify(e, stream, &reply(b"hel", Some(3))),
            Verdict::MisreadHeader
        );
        // `ready` digits "8893" read as "8": the next 8 bytes are digits and body.
        let seq: Vec<u8> = (1..=2000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        assert_eq!(
            classify(&seq, &seq, &reply(b"8931\n2\n3", Some(8))),
            Verdict::MisreadHeader
        );
        assert_eq!(
            classify(e, stream, &reply(b"hello\nhello\n", None)),
            Verdict::Merged
        );
        assert_eq!(
            classify(e, stream, &reply(b"lo\nhel", None)),
            Verdict::Merged
        );
        let nf = b"/bin/sh: 1: ech: not found\n";
        assert_eq!(
            classify(e, stream, &reply(nf, Some(nf.len()))),
            Verdict::WrongReply
        );
        assert_eq!(classify(e, stream, &Observed::Timeout), Verdict::Hang);
        assert_eq!(
            classify(e, stream, &Observed::HeaderError),
            Verdict::MisreadHeader
        );
        assert_eq!(classify(e, stream, &Observed::Reset), Verdict::Reset);
        assert_eq!(
            classify(e, stream, &Observed::ClosedEarly),
            Verdict::ClosedEarly
        );
    }

    #[test]
    fn counts_pass_only_when_all_ok() {
        let mut c = Counts::default();
        assert!(
            !c.passed(),
            "an empty cell measured nothing and cannot pass"
        );
        c.add(Verdict::Ok);
        assert!(c.passed());
        c.add(Verdict::Short);
        assert!(!c.passed());
        assert_eq!(c.rate(Verdict::Short), 0.5);
        assert_eq!(c.summary(), "short 1, ok 1");
    }

    #[test]
    fn every_verdict_has_its_own_name_and_sentence() {
        let names: Vec<String> = Verdict::ALL.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            names,
            [
                "ok",
                "merged",
                "short",
                "misread-header",
                "wrong-reply",
                "hang",
                "reset",
                "closed-early",
                "crashed",
                "differs"
            ]
        );
        let mut sentences: Vec<&str> = Verdict::ALL.iter().map(|v| v.explain()).collect();
        assert!(sentences.iter().all(|s| s.len() > 20), "{sentences:?}");
        sentences.sort_unstable();
        sentences.dedup();
        assert_eq!(sentences.len(), Verdict::ALL.len());
        assert!(Verdict::Short.explain().contains("cut short"));
        // The serialised name is the display name.
        for v in Verdict::ALL {
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.name())
            );
        }
    }

    #[test]
    fn a_short_body_under_the_right_length_is_short() {
        let e = b"hello\n";
        // The header announced the true length: the body was cut, the header was fine.
        assert_eq!(
            classify(e, e, &reply(b"hel", Some(e.len()))),
            Verdict::Short
        );
        assert_eq!(classify(e, e, &reply(b"", None)), Verdict::Short);
    }

    #[test]
    fn a_wrong_length_names_the_header_only_when_it_explains_the_body() {
        let e = b"hello\n";
        let stream = b"hello\n";
        // Not ours, not from the stream, and not as long as the header said.
        assert_eq!(
            classify(e, stream, &reply(b"zzz", Some(5))),
            Verdict::MisreadHeader
        );
        // As long as the header said: a whole reply, just not the expected one.
        assert_eq!(
            classify(e, stream, &reply(b"zzz", Some(3))),
            Verdict::WrongReply
        );
        assert_eq!(
            classify(e, stream, &reply(b"zzz", None)),
            Verdict::WrongReply
        );
        // A wrong length whose digits are not a prefix of the true one, over a body of
        // another reply: the bytes say merged.
        assert_eq!(
            classify(e, b"xxhello\nzz", &reply(b"hello\nzz", Some(9))),
            Verdict::Merged
        );
    }

    #[test]
    fn a_body_that_runs_on_past_the_reply_is_merged_even_off_the_stream() {
        let e = b"hello\n";
        // The expected stream is unknown (empty): the run-on alone says merged.
        assert_eq!(classify(e, b"", &reply(b"hello\nX", None)), Verdict::Merged);
        // Bytes of another reply, not starting with ours.
        assert_eq!(
            classify(e, b"abcdefhello\n", &reply(b"cdef", None)),
            Verdict::Merged
        );
    }

    #[test]
    fn stream_bytes_are_recognised_by_the_first_sixteen_bytes() {
        assert!(!carries_stream_bytes(b"", b"abc"));
        assert!(carries_stream_bytes(b"bc", b"abcd"));
        assert!(!carries_stream_bytes(b"bd", b"abcd"));
        // Only the first 16 bytes need to occur in the stream.
        let stream = b"0123456789abcdefXYZ";
        assert!(carries_stream_bytes(b"0123456789abcdef and more", stream));
        assert!(!carries_stream_bytes(b"0123456789abcdeg", stream));
    }

    #[test]
    fn counts_add_up_and_summarise_worst_first() {
        let mut c = Counts::default();
        assert_eq!((c.total(), c.failures()), (0, 0));
        assert_eq!(c.rate(Verdict::Ok), 0.0);
        assert_eq!(c.summary(), "");
        for v in [
            Verdict::Ok,
            Verdict::Merged,
            Verdict::Short,
            Verdict::Merged,
            Verdict::Ok,
            Verdict::Merged,
        ] {
            c.add(v);
        }
        assert_eq!(c.total(), 6);
        assert_eq!(c.get(Verdict::Merged), 3);
        assert_eq!(c.get(Verdict::Ok), 2);
        assert_eq!(c.get(Verdict::Hang), 0);
        assert_eq!(c.failures(), 4);
        assert!(!c.passed());
        assert_eq!(c.rate(Verdict::Merged), 0.5);
        assert_eq!(c.rate(Verdict::Short), 1.0 / 6.0);
        assert_eq!(c.summary(), "merged 3, short 1, ok 2");
        // A verdict counted zero times is left out of the summary and counts nothing.
        let mut only_ok = Counts::default();
        only_ok.0.insert(Verdict::Hang, 0);
        assert!(!only_ok.passed());
        assert_eq!(only_ok.summary(), "");
        only_ok.add(Verdict::Ok);
        only_ok.add(Verdict::Ok);
        assert!(only_ok.passed());
        assert_eq!(only_ok.failures(), 0);
        assert_eq!(only_ok.rate(Verdict::Ok), 1.0);
        assert_eq!(only_ok.summary(), "ok 2");
    }
}
