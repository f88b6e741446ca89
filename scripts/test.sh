#!/usr/bin/env bash
# Runs every test of the project: the workspace's unit, integration, property and
# doc tests. Tests that need third-party brokers start them through the rig installed
# by scripts/setup-rig.sh (idempotent; quick when already installed).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x scripts/setup-rig.sh ] && [ "${KASIO_SKIP_RIG_SETUP:-0}" != 1 ]; then
  scripts/setup-rig.sh
fi

# Each end-to-end test leaves its interop-matrix row in target/interop when it passes.
rm -rf target/interop
status=0
cargo test --workspace --all-targets --no-fail-fast || status=$?
if [ "$status" -eq 0 ]; then
  cargo test --workspace --doc || status=$?
fi
# kasio's assignors against the Java client's own (kafka-clients from the rig):
# range and roundrobin identical, the sticky pair on validity, balance, stickiness.
KAFKA_JARS=.rig/java/lib scripts/java-assignor-oracle.sh 400 || status=$?
python3 scripts/interop-matrix.py
exit "$status"
