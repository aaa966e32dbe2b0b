#!/usr/bin/env bash
# Installs what mfwq needs to build and test, from Debian 12's packages.
# Idempotent and non-interactive: installs only what is missing, and does
# nothing (not even `apt-get update`) when everything is there.
set -euo pipefail

packages=(
  # toolchain (clang: its thread-safety analysis of the locking annotations)
  g++ cmake ninja-build pkg-config clang-14
  # engine, tests, benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libasio-dev
  # the Windows build of the conformance tests, run under Wine's mfplat
  g++-mingw-w64-x86-64-posix wine64 wine
  # the server and client SDK (gRPC, Protocol Buffers, Abseil, SQLite)
  libgrpc++-dev libprotobuf-dev libprotoc-dev protobuf-compiler protobuf-compiler-grpc libabsl-dev
  libsqlite3-dev
  # the programs' allocator (MFWQ_ALLOCATOR)
  libjemalloc-dev
  # the Python smoke test of the API (tests/python)
  python3-grpcio python3-protobuf
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
