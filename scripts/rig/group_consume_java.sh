#!/usr/bin/env bash
# The Java consumer-group peer (scripts/rig/java/GroupConsumer.java, a full
# kafka-clients KafkaConsumer) with the class path set up by scripts/setup-rig.sh.
# Same options, JSON events and commands as group_consume.py: see
# scripts/rig/README.md ("Group consumer peers").
#
#   scripts/rig/group_consume_java.sh --bootstrap B --group G --topic T [options]
#
# $RIG_JAVA_OPTS: more JVM options (e.g. -Xmx512m).
# $RIG_JAVA_CLASSPATH_EXTRA: more class path entries.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
J="$ROOT/.rig/java"
# $RIG_JAVA_CLASSES: another directory of compiled peer classes (tests compile
# this checkout's GroupConsumer.java there when the shared install was compiled
# from a different source; see kasio_sim::rig::java_peer_classes).
CLASSES="${RIG_JAVA_CLASSES:-$J/classes}"
if [ ! -f "$CLASSES/GroupConsumer.class" ]; then
  # The first stdout line is the peer's JSON info line; a missing install says so there.
  echo "{\"error\": \"the Java peer is not installed ($CLASSES/GroupConsumer.class): run scripts/setup-rig.sh\"}"
  exit 2
fi
# C1 only and the serial collector: quick start-up and little CPU on a shared
# machine. slf4j.internal.verbosity=ERROR hides slf4j's "no providers, NOP
# logger" warning (the rig ships no slf4j binding).
# shellcheck disable=SC2086
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dslf4j.internal.verbosity=ERROR \
  ${RIG_JAVA_OPTS:-} -cp "$CLASSES:$J/lib/*${RIG_JAVA_CLASSPATH_EXTRA:+:$RIG_JAVA_CLASSPATH_EXTRA}" GroupConsumer "$@"
