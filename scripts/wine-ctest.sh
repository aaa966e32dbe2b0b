#!/usr/bin/env bash
# Runs a ctest preset whose tests run under Wine, and retries the tests that
# failed once, never more, saying which: Wine itself sometimes fails a process
# in ways that have nothing to do with the test (docs/fidelity.md). A test
# fails the run only if it fails both times.
#   scripts/wine-ctest.sh PRESET [ctest arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
preset=$1
shift
if ctest --preset "$preset" "$@"; then
  exit 0
fi
dir=$(cmake --list-presets >/dev/null 2>&1; python3 - "$preset" <<'PY'
import json, sys
presets = json.load(open("CMakePresets.json"))
test = next(t for t in presets["testPresets"] if t["name"] == sys.argv[1])
print("build/" + test["configurePreset"])
PY
)
failed=$(grep -v '^$' "$dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null | cut -d: -f2- | tr '\n' ' ')
echo
echo "== Wine retry ($preset): running once more the tests that failed: $failed"
if ctest --preset "$preset" --rerun-failed "$@"; then
  echo "== Wine retry ($preset): passed on the retry: $failed"
  exit 0
fi
echo "== Wine retry ($preset): failed twice"
exit 1
