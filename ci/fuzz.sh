#!/usr/bin/env bash
# Fuzzes every target from its committed seed corpus for FUZZ_SECONDS each; fails on a crash, a
# hang or memory over the limit, and when the fuzz build changes fuzz/Cargo.lock.
#
#   decoder  every decoder, differential over fuzzer-chosen chunkings, and round trips
#   server   one connection of each built-in server over an in-memory stream
#
# Runs on stable Rust: `--sanitizer none` (safe Rust; libFuzzer still catches panics, hangs
# over -timeout and memory over -rss_limit_mb). Each corpus is copied to a temp dir so the run
# never dirties the tree. Tunables: FUZZ_SECONDS (default 30, per target), FUZZ_RSS_MB (default
# 256), FUZZ_TIMEOUT (seconds one input may take, default 10), FUZZ_TARGETS (default
# "decoder server").
set -euo pipefail
. "$(dirname "$0")/usage.sh"
usage_if_asked "$@"

cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
[[ -d fuzz/corpus/decoder ]] || { echo "ci/fuzz.sh: run from the repository root" >&2; exit 2; }

seconds="${FUZZ_SECONDS:-30}"
rss_mb="${FUZZ_RSS_MB:-256}"
timeout="${FUZZ_TIMEOUT:-10}"
read -r -a targets <<<"${FUZZ_TARGETS:-decoder server}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "ci/fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The committed lock must be the one the build uses: a stale one would be rewritten (a dirty
# tree for everyone who fuzzes) and would not pin what CI fuzzed.
lock_help() {
    echo "  regenerate it: (cd fuzz && cargo metadata --format-version 1 >/dev/null)," >&2
    echo "  then commit fuzz/Cargo.lock" >&2
}
if ! (cd fuzz && cargo metadata --locked --format-version 1 >/dev/null 2>"$work/locked"); then
    cat "$work/locked" >&2
    echo "ci/fuzz.sh: fuzz/Cargo.lock is out of date with fuzz/Cargo.toml and harness/Cargo.toml." >&2
    lock_help
    exit 1
fi
cp fuzz/Cargo.lock "$work/Cargo.lock"
build_start=$SECONDS
for target in "${targets[@]}"; do
    cargo fuzz build --sanitizer none "$target"
done
if ! cmp -s fuzz/Cargo.lock "$work/Cargo.lock"; then
    diff -u "$work/Cargo.lock" fuzz/Cargo.lock >&2 || true
    echo "ci/fuzz.sh: the fuzz build changed fuzz/Cargo.lock (diff above)." >&2
    lock_help
    exit 1
fi
echo "ci/fuzz.sh: build took $((SECONDS - build_start)) s"

summary=()
for target in "${targets[@]}"; do
    cp -R "fuzz/corpus/$target" "$work/$target"
    artifacts="fuzz/artifacts/$target"
    mkdir -p "$artifacts"
    touch "$work/start-$target"

    status=0
    cargo fuzz run --sanitizer none "$target" "$work/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout" 2>&1 \
        | tee "$work/$target.log" || status=$?

    if [[ $status -ne 0 ]]; then
        echo >&2
        echo "ci/fuzz.sh: fuzzing $target failed (exit $status)." >&2
        found=0
        while IFS= read -r crash; do
            found=1
            echo "  input: $crash" >&2
            echo "  replay:   cargo fuzz run --sanitizer none $target $crash" >&2
            if [[ $target == decoder ]]; then
                echo "  keep it:  cp $crash fixtures/regressions/<what-it-breaks>.bin" >&2
                echo "            (then fix the decoder; cargo test -p stickler --test regressions" >&2
                echo "            replays every file there with the same check)" >&2
            else
                echo "  keep it:  cp $crash fuzz/corpus/$target/<what-it-breaks>" >&2
                echo "            (then fix it; every fuzz run starts by replaying that corpus)" >&2
            fi
        done < <(find "$artifacts" -type f -newer "$work/start-$target")
        [[ $found -eq 1 ]] || echo "  no crash input was written: see the log above" >&2
        exit 1
    fi
    summary+=("$target: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$target.log" | tail -1)")
done

echo
printf '%s\n' "${summary[@]}"
