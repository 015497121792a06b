#!/usr/bin/python3
"""Soak test for `gitc serve` (not a ctest): K clients send a mix of good
requests (captions, VQA, streams, beams, samples) and bad ones (bad base64,
invalid JSON, non-images, remote URLs, oversized bodies, disconnects) for T
seconds. Checks that every answer is the expected one (good: 200 with the
first answer's text; bad: its 4xx), and prints the server's RSS after warm-up
and at the end (growth must stay under 5%).

    scripts/serve_soak.py --seconds 600 [--clients 8] [-m MODEL]

Exit status 0 when no unexpected answer was seen and RSS grew < 5%."""
import argparse
import base64
import json
import os
import random
import socket
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from serve_client import Server, chat_body, chat_stream, metrics, post_json, request  # noqa: E402

IMG = os.path.join(ROOT, "examples/shapes_0_224x224.png")
IMG2 = os.path.join(ROOT, "examples/shapes_1_320x240.jpg")


def kinds(port, png):
    """(name, expected status, function returning (status, text or None))."""
    def hf():
        st, _, b = request(port, "POST", "/", png)
        return st, json.loads(b)[0]["generated_text"] if st == 200 else None

    def vqa():
        st, o = post_json(port, "/v1/chat/completions", chat_body(IMG2, "what color is the background?"))
        return st, o["choices"][0]["message"]["content"] if st == 200 else None

    def stream():
        st, chunks, done = chat_stream(port, chat_body(IMG))
        return (st if done else -1), "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)

    def beams():
        st, o = post_json(port, "/v1/chat/completions", chat_body(IMG, num_beams=3))
        return st, o["choices"][0]["message"]["content"] if st == 200 else None

    def sample():
        st, o = post_json(port, "/v1/image-to-text", {"inputs": base64.b64encode(png).decode(),
                                                     "parameters": {"do_sample": True, "seed": 3, "temperature": 1.3}})
        return st, o[0]["generated_text"] if st == 200 else None

    def bad_b64():
        return post_json(port, "/v1/image-to-text", {"inputs": "%%%notbase64"})[0], None

    def bad_json():
        return request(port, "POST", "/v1/chat/completions", b"{\"messages\": [", {"Content-Type": "application/json"})[0], None

    def not_image():
        return post_json(port, "/v1/image-to-text", {"inputs": base64.b64encode(b"plain text" * 50).decode()})[0], None

    def remote():
        body = chat_body(IMG)
        body["messages"][0]["content"][0]["image_url"]["url"] = "https://example.com/a.png"
        return post_json(port, "/v1/chat/completions", body)[0], None

    def too_big():
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 900000000\r\n\r\n")
        out = s.recv(4096)
        s.close()
        return int(out.split()[1]) if out.startswith(b"HTTP/1.1") else -1, None

    def disconnect():
        st, chunks, done = chat_stream(port, chat_body(IMG, max_tokens=300, min_new_tokens=300), close_after=2)
        return st, None

    return [("hf", 200, hf), ("vqa", 200, vqa), ("stream", 200, stream), ("beams", 200, beams),
            ("sample", 200, sample), ("bad_base64", 400, bad_b64), ("bad_json", 400, bad_json),
            ("not_image", 400, not_image), ("remote_url", 400, remote), ("too_big", 413, too_big),
            ("disconnect", 200, disconnect)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gitc", default=os.path.join(ROOT, "build/gitc"))
    ap.add_argument("-m", "--model")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    srv = Server(args.gitc, (["-m", args.model] if args.model else []) + ["--threads", str(args.threads), "--queue", "256"])
    port = srv.port
    png = open(IMG, "rb").read()
    table = kinds(port, png)
    expected_text = {}
    for name, _, fn in table:  # the first answers are the reference ones
        if name in ("hf", "vqa", "stream", "beams", "sample"):
            expected_text[name] = fn()[1]
    for _ in range(2):  # warm-up: every kind twice
        for _, _, fn in table:
            fn()
    time.sleep(0.5)
    rss0 = srv.rss_kb()
    counts, unexpected = {}, []
    lock = threading.Lock()
    stop_at = time.time() + args.seconds

    def client(seed):
        rng = random.Random(seed)
        while time.time() < stop_at:
            name, want, fn = rng.choice(table)
            try:
                st, text = fn()
            except Exception as e:  # noqa: BLE001 - counted as unexpected
                st, text = repr(e), None
            bad = st != want or (name in expected_text and text != expected_text[name])
            with lock:
                counts[name] = counts.get(name, 0) + 1
                if bad:
                    unexpected.append((name, st, text))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    t0 = time.time()
    samples = []
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(5)
        samples.append(srv.rss_kb())
    for t in threads:
        t.join()
    time.sleep(1)
    rss1 = srv.rss_kb()
    m = metrics(port)
    rc, _ = srv.stop()
    total = sum(counts.values())
    growth = (rss1 - rss0) / rss0 * 100
    print("soak: %.0f s, %d clients, %d requests (%s)" % (time.time() - t0, args.clients, total,
                                                        ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    print("server: %d tokens, %d jobs done, %d cancelled; exit %d" % (
        m["gitc_tokens_generated_total"], m['gitc_jobs_total{outcome="done"}'],
        m['gitc_jobs_total{outcome="cancelled"}'], rc))
    print("RSS after warm-up %d kB, at the end %d kB (%+.2f%%), peak during %d kB" % (rss0, rss1, growth, max(samples or [rss1])))
    print("unexpected answers: %d %s" % (len(unexpected), unexpected[:5]))
    return 0 if not unexpected and growth < 5 and rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
