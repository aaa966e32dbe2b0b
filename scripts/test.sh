#!/usr/bin/env bash
# Builds and runs every test:
#   1. the default build (RelWithDebInfo) and all its tests, and the release
#      build (what the quick start runs) and its tests;
#   2. the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the same tests built with ThreadSanitizer, and the programs built with
#      clang's -Wthread-safety -Werror (the locking annotations checked); the
#      libFuzzer targets (clang, ASan + UBSan), each run for MFWQ_FUZZ_SECONDS
#      (default 60) from its seed corpus (fuzz/README.md);
#   4. the Windows build (mingw-w64) under Wine, against Wine's own mfplat:
#      the conformance and server-core tests (docs/fidelity.md), and, with the
#      mingw gRPC SDK (../shared/mingw-sdk, or MFWQ_MINGW_SDK), the whole
#      server and mfwq.exe: their unit tests, the Windows service cycle, the
#      e2e, SDK and CLI suites driving mfwq-server.exe from Linux, and the CLI
#      tests running mfwq.exe against the Linux server (docs/windows.md).
#      A test that fails under Wine is run once more, and the retry reported;
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

step "clang -Wthread-safety build (the locking annotations)"
cmake --preset clang-thread-safety >/dev/null
cmake --build --preset clang-thread-safety --target mfwq-server mfwq

step "fuzzers (libFuzzer, AddressSanitizer + UndefinedBehaviorSanitizer), ${MFWQ_FUZZ_SECONDS:-60} s each"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
fuzz/run.sh "${MFWQ_FUZZ_SECONDS:-60}"

step "Windows build (mingw-w64), its tests under Wine's mfplat"
cmake --preset windows-wine >/dev/null
cmake --build --preset windows-wine
scripts/wine-ctest.sh windows-wine
if [[ -f build/windows-wine/server/mfwq-server.exe ]]; then
  step "the Windows server under Wine, driven from Linux: the e2e, SDK and CLI suites"
  scripts/wine-ctest.sh windows-server
  step "mfwq.exe under Wine against the Linux server"
  scripts/wine-ctest.sh windows-cli
else
  echo "skipped: the Windows server and mfwq.exe, and their tests under Wine: no mingw gRPC SDK" \
    "(looked for MFWQ_MINGW_SDK and ../shared/mingw-sdk/prefix; docs/windows.md)"
fi

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
