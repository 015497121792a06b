#!/bin/bash
# Interleaved A/B timing of two gitc binaries (say, before and after a change):
# alternates `gitc bench --json` runs of OLD and NEW on the same model so that
# both see the same machine state, and prints the median of the per-round
# ratios NEW/OLD for total, encode and decode. TRAIN=B times training steps
# instead (`gitc bench --train --batch B`, its train_step_ms).
#
#   scripts/bench-ab.sh OLD_GITC NEW_GITC MODEL [ROUNDS]
#   RUNS=8 EXTRA="--dtype int8" scripts/bench-ab.sh /tmp/old/build/gitc build/gitc /tmp/gb 20
#   TRAIN=8 RUNS=2 scripts/bench-ab.sh /tmp/old/build/gitc build/gitc /tmp/gb 4
#
# An old binary: git worktree add --detach /tmp/old COMMIT && cmake -S /tmp/old -B /tmp/old/build
# -DGITC_BUILD_TESTS=OFF && cmake --build /tmp/old/build --target gitc
set -euo pipefail
old=${1:?usage: scripts/bench-ab.sh OLD_GITC NEW_GITC MODEL [ROUNDS]}
new=${2:?usage: scripts/bench-ab.sh OLD_GITC NEW_GITC MODEL [ROUNDS]}
model=${3:?usage: scripts/bench-ab.sh OLD_GITC NEW_GITC MODEL [ROUNDS]}
rounds=${4:-12}
for b in "$old" "$new"; do
    [ -x "$b" ] || { echo "bench-ab: $b is not an executable" >&2; exit 2; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq 1 "$rounds"); do
    for which in old new; do
        bin=$old
        [ $which = new ] && bin=$new
        if [ -n "${TRAIN:-}" ]; then
            # shellcheck disable=SC2086
            "$bin" bench --train -m "$model" --batch "$TRAIN" --threads "${THREADS:-2}" --runs "${RUNS:-2}" ${EXTRA:-} --json |
                /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(sys.argv[1], sys.argv[2], d["train_step_ms"])' "$r" "$which" |
                tee -a "$out"
        else
            # shellcheck disable=SC2086
            "$bin" bench -m "$model" --threads "${THREADS:-2}" --runs "${RUNS:-5}" ${EXTRA:-} --json |
                /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(sys.argv[1], sys.argv[2], d["total_ms"], d["encode_ms"], d["decode_ms_per_token"])' "$r" "$which" |
                tee -a "$out"
        fi
    done
done
/usr/bin/python3 - "$out" <<'PY'
import statistics as s, sys
rows = [l.split() for l in open(sys.argv[1])]
cols = ((2, "total"), (3, "encode"), (4, "decode/token")) if len(rows[0]) > 3 else ((2, "train step"),)
for k, name in cols:
    old = [float(r[k]) for r in rows if r[1] == "old"]
    new = [float(r[k]) for r in rows if r[1] == "new"]
    rat = sorted(b / a for a, b in zip(old, new))
    print("%-13s new/old median %.4f (middle half %.3f-%.3f) over %d rounds; medians %.2f -> %.2f ms"
          % (name, s.median(rat), rat[len(rat) // 4], rat[(3 * len(rat)) // 4], len(rat), s.median(old), s.median(new)))
PY
