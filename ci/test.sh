#!/usr/bin/env bash
# The README's test command: every unit, integration, property and interop test.
set -euo pipefail
. "$(dirname "$0")/usage.sh"
usage_if_asked "$@"
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "python3 is needed for the interop peers in fixtures/peers" >&2; exit 2; }
echo "== cargo test --workspace"
cargo test --workspace
echo "== the library's examples, run as a user runs them"
for example in harness/examples/*.rs; do
  name=$(basename "$example" .rs)
  echo "-- cargo run -p stickler --example $name"
  cargo run -q -p stickler --example "$name"
done
echo "== the full-size proxy load test: 1,000 connections x 1 MiB through split+coalesce+latency"
cargo test -p stickler --test proxy_load -- --ignored
echo "== the full-size server budget test: 1,000 connections each holding an 8 MiB frame but its last byte"
cargo test -p stickler --test server_budget -- --ignored
echo "== the full-size proxy budget test: 1,000 stuck connections through split=1..4"
cargo test -p stickler --test proxy_budget -- --ignored --test-threads 1
