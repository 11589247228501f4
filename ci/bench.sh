#!/usr/bin/env bash
# A short criterion pass over the codec, exchange and stream benches, then `bench-guard`: the
# ratios measured side by side in this pass (our decoder vs tokio-util's, the chaos stream vs a
# plain duplex, each framing's exchange through the proxy vs direct) against the floors and
# baselines in benches/baseline.json. It fails when a ratio falls under its floor twice in a row
# (the benches behind it are run again once first: one preempted sample on a shared machine is
# not a regression), never on an absolute figure.
set -euo pipefail
. "$(dirname "$0")/usage.sh"
usage_if_asked "$@"

cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
criterion_dir="${CARGO_TARGET_DIR:-target}/criterion"
stamp="$(mktemp)"
trap 'rm -f "$stamp"' EXIT

short_pass() {
  for bench in "$@"; do
    echo "== cargo bench -p stickler-benches --bench $bench (short pass)"
    cargo bench -q -p stickler-benches --bench "$bench" -- \
        --warm-up-time 0.5 --measurement-time 1 --sample-size 10 --noplot
  done
}

guard() {
  cargo run -q --release -p stickler-benches --bin bench-guard -- \
      --criterion-dir "$criterion_dir" --newer-than "$stamp"
}

short_pass codec exchange stream
echo "== bench-guard: ratios against benches/baseline.json"
status=0
guard || status=$?
if [[ $status -eq 1 ]]; then
  echo "== a ratio is under its floor: running the benches once more before judging"
  touch "$stamp"
  short_pass codec exchange stream
  guard
elif [[ $status -ne 0 ]]; then
  exit "$status"
fi
