#!/usr/bin/env bash
# A short criterion pass over the codec, exchange and stream benches: proves they build and run. It fails only if a
# bench crashes, never on a figure (the machine is shared; quote ratios from a full run of
# `cargo bench -p stickler-benches --bench codec`).
set -euo pipefail

cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
for bench in codec exchange stream; do
  echo "== cargo bench -p stickler-benches --bench $bench (short pass)"
  cargo bench -p stickler-benches --bench "$bench" -- \
      --warm-up-time 0.2 --measurement-time 0.5 --sample-size 10 --noplot
done
