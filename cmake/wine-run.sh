#!/usr/bin/env bash
# Runs a Windows program under Wine, headless, with a WINEPREFIX of its own
# inside the build folder (the nearest folder above the program that holds
# CMakeCache.txt), created on first use. CMake uses it as
# CMAKE_CROSSCOMPILING_EMULATOR, so ctest and test discovery run .exe files.
set -euo pipefail
exe=$1
shift
dir=$(cd "$(dirname "$exe")" && pwd)
top=$dir
while [[ "$top" != / && ! -f "$top/CMakeCache.txt" ]]; do top=$(dirname "$top"); done
[[ -f "$top/CMakeCache.txt" ]] || top=$dir
export WINEPREFIX=${WINEPREFIX:-$top/wineprefix}
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-"mscoree,mshtml="}  # no Mono or Gecko installers
unset DISPLAY WAYLAND_DISPLAY
wine=/usr/lib/wine/wine64
[[ -x $wine ]] || wine=$(command -v wine64 || command -v wine)
if [[ ! -f $WINEPREFIX/system.reg ]]; then
  mkdir -p "$WINEPREFIX"
  "$wine" wineboot --init >/dev/null 2>&1 || true
  "$(dirname "$wine")/wineserver" -w 2>/dev/null || true
fi
exec "$wine" "$exe" "$@"
