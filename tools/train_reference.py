#!/usr/bin/python3
"""train_reference.py: float64 PyTorch autograd references for gitc's training (issue 20).

GitForCausalLM's forward written in plain torch (transformers is not needed), following
shared/reference/GIT_NOTES.md: CLIP ViT (pre-LN, quick_gelu) -> post-LN -> (temporal embedding)
-> visual projection (Linear + LayerNorm) -> BERT post-LN decoder over [image ; text] with GIT's
mask (image rows see every image row, text rows see the image and earlier text) -> output layer,
and the loss as transformers 4.39.3 computes it (text logits shifted by one against labels[:, 1:],
cross-entropy, mean over labels that are not -100).

  check  DIR...          compare with the recorded transformers logits and loss (reference.json)
  grads  MODEL OUT       loss + every parameter's gradient for a batch of 2 captioned images
  adamw  MODEL GRADS OUT torch.optim.AdamW steps on the reference gradients (see tests/data/train/README.md)
  synth  SHAPE_DIR OUT    the full-size synthetic model (shared/reference/SYNTHETIC_WEIGHTS.md): checked
                          against its recorded logits, then the gradients of a sample of tensors

Dropout is off (the module in eval mode, as every reference here). Weights stored in 16 bits are
upcast exactly, then everything runs in float64.
"""
import argparse, json, math, os, struct, sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

VISION_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                       image_size=224, patch_size=16, num_channels=3, layer_norm_eps=1e-5)
NP_DT = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def st_load(path):
    """A safetensors file as {name: float64/int numpy array} (BF16 and F16 upcast exactly)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        if v["dtype"] == "BF16":
            arr = (np.frombuffer(data[a:b], dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=NP_DT[v["dtype"]])
        out[k] = arr.reshape(v["shape"])
    return out


def st_save(path, tensors, metadata=None):
    """Writes {name: numpy array} as safetensors (F64/F32/I32/I64)."""
    inv = {np.dtype(v): k for k, v in NP_DT.items()}
    hdr, blobs, off = {}, [], 0
    if metadata:
        hdr["__metadata__"] = metadata
    for k in tensors:
        arr = np.ascontiguousarray(tensors[k])
        b = arr.tobytes()
        hdr[k] = {"dtype": inv[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_config(folder):
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    v = dict(VISION_DEFAULTS)
    v.update({k: x for k, x in c.get("vision_config", {}).items() if k in VISION_DEFAULTS})
    c["vision"] = v
    return c


def load_params(folder, dtype=torch.float64):
    """The checkpoint's parameters as leaf tensors that require grad (position_ids dropped)."""
    w = st_load(os.path.join(folder, "model.safetensors"))
    return {k: torch.tensor(np.array(v, dtype=np.float64), dtype=dtype).requires_grad_(True)
            for k, v in w.items() if not k.endswith("position_ids")}


def layer_norm(x, p, name, eps):
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"], p[name + ".bias"], eps)


def linear(x, p, name):
    return F.linear(x, p[name + ".weight"], p[name + ".bias"])


def attention(x, p, names, H, mask):
    """Multi-head attention as CLIPAttention / BertSelfAttention compute it (scale on the scores)."""
    B, N, D = x.shape
    q, k, v = (linear(x, p, n).view(B, N, H, D // H).transpose(1, 2) for n in names)
    s = torch.matmul(q, k.transpose(-1, -2)) * (D // H) ** -0.5
    if mask is not None:
        s = s + mask
    return torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, N, D)


def vision(p, cfg, px):
    """pixel_values [n, 3, S, S] -> post_layernorm output [n, Np+1, Dv]."""
    vc = cfg["vision"]
    V = "git.image_encoder.vision_model."
    P, eps = vc["patch_size"], vc["layer_norm_eps"]
    x = F.conv2d(px, p[V + "embeddings.patch_embedding.weight"], stride=P).flatten(2).transpose(1, 2)
    cls = p[V + "embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], 1) + p[V + "embeddings.position_embedding.weight"]
    x = layer_norm(x, p, V + "pre_layrnorm", eps)
    for i in range(vc["num_hidden_layers"]):
        L = V + f"encoder.layers.{i}."
        a = layer_norm(x, p, L + "layer_norm1", eps)
        x = x + linear(attention(a, p, [L + "self_attn.q_proj", L + "self_attn.k_proj", L + "self_attn.v_proj"],
                                 vc["num_attention_heads"], None), p, L + "self_attn.out_proj")
        u = linear(layer_norm(x, p, L + "layer_norm2", eps), p, L + "mlp.fc1")
        x = x + linear(u * torch.sigmoid(1.702 * u), p, L + "mlp.fc2")
    return layer_norm(x, p, V + "post_layernorm", eps)


def forward(p, cfg, px, ids):
    """Logits [B, I + T, V] of GitForCausalLM for pixel_values (4-D images or 5-D video) and ids [B, T]."""
    vc = cfg["vision"]
    if px.dim() == 5:  # video: each frame encoded, temporal embedding added after post-LN
        B, Fr = px.shape[:2]
        v = vision(p, cfg, px.reshape(B * Fr, *px.shape[2:])).view(B, Fr, -1, vc["hidden_size"])
        v = v + torch.stack([p[f"git.img_temperal_embedding.{f}"].view(1, -1) for f in range(Fr)])[None]
        v = v.reshape(B, -1, vc["hidden_size"])
    else:
        v = vision(p, cfg, px)
    img = layer_norm(linear(v, p, "git.visual_projection.visual_projection.0"), p,
                     "git.visual_projection.visual_projection.1", vc["layer_norm_eps"])
    B, T = ids.shape
    eps = cfg["layer_norm_eps"]
    t = p["git.embeddings.word_embeddings.weight"][ids] + p["git.embeddings.position_embeddings.weight"][:T]
    t = layer_norm(t, p, "git.embeddings.LayerNorm", eps)
    h = torch.cat([img, t], 1)
    I = img.shape[1]
    mask = torch.zeros(I + T, I + T, dtype=h.dtype)
    mask[:I, I:] = float("-inf")
    mask[I:, I:] = torch.full((T, T), float("-inf"), dtype=h.dtype).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        L = f"git.encoder.layer.{i}."
        a = attention(h, p, [L + "attention.self.query", L + "attention.self.key", L + "attention.self.value"],
                      cfg["num_attention_heads"], mask)
        h = layer_norm(linear(a, p, L + "attention.output.dense") + h, p, L + "attention.output.LayerNorm", eps)
        u = F.gelu(linear(h, p, L + "intermediate.dense"))
        h = layer_norm(linear(u, p, L + "output.dense") + h, p, L + "output.LayerNorm", eps)
    return linear(h, p, "output"), I


def git_loss(logits, I, labels):
    """transformers 4.39.3 GitForCausalLM: logits[:, I:-1] against labels[:, 1:], mean over non -100."""
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, I:-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)


def cmd_check(args):
    """The plain-torch forward against every recorded transformers value of the tiny models."""
    worst = 0.0
    for folder in args.dirs:
        ref = json.load(open(os.path.join(folder, "reference.json")))
        rt = st_load(os.path.join(folder, "reference.safetensors"))
        cfg = load_config(folder)
        ids = torch.tensor([ref["input_ids"]])
        px64 = torch.tensor(rt["pixel_values"].astype(np.float64))
        with torch.no_grad():
            p = load_params(folder)
            logits, I = forward(p, cfg, px64, ids)
            d64 = (logits[0, I:] - torch.tensor(rt["text_logits_f64"])).abs().max().item()
            loss64 = git_loss(logits, I, ids).item()
            p32 = {k: v.float() for k, v in p.items()}
            logits32, _ = forward(p32, cfg, px64.float(), ids)
            d32 = (logits32[0, I:] - torch.tensor(rt["text_logits"]).float()).abs().max().item()
            loss32 = git_loss(logits32, I, ids).item()
        hf = ref["hf_loss_labels_eq_input_ids"]
        print(f"{os.path.basename(folder)}: f64 logits vs HF f64 max abs {d64:.3g}; f32 logits vs HF f32 {d32:.3g}; "
              f"loss f64 {loss64:.9f} f32 {loss32:.9f} HF {hf:.9f} (|f64-HF| {abs(loss64 - hf):.3g})")
        worst = max(worst, d64 / 1e-9, d32 / 1e-5, abs(loss64 - hf) / 1e-5)
    if worst > 1:
        sys.exit("check FAILED: above the bounds (f64 logits 1e-9, f32 logits 1e-5, loss 1e-5)")
    print("check ok")


def batch_for(folder):
    """The fixture batch: 2 images ([pv, -pv], as the references' batch2) with [CLS] caption [SEP] rows,
    the second shorter and padded with 0 (labels -100 there)."""
    ref = json.load(open(os.path.join(folder, "reference.json")))
    rt = st_load(os.path.join(folder, "reference.safetensors"))
    pv = rt["pixel_values"].astype(np.float32)
    px = np.concatenate([pv, -pv], 0)
    V = ref.get("vocab_size") or load_config(folder)["vocab_size"]
    body = ref["input_ids"][1:]
    row0 = [101] + body + [102]
    row1 = [101] + [(x * 7 + 13) % (V - 200) + 150 for x in body[:2]] + [102]
    T = len(row0)
    row1 = row1 + [0] * (T - len(row1))
    ids = np.array([row0, row1], dtype=np.int32)
    labels = ids.copy()
    labels[1, 4:] = -100  # row 1 is [CLS] a b [SEP] then pads
    return px, ids, labels, ref


def cmd_grads(args):
    folder = args.model
    cfg = load_config(folder)
    px, ids, labels, ref = batch_for(folder)
    p = load_params(folder)
    logits, I = forward(p, cfg, torch.tensor(px.astype(np.float64)), torch.tensor(ids).long())
    loss = git_loss(logits, I, torch.tensor(labels).long())
    loss.backward()
    out = {"pixel_values": px, "input_ids": ids, "labels": labels,
           "loss": np.array([loss.item()]),
           "hf_input_ids": np.array([ref["input_ids"]], dtype=np.int32),
           "hf_loss": np.array([ref["hf_loss_labels_eq_input_ids"]])}
    big = 0
    for k, v in p.items():
        g = v.grad.numpy()
        if g.ndim == 2 and g.size > 100000:
            # a large table: only the rows with a nonzero gradient (embeddings) are stored, with their
            # indices; the test checks that every other row's gradient is exactly zero
            rows = np.nonzero(np.abs(g).max(1))[0]
            if len(rows) < g.shape[0] // 2:
                out["rows." + k] = rows.astype(np.int32)
                g = g[rows]
            else:
                # a dense large table (the output layer of a 30522-word vocabulary): a fixed sample of its
                # rows, the batch's target words and every 16th row; the test checks these rows only
                rows = np.union1d(np.unique(labels[labels >= 0]), np.arange(0, g.shape[0], 16))
                out["sample_rows." + k] = rows.astype(np.int32)
                g = g[rows]
        dt = np.float64 if g.size <= args.f64_max else np.float32
        big += g.size * np.dtype(dt).itemsize
        out["grad." + k] = g.astype(dt)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "grads.safetensors")
    st_save(path, out, {"generator": "tools/train_reference.py grads", "torch": torch.__version__})
    print(f"{path}: loss {loss.item():.12f}, {len(p)} gradients, {big / 1e6:.2f} MB")


def decay_names(names):
    """transformers' Trainer: weight decay on every parameter except biases and LayerNorm weights."""
    ln = ("LayerNorm", "layer_norm1", "layer_norm2", "pre_layrnorm", "post_layernorm", "visual_projection.1")
    return {n for n in names if "bias" not in n and not any(s in n for s in ln)}


def cmd_adamw(args):
    folder = args.model
    p = load_params(folder)
    g = st_load(args.grads)
    names = list(p)
    decay = decay_names(names)
    for n in names:
        gr = np.array(g["grad." + n], dtype=np.float64)
        if "rows." + n in g:
            full = np.zeros(p[n].shape)
            full[g["rows." + n]] = gr
            gr = full
        p[n].grad = torch.tensor(gr)
    grads0 = {n: p[n].grad.clone() for n in names}
    params = [p[n] for n in names]
    groups = [{"params": [p[n] for n in names if n in decay], "weight_decay": args.weight_decay},
              {"params": [p[n] for n in names if n not in decay], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    W, N = args.warmup, args.total

    def factor(s):  # transformers.get_linear_schedule_with_warmup
        return s / max(1, W) if s < W else max(0.0, (N - s) / max(1, N - W))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    out, lrs, norms = {}, [], []
    for step in range(1, args.steps + 1):
        for n in names:
            p[n].grad = grads0[n].clone()
        norms.append(torch.nn.utils.clip_grad_norm_(params, args.clip).item())
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        for n in names:
            out[f"step{step}.{n}"] = p[n].detach().numpy().astype(np.float32)
    out["lr"] = np.array(lrs)
    out["grad_norm"] = np.array(norms)
    out["decay"] = np.array([1 if n in decay else 0 for n in names], dtype=np.int32)
    st_save(args.out, out, {"generator": "tools/train_reference.py adamw", "params": json.dumps(names),
                            "settings": json.dumps(vars(args))})
    print(f"{args.out}: lr per step {lrs}, grad norm before clipping {norms[0]:.6f}")


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def synth_stream(name, n):
    """r in [-1, 1) of SYNTHETIC_WEIGHTS.md for elements 0..n-1 of `name` (float64)."""
    with np.errstate(over="ignore"):
        x = np.uint64(fnv1a64(name)) + np.arange(n, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / 16777216.0 * 2.0 - 1.0


def synth_param(name, shape):
    n = int(np.prod(shape))
    r = synth_stream(name, n)
    if len(shape) == 1:
        v = 1.0 + 0.1 * r if name.endswith(".weight") else 0.1 * r
    else:
        v = r * math.sqrt(3.0 / (n // shape[0]))
    return v.astype(np.float32).reshape(shape)


def synth_sampled(name, nlayers_v, nlayers_d):
    """The tensors of the full-size sample: everything outside the layers, and the first and last
    layer of each stack."""
    for pre, n in (("git.image_encoder.vision_model.encoder.layers.", nlayers_v), ("git.encoder.layer.", nlayers_d)):
        if name.startswith(pre):
            return int(name[len(pre):].split(".")[0]) in (0, n - 1)
    return True


def cmd_synth(args):
    folder = args.shape
    ref = json.load(open(os.path.join(folder, "reference.json")))
    rt = st_load(os.path.join(folder, "reference.safetensors"))
    cfg = load_config(folder)
    torch.set_num_threads(args.threads)
    p = {n: torch.tensor(synth_param(n, shp).astype(np.float64)).requires_grad_(True)
         for n, shp in ref["parameter_names_and_shapes"]}
    S = cfg["vision"]["image_size"]
    pv = (1.5 * synth_stream("pixel_values", 3 * S * S)).astype(np.float32).reshape(1, 3, S, S)
    with torch.no_grad():
        ids = torch.tensor([ref["input_ids"]])
        logits, I = forward(p, cfg, torch.tensor(pv.astype(np.float64)), ids)
        d = (logits[0, I:] - torch.tensor(rt["text_logits_f64"])).abs().max().item()
        loss1 = git_loss(logits, I, ids).item()
    print(f"synthetic check: f64 logits vs HF f64 max abs {d:.3g}; loss {loss1:.9f} vs HF {ref['hf_loss_labels_eq_input_ids']:.9f}")
    if d > 1e-9:
        sys.exit("synthetic check FAILED")
    px = np.concatenate([pv, -pv], 0)
    row0 = list(ref["input_ids"]) + [102]
    T = len(row0)
    row1 = [101, 1037, 4937, 102] + [0] * (T - 4)
    ids = np.array([row0, row1], dtype=np.int32)
    labels = ids.copy()
    labels[1, 4:] = -100
    logits, I = forward(p, cfg, torch.tensor(px.astype(np.float64)), torch.tensor(ids).long())
    loss = git_loss(logits, I, torch.tensor(labels).long())
    loss.backward()
    # no pixel_values: the test generates them (gitc_synth_pixels, then their negation)
    out = {"input_ids": ids, "labels": labels, "loss": np.array([loss.item()])}
    Lv, Ld = cfg["vision"]["num_hidden_layers"], cfg["num_hidden_layers"]
    floats = 0
    for k, v in p.items():
        if not synth_sampled(k, Lv, Ld):
            continue
        g = v.grad.numpy().reshape(v.shape[0], -1) if v.dim() > 1 else v.grad.numpy()
        if g.ndim == 2 and g.shape[0] > 64:
            nz = np.nonzero(np.abs(g).max(1))[0]
            if len(nz) < g.shape[0] // 2:
                rows, key = nz, "rows."
            else:
                rows = np.arange(0, g.shape[0], args.row_step)
                if k == "output.weight":
                    rows = np.union1d(rows, np.unique(labels[labels >= 0]))
                key = "sample_rows."
            out[key + k] = rows.astype(np.int32)
            g = g[rows]
        out["grad." + k] = g.astype(np.float32)
        floats += g.size
    st_save(args.out, out, {"generator": "tools/train_reference.py synth", "torch": torch.__version__})
    print(f"{args.out}: loss {loss.item():.12f}, {floats} gradient values")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("dirs", nargs="+")
    g = sub.add_parser("grads")
    g.add_argument("model")
    g.add_argument("out")
    g.add_argument("--f64-max", type=int, default=20000, help="tensors above this many values stored as F32")
    a = sub.add_parser("adamw")
    a.add_argument("model")
    a.add_argument("grads")
    a.add_argument("out")
    a.add_argument("--steps", type=int, default=3)
    a.add_argument("--lr", type=float, default=1e-3)
    a.add_argument("--warmup", type=int, default=2)
    a.add_argument("--total", type=int, default=4)
    a.add_argument("--clip", type=float, default=1.0)
    a.add_argument("--weight-decay", type=float, default=0.01)
    y = sub.add_parser("synth")
    y.add_argument("shape")
    y.add_argument("out")
    y.add_argument("--row-step", type=int, default=193, help="every n-th row of a dense matrix is stored")
    y.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    {"check": cmd_check, "grads": cmd_grads, "adamw": cmd_adamw, "synth": cmd_synth}[args.cmd](args)


if __name__ == "__main__":
    main()
