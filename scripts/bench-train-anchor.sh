#!/bin/bash
# Interleaves `gitc bench --train` with the PyTorch training anchor
# (../shared/anchor/git_torch.py train-bench) on the same model and batch, so
# that both see the same machine state, and prints each round and the ratios.
#
#   scripts/bench-train-anchor.sh MODEL [BATCH] [ROUNDS]
#   GITC=build/gitc ANCHOR=../shared/anchor THREADS=2 RUNS=2 scripts/bench-train-anchor.sh /tmp/gb 8 3
#
# The anchor needs Debian's python3-torch (a measurement tool, never a test
# dependency). gitc's rounds also time --freeze vision (a step on cached
# vision features) for the frozen/full ratio.
set -euo pipefail
model=${1:?usage: scripts/bench-train-anchor.sh MODEL [BATCH] [ROUNDS]}
batch=${2:-8}
rounds=${3:-3}
gitc=${GITC:-build/gitc}
anchor=${ANCHOR:-../shared/anchor}
threads=${THREADS:-2}
runs=${RUNS:-2}
[ -x "$gitc" ] || { echo "bench-train-anchor: no gitc binary at $gitc (set GITC)" >&2; exit 2; }
[ -f "$anchor/git_torch.py" ] || { echo "bench-train-anchor: no $anchor/git_torch.py (set ANCHOR)" >&2; exit 2; }
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }
full=() torch=() frozen=()
for r in $(seq 1 "$rounds"); do
    g=$("$gitc" bench --train -m "$model" --batch "$batch" --threads "$threads" --runs "$runs" --json | field train_step_ms)
    t=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$anchor/git_torch.py" train-bench -m "$model" \
        --batch "$batch" --threads "$threads" --runs "$runs" --max-busy 1 | field step_ms)
    f=$("$gitc" bench --train -m "$model" --batch "$batch" --threads "$threads" --runs "$runs" --freeze vision --json |
        field train_step_ms)
    full+=("$g") torch+=("$t") frozen+=("$f")
    echo "round $r: gitc ${g} ms, pytorch ${t} ms (gitc/pytorch $(/usr/bin/python3 -c "print(round($g/$t,3))")), gitc --freeze vision ${f} ms ($(/usr/bin/python3 -c "print(round($f/$g,3))") of full)"
done
/usr/bin/python3 - "${full[*]}" "${torch[*]}" "${frozen[*]}" <<'PY'
import statistics as s, sys
g, t, f = ([float(x) for x in a.split()] for a in sys.argv[1:4])
print("median gitc %.0f ms, pytorch %.0f ms: gitc/pytorch %.3f (per-round median %.3f); frozen/full %.3f"
      % (s.median(g), s.median(t), s.median(g) / s.median(t), s.median([a / b for a, b in zip(g, t)]),
         s.median([a / b for a, b in zip(f, g)])))
PY
