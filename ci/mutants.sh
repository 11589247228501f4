#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of the codecs, the verdict classifier and the toxics; fails
# when an area's score is under its target:
#
#   area     files                                                   target
#   codec    harness/src/codec/** (spec/ included, property/ not)    90%
#   verdict  harness/src/check/verdict.rs                            80%
#   toxics   harness/src/proxy/toxic/**                              80%
#
# score = caught / (caught + missed); a mutant whose tests hang past the timeout counts as
# caught, one that does not build (unviable) counts for nothing.
#
# Each mutant is tested by the unit tests of these modules. So that a mutant does not rebuild
# the whole harness, the script copies the areas' sources, with the few modules they use
# (units.rs, chaos/direction.rs, chaos/grammar.rs), into a scratch crate and mutates that:
# about 3 s of build per mutant instead of about 20. MUTANTS_FULL=1 mutates the workspace
# itself instead (same mutants, the harness's lib unit tests; slower).
#
# How long: 754 mutants (554 codec, 45 verdict, 155 toxics). Measured on 2 cores shared with
# other builds (load 15-20): 638 of them in 41 min with -j 2, 109 in 18 min alongside; the 155
# toxics alone in 8 min at a lighter load. So about 40-60 min for a whole run (per mutant a 3-8 s
# build and a ~1 s test run; a mutant that makes a decode loop spin costs the 30 s timeout; the
# first build 2-3 min). Over the 15 minutes .ci/run allows a step, so it is not part of .ci/run:
# run it by hand or in a nightly job.
#
# Tunables: MUTANTS_JOBS (default 2), MUTANTS_TIMEOUT (test timeout in s, default 30),
# MUTANTS_OUT (default target/mutants), MUTANTS_PROPERTY=1 to also report codec/property/
# (125 mutants; reported, not gated: it has no unit tests, harness/tests/{chunking,spec,
# regressions}.rs and fuzz/ exercise it, so here it scores about 0%). Extra arguments go to
# cargo mutants (e.g. `--iterate` to re-test only what was missed last time, `-F REGEX`).
set -euo pipefail
. "$(dirname "$0")/usage.sh"
usage_if_asked "$@"

cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
[[ -d harness/src/codec ]] || { echo "ci/mutants.sh: run from the repository root" >&2; exit 2; }

jobs="${MUTANTS_JOBS:-2}"
timeout="${MUTANTS_TIMEOUT:-30}"
out="${MUTANTS_OUT:-target/mutants}"
property="${MUTANTS_PROPERTY:-0}"

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "ci/mutants.sh: installing cargo-mutants" >&2
    cargo install cargo-mutants --locked
fi

root="$PWD"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [[ "${MUTANTS_FULL:-0}" == 1 ]]; then
    dir="$root"
    src="harness/src"
    scope=(-p stickler)
else
    # The scratch crate: the areas and what they use, nothing else.
    dir="$out/crate"
    src="src"
    # The crate sits under target/, which .gitignore lists: copy it whole.
    scope=(--gitignore=false)
    rm -rf "$dir/src"
    mkdir -p "$dir/src/chaos" "$dir/src/check" "$dir/src/proxy"
    cp Cargo.lock "$dir/"
    cp -R harness/src/codec "$dir/src/"
    cp -R harness/src/proxy/toxic "$dir/src/proxy/"
    cp harness/src/units.rs "$dir/src/"
    cp harness/src/chaos/direction.rs harness/src/chaos/grammar.rs "$dir/src/chaos/"
    cp harness/src/check/verdict.rs "$dir/src/check/"
    cat >"$dir/src/lib.rs" <<'RS'
//! The codecs, the verdict classifier and the toxics alone, for mutation testing.
#![allow(dead_code)]
pub mod codec;
pub mod units;
pub mod chaos {
    pub mod direction;
    pub mod grammar;
    pub use direction::{Direction, Side};
}
pub mod check {
    pub mod verdict;
}
pub mod proxy {
    pub mod toxic;
}
RS
    {
        printf '[package]\nname = "stickler"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
        printf '[lib]\npath = "src/lib.rs"\ndoctest = false\n\n[dependencies]\n'
        for dep in bytes clap md-5 rand rand_chacha serde serde_json thiserror tokio tokio-util; do
            grep -E "^$dep = " Cargo.toml || { echo "ci/mutants.sh: no $dep in Cargo.toml" >&2; exit 2; }
        done
        printf '\n[workspace]\n'
    } >"$dir/Cargo.toml"
fi

files=(-f "$src/codec/**" -f "$src/check/verdict.rs" -f "$src/proxy/toxic/**")
[[ "$property" == 1 ]] || files+=(-e "$src/codec/property/**")

start=$SECONDS
status=0
# Debug info is not needed to tell a failing test: builds and links are faster without it.
CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 \
    cargo mutants --dir "$dir" "${scope[@]}" "${files[@]}" \
    --jobs "$jobs" --timeout "$timeout" --cargo-arg=--lib --output "$out" "$@" || status=$?
echo "ci/mutants.sh: cargo mutants took $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s (exit $status)"
# cargo mutants exits 2 when mutants were missed, 3 when some timed out: the scores decide.
# Anything else (a failing baseline, a bad option) is a failure of the run itself.
if [[ $status -ne 0 && $status -ne 2 && $status -ne 3 ]]; then
    echo "ci/mutants.sh: cargo mutants failed; see $out/mutants.out/debug.log" >&2
    exit "$status"
fi

python3 - "$out/mutants.out/outcomes.json" "$src" <<'PY'
import json
import sys

outcomes, src = sys.argv[1], sys.argv[2]
areas = [  # name, path prefix, target
    ("codec", f"{src}/codec/", 0.90),
    ("verdict", f"{src}/check/verdict.rs", 0.80),
    ("toxics", f"{src}/proxy/toxic/", 0.80),
]
property_prefix = f"{src}/codec/property/"
counts = {}
missed = {}
for o in json.load(open(outcomes))["outcomes"]:
    mutant = o["scenario"].get("Mutant") if isinstance(o["scenario"], dict) else None
    if mutant is None:
        continue
    path = mutant["file"]
    if path.startswith(property_prefix):
        area = "property"
    else:
        area = next((name for name, prefix, _ in areas if path.startswith(prefix)), None)
    if area is None:
        continue
    c = counts.setdefault(area, {"CaughtMutant": 0, "MissedMutant": 0, "Timeout": 0, "Unviable": 0})
    c[o["summary"]] = c.get(o["summary"], 0) + 1
    if o["summary"] == "MissedMutant":
        missed.setdefault(area, []).append(mutant["name"])

failed = False
print(f"{'area':<9} {'total':>5} {'caught':>6} {'missed':>6} {'timeout':>7} {'unviable':>8} {'score':>6}  target")
for name, _, target in areas + [("property", None, None)]:
    c = counts.get(name)
    if c is None:
        if target is not None:
            print(f"{name:<9} no mutants tested")
            failed = True
        continue
    caught = c["CaughtMutant"] + c["Timeout"]
    viable = caught + c["MissedMutant"]
    score = caught / viable if viable else 1.0
    total = sum(c.values())
    verdict = "-" if target is None else ("ok" if score >= target else "UNDER")
    tgt = "report" if target is None else f"{target:.0%}"
    print(f"{name:<9} {total:>5} {c['CaughtMutant']:>6} {c['MissedMutant']:>6} {c['Timeout']:>7} "
          f"{c['Unviable']:>8} {score:>6.1%}  {tgt} {verdict}")
    if target is not None and score < target:
        failed = True
for name, names in missed.items():
    print(f"\nmissed in {name}:")
    for n in names:
        print(f"  {n}")
sys.exit(1 if failed else 0)
PY
