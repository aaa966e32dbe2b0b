#!/usr/bin/env bash
# Runs a command against a fresh mfwq-server on 127.0.0.1, port 0, with a
# data directory of its own, and stops the server afterwards (SIGTERM; it
# must exit cleanly). The command finds the server in $MFWQ_SERVER.
#   scripts/with-server.sh SERVER_BINARY COMMAND [ARGS...]
set -euo pipefail
server=$1
shift
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
mkfifo "$work/out"
"$server" --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>"$work/log" &
pid=$!
# Its first line says where it listens; end of file means it exited.
exec 3<"$work/out"
if ! read -r -t 30 line <&3; then cat "$work/log" >&2; exit 1; fi
export MFWQ_SERVER=${line#mfwq-server listening on }
status=0
"$@" || status=$?
kill -TERM "$pid"
wait "$pid" || { echo "with-server: the server did not stop cleanly" >&2; cat "$work/log" >&2; exit 1; }
pid=
exit "$status"
