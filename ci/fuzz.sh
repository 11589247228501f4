#!/usr/bin/env bash
# Fuzzes every decoder for a minute from the committed seed corpus; fails on a crash.
#
# Runs on stable Rust: `--sanitizer none` (the decoders are safe Rust; libFuzzer still catches
# panics, timeouts and memory over -rss_limit_mb). The corpus is copied to a temp dir so the run
# never dirties the tree. Tunables: FUZZ_SECONDS (default 60), FUZZ_RSS_MB (default 256).
set -euo pipefail

cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
[[ -d fuzz/corpus/decoder ]] || { echo "ci/fuzz.sh: run from the repository root" >&2; exit 2; }

seconds="${FUZZ_SECONDS:-60}"
rss_mb="${FUZZ_RSS_MB:-256}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "ci/fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R fuzz/corpus/decoder "$work/corpus"
artifacts="fuzz/artifacts/decoder"
mkdir -p "$artifacts"
touch "$work/start"

status=0
cargo fuzz run --sanitizer none decoder "$work/corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb="$rss_mb" 2>&1 | tee "$work/log" || status=$?

if [[ $status -ne 0 ]]; then
    echo >&2
    echo "ci/fuzz.sh: the fuzz run failed (exit $status)." >&2
    found=0
    while IFS= read -r crash; do
        found=1
        echo "  input: $crash" >&2
        echo "  replay:   cargo fuzz run --sanitizer none decoder $crash" >&2
        echo "  keep it:  cp $crash fixtures/regressions/<what-it-breaks>.bin" >&2
        echo "            (then fix the decoder; cargo test -p stickler --test regressions" >&2
        echo "            replays every file there with the same check)" >&2
    done < <(find "$artifacts" -type f -newer "$work/start")
    [[ $found -eq 1 ]] || echo "  no crash input was written: see the log above" >&2
    exit 1
fi
grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -1 || true
