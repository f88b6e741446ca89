#!/usr/bin/env bash
# A long simulation campaign: SEEDS seeds (default 10000) from START (default 0),
# release build, both cores. Prints seeds per second and every failing seed; replay
# one with `SIM_SEED=<n> cargo test -p kasio-sim --test sim_consumer -- --nocapture`.
set -euo pipefail
cd "$(dirname "$0")/.."
SIM_SEEDS="${1:-10000}" SIM_SEED_START="${2:-0}" \
  cargo test --release -p kasio-sim --test sim_consumer seeds -- --nocapture 2>&1 \
  | grep -E "seeds in|failed|FAILURE" || true
