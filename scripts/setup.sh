#!/bin/sh
# Installs the Debian packages gitc needs and builds it in ./build (Release).
set -e
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
