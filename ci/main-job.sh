#!/usr/bin/env bash
# The README's first command, as a newcomer runs it: the main job must pass (the measured matrix
# equals harness/expected/builtin.txt, see docs/verdicts.md) and write the report.
set -euo pipefail
. "$(dirname "$0")/usage.sh"
usage_if_asked "$@"
cd "$(dirname "$0")/.."
rm -rf report
echo "== cargo run --release"
cargo run --release
for f in report/index.html report/report.md report/matrix.json report/junit.xml; do
  [ -s "$f" ] || { echo "ci/main-job.sh: the main job did not write $f" >&2; exit 1; }
done
echo "report written: $(ls report | tr '\n' ' ')"
