//! The conformance matrix: framings × chaos profiles × workloads, and case IDs such as
//! `struct/split-up/large`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::chaos::seed::{derive, Stream};
use crate::codec::Framing;

/// A named set of toxics, in the proxy's `--toxic` syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub toxics: &'static [&'static str],
    pub about: &'static str,
}

/// The chaos profiles every framing is measured under.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "none",
        toxics: &[],
        about: "the proxy passes bytes through untouched",
    },
    Profile {
        name: "split-down",
        toxics: &["down:split=1..4,gap=1ms"],
        about: "replies cut into 1-4 byte pieces written 1 ms apart",
    },
    Profile {
        name: "split-up",
        toxics: &["up:split=1..4,gap=1ms"],
        about: "requests cut into 1-4 byte pieces written 1 ms apart",
    },
    Profile {
        name: "coalesce-down",
        toxics: &["down:coalesce=10ms,max=64k"],
        about: "reply bytes held for 10 ms and written as one",
    },
    Profile {
        name: "coalesce-up",
        toxics: &["up:coalesce=10ms,max=64k"],
        about: "request bytes held for 10 ms and written as one",
    },
    Profile {
        name: "latency",
        toxics: &["both:latency=2ms,jitter=1ms"],
        about: "2 ms ± 1 ms one-way delay each way, order kept",
    },
    Profile {
        name: "combined",
        toxics: &[
            "both:latency=1ms,jitter=1ms",
            "both:coalesce=5ms,max=64k",
            "both:split=1..8,gap=1ms",
        ],
        about: "latency, then coalescing, then splits, in both directions",
    },
];

pub fn profile(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// What the client does in a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Lockstep `echo hello`: a 6-byte reply, one write.
    Small,
    /// Lockstep `seq 1 2000`: an 8893-byte reply, a 4-digit length.
    Large,
    /// Several small requests in one write, then their replies.
    Pipelined,
    /// Files uploaded with their md5, one at a time.
    Upload,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::Small,
        Workload::Large,
        Workload::Pipelined,
        Workload::Upload,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Small => "small",
            Workload::Large => "large",
            Workload::Pipelined => "pipelined",
            Workload::Upload => "upload",
        }
    }

    /// Whether this workload applies to a server of `framing`.
    pub fn fits(self, framing: Framing) -> bool {
        (self == Workload::Upload) == (framing == Framing::Upload)
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                format!("unknown workload {s:?} (known: small, large, pipelined, upload)")
            })
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseId {
    pub framing: Framing,
    pub profile: &'static str,
    pub workload: Workload,
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.framing,
            self.profile,
            self.workload.name()
        )
    }
}

impl FromStr for CaseId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split('/');
        let (Some(f), Some(p), Some(w), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("case id {s:?} is not FRAMING/PROFILE/WORKLOAD"));
        };
        let framing = <Framing as clap::ValueEnum>::from_str(f, true)
            .map_err(|_| format!("unknown framing {f:?}"))?;
        let profile = profile(p)
            .ok_or_else(|| format!("unknown profile {p:?}"))?
            .name;
        Ok(CaseId {
            framing,
            profile,
            workload: w.parse()?,
        })
    }
}

impl Serialize for CaseId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CaseId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Every case for `framings`, in a stable order.
pub fn cases(framings: &[Framing]) -> Vec<CaseId> {
    let mut out = Vec::new();
    for &framing in framings {
        for workload in Workload::ALL.into_iter().filter(|w| w.fits(framing)) {
            for p in PROFILES {
                out.push(CaseId {
                    framing,
                    profile: p.name,
                    workload,
                });
            }
        }
    }
    out
}

/// Keeps the cases whose ID matches any of `globs` (all when `globs` is empty).
pub fn select(cases: Vec<CaseId>, globs: &[String]) -> Result<Vec<CaseId>, globset::Error> {
    if globs.is_empty() {
        return Ok(cases);
    }
    let mut set = globset::GlobSetBuilder::new();
    for g in globs {
        set.add(
            globset::GlobBuilder::new(g)
                .literal_separator(false)
                .build()?,
        );
    }
    let set = set.build()?;
    Ok(cases
        .into_iter()
        .filter(|c| set.is_match(c.to_string()))
        .collect())
}

impl CaseId {
    /// The case's own seed: the run seed mixed with the case ID
    /// ([`crate::chaos::seed::Stream::Named`]), so each case replays alone exactly
    /// as it ran in the matrix.
    pub fn seed(&self, run_seed: u64) -> u64 {
        derive(run_seed, Stream::Named(&self.to_string())).seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_round_trip_and_select_by_glob() {
        let all = cases(&Framing::ALL);
        assert_eq!(all.len(), 5 * 3 * PROFILES.len() + PROFILES.len());
        for c in &all {
            assert_eq!(c.to_string().parse::<CaseId>().unwrap(), *c);
        }
        let picked = select(all.clone(), &["struct/split-*/large".into()]).unwrap();
        let ids: Vec<_> = picked.iter().map(ToString::to_string).collect();
        assert_eq!(ids, ["struct/split-down/large", "struct/split-up/large"]);
        assert!("struct/nope/large".parse::<CaseId>().is_err());
        assert_ne!(all[0].seed(1), all[0].seed(2));
        assert_ne!(all[0].seed(1), all[1].seed(1));
        // As committed in fixtures/cases/json_coalesce-down_pipelined.json.
        let case: CaseId = "json/coalesce-down/pipelined".parse().unwrap();
        assert_eq!(case.seed(1), 7989798529437101586);
    }
}
