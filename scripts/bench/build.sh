#!/usr/bin/env bash
# Installs the rig (scripts/setup-rig.sh) and builds what the benchmark scripts run:
# kasio's `consume` example, the kasio group peer and kasio-sim's serve binary
# (release), librdkafka's reference consumer (target/bench/ref_consumer) and the
# Java bench consumer (target/bench/java). Called by scripts/bench-e2e.sh and
# scripts/bench-group.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup-rig.sh >/dev/null
cargo build --release -q -p kasio-std --example consume
# kasio-tokio's consume example and the kasio CLI (the e2e table's tokio rows).
cargo build --release -q -p kasio-tokio --example consume-tokio --bin kasio
cargo build --release -q -p kasio-sim --bin kasio_sim_serve
cargo build --release -q -p kasio-interop --bin kasio_group_peer
lib=$(ls .venv/lib/python3*/site-packages/confluent_kafka.libs/librdkafka-*.so* | head -1)
mkdir -p target/bench
gcc -O2 -Wall -o target/bench/ref_consumer scripts/bench/ref_consumer.c "$lib" -Wl,-rpath,"$(dirname "$lib")" -lpthread
rm -rf target/bench/java
mkdir -p target/bench/java
javac -nowarn -d target/bench/java -cp ".rig/java/lib/*" scripts/bench/JavaConsumerBench.java
