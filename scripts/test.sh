#!/usr/bin/env bash
# Builds and runs every test:
#   1. the default build (RelWithDebInfo) and all its tests, and the release
#      build (what the quick start runs) and its tests;
#   2. the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the same tests built with ThreadSanitizer;
#   4. the conformance tests built for Windows (mingw-w64) and run under Wine,
#      against Wine's own mfplat (docs/fidelity.md);
#   5. the installed package: `cmake --install`, then outside projects that
#      find it with find_package(mfwq), built and run: examples/hello_mf (the
#      engine) and examples/hello_client (the SDK, against the installed
#      mfwq-server).
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "default build and tests"
cmake --preset default >/dev/null
cmake --build --preset default
ctest --preset default

step "release build and tests"
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release

step "AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake --preset debug-asan >/dev/null
cmake --build --preset debug-asan
ctest --preset debug-asan

step "ThreadSanitizer build and tests"
cmake --preset debug-tsan >/dev/null
cmake --build --preset debug-tsan
ctest --preset debug-tsan

step "Windows build (mingw-w64), conformance tests under Wine's mfplat"
cmake --preset windows-wine >/dev/null
cmake --build --preset windows-wine
ctest --preset windows-wine

step "installed package used from outside projects: the engine, and the SDK against a real server"
prefix=$PWD/build/install-test
rm -rf "$prefix" build/hello_mf build/hello_client
cmake --install build/default --prefix "$prefix" >/dev/null
cmake -S examples/hello_mf -B build/hello_mf -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build/hello_mf
build/hello_mf/hello_mf
cmake -S examples/hello_client -B build/hello_client -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build/hello_client
scripts/with-server.sh "$prefix/bin/mfwq-server" build/hello_client/hello_client

step "all tests passed"
