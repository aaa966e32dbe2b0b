#!/usr/bin/env bash
# Runs each libFuzzer target for SECONDS (default 60) from its seed corpus
# (fuzz/corpus/NAME; what it finds goes to a scratch directory, not there),
# prints how many inputs each ran, and fails on the first crash, leak or
# sanitizer report (the input that caused it is kept and named).
#   fuzz/run.sh [SECONDS]      (after: cmake --preset fuzz && cmake --build --preset fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bin=build/fuzz/fuzz
work=$(mktemp -d)
total=0
for name in config record_codec request; do
  mkdir -p "$work/$name"
  corpus=("$work/$name")
  [[ -d fuzz/corpus/$name ]] && corpus+=("fuzz/corpus/$name")
  log="$work/$name.log"
  if ! "$bin/${name}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
      -artifact_prefix="$work/$name-" "${corpus[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: ${name}_fuzzer failed; the input is kept in $work" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz: ${name}_fuzzer: ${runs} inputs in ${seconds} s, no crash"
  total=$((total + runs))
done
echo "fuzz: ${total} inputs in all"
rm -rf "$work"
