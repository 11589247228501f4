#!/bin/bash -eu
# Builds the fuzz targets the way OSS-Fuzz and ClusterFuzzLite expect (see fuzz/SCALING.md):
# `cargo fuzz build -O` (release, libFuzzer, AddressSanitizer), then every target binary copied
# to $OUT, with its seed corpus as $OUT/<target>_seed_corpus.zip and its dictionary/options files
# when present.
#
# On an engine: $SRC and $OUT are set by the base image (gcr.io/oss-fuzz-base/base-builder-rust).
# Here: `bash fuzz/build.sh` builds into fuzz/out/ (override with OUT=DIR); the nightly toolchain
# and cargo-fuzz are needed, as for `cargo fuzz run`.
#
# Knobs: FUZZ_TARGETS="decoder server" (default: every target `cargo fuzz list` prints:
#        decoder, server),
#        FUZZ_DEBUG_ASSERTIONS=0 to build without debug assertions (default: with them),
#        FUZZ_SANITIZER=none|address|leak|memory|thread (default: cargo fuzz's, address).

cd "$(dirname "$0")"
FUZZ_DIR=$PWD
OUT=${OUT:-$FUZZ_DIR/out}
mkdir -p "$OUT"

if [ ! -f Cargo.toml ]; then
  echo "fuzz/Cargo.toml is missing: nothing to build" >&2
  exit 2
fi

# The engines' base image has nightly as the default toolchain; elsewhere ask for it.
TOOLCHAIN=()
if ! rustc --version | grep -q nightly; then
  TOOLCHAIN=(+nightly)
fi

# A stale committed lock gets rewritten by the build: say so at the end.
LOCK_BEFORE=$(cksum < Cargo.lock 2>/dev/null || true)
TARGETS=${FUZZ_TARGETS:-$(cargo "${TOOLCHAIN[@]}" fuzz list)}
FLAGS=(-O)
if [ "${FUZZ_DEBUG_ASSERTIONS:-1}" != 0 ]; then
  FLAGS+=(--debug-assertions)
fi
# On the engines, the base image's `cargo` wrapper applies $SANITIZER (address, coverage) to
# `cargo fuzz build`; locally cargo fuzz defaults to address. FUZZ_SANITIZER=none (or leak,
# memory, thread) picks another one here.
if [ -n "${FUZZ_SANITIZER:-}" ]; then
  FLAGS+=(--sanitizer "$FUZZ_SANITIZER")
fi

TRIPLE=$(rustc "${TOOLCHAIN[@]}" -vV | sed -n 's/^host: //p')
TARGET_DIR=${CARGO_TARGET_DIR:-$FUZZ_DIR/target}
BIN_DIR=$TARGET_DIR/$TRIPLE/release

for target in $TARGETS; do
  cargo "${TOOLCHAIN[@]}" fuzz build "${FLAGS[@]}" "$target"
  cp "$BIN_DIR/$target" "$OUT/"
  corpus=$FUZZ_DIR/corpus/$target
  if [ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ]; then
    rm -f "$OUT/${target}_seed_corpus.zip"
    (cd "$corpus" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
  fi
  for extra in dict options; do
    if [ -f "$FUZZ_DIR/$target.$extra" ]; then
      cp "$FUZZ_DIR/$target.$extra" "$OUT/"
    fi
  done
  echo "built $OUT/$target"
done
if [ "$(cksum < Cargo.lock 2>/dev/null || true)" != "$LOCK_BEFORE" ]; then
  echo "warning: the build rewrote fuzz/Cargo.lock (it was stale): commit the new one" >&2
fi
