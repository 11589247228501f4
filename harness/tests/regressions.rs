//! Replays every input in `fixtures/regressions/` (crashes the fuzzer once found) and the
//! committed seed corpus through `stickler::codec::property::run`, the check the fuzz target runs,
//! so a fixed bug stays fixed without a fuzzer. The fuzz check reads only short payloads 1 byte
//! at a time; the golden fixtures and generated long streams get that pass here.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use stickler::codec::naive::NaiveCodec;
use stickler::codec::property::{every_decoder, run, same, same_over, ONE_BYTE_MAX};

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

fn golden() -> &'static [Vec<u8>] {
    static GOLDEN: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        files("fixtures/golden")
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Long streams 1 byte at a time, the pass the fuzz check leaves out past `ONE_BYTE_MAX`
    /// bytes: a golden fixture with one byte changed and its tail cut off somewhere, through
    /// every decoder, whole, by bytes and in pieces of random lengths.
    #[test]
    fn every_decoder_agrees_over_long_streams_read_byte_by_byte(
        pick in any::<Index>(),
        at in any::<Index>(),
        xor in 1..=255u8,
        keep in any::<Index>(),
        lens in vec(any::<u8>(), 0..6),
    ) {
        let fixtures = golden();
        prop_assume!(!fixtures.is_empty());
        let mut data = fixtures[pick.index(fixtures.len())].clone();
        if data.len() > ONE_BYTE_MAX {
            let i = at.index(data.len());
            data[i] ^= xor;
            let long = ONE_BYTE_MAX + 1;
            data.truncate(long + keep.index(data.len() - long + 1));
        }
        if let Err(f) = every_decoder(&data, &lens) {
            prop_assert!(false, "{} bytes, pieces {:?}: {}", data.len(), lens, f);
        }
    }
}
