#!/usr/bin/env bash
# Formatting and lints, warnings as errors, for the workspace and the fuzz crate.
set -euo pipefail
. "$(dirname "$0")/usage.sh"
usage_if_asked "$@"
cd "$(dirname "$0")/.."
echo "== cargo fmt --check"
cargo fmt --all -- --check
(cd fuzz && cargo fmt --all -- --check)
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo doc (warnings as errors)"
RUSTDOCFLAGS="-D warnings" cargo doc -p stickler --no-deps --all-features
echo "== cargo package: the crate is publishable as it stands"
cargo package -p stickler --locked
