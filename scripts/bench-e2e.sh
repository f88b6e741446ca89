#!/usr/bin/env bash
# kasio vs librdkafka end to end on tansu (see scripts/bench/e2e.py); writes the
# result into BENCHMARKS.md. Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-rig.sh >/dev/null
cargo build --release -q -p kasio-std --example consume
lib=$(ls .venv/lib/python3*/site-packages/confluent_kafka.libs/librdkafka-*.so* | head -1)
mkdir -p target/bench
gcc -O2 -o target/bench/ref_consumer scripts/bench/ref_consumer.c "$lib" -Wl,-rpath,"$(dirname "$lib")"
.venv/bin/python scripts/bench/e2e.py
