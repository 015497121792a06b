"""Images per second of gitc.dask.caption_files on a LocalCluster, on the synthetic
git-base shape (full-size ViT-B/16 224 + 6-layer decoder, formula weights from
`gitc synth`, no download).

    PYTHONPATH=python python3 python/bench_dask.py --workers 1 --threads 2
    PYTHONPATH=python python3 python/bench_dask.py --workers 2 --threads 1

The model folder is written once to $XDG_CACHE_HOME/gitc/git-base-synthetic-captioning
(or ~/.cache/...): `gitc synth` weights, the embedded model's CLIP processor config, and
a 30522-token vocabulary with BERT's special ids (the synthetic weights produce no real
words: every caption runs to --max-length). Each worker is warmed up (model loaded)
before the timed run over --images copies of the demo images.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def prepare(folder, gitc_bin):
    """Writes the synthetic captioning model folder unless it is there."""
    if os.path.isfile(os.path.join(folder, "vocab.txt")):
        return folder
    os.makedirs(folder, exist_ok=True)
    subprocess.run([gitc_bin, "synth", "--config",
                    os.path.join(ROOT, "tests", "data", "synthetic", "git-base-shape", "config.json"),
                    "--out", folder], check=True)
    shapes = os.path.join(ROOT, "models", "git-shapes")
    for name in ("preprocessor_config.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(shapes, name), folder)
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        vocab_size = json.load(f)["vocab_size"]
    special = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        for i in range(vocab_size):
            f.write(special.get(i, f"[unused{i}]" if i < 100 else f"w{i}") + "\n")
    return folder


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=1, help="worker processes (1 thread each)")
    ap.add_argument("--threads", type=int, default=0, help="libgitc threads per worker (0: all CPUs)")
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=20)
    ap.add_argument("--model", default=None, help="model folder (default: the synthetic git-base shape)")
    a = ap.parse_args()

    from distributed import Client, LocalCluster
    import gitc.dask

    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    gitc_bin = os.environ.get("GITC_BIN") or os.path.join(ROOT, "build", "gitc")
    model = a.model or prepare(os.path.join(cache, "gitc", "git-base-synthetic-captioning"), gitc_bin)
    demo = sorted(glob.glob(os.path.join(ROOT, "examples", "shapes_*")))
    paths = [demo[i % len(demo)] for i in range(a.images)]
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        out = os.path.join(tmp, "captions.jsonl")
        kw = dict(model=model, batch_size=a.batch_size, threads=a.threads, max_length=a.max_length)
        gitc.dask.caption_files(client, demo[:a.workers * a.batch_size] * 2, out=out, **kw)  # warm-up
        t0 = time.perf_counter()
        summary = gitc.dask.caption_files(client, paths, out=out, **kw)
        seconds = time.perf_counter() - t0
        with open(out, encoding="utf-8") as f:
            recs = [json.loads(line) for line in f]
    assert summary["written"] == a.images and summary["errors"] == 0, summary
    tokens = sum(1 for r in recs if r.get("finish_reason") == "length")
    print(json.dumps({"workers": a.workers, "threads_per_worker": a.threads, "images": a.images,
                      "batch_size": a.batch_size, "max_length": a.max_length, "seconds": round(seconds, 3),
                      "images_per_s": round(a.images / seconds, 3), "ran_to_max_length": tokens,
                      "cpus": os.cpu_count(), "load": os.getloadavg()}))


if __name__ == "__main__":
    sys.exit(main())
