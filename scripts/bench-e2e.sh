#!/usr/bin/env bash
# kasio vs librdkafka vs the Java client end to end on tansu (see
# scripts/bench/e2e.py); writes the result into BENCHMARKS.md. Takes a few minutes
# (BENCH_RUNS=3 rounds of 7 consumers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bench/build.sh
.venv/bin/python scripts/bench/e2e.py
