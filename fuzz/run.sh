#!/usr/bin/env bash
# Runs one fuzz target the way the recorded runs were made: one libFuzzer job in one worker
# process, niced, with the payload dictionary, a 10 s per-input timeout and final stats.
# Usage: fuzz/run.sh TARGET [SECONDS=300] [extra libFuzzer flags...]
# The log goes to fuzz/logs/TARGET.<UTC time>.log; its last lines are printed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="$1"
secs="${2:-300}"
shift $(($# < 2 ? $# : 2))
mkdir -p "$here/logs"
log="$here/logs/$target.$(date -u +%Y%m%dT%H%M%SZ).log"
dict=()
[ "$target" != signatures ] && dict=("-dict=$here/dicts/payloads.dict")
cd "$here/logs"
# -jobs=1 -workers=1: one fuzzing process; libFuzzer then writes its output to fuzz-0.log.
set +e
RUSTC_BOOTSTRAP=1 nice -n 10 cargo fuzz run --fuzz-dir "$here" "$target" -- \
  -max_total_time="$secs" -jobs=1 -workers=1 -timeout=10 -print_final_stats=1 \
  "${dict[@]}" "$@"
rc=$?
set -e
mv fuzz-0.log "$log"
grep -E "panicked|ERROR|SUMMARY|Test unit written|DONE|^Done|stat::" "$log" | tail -n 12
echo "log: $log (exit $rc)"
exit $rc
