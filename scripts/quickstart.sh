#!/usr/bin/env bash
# Sets everything up, builds (release preset) and starts mfwq-server with its
# embedded defaults: listening on 127.0.0.1:50051, journal in ./var/mfwq.
# Arguments are passed on (for example --config deploy/mfwq-server.conf or
# --listen 127.0.0.1:6000); --help lists them. Stop it with Ctrl+C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec build/release/server/mfwq-server "$@"
