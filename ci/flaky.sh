#!/usr/bin/env bash
# The timing-sensitive tests under CPU load: each one run FLAKY_RUNS times in a row (default 20)
# while a busy loop per core keeps the machine saturated, so that a reader that gets the CPU
# late, a timer that fires late or a client that starts late shows up as a failure here rather
# than as a red CI run on a busy machine.
#
#   ci/flaky.sh                          # every test listed below, 20 runs each
#   ci/flaky.sh conformance::committed_minimised_cases_still_reproduce   # some of them
#   FLAKY_RUNS=5 ci/flaky.sh proxy_budget server_budget   # every test of a target, as cargo runs them
#   FLAKY_RUNS=5 FLAKY_HOG=0 ci/flaky.sh # fewer runs, no load
#
# Environment: FLAKY_RUNS (runs per test, 20), FLAKY_HOG (busy loops per core, 1; 0 = none),
# FLAKY_RUN_TIMEOUT (seconds one run may take before it counts as failed, 240),
# FLAKY_DEADLINE (seconds for all the runs; runs not started by then are counted as skipped and
# the script fails, 7200), FLAKY_LOGS (where the output of every failed run goes,
# target/flaky).
#
# The test binaries are built once (`cargo test -p stickler --no-run`) and copied aside, then run
# directly, so cargo's lock is not held while looping and a rebuild meanwhile changes nothing.
# Prints a table test / passes / failures / skipped / mean seconds per run; exits 1 when any
# run failed or was skipped, 2 on a setup error.
#
# Time: the whole list, 20 runs each, takes about an hour on 2 cores under the busy loops (one
# run of every test is about three minutes; the Python-client cut test of session_check is more
# than a third of it, the two matrices of conformance and the UDP matrix most of the rest).
set -euo pipefail
. "$(dirname "$0")/usage.sh"
usage_if_asked "$@"
cd "$(dirname "$0")/.."

# TARGET::TEST, and why each one depends on timing.
DEFAULT_TESTS=(
  # A recorded piece schedule replayed at the naive server's one recv(1024) per command.
  conformance::committed_minimised_cases_still_reproduce
  # Cells that must fail need a reader to see a split; cells that must pass need no timeout.
  conformance::builtin_servers_measure_exactly_the_protocols_table
  conformance::python_struct_server_as_an_external_target
  conformance::python_client_reading_its_header_with_one_recv4_breaks_under_split_down
  conformance::python_client_with_exact_reads_survives_split_down
  # Piece boundaries of a replay as the receiving socket's reads see them.
  proxy_determinism::a_recorded_schedule_replays_at_the_receiver
  proxy_determinism::a_hand_built_schedule_merges_and_passes_the_rest
  proxy_determinism::same_seed_same_schedule_other_seed_differs
  # split seen by the receiver's reads; two writes within a coalesce window.
  proxy_receiver::split_reaches_the_receivers_reads
  proxy_receiver::coalesce_merges_two_writes_into_one_read
  # UDP: read-outs ended by a quiet time, delays measured by the clock.
  udp_proxy::the_same_seed_makes_the_same_decisions
  udp_proxy::drop_loses_datagrams_in_bursts
  udp_proxy::dup_sends_every_reply_twice
  udp_proxy::reorder_and_jitter_change_the_order_but_lose_nothing
  udp_proxy::delay_holds_each_datagram
  udp_proxy::a_one_ms_delay_keeps_sub_millisecond_precision
  udp_proxy::idle_mappings_expire
  udp_proxy::the_byte_budget_bounds_what_the_proxy_holds
  udp_matrix::udp_matrix_matches_the_expected_table
  # Round trips compared in microseconds.
  latency::ready_pays_one_more_round_trip_than_struct
  latency::struct_and_framed_cost_the_same_round_trip
  latency::naive_runs_at_small_replies_only_and_the_report_renders
  # Idle timeouts, sleeps before an assertion, reads of a server writing with pauses.
  server::idle_connections_are_closed
  server::shutdown_drains_exchanges_in_flight
  client::struct_reply_split_into_pieces_is_read_exactly
  client::ready_without_body_times_out_with_the_reads_so_far
  # Every cut of a message must reach a reader that takes one recv() for it.
  session_check::one_read_per_request_is_caught_by_every_cut_of_the_request
  session_check::a_client_that_reads_its_header_with_one_recv_is_caught_by_cut_down
  session_check::a_robust_server_passes_every_profile
  # A failing cut minimised by replays, then replayed from the printed command.
  session_cli::a_failing_cell_is_minimised_into_a_case_that_the_printed_repro_replays
  session_cli::a_failing_client_cell_is_minimised_into_a_case_that_replay_reproduces
  session_cli::a_framed_server_passes_and_a_one_read_server_fails_cut_up
)

RUNS=${FLAKY_RUNS:-20}
HOG=${FLAKY_HOG:-1}
RUN_TIMEOUT=${FLAKY_RUN_TIMEOUT:-240}
DEADLINE=${FLAKY_DEADLINE:-7200}
LOGS=${FLAKY_LOGS:-target/flaky}

if [ $# -gt 0 ]; then TESTS=("$@"); else TESTS=("${DEFAULT_TESTS[@]}"); fi
command -v python3 >/dev/null || { echo "python3 is needed (interop peers, and to read cargo's JSON)" >&2; exit 2; }

targets=()
for t in "${TESTS[@]}"; do
  case "$t" in
    *::*|[a-z_]*) ;;
    *) echo "not TARGET::TEST or TARGET: $t" >&2; exit 2 ;;
  esac
  target=${t%%::*}
  [[ " ${targets[*]} " == *" $target "* ]] || targets+=("$target")
done

echo "== building ${targets[*]}"
args=()
for target in "${targets[@]}"; do args+=(--test "$target"); done
mkdir -p "$LOGS/bin"
LOGS=$(cd "$LOGS" && pwd)
# One executable per test target, as cargo reports it: NAME PATH per line.
cargo test -p stickler --no-run --message-format=json "${args[@]}" \
  | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    if "test" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])
    elif "bin" in m["target"]["kind"] and m["target"]["name"] == "stickler":
        print("=stickler", m["executable"])
' >"$LOGS/executables"
declare -A bin
while read -r name path; do
  if [ "$name" = "=stickler" ]; then
    # The command-line tests find the binary as cargo tells them.
    cp "$path" "$LOGS/bin/stickler-cli"
    export CARGO_BIN_EXE_stickler=$LOGS/bin/stickler-cli
    continue
  fi
  cp "$path" "$LOGS/bin/$name"
  bin[$name]=$LOGS/bin/$name
done <"$LOGS/executables"
[ -n "${CARGO_BIN_EXE_stickler:-}" ] || { echo "cargo did not report the stickler binary" >&2; exit 2; }
for target in "${targets[@]}"; do
  [ -n "${bin[$target]:-}" ] || { echo "no test executable for $target" >&2; exit 2; }
done

hogs=()
stop_hogs() {
  for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM
if [ "$HOG" -gt 0 ]; then
  for _ in $(seq $(($(nproc) * HOG))); do
    sh -c 'while :; do :; done' &
    hogs+=($!)
  done
fi
echo "== ${#hogs[@]} busy loop(s) on $(nproc) core(s); $RUNS run(s) of ${#TESTS[@]} test(s); $(uptime)"

started=$SECONDS
declare -A pass fail skip secs
failed_any=0
for t in "${TESTS[@]}"; do
  target=${t%%::*}
  name=${t#*::}
  pass[$t]=0 fail[$t]=0 skip[$t]=0 secs[$t]=0
  for i in $(seq "$RUNS"); do
    if [ $((SECONDS - started)) -ge "$DEADLINE" ]; then
      skip[$t]=$((skip[$t] + 1))
      continue
    fi
    log="$LOGS/${target}__${name}.$i.log"
    t0=$(date +%s%N)
    # Integration tests run from the package's directory, as under cargo; a whole target with
    # cargo's default test threads.
    if [ "$name" = "$t" ]; then
      args=() want='^test result: ok\. [1-9][0-9]* passed; 0 failed'
    else
      args=(--exact "$name" --test-threads 1) want='^test result: ok\. 1 passed'
    fi
    if (cd harness && timeout -k 5 "$RUN_TIMEOUT" "${bin[$target]}" "${args[@]}") >"$log" 2>&1 \
      && grep -q "$want" "$log"; then
      pass[$t]=$((pass[$t] + 1))
      rm -f "$log"
    else
      fail[$t]=$((fail[$t] + 1))
      echo "   FAIL $t run $i: $log"
    fi
    secs[$t]=$((secs[$t] + ($(date +%s%N) - t0) / 1000000))
  done
  ran=$((pass[$t] + fail[$t]))
  printf '   %-90s %2d/%d passed\n' "$t" "${pass[$t]}" "$ran"
done
elapsed=$((SECONDS - started))

echo
printf '%-90s %6s %8s %7s %7s\n' test passes failures skipped "s/run"
for t in "${TESTS[@]}"; do
  ran=$((pass[$t] + fail[$t]))
  mean=$(awk -v ms="${secs[$t]}" -v n="$ran" 'BEGIN { printf "%.1f", n ? ms / n / 1000 : 0 }')
  printf '%-90s %6d %8d %7d %7s\n' "$t" "${pass[$t]}" "${fail[$t]}" "${skip[$t]}" "$mean"
  if [ "${fail[$t]}" -gt 0 ] || [ "${skip[$t]}" -gt 0 ]; then failed_any=1; fi
done
echo "== ${elapsed}s in all; $(uptime)"
exit "$failed_any"
