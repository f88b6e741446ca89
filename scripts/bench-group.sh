#!/usr/bin/env bash
# Consumer-group benchmarks, kasio vs librdkafka vs the Java client in one run:
# rebalance time (tansu and kasio-sim's serve mode; eager range and
# cooperative-sticky), scale-out (1, 2, 4 processes in one group over 12
# partitions) -- scripts/bench/group.py -- and then the end-to-end table with its
# group rows (scripts/bench/e2e.py). Each writes its section of BENCHMARKS.md.
# About 18 minutes with BENCH_RUNS=3 on 2 shared cores (13 for the group part, 5
# for the e2e table).
#
#   scripts/bench-group.sh              # everything
#   BENCH_E2E=0 scripts/bench-group.sh  # without the e2e table
#
# Other knobs: see scripts/bench/group.py (BENCH_RUNS, BENCH_PARTS, BENCH_CLIENTS,
# BENCH_BROKERS, BENCH_ASSIGNORS, BENCH_FLOW_RATE, BENCH_SCALE_RECORDS, BENCH_SESSION_MS,
# BENCH_HEARTBEAT_MS) and scripts/bench/e2e.py (BENCH_RECORDS).
# Every process it starts stops when it ends (their stdin closes), also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench-group: load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
scripts/bench/build.sh
.venv/bin/python scripts/bench/group.py
if [ "${BENCH_E2E:-1}" != 0 ]; then
  .venv/bin/python scripts/bench/e2e.py
fi
echo "bench-group: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
