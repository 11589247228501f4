//! Replays every input in `fixtures/regressions/` (crashes the fuzzer once found) and the
//! committed seed corpus through `stickler::codec::property::run`, the check the fuzz target runs,
//! so a fixed bug stays fixed without a fuzzer.

use std::path::{Path, PathBuf};

use stickler::codec::naive::NaiveCodec;
use stickler::codec::property::{every_decoder, run, same, same_over};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect();
    out.sort();
    out
}

fn replay(paths: &[PathBuf]) {
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let input = std::fs::read(p).unwrap();
            run(&input).err().map(|f| format!("{}: {f}", p.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fuzz_regressions_stay_fixed() {
    replay(&files("fixtures/regressions"));
}

#[test]
fn seed_corpus_passes_the_fuzz_check() {
    let corpus = files("fuzz/corpus/decoder");
    assert!(
        corpus.len() > 50,
        "the seed corpus is missing: run fixtures/golden.py"
    );
    replay(&corpus);
}

#[test]
fn every_decoder_agrees_with_itself_on_every_golden_fixture() {
    // Whole, 1-byte and mixed reads of each of Python's files, through every decoder.
    for path in files("fixtures/golden") {
        let data = std::fs::read(&path).unwrap();
        if let Err(f) = every_decoder(&data, &[1, 7, 64, 3]) {
            panic!("{}: {f}", path.display());
        }
    }
}

#[test]
fn the_check_catches_a_decoder_that_depends_on_the_reads() {
    // naive takes one read as one message: the differential check must call that a failure.
    let whole: &[&[u8]] = &[b"hello"];
    let ones: Vec<&[u8]> = b"hello".chunks(1).collect();
    let got = same_over("naive", &[whole, &ones], NaiveCodec::default, same);
    let failure = got.expect_err("naive differs across splittings");
    assert_eq!(failure.decoder, "naive");
}
