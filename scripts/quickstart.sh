#!/usr/bin/env bash
# Sets everything up, builds (release preset) and runs the main program.
# Until the server exists that is the engine's benchmark, which also shows the
# portable engine running MF work queues on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec build/release/bench/mfwq-engine-bench "$@"
