# One-thread CPU-time encode / decode / caption of the PyTorch anchor
# (/work/shared/anchor/git_torch.py: its own build, encode_for and greedy), the
# pair of tests/bench_cpu_caption.c. Usage (Debian python3, torch installed):
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 \
#     /usr/bin/python3 tests/anchor_cpu.py MODEL_DIR f32|mixed|int8 RUNS [ANCHOR_DIR]
import sys, time, json
sys.path.insert(0, sys.argv[4] if len(sys.argv) > 4 else "/work/shared/anchor")
import torch, git_torch as gt
model, variant, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(1)
if variant == "int8":
    torch.backends.quantized.engine = "onednn"
m = gt.build(model, variant)
S = m.cfg["vision"]["image_size"]
px = torch.from_numpy(gt.synth_pixels(3 * S * S).reshape(1, 3, S, S)).to(gt.variant_dtype(variant))
enc, tok = [], []
with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant in ("autocast", "mixed")):
    for r in range(runs + 1):
        t0 = time.process_time()
        _, ik, iv = gt.encode_for(m, px, variant)
        t1 = time.process_time()
        with gt.autocast_ctx(variant, "decode"):
            m.greedy(ik, iv, [101], max_length=20, min_length=20)
        t2 = time.process_time()
        if r:
            enc.append((t1 - t0) * 1e3); tok.append((t2 - t1) * 1e3 / 19)
print(json.dumps({"engine": "torch-" + variant, "encode_cpu_ms": min(enc), "decode_cpu_ms_per_token": min(tok), "caption_cpu_ms": min(enc) + 19 * min(tok)}))
