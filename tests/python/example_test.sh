#!/usr/bin/env bash
# Example.PythonEcho: runs examples/python/mfwq_echo.py (what the README shows)
# against a real mfwq-server on 127.0.0.1, port 0, and checks what it prints.
# Usage: example_test.sh PYTHON SERVER_BINARY EXAMPLE
set -euo pipefail
python=$1 server=$2 example=$3
work=$(mktemp -d)
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkfifo "$work/out"
"$server" --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>"$work/log" &
pid=$!
# Its first line says where it listens; end of file means it exited (the log
# says why).
exec 3<"$work/out"
if ! read -r -t 30 line <&3; then cat "$work/log"; exit 1; fi
address=${line#mfwq-server listening on }
output=$("$python" "$example" --server "$address" --data "hi there")
echo "$output"
grep -q "^kinds: .*echo" <<<"$output"
grep -q "^completed: status S_OK (0x00000000), 8 bytes, result 'hi there'$" <<<"$output"
kill -TERM "$pid"
wait "$pid"
