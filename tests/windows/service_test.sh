#!/usr/bin/env bash
# mfwq-server.exe as a Windows service, under Wine: installed with the
# service control manager (`service install`), started and stopped with
# Wine's sc.exe, used over gRPC from mfwq.exe, and stopped with operations in
# flight: the one that ends within the drain completes, the one that does not
# is cancelled with a journaled MF_E_SHUTDOWN completion, as the restarted
# service shows. Then uninstalled.
#   service_test.sh MFWQ_SERVER_EXE MFWQ_EXE WINE_RUN
set -euo pipefail
server_exe=$1
cli_exe=$2
run=$3

# The WINEPREFIX of the build the programs came from (as wine-run.sh finds it).
top=$(cd "$(dirname "$server_exe")" && pwd)
while [[ "$top" != / && ! -f "$top/CMakeCache.txt" ]]; do top=$(dirname "$top"); done
export WINEPREFIX=${WINEPREFIX:-$top/wineprefix}

work=$(mktemp -d /tmp/mfwq-service-XXXXXX)
name="mfwq-test-$$"
log=$work/service.log
winpath() { printf 'Z:%s' "${1//\//\\}"; }

# Wine ends its services (services.exe and what it started) once the last
# other Windows process of the prefix has exited, as Windows does at the end
# of a session. One is kept alive until the end: mfwq.exe bench-baseline,
# which serves on 127.0.0.1 until its input, a FIFO this script holds open,
# ends.
mkfifo "$work/keep"
"$run" "$cli_exe" bench-baseline <"$work/keep" >/dev/null 2>&1 &
keeper=$!
exec 7>"$work/keep"
# Every other Windows program runs without the FIFO's write end: services.exe,
# started by the first of them, would otherwise hold it open for ever.
wine_run() { "$run" "$@" 7>&-; }

cleanup() {
  wine_run sc stop "$name" >/dev/null 2>&1 || true
  wine_run "$server_exe" service uninstall --name "$name" >/dev/null 2>&1 || true
  wine_run "$server_exe" service uninstall --name "$name-bad" >/dev/null 2>&1 || true
  [[ -z ${beside:-} ]] || rm -f "$beside"
  exec 7>&-  # the keeper's input ends, and it exits
  wait "$keeper" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- service log:" >&2
  cat "$log" >&2 2>/dev/null || true
  exit 1
}
# Waits (at most 120 s) for the service log to hold `count` lines with `text`.
wait_for_log() {
  local text=$1 count=$2
  for _ in $(seq 1 1200); do
    [[ -f $log ]] && (( $(grep -c -- "$text" "$log" || true) >= count )) && return 0
    sleep 0.1
  done
  fail "no $count line(s) with $text in the service log"
}
# Waits (at most 120 s) for `sc query` to say `state`.
wait_for_state() {
  local state=$1
  for _ in $(seq 1 240); do
    wine_run sc query "$name" 2>/dev/null | tr -d '\r' | grep -q "$state" && return 0
    sleep 0.5
  done
  fail "the service never reached $state: $(wine_run sc query "$name" 2>&1 | tr -d '\r')"
}
mfwq() { MFWQ_SERVER=$address wine_run "$cli_exe" "$@" | tr -d '\r'; }

echo "== install"
# The drain time comes from mfwq-server.conf beside the executable, which a
# service reads when given no --config.
conf=$(dirname "$server_exe")/mfwq-server.conf
[[ ! -e $conf ]] || fail "$conf is in the way"
printf '# written by service_test.sh\ndrain_timeout = 20s\n' >"$conf"
beside=$conf  # removed by cleanup
wine_run "$server_exe" service install --name "$name" --start demand --listen 127.0.0.1:0 \
  --data-dir "$(winpath "$work/data")" --log-file "$(winpath "$log")" |
  tr -d '\r'
wine_run sc query "$name" | tr -d '\r' | grep -q STOPPED || fail "not installed as a stopped service"
# A bad setting is refused at install, naming it.
if out=$(wine_run "$server_exe" service install --name "$name-bad" --file-root /tmp 2>&1); then
  fail "a bad setting was installed"
fi
grep -q -- '--file-root: "/tmp" has no drive' <<<"$out" || fail "bad setting: $out"
# So is a relative data folder: the service starts in System32.
if out=$(wine_run "$server_exe" service install --name "$name-bad" --data-dir var 2>&1); then
  fail "a relative data_dir was installed"
fi
grep -q 'the service starts in System32' <<<"$out" || fail "relative data_dir: $out"

echo "== start, use"
wine_run sc start "$name" | tr -d '\r' >/dev/null
wait_for_log '"event":"service_running"' 1
wait_for_state RUNNING
address=$(grep '"event":"service_running"' "$log" | head -1 | sed 's/.*"address":"\([^"]*\)".*/\1/')
echo "service listening on $address"
mfwq submit echo --param data=hello --wait | grep -q 'echo: S_OK (0x00000000), 5 bytes' ||
  fail "echo through the service"
# A sleep that ends within the drain (20 s), and one that does not; both
# still running when the stop comes.
quick=$(mfwq submit sleep --queue 7 --param duration=6s | cut -d' ' -f1)
endless=$(mfwq submit sleep --queue 7 --param duration=1h | cut -d' ' -f1)
running=$(mfwq ops list --state running)
grep -q "$quick" <<<"$running" && grep -q "$endless" <<<"$running" ||
  fail "both sleeps should be running: $running"

echo "== stop with $quick and $endless in flight"
wine_run sc stop "$name" | tr -d '\r' >/dev/null
wait_for_log '"event":"stopped"' 1
wait_for_state STOPPED
grep -q '"event":"signal","signal":"SERVICE_STOP"' "$log" || fail "no SERVICE_STOP in the log"
grep -q '"event":"shutting_down","operations_open":2,"drain_ms":20000' "$log" ||
  fail "no drain of 2 for 20 s (mfwq-server.conf beside the executable) in the log"

echo "== start again: the journal holds both completions"
wine_run sc start "$name" | tr -d '\r' >/dev/null
wait_for_log '"event":"service_running"' 2
address=$(grep '"event":"service_running"' "$log" | tail -1 | sed 's/.*"address":"\([^"]*\)".*/\1/')
mfwq ops get "$quick" | grep -q 'S_OK' || fail "$quick did not complete in the drain: $(mfwq ops get "$quick")"
mfwq ops get "$endless" | grep -q 'MF_E_SHUTDOWN' ||
  fail "$endless was not cancelled with MF_E_SHUTDOWN: $(mfwq ops get "$endless")"

echo "== uninstall (stops it first)"
wine_run "$server_exe" service uninstall --name "$name" | tr -d '\r'
if wine_run sc query "$name" >/dev/null 2>&1; then fail "still installed"; fi
echo "service test passed"
