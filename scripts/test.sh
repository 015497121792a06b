#!/bin/sh
# Builds gitc (if needed) and runs the test suite with ctest.
#   scripts/test.sh             Release build in ./build, every test
#   scripts/test.sh --sanitize  AddressSanitizer + UBSan build in ./build-asan
#                               (./build-asan-clang with CC=clang), every test
#                               but the full-size synthetic models
#   scripts/test.sh --portable  the Release suite again with GITC_KERNELS=portable
#                               (every kernel the plain C set, as on a CPU without
#                               AVX2), but the full-size synthetic models
#   scripts/test.sh --cpus [CPU...]
#                               the CPU matrix (tests/cpus/matrix.sh): the command
#                               and the kernel, model and low-precision tests
#                               natively and under qemu-x86_64 -cpu Nehalem,
#                               SandyBridge, Haswell, compared with the native run
set -e
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
full_size="test_synthetic|test_pytorch_synth|test_lowp_synthetic"
case "${1:-}" in
--cpus)
    shift
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)"
    exec sh tests/cpus/matrix.sh build . "$@"
    ;;
--portable)
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)"
    GITC_KERNELS=portable ctest --test-dir build --output-on-failure -E "$full_size"
    ;;
--sanitize)
    case "${CC:-cc}" in
    *clang*) dir=build-asan-clang ;;
    *) dir=build-asan ;;
    esac
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGITC_SANITIZE=ON -DGITC_FULL_TESTS=OFF >/dev/null
    cmake --build "$dir" -j"$(nproc)"
    ctest --test-dir "$dir" --output-on-failure
    ;;
*)
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)"
    ctest --test-dir build --output-on-failure
    ;;
esac
