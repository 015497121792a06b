#!/bin/sh
# The CPU matrix: runs the command and the kernel, model and low-precision
# tests natively and on emulated x86 CPUs (QEMU user mode), and compares
# every emulated run's outputs with the native run's: the same tokens, and
# f32 logits within the 1e-4 test_model holds them to.
#
#   matrix.sh BUILD ROOT [--caption-only] [CPU...]
#
# BUILD holds gitc and tests/; ROOT is the repository. CPUs are QEMU models
# (default: Nehalem: no AVX; SandyBridge: AVX without AVX2/FMA; Haswell:
# AVX2 + FMA + F16C, no AVX-512); "native" runs without emulation and is
# always run first. --caption-only: just the bundled caption (the ctest
# regression test of the AVX-512 SIGILL on AVX2 CPUs). QEMU 7.2 runs no
# AVX-512: that set is checked natively where the machine has it.
# Exits 77 (skipped) where qemu-x86_64 is missing or the host is not x86-64.
set -u
build=$(cd "$1" && pwd) root=$(cd "$2" && pwd)
shift 2
only_caption=0
if [ "${1:-}" = "--caption-only" ]; then
    only_caption=1
    shift
fi
[ $# -gt 0 ] || set -- Nehalem SandyBridge Haswell
if [ "$(uname -m)" != x86_64 ] || ! command -v qemu-x86_64 >/dev/null 2>&1; then
    echo "SKIP: needs an x86-64 host with qemu-x86_64 (Debian: qemu-user)"
    exit 77
fi
gitc=$build/gitc
out=$build/test-tmp/cpus
rm -rf "$out"
mkdir -p "$out"
fail=0
image=$root/examples/shapes_0_224x224.png

# run CPU CMD...: CMD natively or on the emulated CPU (QEMU's warnings about
# host features TCG lacks are noise).
run() {
    cpu=$1
    shift
    if [ "$cpu" = native ]; then
        "$@"
    else
        qemu-x86_64 -cpu "$cpu" "$@" 2> "$out/qemu-stderr.$$"
        rc=$?
        grep -v "TCG doesn't support requested feature" "$out/qemu-stderr.$$" >&2
        rm -f "$out/qemu-stderr.$$"
        return $rc
    fi
}

# smoke CPU: the command's outputs into $out/CPU/ (one file each).
smoke() {
    cpu=$1 d=$out/$1
    mkdir -p "$d"
    for dtype in f32 bf16 int8; do
        run "$cpu" "$gitc" caption -q --dtype $dtype --batch 3 "$root/examples/shapes_0_224x224.png" \
            "$root/examples/shapes_1_320x240.jpg" "$root/examples/shapes_2_300x400.png" \
            "$root/examples/shapes_5_256x256.jpg" > "$d/caption_$dtype.txt" || return 1
    done
    run "$cpu" "$gitc" caption -q --batch 1 --beams 3 "$root/examples/shapes_3_224x224.jpg" > "$d/caption_beams.txt" || return 1
    run "$cpu" "$gitc" ask -q "$root/examples/shapes_1_320x240.jpg" "what color is the background?" > "$d/ask.txt" || return 1
    run "$cpu" "$gitc" video -q "$root/examples/moving_square_h264.mp4" > "$d/video.txt" || return 1
    run "$cpu" "$gitc" video -q --dtype int8 "$root/examples/moving_square_h264.mp4" > "$d/video_int8.txt" || return 1
    run "$cpu" "$gitc" forward -m "$root/models/git-shapes" --inputs "$out/forward_in.safetensors" \
        --out "$d/forward.safetensors" --max-length 12 >/dev/null || return 1
}

# The forward pass's input: the bundled image and a fixed text.
/usr/bin/python3 - "$gitc" "$root" "$out" <<'EOF' || { echo "FAIL: cannot write the forward input"; exit 1; }
import json, struct, subprocess, sys
gitc, root, out = sys.argv[1:4]
subprocess.run([gitc, "preprocess", "-m", root + "/models/git-shapes", "--out", out + "/px.safetensors",
                root + "/examples/shapes_0_224x224.png"], check=True, stdout=subprocess.DEVNULL)
data = open(out + "/px.safetensors", "rb").read()
n = struct.unpack("<Q", data[:8])[0]
head = json.loads(data[8:8 + n])
body = data[8 + n:]
name = next(k for k in head if k != "__metadata__")
px = body[head[name]["data_offsets"][0]:head[name]["data_offsets"][1]]
ids = [101, 104, 118, 127, 111, 123, 104, 140, 108]  # [CLS] a large red circle on a white
tensors = {"pixel_values": ("F32", head[name]["shape"], px),
           "input_ids": ("I64", [1, len(ids)], struct.pack("<%dq" % len(ids), *ids))}
h, off, blob = {}, 0, b""
for k, (dt, shape, raw) in tensors.items():
    h[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
    off += len(raw)
    blob += raw
hj = json.dumps(h).encode()
hj += b" " * ((8 - len(hj) % 8) % 8)
open(out + "/forward_in.safetensors", "wb").write(struct.pack("<Q", len(hj)) + hj + blob)
EOF

# compare CPU: its outputs against the native run's.
compare() {
    cpu=$1
    for f in "$out/native"/*.txt; do
        name=$(basename "$f")
        if ! cmp -s "$f" "$out/$cpu/$name"; then
            echo "FAIL: -cpu $cpu: $name differs from the native run:"
            diff "$f" "$out/$cpu/$name" | head -6
            fail=1
        fi
    done
    /usr/bin/python3 - "$out/native/forward.safetensors" "$out/$cpu/forward.safetensors" "$cpu" <<'EOF' || fail=1
import json, struct, sys
import numpy as np
def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    dt = {"F32": np.float32, "I64": np.int64}
    return {k: np.frombuffer(data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                             dt[v["dtype"]]).reshape(v["shape"])
            for k, v in head.items() if k != "__metadata__"}
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = 0
for k in ("vision_last_hidden_state", "visual_projection", "last_hidden_state", "text_logits", "loss"):
    d = float(np.max(np.abs(a[k].astype(np.float64) - b[k])))
    ok = d <= 1e-4
    bad += not ok
    print("  %-26s max abs diff vs native %.3g%s" % (k, d, "" if ok else "  FAIL (> 1e-4)"))
same = np.array_equal(a["greedy_ids"], b["greedy_ids"])
print("  greedy_ids                 %s" % ("equal" if same else "DIFFER  FAIL"))
sys.exit(1 if bad or not same else 0)
EOF
}

# sets CPU: the features and kernel sets the model chooses there.
sets() {
    run "$1" "$gitc" inspect --json | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
s = o["kernel_sets"]
print("  cpu features: %s; kernel sets: f32 %s, bf16 %s, int8 %s" % (o["cpu_features"], s["f32"], s["bf16"], s["int8"]))'
}

if [ $only_caption = 1 ]; then
    want=$("$gitc" caption -q "$image") || { echo "FAIL: native caption failed"; exit 1; }
    echo "native: $want"
    for cpu in "$@"; do
        got=$(run "$cpu" "$gitc" caption -q "$image")
        rc=$?
        if [ $rc -ne 0 ] || [ "$got" != "$want" ]; then
            echo "FAIL: -cpu $cpu: exit $rc, caption '$got'"
            fail=1
        else
            echo "ok: -cpu $cpu: $got"
        fi
    done
    exit $fail
fi

tests="test_kernels test_lowp test_kernel_choice test_model test_lowp_model test_generate"
for cpu in native "$@"; do
    t0=$(date +%s)
    echo "== $cpu"
    sets "$cpu" || { echo "FAIL: -cpu $cpu: gitc inspect"; fail=1; continue; }
    if ! smoke "$cpu"; then
        echo "FAIL: -cpu $cpu: the command smoke run failed"
        fail=1
        continue
    fi
    [ "$cpu" = native ] || compare "$cpu"
    for t in $tests; do
        if GITC_TEST_QUICK=1 run "$cpu" "$build/tests/$t" "$root" > "$out/$cpu/$t.log" 2>&1; then
            echo "  $t: $(tail -n 1 "$out/$cpu/$t.log")"
        else
            echo "FAIL: -cpu $cpu: $t (log: $out/$cpu/$t.log)"
            grep -m 5 FAIL "$out/$cpu/$t.log"
            fail=1
        fi
    done
    echo "  ($cpu: $(( $(date +%s) - t0 )) s)"
done
[ $fail = 0 ] && echo "CPU matrix: every run passed" || echo "CPU matrix: FAILED"
exit $fail
