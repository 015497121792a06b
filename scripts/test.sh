#!/bin/sh
# Builds gitc (if needed) and runs the test suite with ctest.
#   scripts/test.sh             Release build in ./build, every test
#   scripts/test.sh --sanitize  AddressSanitizer + UBSan build in ./build-asan,
#                               every test but the full-size synthetic models
#   scripts/test.sh --cpus [CPU...]
#                               the CPU matrix (tests/cpus/matrix.sh): the command
#                               and the kernel, model and low-precision tests
#                               natively and under qemu-x86_64 -cpu Nehalem,
#                               SandyBridge, Haswell, compared with the native run
set -e
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--cpus" ]; then
    shift
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)"
    exec sh tests/cpus/matrix.sh build . "$@"
fi
if [ "${1:-}" = "--sanitize" ]; then
    dir=build-asan
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGITC_SANITIZE=ON -DGITC_FULL_TESTS=OFF >/dev/null
else
    dir=build
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$dir" -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$dir" --output-on-failure
