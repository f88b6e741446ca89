#!/usr/bin/env bash
# CI fuzzing: installs what fuzzing needs (nightly, cargo-fuzz) if missing, builds
# every target in fuzz/ and runs each briefly from its checked-in seeds only
# (FUZZ_SECONDS per target, default 20). Fails on any crash, printing the input's
# path under fuzz/artifacts/. About 5 minutes of fuzzing (14 targets) plus the build on
# 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

exec scripts/fuzz.sh --ci "${FUZZ_SECONDS:-20}"
