//! The seeded mutation mode: valid requests of the target's wire, mutated in their length
//! field, JSON header, body and chunking, fired one after another for a time budget, each
//! followed by the health probe. Mutant `i` of seed `s` draws from ChaCha8 seeded with `s`,
//! stream `i`, so the same seed replays the same mutants in the same order.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::run::run_case;
use super::script::{End, Script};
use super::wire::{max_of, min_of, random_bytes, Shape, Wire, COMMAND, FILE, ONE_TB};
use super::{AttackConfig, CaseResult};
use crate::codec::json::python_dumps;

/// Names of mutants start with this.
pub const MUTANT_PREFIX: &str = "mutate-";

/// Longest watch of one mutant's connection (held mutants would otherwise eat the budget).
pub const MUTANT_WATCH: Duration = Duration::from_millis(200);

/// One mutant: its name, what was done, and the script.
#[derive(Debug, Clone)]
pub struct Mutant {
    pub name: String,
    pub about: String,
    pub script: Script,
}

/// Values a length field is set to.
fn field_value(rng: &mut ChaCha8Rng, s: &Shape, true_len: i64) -> i64 {
    let limit = s.field_limit() as i64;
    let choices = [
        0,
        1,
        -1,
        min_of(s.field),
        max_of(s.field),
        limit,
        limit + 1,
        true_len - 1,
        true_len + 1,
        rng.gen::<u32>() as i64,
    ];
    *choices.choose(rng).unwrap_or(&0)
}

/// Values a JSON header key is set to.
fn json_value(rng: &mut ChaCha8Rng) -> Value {
    let long = "x".repeat(rng.gen_range(100..5000));
    let choices = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(1.5),
        json!("21"),
        json!(ONE_TB),
        json!(u64::MAX),
        json!(i64::MIN),
        json!([]),
        json!({}),
        json!("../x"),
        json!(""),
        json!("a\0b"),
        json!("/etc/passwd"),
        json!(long),
    ];
    choices.choose(rng).cloned().unwrap_or(Value::Null)
}

/// Mutant `index` of `seed` for the target's wire.
pub fn mutant(shape: &Shape, seed: u64, index: u64) -> Mutant {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let mut done: Vec<String> = Vec::new();
    let mut body = match shape.wire {
        Wire::Upload => FILE.to_vec(),
        _ => COMMAND.to_vec(),
    };
    if rng.gen_bool(0.2) {
        let n = rng.gen_range(0..body.len());
        body.truncate(n);
        done.push(format!("body cut to {n}"));
    }
    if rng.gen_bool(0.2) {
        let extra = random_bytes(rng.gen(), rng.gen_range(1..64));
        done.push(format!("body +{} random bytes", extra.len()));
        body.extend_from_slice(&extra);
    }
    let mut bytes = match shape.wire {
        Wire::Raw | Wire::Ready => body,
        Wire::Len => {
            let mut value = body.len() as i64;
            if rng.gen_bool(0.5) {
                value = field_value(&mut rng, shape, value);
                done.push(format!("length {value}"));
            }
            shape.with_field(value, &body)
        }
        Wire::Json | Wire::Upload => {
            let mut header = shape.valid_json(if shape.wire == Wire::Upload {
                FILE
            } else {
                COMMAND
            });
            for _ in 0..rng.gen_range(0..3) {
                let keys = ["file_size", "data_size", "md5", "file_name", "extra"];
                let key = *keys.choose(&mut rng).unwrap_or(&"extra");
                if let Value::Object(map) = &mut header {
                    if rng.gen_bool(0.25) {
                        map.remove(key);
                        done.push(format!("{key} removed"));
                    } else {
                        let v = json_value(&mut rng);
                        done.push(format!(
                            "{key}={}",
                            super::probe::show(v.to_string().as_bytes())
                        ));
                        map.insert(key.into(), v);
                    }
                }
            }
            let json = python_dumps(&header);
            let mut value = json.len() as i64;
            if rng.gen_bool(0.3) {
                value = field_value(&mut rng, shape, value);
                done.push(format!("header length {value}"));
            }
            shape.with_field(value, &[json, body].concat())
        }
    };
    if rng.gen_bool(0.3) && !bytes.is_empty() {
        let flips = rng.gen_range(1..=4);
        for _ in 0..flips {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] ^= 1 << rng.gen_range(0..8);
        }
        done.push(format!("{flips} bits flipped"));
    }
    if rng.gen_bool(0.15) && !bytes.is_empty() {
        let n = rng.gen_range(0..bytes.len());
        bytes.truncate(n);
        done.push(format!("cut at {n}"));
    }
    if rng.gen_bool(0.1) {
        bytes = bytes.repeat(rng.gen_range(2..50));
        done.push("repeated".into());
    }
    let pieces = rng.gen_range(1..=8).min(bytes.len().max(1));
    let mut cuts: Vec<usize> = (1..pieces)
        .map(|_| rng.gen_range(1..bytes.len().max(2)))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut parts = Vec::new();
    let mut at = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        if c > at {
            parts.push(bytes[at..c].to_vec());
            at = c;
        }
    }
    if parts.is_empty() {
        parts.push(Vec::new());
    }
    let end = match rng.gen_range(0..10) {
        0 => End::Reset,
        1 => End::Hold,
        _ => End::Fin,
    };
    let gap = Duration::from_millis(rng.gen_range(0..=1));
    if done.is_empty() {
        done.push("unmutated".into());
    }
    Mutant {
        name: format!("{MUTANT_PREFIX}{index:04}"),
        about: format!(
            "seed {seed} #{index}: {}; {} pieces, {end:?}",
            done.join(", "),
            parts.len()
        ),
        script: Script::Send { parts, gap, end },
    }
}

/// Fires mutants 0, 1, 2… until `budget` is spent; `on_done` sees each result.
pub async fn run_mutants(
    config: &AttackConfig,
    budget: Duration,
    mut on_done: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let start = Instant::now();
    let shape = config.shape();
    let mut config = config.clone();
    config.observe = config.observe.min(MUTANT_WATCH);
    let mut results = Vec::new();
    let mut index = 0u64;
    while start.elapsed() < budget {
        let m = mutant(&shape, config.seed, index);
        let r = run_case(&config, &m.name, &m.about, &m.script).await;
        on_done(&r);
        results.push(r);
        index += 1;
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::length::LengthField;
    use bytes::Bytes;

    fn shape(wire: Wire) -> Shape {
        Shape {
            wire,
            field: LengthField::I32_LE,
            max_frame_length: 8 << 20,
            max_json_header: 64 << 10,
            token: Bytes::from_static(b"ready"),
            seed: 9,
        }
    }

    #[test]
    fn same_seed_same_mutants_other_seed_others() {
        for wire in [Wire::Raw, Wire::Len, Wire::Json, Wire::Upload] {
            let s = shape(wire);
            let a: Vec<_> = (0..50).map(|i| mutant(&s, 7, i).script.bytes()).collect();
            let b: Vec<_> = (0..50).map(|i| mutant(&s, 7, i).script.bytes()).collect();
            let c: Vec<_> = (0..50).map(|i| mutant(&s, 8, i).script.bytes()).collect();
            assert_eq!(a, b, "{wire:?}");
            assert_ne!(a, c, "{wire:?}");
            let distinct: std::collections::HashSet<_> = a.iter().collect();
            assert!(distinct.len() > 25, "{wire:?}: {} distinct", distinct.len());
        }
    }

    #[test]
    fn pieces_rebuild_the_mutated_bytes() {
        let s = shape(Wire::Json);
        for i in 0..100 {
            let m = mutant(&s, 3, i);
            let Script::Send { parts, .. } = &m.script else {
                panic!("mutants are sends");
            };
            assert!(!parts.is_empty() && parts.len() <= 8, "{}", m.about);
            assert!(m.about.starts_with("seed 3 #"), "{}", m.about);
        }
    }
}
