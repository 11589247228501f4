//! The one parser of toxic specs, `[DIR:]TYPE=VALUE[,KEY=VALUE]...`.
//!
//! The grammar knows directions, `KEY=VALUE` pairs and which keys a type takes; what the types
//! are and what their values mean is a [`Vocabulary`]: the TCP proxy's
//! ([`crate::proxy::toxic::ToxicSpec`]) and the UDP proxy's ([`crate::udp::toxic::UdpToxic`]).
//!
//! - `DIR` is `up`, `down` or `both`; without it, `down`.
//! - The first key that is not one of the vocabulary's [`Vocabulary::COMMON`] keys is the type.
//! - Every other key must be one the type (or the vocabulary) takes, at most once.

use super::Side;

/// What went wrong in the grammar itself (before any value was read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrammarError {
    /// The spec does not follow the grammar; the reason says where.
    Syntax(String),
    /// The type is not one of the vocabulary's.
    UnknownType(String),
}

/// One toxic set written in the grammar.
pub trait Vocabulary: Sized {
    /// The error of this vocabulary's parse.
    type Error;
    /// Keys any type takes (e.g. `toxicity`, `name`); they may come before the type.
    const COMMON: &'static [&'static str];
    /// The keys type `ty` takes besides [`Self::COMMON`]; `None` when `ty` is no type here.
    fn options(ty: &str) -> Option<&'static [&'static str]>;
    /// This vocabulary's error for a grammar error in `spec`.
    fn grammar_error(spec: &str, e: GrammarError) -> Self::Error;
    /// The toxic of a spec that followed the grammar.
    fn build(parsed: &Parsed<'_>) -> Result<Self, Self::Error>;
}

/// A spec split up by the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The whole spec, for error messages.
    pub spec: &'a str,
    pub side: Side,
    /// The type key and its value.
    pub ty: &'a str,
    pub value: &'a str,
    /// The other keys, each known to the type and given once.
    pub options: Vec<(&'a str, &'a str)>,
}

impl<'a> Parsed<'a> {
    /// The value of option `key`, if given.
    pub fn option(&self, key: &str) -> Option<&'a str> {
        self.options
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// Parses `spec` in the grammar and builds the toxic of vocabulary `V`.
pub fn parse<V: Vocabulary>(spec: &str) -> Result<V, V::Error> {
    let syntax = |reason: String| V::grammar_error(spec, GrammarError::Syntax(reason));
    let (side, rest) = match spec.split_once(':') {
        Some((d, r)) => match Side::from_name(d) {
            Some(side) => (side, r),
            None => return Err(syntax(format!("direction {d:?}: use up, down or both"))),
        },
        None => (Side::Down, spec),
    };
    let mut kind: Option<(&str, &str)> = None;
    let mut options: Vec<(&str, &str)> = Vec::new();
    for part in rest.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| syntax(format!("{part:?} is not KEY=VALUE")))?;
        let (k, v) = (k.trim(), v.trim());
        if kind.is_none() && !V::COMMON.contains(&k) {
            kind = Some((k, v));
        } else {
            options.push((k, v));
        }
    }
    let (ty, value) = kind.ok_or_else(|| syntax("no toxic type given".to_string()))?;
    let Some(takes) = V::options(ty) else {
        return Err(V::grammar_error(
            spec,
            GrammarError::UnknownType(ty.to_string()),
        ));
    };
    for (i, (k, _)) in options.iter().enumerate() {
        if !takes.contains(k) && !V::COMMON.contains(k) {
            let known = takes.iter().chain(V::COMMON).copied().collect::<Vec<_>>();
            let known = match known.is_empty() {
                true => "none".to_string(),
                false => known.join(", "),
            };
            return Err(syntax(format!(
                "unknown option {k:?} for {ty} (it takes: {known})"
            )));
        }
        if options[..i].iter().any(|(seen, _)| seen == k) {
            return Err(syntax(format!("option {k:?} given twice")));
        }
    }
    V::build(&Parsed {
        spec,
        side,
        ty,
        value,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary of one type `t` with option `o`, and the common key `c`.
    #[derive(Debug, PartialEq)]
    struct T(Side, String, Option<String>);

    impl Vocabulary for T {
        type Error = String;
        const COMMON: &'static [&'static str] = &["c"];
        fn options(ty: &str) -> Option<&'static [&'static str]> {
            (ty == "t").then_some(&["o"][..])
        }
        fn grammar_error(spec: &str, e: GrammarError) -> String {
            format!("{spec}: {e:?}")
        }
        fn build(p: &Parsed<'_>) -> Result<T, String> {
            Ok(T(
                p.side,
                p.value.to_string(),
                p.option("o").map(String::from),
            ))
        }
    }

    #[test]
    fn splits_direction_type_and_options() {
        assert_eq!(parse::<T>("t=1"), Ok(T(Side::Down, "1".into(), None)));
        assert_eq!(
            parse::<T>("both:c=2,t=1,o=x"),
            Ok(T(Side::Both, "1".into(), Some("x".into())))
        );
        for (bad, why) in [
            (
                "sideways:t=1",
                "direction \\\"sideways\\\": use up, down or both",
            ),
            ("t", "\\\"t\\\" is not KEY=VALUE"),
            ("", "\\\"\\\" is not KEY=VALUE"),
            ("c=1", "no toxic type given"),
            ("u=1", "UnknownType(\"u\")"),
            ("t=1,p=2", "unknown option \\\"p\\\" for t (it takes: o, c)"),
            ("t=1,o=2,o=3", "option \\\"o\\\" given twice"),
        ] {
            let e = parse::<T>(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
