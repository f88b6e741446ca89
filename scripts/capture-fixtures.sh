#!/usr/bin/env bash
# Capture real Kafka protocol frames (confluent-kafka/librdkafka producer and
# group consumer, through a recording proxy) from each rig broker into
# core/tests/fixtures/captured/<broker>/.  See scripts/rig/README.md.
#
#   scripts/capture-fixtures.sh [tansu] [librdkafka-mock]   (default: both)
#
# Runs scripts/setup-rig.sh first (a no-op when the rig is installed).
# Raw captures and logs are kept in .rig/capture/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BROKERS=("$@")
[ "${#BROKERS[@]}" -gt 0 ] || BROKERS=(tansu librdkafka-mock)

bash scripts/setup-rig.sh >/dev/null || { echo "capture-fixtures: setup-rig.sh failed" >&2; exit 1; }

START=$(date +%s)
for b in "${BROKERS[@]}"; do
  case "$b" in
    tansu|librdkafka-mock) ;;
    *) echo "capture-fixtures: unknown broker '$b' (tansu, librdkafka-mock)" >&2; exit 2 ;;
  esac
  echo "capture-fixtures: $b ..."
  if ! .venv/bin/python scripts/rig/capture.py --broker "$b"; then
    echo "capture-fixtures: capture against $b failed; log: .rig/capture/$b.log" >&2
    tail -n 20 ".rig/capture/$b.log" >&2 || true
    exit 1
  fi
done
echo "capture-fixtures: done in $(( $(date +%s) - START ))s;" \
     "$(du -sb core/tests/fixtures/captured | cut -f1) bytes in core/tests/fixtures/captured"
