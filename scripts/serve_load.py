#!/usr/bin/python3
"""Load benchmark for `gitc serve` (not a test): N clients post images back to
back for T seconds; prints requests/s (= images/s), p50/p95/p99 latency and
the rows per decoding step (from /metrics) for each N, and, for comparison,
images/s of the CLI run once per image.

    scripts/serve_load.py --synth            # the synthetic git-base shape (written once)
    scripts/serve_load.py -m MODEL_DIR --clients 1,4,16 --seconds 30
    scripts/serve_load.py --url http://127.0.0.1:8080 --clients 4

--synth writes models with `gitc synth` from tests/data/synthetic/git-base-shape
(F32 weights, a placeholder 30522-token vocab, CLIP preprocessing) into
/tmp/gitc-git-base-synth. Standard library only."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from serve_client import Server, metrics, request  # noqa: E402


def synth_model(gitc, out):
    """A git-base-shaped folder the server can load (weights by formula, placeholder vocab)."""
    shape = os.path.join(ROOT, "tests/data/synthetic/git-base-shape/config.json")
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        subprocess.run([gitc, "synth", "--config", shape, "--out", out], check=True)
    if os.path.exists(os.path.join(out, "vocab.txt")):
        return out
    vocab = json.load(open(shape)).get("vocab_size", 30522)
    special = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
    with open(os.path.join(out, "vocab.txt"), "w") as f:
        for i in range(vocab):
            f.write(special.get(i, "[unused%d]" % i if i < 100 else "w%d" % i) + "\n")
    shutil.copy(os.path.join(ROOT, "models/git-shapes/preprocessor_config.json"), out)
    return out


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def run_level(port, image, n_clients, seconds, per_client=0):
    """Each client posts back to back: for `seconds` (it finishes the request
    it started), or `per_client` requests when that is > 0."""
    latencies, errors = [], []
    lock = threading.Lock()
    stop_at = time.time() + seconds

    def client():
        done = 0
        while (done < per_client) if per_client > 0 else (time.time() < stop_at):
            done += 1
            t0 = time.time()
            try:
                st, _, body = request(port, "POST", "/", image, timeout=600)
            except OSError as e:
                st, body = None, repr(e).encode()
            dt = time.time() - t0
            with lock:
                if st == 200:
                    latencies.append(dt)
                else:
                    errors.append((st, body[:120]))

    before = metrics(port)
    t0 = time.time()
    threads = [threading.Thread(target=client) for _ in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    after = metrics(port)
    steps = after["gitc_steps_total"] - before["gitc_steps_total"]
    rows = after["gitc_rows_stepped_total"] - before["gitc_rows_stepped_total"]
    lat = sorted(latencies)
    return {"clients": n_clients, "requests": len(lat), "errors": len(errors), "seconds": wall,
            "rps": len(lat) / wall, "p50": percentile(lat, 50), "p95": percentile(lat, 95),
            "p99": percentile(lat, 99), "rows_per_step": rows / steps if steps else 0.0,
            "error_sample": errors[:2]}


def cli_rate(gitc, model, image_path, runs, threads):
    """Images/s of one `gitc caption` process per image (load included)."""
    t0 = time.time()
    for _ in range(runs):
        subprocess.run([gitc, "caption", "-m", model, "--threads", str(threads), image_path], check=True,
                       capture_output=True)
    return runs / (time.time() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gitc", default=os.path.join(ROOT, "build/gitc"))
    ap.add_argument("-m", "--model", help="model folder (default with --synth: the synthetic git-base)")
    ap.add_argument("--synth", action="store_true", help="use (and write once) the synthetic git-base shape")
    ap.add_argument("--url", help="an already running server (http://HOST:PORT)")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--requests", type=int, default=0,
                    help="requests per client instead of --seconds (for models slower than the window)")
    ap.add_argument("--threads", type=int, default=0, help="server --threads (0: one per CPU)")
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--image", default=os.path.join(ROOT, "examples/shapes_0_224x224.png"))
    ap.add_argument("--cli-runs", type=int, default=5, help="CLI runs for the per-image comparison (0: skip)")
    args = ap.parse_args()
    model = args.model
    if args.synth and not model:
        model = synth_model(args.gitc, "/tmp/gitc-git-base-synth")
    image = open(args.image, "rb").read()
    srv = None
    if args.url:
        port = int(args.url.rsplit(":", 1)[1].strip("/"))
    else:
        extra = ["-m", model] if model else []
        srv = Server(args.gitc, extra + ["--threads", str(args.threads), "--parallel", str(args.parallel),
                                         "--queue", "1024", "--timeout", "3600"])
        port = srv.port
    print("model %s, image %s, %s" % (model or "(server's)", os.path.basename(args.image),
                                     "%d requests per client" % args.requests if args.requests
                                     else "%g s per level" % args.seconds))
    request(port, "POST", "/", image, timeout=600)  # warm-up
    print("%8s %9s %8s %10s %9s %9s %9s %14s" % ("clients", "requests", "errors", "req/s", "p50 s", "p95 s", "p99 s",
                                                 "rows/step"))
    results = []
    for n in [int(x) for x in args.clients.split(",")]:
        r = run_level(port, image, n, args.seconds, args.requests)
        results.append(r)
        print("%8d %9d %8d %10.3f %9.3f %9.3f %9.3f %14.2f" % (n, r["requests"], r["errors"], r["rps"], r["p50"],
                                                             r["p95"], r["p99"], r["rows_per_step"]), flush=True)
        if r["errors"]:
            print("   errors:", r["error_sample"])
    if srv:
        srv.stop()
    if len(results) > 1 and results[0]["rps"] > 0:
        print("images/s at %d clients / at %d: %.2fx" % (results[-1]["clients"], results[0]["clients"],
                                                         results[-1]["rps"] / results[0]["rps"]))
    if args.cli_runs and model:
        rate = cli_rate(args.gitc, model, args.image, args.cli_runs, args.threads)
        print("CLI, one process per image: %.3f images/s (%d runs)" % (rate, args.cli_runs))


if __name__ == "__main__":
    main()
