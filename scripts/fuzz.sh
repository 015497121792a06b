#!/bin/sh
# Builds the libFuzzer targets with clang and runs one of them.
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]
#
# TARGET names fuzz/fuzz_TARGET.c (tokenizer, ...). The build folder is
# build-fuzz (override with GITC_FUZZ_BUILD); the whole library is compiled with
# coverage instrumentation (-fsanitize=fuzzer-no-link) and ASan+UBSan, so the
# fuzzer sees inside libgitc. The corpus lives in fuzz/corpus-TARGET and is
# seeded, the first time, from the target's seed folder under tests/data
# (see seed_dir below). Crash inputs are written as fuzz/crash-TARGET-*.
# The executable finds its data through GITC_FUZZ_DATA (= tests/data).
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 TARGET SECONDS [libFuzzer options...]" >&2
    exit 2
fi
target=$1
seconds=$2
shift 2

root=$(cd "$(dirname "$0")/.." && pwd)
build=${GITC_FUZZ_BUILD:-$root/build-fuzz}
case $build in /*) ;; *) build=$root/$build ;; esac

# Seed folder of each target (relative to the repository root); files are
# copied into the corpus as they are. Add a line here for a new target.
seed_dir() {
    case $1 in
    tokenizer) echo tests/data/tokenizer/fuzz-seeds ;;
    image) echo tests/data/images/fuzz-seeds ;;
    *) echo "tests/data/$1" ;;
    esac
}

if [ ! -f "$root/fuzz/fuzz_$target.c" ]; then
    echo "$0: no fuzz target fuzz/fuzz_$target.c" >&2
    exit 2
fi

CC=${CC:-clang} cmake -S "$root" -B "$build" -DGITC_FUZZ=ON -DGITC_SANITIZE=ON -DGITC_FULL_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="${CFLAGS:-} -fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$build" -j2 --target "fuzz_$target"

corpus=$root/fuzz/corpus-$target
mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ]; then
    seeds=$root/$(seed_dir "$target")
    if [ -d "$seeds" ]; then
        find "$seeds" -type f -exec cp {} "$corpus"/ \;
        echo "seeded $corpus from $seeds ($(ls "$corpus" | wc -l) files)"
    else
        echo "no seed folder $seeds: starting from an empty corpus"
    fi
fi

GITC_FUZZ_DATA=$root/tests/data exec "$build/fuzz/fuzz_$target" "$corpus" \
    -max_total_time="$seconds" -artifact_prefix="$root/fuzz/crash-$target-" -print_final_stats=1 "$@"
