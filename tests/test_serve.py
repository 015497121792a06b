#!/usr/bin/python3
"""gitc serve against the CLI: every endpoint on the demo images (same texts,
same finish_reason), SSE streaming, VQA through chat completions, 32
concurrent clients x 8 mixed requests, the queue-full 503, API keys,
hostile inputs (one check each, the server stays up and its memory returns
to its baseline), and a graceful SIGTERM.

Usage: test_serve.py REPO_ROOT GITC_BINARY"""
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import (Server, chat_body, chat_stream, data_url, hf_image_to_text, metrics, multipart,
                          post_json, request)

ROOT, GITC = sys.argv[1], sys.argv[2]
EX = os.path.join(ROOT, "examples")
IMAGES = ["shapes_0_224x224.png", "shapes_1_320x240.jpg", "shapes_2_300x400.png", "shapes_3_224x224.jpg",
          "shapes_4_500x300.png", "shapes_5_256x256.jpg", "shapes_6_224x224.png", "shapes_7_640x480.jpg"]
QUESTION = "what color is the background?"
SAMPLE = {"do_sample": True, "temperature": 1.5, "seed": 5}
n_checks = 0
n_failed = 0


def check(cond, what):
    global n_checks, n_failed
    n_checks += 1
    if not cond:
        n_failed += 1
        print("FAIL:", what, flush=True)
    return cond


def cli(*args):
    """The CLI's JSON Lines for the demo images, as {file name: object}."""
    out = subprocess.run([GITC, *args, "--json", *[os.path.join(EX, f) for f in IMAGES]], check=True,
                         capture_output=True, text=True).stdout
    return {os.path.basename(o["file"]): o for o in map(json.loads, out.splitlines())}


def text_of(obj):
    return obj[0]["generated_text"] if isinstance(obj, list) and obj else None


def main():
    ref = json.load(open(os.path.join(ROOT, "tests/data/cli/examples.json")))
    ref_images = {r["file"]: r for r in ref["images"]}
    greedy = cli("caption")
    beam = cli("caption", "--beams", "3")
    sampled = cli("caption", "--sample", "--temperature", "1.5", "--seed", "5")
    sampled2 = cli("caption", "--sample", "--temperature", "1.5", "--seed", "5", "--num-return-sequences", "2")
    short = cli("caption", "--max-new-tokens", "3")
    proc = subprocess.run([GITC, "ask", "--json", *[os.path.join(EX, f) for f in IMAGES], QUESTION], check=True,
                          capture_output=True, text=True).stdout
    answers = {os.path.basename(o["file"]): o["answer"] for o in map(json.loads, proc.splitlines())}
    for f in IMAGES:  # the CLI itself agrees with transformers on these
        check(greedy[f]["text"] == ref_images[f]["greedy_text"], "CLI greedy %s vs examples.json" % f)
        check(beam[f]["text"] == ref_images[f]["beam3_text"], "CLI beam3 %s vs examples.json" % f)
        check(answers[f] == ref_images[f]["vqa_answer"], "CLI answer %s vs examples.json" % f)

    # ---- the command line ----
    r = subprocess.run([GITC, "serve", "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "Examples:" in r.stdout and "--api-key" in r.stdout, "serve --help")
    for bad in (["--port", "99999"], ["--parallel", "0"], ["--bogus"], ["extra-arg"]):
        r = subprocess.run([GITC, "serve", *bad], capture_output=True, text=True, timeout=30)
        check(r.returncode == 2 and r.stderr.startswith("gitc:"), "serve %s: usage error (%d %r)" % (bad, r.returncode, r.stderr))
    r = subprocess.run([GITC, "serve", "--port", "0", "-m", os.path.join(ROOT, "tests/data/cli")],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "config.json" in r.stderr, "serve with a folder that is no model: exit 1 (%r)" % r.stderr)

    srv = Server(GITC, ["--threads", "2", "--parallel", "16", "--queue", "256"])
    port = srv.port
    r = subprocess.run([GITC, "serve", "--port", str(port)], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "cannot listen" in r.stderr, "serve on a port in use: exit 1 (%r)" % r.stderr)
    print("server on port", port)

    # ---- every endpoint against the CLI ----
    st, hd, body = request(port, "GET", "/health")
    check(st == 200 and json.loads(body)["status"] == "ok", "/health 200")
    st, _, body = request(port, "GET", "/v1/models")
    check(st == 200 and json.loads(body)["data"][0]["id"] == "git-shapes", "/v1/models lists git-shapes")
    st, hd, body = request(port, "GET", "/")
    check(st == 200 and hd["content-type"].startswith("text/html") and b"/v1/chat/completions" in body
          and b"http://" not in body and b"https://" not in body, "GET / serves the page, no external assets")
    for f in IMAGES:
        path = os.path.join(EX, f)
        st, _, body = hf_image_to_text(port, path)
        check(st == 200 and text_of(json.loads(body)) == greedy[f]["text"], "POST / raw bytes %s: %s" % (f, body[:80]))
        st, obj = hf_image_to_text(port, path, {"num_beams": 3})
        check(st == 200 and text_of(obj) == beam[f]["text"], "image-to-text JSON beams=3 %s: %s" % (f, obj))
        st, obj = post_json(port, "/v1/chat/completions", chat_body(path))
        ok = st == 200 and obj["choices"][0]["message"]["content"] == greedy[f]["text"]
        check(ok and obj["choices"][0]["finish_reason"] == "stop" and obj["object"] == "chat.completion",
              "chat %s: %s" % (f, obj))
        if ok:
            u = obj["usage"]
            check(u["completion_tokens"] == len(ref_images[f]["greedy_ids"]) - 1 and
                  u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], "chat usage %s: %s" % (f, u))
        st, obj = post_json(port, "/v1/chat/completions", chat_body(path, QUESTION))
        check(st == 200 and obj["choices"][0]["message"]["content"] == answers[f], "chat VQA %s: %s" % (f, obj))
        st, chunks, done = chat_stream(port, chat_body(path))
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        reasons = [c["choices"][0]["finish_reason"] for c in chunks]
        check(st == 200 and done and text == greedy[f]["text"] and reasons[-1] == "stop" and
              all(r is None for r in reasons[:-1]) and len(chunks) > 3 and
              chunks[0]["choices"][0]["delta"].get("role") == "assistant",
              "SSE %s: %d chunks concat %r" % (f, len(chunks), text))
        st, obj = post_json(port, "/v1/chat/completions", chat_body(path, max_tokens=3))
        check(st == 200 and obj["choices"][0]["message"]["content"] == short[f]["text"] and
              obj["choices"][0]["finish_reason"] == "length", "chat max_tokens=3 %s: length: %s" % (f, obj))
        st, obj = post_json(port, "/v1/chat/completions", chat_body(path, temperature=1.5, seed=5, n=2))
        want = sampled2[f].get("texts", [sampled2[f]["text"]])
        check(st == 200 and [c["message"]["content"] for c in obj["choices"]] == want,
              "chat sampled n=2 %s: %s vs %s" % (f, obj, want))
    # VQA streamed
    st, chunks, done = chat_stream(port, chat_body(os.path.join(EX, IMAGES[1]), QUESTION))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    check(done and text == answers[IMAGES[1]], "SSE VQA: %r" % text)
    # /v1/caption: several images, a question, the CLI's option names
    files = [("image", f, open(os.path.join(EX, f), "rb").read(), "image/png") for f in IMAGES[:3]]
    body, ctype = multipart({"question": QUESTION}, files)
    st, _, out = request(port, "POST", "/v1/caption", body, {"Content-Type": ctype})
    out = json.loads(out)
    check(st == 200 and [o["answer"] for o in out] == [answers[f] for f in IMAGES[:3]] and
          [o["file"] for o in out] == IMAGES[:3] and all(o["finish_reason"] == "stop" for o in out),
          "/v1/caption with a question: %s" % out)
    body, ctype = multipart({"beams": "3", "max-length": "30"}, files)
    st, _, out = request(port, "POST", "/v1/caption", body, {"Content-Type": ctype})
    out = json.loads(out)
    check(st == 200 and [o["text"] for o in out] == [beam[f]["text"] for f in IMAGES[:3]], "/v1/caption beams: %s" % out)
    body, ctype = multipart({"sample": "on", "temperature": "1.5", "seed": "5"}, files[:1])
    st, _, out = request(port, "POST", "/v1/caption", body, {"Content-Type": ctype})
    check(st == 200 and json.loads(out)[0]["text"] == sampled[IMAGES[0]]["text"], "/v1/caption sampled: %s" % out)
    m = metrics(port)
    check(m.get('gitc_requests_total{status="200"}', 0) > 40 and m.get("gitc_tokens_generated_total", 0) > 100 and
          m.get('gitc_encode_seconds_bucket{le="+Inf"}', 0) > 0 and "gitc_queue_depth" in m and
          "gitc_rows_in_flight" in m, "/metrics counters")

    # ---- 32 concurrent clients x 8 requests: greedy, sampled, beam ----
    results, lost = [], []
    lock = threading.Lock()

    def client(k):
        for i in range(8):
            f = IMAGES[(k + i) % len(IMAGES)]
            kind = (k + i) % 3
            try:
                if kind == 0:
                    st, _, b = hf_image_to_text(port, os.path.join(EX, f))
                    got, want = text_of(json.loads(b)), greedy[f]["text"]
                elif kind == 1:
                    st, obj = hf_image_to_text(port, os.path.join(EX, f), SAMPLE)
                    got, want = text_of(obj), sampled[f]["text"]
                else:
                    st, obj = post_json(port, "/v1/chat/completions", chat_body(os.path.join(EX, f), num_beams=3))
                    got, want = obj["choices"][0]["message"]["content"], beam[f]["text"]
                with lock:
                    results.append((st, got == want, kind, f, got, want))
            except Exception as e:  # noqa: BLE001 - any failure is a lost request
                with lock:
                    lost.append(repr(e))

    before = metrics(port)
    t0 = time.time()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = metrics(port)
    wrong = [r for r in results if r[0] != 200 or not r[1]]
    steps = after["gitc_steps_total"] - before["gitc_steps_total"]
    rows = after["gitc_rows_stepped_total"] - before["gitc_rows_stepped_total"]
    print("32 x 8: %d answers in %.1f s, %.2f rows per step" % (len(results), time.time() - t0, rows / max(steps, 1)))
    check(len(results) == 256 and not lost, "32 x 8: every request answered (%d, lost %s)" % (len(results), lost[:3]))
    check(not wrong, "32 x 8: every answer equals the CLI's (%d wrong: %s)" % (len(wrong), wrong[:3]))
    check(rows / max(steps, 1) > 1.5, "32 x 8: rows were batched (%.2f rows per step)" % (rows / max(steps, 1)))

    # ---- hostile input: one check each; the server answers the rest and its memory returns ----
    for _ in range(3):
        hf_image_to_text(port, os.path.join(EX, IMAGES[0]))
    time.sleep(0.4)
    baseline = srv.rss_kb()
    print("RSS baseline %d kB" % baseline)
    good_path = os.path.join(EX, IMAGES[0])

    # ASan's allocator keeps freed memory in quarantine; the tight bound is for the plain build.
    maps = open("/proc/%d/maps" % srv.proc.pid).read()
    asan = "libasan" in maps or "libclang_rt.asan" in maps  # GCC or clang runtime
    tight_kb = 32 * 1024 if asan else 1024

    def still_good(what, limit_kb=None):
        st, _, b = hf_image_to_text(port, good_path)
        check(st == 200 and text_of(json.loads(b)) == greedy[IMAGES[0]]["text"], "%s: the server still answers" % what)
        time.sleep(0.4)  # the server gives freed memory back when idle (malloc_trim, every 250 ms at most)
        rss = srv.rss_kb()
        print("  %-28s RSS %+6d kB" % (what, rss - baseline))
        check(rss < baseline + (limit_kb or tight_kb), "%s: RSS %d kB vs baseline %d kB (+%d kB allowed)" %
              (what, rss, baseline, limit_kb or tight_kb))

    def raw(data, read=True, timeout=10):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(data)
        out = b""
        if read:
            try:
                while True:
                    piece = s.recv(65536)
                    if not piece:
                        break
                    out += piece
            except socket.timeout:
                pass
        s.close()
        return out

    png = open(good_path, "rb").read()
    # truncated body: the client sends half of what it announced and goes away
    raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(png) + png[: len(png) // 2], read=False)
    still_good("truncated body")
    # wrong Content-Length: fewer bytes announced than sent
    out = raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + png)
    check(out.startswith(b"HTTP/1.1 400"), "wrong Content-Length: 400 (%r)" % out[:200])
    still_good("wrong Content-Length")
    # malformed HTTP: libmicrohttpd answers 400
    out = raw(b"THIS IS NOT HTTP\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400") or out.startswith(b"HTTP/1.0 400"), "malformed request line: 400 (%r)" % out[:60])
    still_good("malformed HTTP")
    # 100 MB announced: 413 before the body is read
    out = raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + png)
    check(out.startswith(b"HTTP/1.1 413") and b"max-body" in out, "100 MB body: 413 (%r)" % out[:120])
    # 100 MB sent chunked, without a length: cut at the limit
    def chunks():
        block = b"\0" * (1 << 20)
        for _ in range(100):
            yield block
    try:
        st, _, b = request(port, "POST", "/", chunks(), {"Transfer-Encoding": "chunked"})
        check(st == 413, "100 MB chunked body: 413 (%s)" % st)
    except OSError as e:  # the server may close while the client still sends
        check(True, "100 MB chunked body: connection closed (%s)" % e)
    still_good("100 MB body")
    st, obj = post_json(port, "/v1/image-to-text", {"inputs": "iVBORw0KGgo***notbase64"})
    check(st == 400 and "base64" in obj["error"]["message"], "bad base64: 400 %s" % obj)
    still_good("bad base64")
    st, obj = post_json(port, "/v1/chat/completions", dict(chat_body(good_path), messages=[
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGVsbG8="}}]}]))
    check(st == 400 and "not an image" in obj["error"]["message"], "data: URL of text/plain: 400 %s" % obj)
    st, obj = post_json(port, "/v1/chat/completions", dict(chat_body(good_path), messages=[
        {"role": "user", "content": [{"type": "image_url",
                                      "image_url": {"url": "data:image/png;base64," + base64.b64encode(b"hello world, no image").decode()}}]}]))
    check(st == 400 and obj["error"]["message"], "data: URL that is not an image: 400 with the decoder's message %s" % obj)
    still_good("data: URL not an image")
    st, obj = post_json(port, "/v1/chat/completions", dict(chat_body(good_path), messages=[
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://169.254.169.254/x.png"}}]}]))
    check(st == 400 and "remote URLs are refused" in obj["error"]["message"], "remote URL: 400 %s" % obj)
    still_good("remote URL")
    st, _, b = request(port, "POST", "/v1/chat/completions", b'{"messages": [', {"Content-Type": "application/json"})
    check(st == 400 and b"invalid JSON" in b, "invalid JSON: 400 %s" % b)
    still_good("invalid JSON")
    st, obj = post_json(port, "/v1/chat/completions", {"model": "x"})
    check(st == 400 and "missing field" in obj["error"]["message"], "missing messages: 400 %s" % obj)
    st, obj = post_json(port, "/v1/image-to-text", {"parameters": {}})
    check(st == 400 and "missing field" in obj["error"]["message"], "missing inputs: 400 %s" % obj)
    st, obj = post_json(port, "/v1/chat/completions", chat_body(good_path, max_tokens="many"))
    check(st == 400 and "max_tokens" in obj["error"]["message"], "max_tokens not a number: 400 %s" % obj)
    still_good("missing fields")
    body, ctype = multipart({"question": b"what \xff\xfe color?"}, [("image", "a.png", png, "image/png")])
    st, _, b = request(port, "POST", "/v1/caption", body, {"Content-Type": ctype})
    check(st == 400 and b"UTF-8" in b, "non-UTF-8 question: 400 %s" % b)
    body = json.dumps(chat_body(good_path, "QQQ")).encode().replace(b"QQQ", b"\xc3\x28 bad")
    st, _, b = request(port, "POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    check(st == 400 and b"UTF-8" in b, "non-UTF-8 question in chat: 400 %s" % b)
    still_good("non-UTF-8 question")
    # a client that disconnects mid-stream: its row is cancelled
    before = metrics(port)
    st, got, done = chat_stream(port, chat_body(good_path, max_tokens=500, min_new_tokens=500), close_after=3)
    check(st == 200 and len(got) == 3 and not done, "mid-stream disconnect: got 3 chunks")
    deadline = time.time() + 10
    while time.time() < deadline:
        m = metrics(port)
        if m['gitc_jobs_total{outcome="cancelled"}'] > before['gitc_jobs_total{outcome="cancelled"}']:
            break
        time.sleep(0.05)
    check(m['gitc_jobs_total{outcome="cancelled"}'] == before['gitc_jobs_total{outcome="cancelled"}'] + 1 and
          m["gitc_tokens_generated_total"] - before["gitc_tokens_generated_total"] < 500,
          "mid-stream disconnect cancels the row (%d tokens made)" %
          (m["gitc_tokens_generated_total"] - before["gitc_tokens_generated_total"]))
    still_good("mid-stream disconnect")
    # a non-streaming client that leaves while waiting: cancelled too
    before = metrics(port)
    body = json.dumps(chat_body(good_path, max_tokens=500, min_new_tokens=500)).encode()
    raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        % len(body) + body, read=False)
    deadline = time.time() + 10
    while time.time() < deadline:
        m = metrics(port)
        if m['gitc_jobs_total{outcome="cancelled"}'] > before['gitc_jobs_total{outcome="cancelled"}']:
            break
        time.sleep(0.05)
    check(m['gitc_jobs_total{outcome="cancelled"}'] == before['gitc_jobs_total{outcome="cancelled"}'] + 1,
          "a waiting client that disconnects cancels its row")
    # 200 slow clients holding connections open
    slow = []
    for i in range(200):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        slow.append(s)
    t0 = time.time()
    still_good("200 slow clients", (64 if asan else 16) * 1024)  # their 200 connections and threads are open
    check(time.time() - t0 < 10, "200 slow clients: a good request answered in %.2f s" % (time.time() - t0))
    for s in slow:
        s.close()
    time.sleep(0.5)
    still_good("after the slow clients")
    m = metrics(port)
    check(m["gitc_rows_in_flight"] == 0 and m["gitc_queue_depth"] == 0, "no rows left in flight")

    # ---- graceful SIGTERM: the request in flight finishes, then exit 0 ----
    result = {}

    def slow_request():
        result["r"] = post_json(port, "/v1/chat/completions", chat_body(good_path, max_tokens=200, min_new_tokens=200))

    t = threading.Thread(target=slow_request)
    t.start()
    deadline = time.time() + 10
    while time.time() < deadline and metrics(port)["gitc_rows_in_flight"] == 0:
        time.sleep(0.01)
    rc, err = srv.stop()
    t.join()
    st, obj = result.get("r", (None, None))
    check(st == 200 and obj["choices"][0]["finish_reason"] == "length" and
          obj["usage"]["completion_tokens"] == 200, "SIGTERM: the request in flight finished (%s)" % st)
    check(rc == 0 and "finishing the requests in flight" in err, "SIGTERM: exit 0 (%s)" % rc)

    # ---- a full queue answers 503 with Retry-After ----
    srv = Server(GITC, ["--threads", "1", "--parallel", "1", "--queue", "1"])
    codes = []

    def one():
        st, hd, b = request(srv.port, "POST", "/", open(good_path, "rb").read())
        with lock:
            codes.append((st, hd.get("retry-after"), b))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    full = [c for c in codes if c[0] == 503]
    ok = [c for c in codes if c[0] == 200]
    print("queue 1: %d answered, %d refused" % (len(ok), len(full)))
    check(full and all(c[1] == "1" and b"queue is full" in c[2] for c in full), "queue full: 503 + Retry-After")
    check(ok and all(text_of(json.loads(c[2])) == greedy[IMAGES[0]]["text"] for c in ok) and
          len(ok) + len(full) == 12, "queue full: the others are answered")
    check(srv.stop()[0] == 0, "second server exits 0")

    # ---- the per-request timeout: 504, and the rows are cancelled ----
    srv = Server(GITC, ["--threads", "1", "--parallel", "1", "--queue", "128", "--timeout", "1"])
    codes = []
    long_body = chat_body(good_path, max_tokens=500, min_new_tokens=500)

    def long_one():
        st, obj = post_json(srv.port, "/v1/chat/completions", long_body)
        with lock:
            codes.append((st, obj))

    t0 = time.time()
    threads = [threading.Thread(target=long_one) for _ in range(96)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    late = [c for c in codes if c[0] == 504]
    print("timeout 1 s: %d of 96 timed out in %.1f s" % (len(late), time.time() - t0))
    check(late and all("timed out" in c[1]["error"]["message"] for c in late) and
          all(c[0] in (200, 504) for c in codes), "--timeout: 504 for the requests that ran out of time")
    time.sleep(0.5)
    m = metrics(srv.port)
    check(m["gitc_rows_in_flight"] == 0 and m["gitc_queue_depth"] == 0 and
          m['gitc_jobs_total{outcome="cancelled"}'] >= len(late), "--timeout: their rows were cancelled (%s)" % m)
    check(srv.stop()[0] == 0, "timeout server exits 0")

    # ---- API key: every endpoint but /health ----
    srv = Server(GITC, ["--api-key", "s3cret"])
    check(request(srv.port, "GET", "/health")[0] == 200, "API key: /health open")
    check(request(srv.port, "GET", "/v1/models")[0] == 401, "API key: /v1/models needs it")
    check(request(srv.port, "GET", "/v1/models", headers={"Authorization": "Bearer s3cre"})[0] == 401, "API key: a prefix is refused")
    check(request(srv.port, "GET", "/v1/models", headers={"Authorization": "Bearer s3cret"})[0] == 200, "API key: accepted")
    st, _, b = request(srv.port, "POST", "/", png, {"Authorization": "Bearer s3cret"})
    check(st == 200 and text_of(json.loads(b)) == greedy[IMAGES[0]]["text"], "API key: caption with the key")
    check(request(srv.port, "POST", "/", png)[0] == 401, "API key: caption without it")
    check(srv.stop()[0] == 0, "third server exits 0")

    # ---- a video model: a video file, or the clip's frames ----
    video = os.path.join(EX, "moving_square_h264.mp4")
    frames = [os.path.join(EX, "clip0_frame%d.png" % i) for i in range(4)]
    want_video = subprocess.run([GITC, "video", video], check=True, capture_output=True, text=True).stdout.strip()
    want_frames = subprocess.run([GITC, "video", "--frames", *frames], check=True, capture_output=True,
                                 text=True).stdout.strip()
    srv = Server(GITC, ["-m", os.path.join(ROOT, "models/git-shapes-video")])
    body, ctype = multipart({}, [("video", "clip.mp4", open(video, "rb").read(), "video/mp4")])
    st, _, out = request(srv.port, "POST", "/v1/caption", body, {"Content-Type": ctype})
    check(st == 200 and json.loads(out)[0]["text"] == want_video, "video model: a video file as the CLI (%s)" % out)
    body, ctype = multipart({}, [("frame", os.path.basename(f), open(f, "rb").read(), "image/png") for f in frames])
    st, _, out = request(srv.port, "POST", "/v1/caption", body, {"Content-Type": ctype})
    check(st == 200 and json.loads(out)[0]["text"] == want_frames, "video model: frames as the CLI (%s)" % out)
    st, obj = post_json(srv.port, "/v1/chat/completions", chat_body(frames[0]))
    check(st == 400 and "4 frames" in obj["error"]["message"], "video model: one image is refused (%s)" % obj)
    body, ctype = multipart({}, [("video", "notes.mp4", b"not a video at all", "video/mp4")])
    st, _, out = request(srv.port, "POST", "/v1/caption", body, {"Content-Type": ctype})
    check(st == 400 and b"notes.mp4" in out and b"/tmp/" not in out, "video model: a bad video file: 400 (%s)" % out)
    check(srv.stop()[0] == 0, "video server exits 0")

    print("test_serve: %d checks, %d failed" % (n_checks, n_failed))
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
