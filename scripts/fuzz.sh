#!/usr/bin/env bash
# A fuzzing campaign: builds every target in fuzz/ and runs each in turn.
#
#   scripts/fuzz.sh                 # 300 s per target, every target
#   scripts/fuzz.sh 60              # 60 s per target
#   scripts/fuzz.sh 60 consumer     # only the named targets
#   scripts/fuzz.sh --ci 20         # the CI variant (scripts/fuzz-ci.sh): fresh
#                                   # working corpora, LAST_RUN.md left alone
#
# Each target starts from its checked-in seeds (fuzz/corpus/<target>/, see
# scripts/fuzz-corpus.sh) plus its working corpus (fuzz/target/corpus/<target>/,
# which grows from run to run and is not checked in). Runs use
# -rss_limit_mb=512 and -malloc_limit_mb=256, so an allocation sized by an untrusted
# length field is a crash (64 MiB for the record targets, whose decompression bound
# is at most 16 MiB), and -timeout=25, so a hang is one too.
#
# Prints executions, coverage and the outcome per target, and any crash (the input
# is saved under fuzz/artifacts/<target>/; replay it with
# `cargo +nightly fuzz run <target> <file>`). The table also goes to fuzz/LAST_RUN.md.
# Exits non-zero if any target crashed.
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ci=0
if [[ "${1:-}" == "--ci" ]]; then
  ci=1
  shift
fi
secs=${1:-300}
shift || true
if ! [[ "$secs" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [--ci] [seconds-per-target] [target...]" >&2
  exit 2
fi

RSS_MB=512
MALLOC_MB=256
# The record targets decode with max_decompressed_bytes of at most 16 MiB: a lower
# malloc limit catches any allocation far past it (a codec's window, a length field).
malloc_mb() {
  case "$1" in
    record_*) echo 64 ;;
    *) echo "$MALLOC_MB" ;;
  esac
}
TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/fuzz/target}
BIN="$TARGET_DIR/$TRIPLE/release"

cd fuzz
if (($# > 0)); then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

start=$SECONDS
echo "=== building ${#targets[@]} fuzz targets"
if (($# > 0)); then
  for t in "${targets[@]}"; do cargo +nightly fuzz build "$t"; done
else
  cargo +nightly fuzz build
fi
build_secs=$((SECONDS - start))

if ((ci)); then
  work_root="$TARGET_DIR/corpus-ci"
  rm -rf "$work_root"
else
  work_root="$ROOT/fuzz/target/corpus"
fi
logs="$TARGET_DIR/logs"
mkdir -p "$logs"

# ASan's default 256 MiB quarantine would count against the RSS limit; keep it small
# so that the limit measures the code under test.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0:quarantine_size_mb=32}"

rows=()
crashes=()
total_execs=0
for t in "${targets[@]}"; do
  work="$work_root/$t"
  seeds="$ROOT/fuzz/corpus/$t"
  arts="$ROOT/fuzz/artifacts/$t"
  mkdir -p "$work" "$seeds" "$arts"
  log="$logs/$t.log"
  echo "=== $t (${secs}s)"
  set +e
  "$BIN/$t" "$work" "$seeds" \
    -max_total_time="$secs" -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$(malloc_mb "$t")" \
    -timeout=25 -print_final_stats=1 -artifact_prefix="$arts/" >"$log" 2>&1
  status=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  total_execs=$((total_execs + execs))
  if ((status == 0)); then
    result="ok"
  else
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    what=$(grep -m1 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|out-of-memory|malloc\(|timeout" "$log" || echo "exit $status")
    msg=$(grep -m1 -A1 "panicked at" "$log" | tail -1 || true)
    result="CRASH"
    crashes+=("$t: ${what}${msg:+ — $msg}${artifact:+ (input: ${artifact#"$ROOT/"})}")
    echo "    CRASH: $what"
    [[ -n "$msg" ]] && echo "           $msg"
    [[ -n "$artifact" ]] && echo "           input: ${artifact#"$ROOT/"}"
  fi
  printf '    %s executions (%s/s), cov %s, ft %s, corpus %s, peak rss %s MB: %s\n' \
    "$execs" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$result"
  rows+=("| \`$t\` | $execs | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | ${rss:-?} | $result |")
done

table() {
  echo "| target | executions | exec/s | coverage (edges) | features | corpus | peak RSS (MB) | result |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
}

echo
echo "=== summary: ${secs}s per target, build ${build_secs}s, total $((SECONDS - start))s, $total_execs executions"
table
if ((${#crashes[@]})); then
  echo
  echo "crashes:"
  printf '  %s\n' "${crashes[@]}"
fi

if ((!ci)); then
  commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n "$(git -C "$ROOT" status --porcelain -- core fuzz 2>/dev/null)" ]]; then
    commit="$commit + uncommitted changes"
  fi
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
  {
    echo "# Last fuzzing run"
    echo
    echo "Written by \`scripts/fuzz.sh $secs${*:+ $*}\`; do not edit by hand."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $commit"
    echo "- machine: $(nproc) cores${cpu:+, $cpu}; one target at a time"
    echo "- $(rustc +nightly --version), $(cargo +nightly fuzz --version 2>/dev/null || echo cargo-fuzz)"
    echo "- ${secs} s per target, -rss_limit_mb=$RSS_MB -malloc_limit_mb=$MALLOC_MB (64 for record_*) -timeout=25, ASan, debug assertions"
    echo "- starting corpora: fuzz/corpus/<target> (seeds) + fuzz/target/corpus/<target> (earlier runs on this machine)"
    echo "- total: $total_execs executions"
    echo
    table
    echo
    if ((${#crashes[@]})); then
      echo "## Crashes"
      echo
      printf -- '- %s\n' "${crashes[@]}"
    else
      echo "No crashes."
    fi
  } >"$ROOT/fuzz/LAST_RUN.md"
  echo
  echo "written to fuzz/LAST_RUN.md"
fi

((${#crashes[@]} == 0))
