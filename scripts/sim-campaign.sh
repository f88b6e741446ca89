#!/usr/bin/env bash
# A long simulation campaign: SEEDS seeds (default 10000) from START (default 0) of
# one simulation suite, TEST (default sim_consumer; sim_group_consumer for kasio
# group consumers, sim_group for the coordinator with scripted members), release
# build, both cores. Prints progress every 1000 seeds, each failing seed as it
# happens, then seeds per second and the list of failures; exits non-zero if any
# seed failed. Replay one with
#   SIM_SEED=<n> cargo test -p kasio-sim --test <TEST> -- seeds --nocapture
# The full output (every failure's trace) is kept in target/sim-campaign-<TEST>.log.
#
#   scripts/sim-campaign.sh [SEEDS] [START] [TEST]
set -euo pipefail
cd "$(dirname "$0")/.."
test_name="${3:-sim_consumer}"
case "$test_name" in
  sim_consumer | sim_group_consumer | sim_group) ;;
  *)
    echo "unknown simulation suite '$test_name' (sim_consumer, sim_group_consumer, sim_group)" >&2
    exit 2
    ;;
esac
mkdir -p target
log="target/sim-campaign-$test_name.log"
: >"$log" # exists before tail follows it
status=0
# Empty the log first: the follower below must not read the last campaign's lines
# before the run's own redirection truncates the file.
: >"$log"
SIM_SEEDS="${1:-10000}" SIM_SEED_START="${2:-0}" \
  cargo test --release -p kasio-sim --test "$test_name" seeds -- --exact --nocapture \
  >"$log" 2>&1 &
pid=$!
# Follow the log for progress lines while the campaign runs.
tail -n +1 -f "$log" --pid "$pid" | grep --line-buffered -E "seeds, |FAILED|seeds in|^error" || true
wait "$pid" || status=$?
if [ "$status" -ne 0 ]; then
  echo "campaign failed (exit $status); traces in $log" >&2
fi
exit "$status"
