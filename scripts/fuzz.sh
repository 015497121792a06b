#!/bin/bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs them.
#
#   scripts/fuzz.sh list                      the targets (every fuzz/fuzz_*.c)
#   scripts/fuzz.sh TARGET SECONDS [opts...]  one target, its corpus kept in fuzz/corpus-TARGET
#   scripts/fuzz.sh all SECONDS [TARGET...]   the campaign: every target (or those named) for
#                                             SECONDS each, GITC_FUZZ_JOBS (2) side by side;
#                                             corpora merged; the summary table written to
#                                             notes/fuzzing.md
#   scripts/fuzz.sh smoke SECONDS             CI: every target for SECONDS over its seeds only
#                                             (a fresh corpus); fails on any finding
#
# TARGET names fuzz/fuzz_TARGET.c. A target's header comment may set
#   FUZZ_SEEDS: paths or globs (files or folders, relative to the repository)
#   FUZZ_DICT: a libFuzzer dictionary (fuzz/dict/*.dict)
#   FUZZ_MAX_LEN: the largest input libFuzzer generates
# and otherwise gets fuzz/seeds/TARGET (or tests/data/TARGET) and no dictionary.
# The whole library is compiled with coverage instrumentation
# (-fsanitize=fuzzer-no-link) and ASan+UBSan in build-fuzz (GITC_FUZZ_BUILD).
# Findings are written to fuzz/artifacts-TARGET/ (crash-*, leak-*, timeout-*,
# oom-*); each becomes a test in tests/data + a ctest, and a fix.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${GITC_FUZZ_BUILD:-$root/build-fuzz}
case $build in /*) ;; *) build=$root/$build ;; esac
jobs=${GITC_FUZZ_JOBS:-2}
# Per-input limits: a slow input (10 s) or a 2 GiB allocation is a finding.
common_opts=(-timeout=10 -rss_limit_mb=2048 -close_fd_mask=1 -print_final_stats=1)
# The targets that read files write them to $TMPDIR: memory, not disk, when possible.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

all_targets() {
    for f in "$root"/fuzz/fuzz_*.c; do
        f=${f##*/fuzz_}
        echo "${f%.c}"
    done
}

# The value of a "FUZZ_KEY:" line in the target's source, or nothing.
target_conf() {
    sed -n "s/^.*$2: *//p" "$root/fuzz/fuzz_$1.c" | head -n 1
}

configure() {
    CC=${CC:-clang} cmake -S "$root" -B "$build" -DGITC_FUZZ=ON -DGITC_SANITIZE=ON -DGITC_FULL_TESTS=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="${CFLAGS:-} -fsanitize=fuzzer-no-link" >/dev/null
}

build_targets() {
    local t args=()
    for t in "$@"; do args+=(--target "fuzz_$t"); done
    cmake --build "$build" -j"$jobs" "${args[@]}" >"$build/fuzz-build.log" 2>&1 || {
        tail -n 40 "$build/fuzz-build.log" >&2
        echo "$0: build failed (log: $build/fuzz-build.log)" >&2
        exit 1
    }
}

# Copies the target's seed files into a fresh folder; prints the folder.
collect_seeds() {
    local t=$1 dir=$build/seeds/$1 spec p
    rm -rf "$dir"
    mkdir -p "$dir"
    spec=$(target_conf "$t" FUZZ_SEEDS)
    if [ -z "$spec" ]; then
        if [ -d "$root/fuzz/seeds/$t" ]; then spec=fuzz/seeds/$t; else spec=tests/data/$t; fi
    fi
    (
        cd "$root"
        for p in $spec; do # globs expand here
            if [ -d "$p" ]; then
                find "$p" -type f -exec cp {} "$dir"/ \;
            elif [ -f "$p" ]; then
                cp "$p" "$dir"/
            fi
        done
    )
    echo "$dir"
}

# Runs one target: run_target TARGET SECONDS CORPUS LOG [libFuzzer options...]
run_target() {
    local t=$1 seconds=$2 corpus=$3 log=$4
    shift 4
    local seeds dict maxlen opts=()
    seeds=$(collect_seeds "$t")
    dict=$(target_conf "$t" FUZZ_DICT)
    maxlen=$(target_conf "$t" FUZZ_MAX_LEN)
    [ -n "$dict" ] && opts+=("-dict=$root/$dict")
    [ -n "$maxlen" ] && opts+=("-max_len=$maxlen")
    mkdir -p "$corpus" "$root/fuzz/artifacts-$t"
    GITC_FUZZ_DATA=$root/tests/data GITC_FUZZ_ROOT=$root \
        "$build/fuzz/fuzz_$t" "$corpus" "$seeds" -max_total_time="$seconds" \
        -artifact_prefix="$root/fuzz/artifacts-$t/" "${common_opts[@]}" "${opts[@]}" "$@" >"$log" 2>&1
}

# Findings of a target newer than the marker file.
findings() {
    find "$root/fuzz/artifacts-$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
        -o -name 'timeout-*' -o -name 'oom-*' \) -newer "$2" 2>/dev/null | wc -l || true
}

# One summary row from a libFuzzer log: target|execs|exec/s|edges|new units|corpus|findings
stats_row() {
    local t=$1 log=$2 marker=$3
    local execs rate newu cov corp
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    newu=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
    if [ -z "$execs" ]; then # stopped by a finding: the last status line
        execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#' || true)
    fi
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || true)
    corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1 | sed 's/corp: //' || true)
    echo "$t|${execs:-0}|${rate:-0}|${cov:-0}|${newu:-0}|${corp:--}|$(findings "$t" "$marker")"
}

# Runs the targets JOBS at a time; each writes its row to $outdir/TARGET.row.
run_many() {
    local mode=$1 seconds=$2 outdir=$3
    shift 3
    local t corpus
    for t in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
        (
            marker=$outdir/$t.start
            touch "$marker"
            if [ "$mode" = smoke ]; then
                corpus=$outdir/corpus-$t
                rm -rf "$corpus"
            else
                corpus=$root/fuzz/corpus-$t
            fi
            run_target "$t" "$seconds" "$corpus" "$outdir/$t.log" || true
            if [ "$mode" = campaign ]; then # keep only the units that add coverage
                rm -rf "$corpus.merged"
                mkdir -p "$corpus.merged"
                GITC_FUZZ_ROOT=$root GITC_FUZZ_DATA=$root/tests/data "$build/fuzz/fuzz_$t" -merge=1 \
                    "${common_opts[@]}" "$corpus.merged" "$corpus" >"$outdir/$t.merge.log" 2>&1 &&
                    rm -rf "$corpus" && mv "$corpus.merged" "$corpus"
            fi
            stats_row "$t" "$outdir/$t.log" "$marker" >"$outdir/$t.row"
            echo "  $(cat "$outdir/$t.row")"
        ) &
    done
    wait
}

print_table() {
    local outdir=$1
    shift
    local t total=0
    echo "| target | executions | exec/s | edges (cov) | new units | corpus (units/bytes) | findings |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for t in "$@"; do
        IFS='|' read -r name execs rate cov newu corp found <"$outdir/$t.row"
        echo "| $name | $execs | $rate | $cov | $newu | $corp | $found |"
        total=$((total + execs))
    done
    echo "| **total** | $total | | | | | $(cat "$outdir"/*.row | awk -F'|' '{s += $7} END {print s}') |"
}

machine() {
    local cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    echo "$cpu, $(nproc) cores visible, $(free -g | awk '/^Mem:/ {print $2}') GB RAM, $(uname -sr)," \
        "$(clang --version | head -n 1)"
}

# Replaces the campaign section of notes/fuzzing.md (fuzz/write_notes.py: rows of
# targets not in this run are kept from the earlier runs).
write_notes() {
    local outdir=$1 seconds=$2 cmd=$3
    shift 3
    mkdir -p "$root/notes"
    python3 "$root/fuzz/write_notes.py" "$root/notes/fuzzing.md" "$outdir" "$seconds" "$jobs" \
        "$(machine)" "$cmd" "$@"
}

[ $# -ge 1 ] || usage
cmd="scripts/fuzz.sh $*"
case $1 in
list)
    all_targets
    ;;
all | smoke)
    mode=$1
    [ $# -ge 2 ] || usage
    seconds=$2
    shift 2
    if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(all_targets); fi
    for t in "${targets[@]}"; do
        [ -f "$root/fuzz/fuzz_$t.c" ] || { echo "$0: no fuzz target fuzz/fuzz_$t.c" >&2; exit 2; }
    done
    configure
    build_targets "${targets[@]}"
    outdir=$build/$mode-$(date -u +%Y%m%dT%H%M%S)
    mkdir -p "$outdir"
    echo "$mode: ${#targets[@]} targets, $seconds s each, $jobs at a time (logs: $outdir)"
    if [ "$mode" = smoke ]; then
        run_many smoke "$seconds" "$outdir" "${targets[@]}"
    else
        run_many campaign "$seconds" "$outdir" "${targets[@]}"
    fi
    print_table "$outdir" "${targets[@]}"
    bad=$(cat "$outdir"/*.row | awk -F'|' '$7 > 0 || $2 == 0 {print $1}') # a finding, or no run at all
    if [ "$mode" = all ]; then write_notes "$outdir" "$seconds" "$cmd" "${targets[@]}"; fi
    if [ -n "$bad" ]; then
        echo "$0: findings in: $bad (see fuzz/artifacts-*/ and $outdir/*.log)" >&2
        exit 1
    fi
    ;;
*)
    [ $# -ge 2 ] || usage
    target=$1
    seconds=$2
    shift 2
    [ -f "$root/fuzz/fuzz_$target.c" ] || { echo "$0: no fuzz target fuzz/fuzz_$target.c" >&2; exit 2; }
    configure
    build_targets "$target"
    seeds=$(collect_seeds "$target")
    dict=$(target_conf "$target" FUZZ_DICT)
    maxlen=$(target_conf "$target" FUZZ_MAX_LEN)
    opts=()
    [ -n "$dict" ] && opts+=("-dict=$root/$dict")
    [ -n "$maxlen" ] && opts+=("-max_len=$maxlen")
    mkdir -p "$root/fuzz/corpus-$target" "$root/fuzz/artifacts-$target"
    GITC_FUZZ_DATA=$root/tests/data GITC_FUZZ_ROOT=$root exec "$build/fuzz/fuzz_$target" \
        "$root/fuzz/corpus-$target" "$seeds" -max_total_time="$seconds" \
        -artifact_prefix="$root/fuzz/artifacts-$target/" "${common_opts[@]}" "${opts[@]}" "$@"
    ;;
esac
