#!/usr/bin/python3
"""The official JavaScript clients, unmodified, against gitc serve: the
@huggingface/inference and openai packages pinned in tests/clients/package.json
(and its package-lock.json) are installed with `npm ci` into WORK_DIR, then
tests/clients/clients.mjs calls every endpoint they use on a server that
requires an API key (given with --api-key-file). Every answer must equal the
CLI's for the same image and settings; the VQA score must be exp() of the
answer's summed log-probability as the library reports it (the Python
package's Generation.scores, through the public API).

Exits 77 (skipped) only when node or npm is missing, or the npm registry cannot
be reached; any other failure of the install fails the test.

Usage: test_serve_clients.py REPO_ROOT GITC_BINARY WORK_DIR"""
import filecmp
import json
import math
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import Server

ROOT, GITC, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
CLIENTS = os.path.join(ROOT, "tests", "clients")
IMAGE = os.path.join(ROOT, "examples", "shapes_1_320x240.jpg")
QUESTION = "what color is the background?"
KEY = "k3y-for-the-clients"
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "ENETUNREACH",
                  "EHOSTUNREACH", "network")


def install():
    """npm ci into WORK/clients (kept while the lock file is unchanged); returns the folder, or None to skip."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        print("test_serve_clients: SKIPPED: node and npm are needed (Debian: apt-get install nodejs npm)")
        return None
    dest = os.path.join(WORK, "clients")
    lock = os.path.join(CLIENTS, "package-lock.json")
    fresh = (os.path.isdir(os.path.join(dest, "node_modules")) and os.path.exists(os.path.join(dest, "package-lock.json"))
             and filecmp.cmp(lock, os.path.join(dest, "package-lock.json"), shallow=False))
    os.makedirs(dest, exist_ok=True)
    for f in ("package.json", "package-lock.json", "clients.mjs"):
        shutil.copyfile(os.path.join(CLIENTS, f), os.path.join(dest, f))
    if fresh:
        print("clients: node_modules up to date in", dest)
        return dest
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=dest, capture_output=True,
                       text=True, timeout=300, env=plain_env())
    if r.returncode != 0:
        text = r.stdout + r.stderr
        if any(e in text for e in NETWORK_ERRORS):
            print("test_serve_clients: SKIPPED: the npm registry cannot be reached:\n" + text[-800:])
            return None
        print("FAIL: npm ci in %s exited %d:\n%s" % (dest, r.returncode, text[-2000:]))
        sys.exit(1)
    print("clients: npm ci done in", dest)
    return dest


def plain_env():
    """The environment for node and npm: without the sanitizer runtime ctest preloads for python3."""
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}


def library_score():
    """The greedy answer and its summed log-probability as the Python package (public API) reports them."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    env.setdefault("GITC_LIBRARY", os.path.join(os.path.dirname(os.path.abspath(GITC)), "libgitc.so"))
    code = ("import gitc, json, sys\n"
            "with gitc.Model() as m:\n"
            "    g = m.generate(sys.argv[1], sys.argv[2])\n"
            "    print(json.dumps({'text': g.texts[0], 'score': g.scores[0]}))\n")
    r = subprocess.run([sys.executable, "-c", code, IMAGE, QUESTION], env=env, capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError("the Python package failed: " + r.stderr)
    return json.loads(r.stdout)


def main():
    dest = install()
    if dest is None:
        return 77
    caption = subprocess.run([GITC, "caption", "-q", IMAGE], check=True, capture_output=True, text=True).stdout.strip()
    answer = subprocess.run([GITC, "ask", "-q", IMAGE, QUESTION], check=True, capture_output=True,
                            text=True).stdout.strip()
    lib = library_score()
    ref = {r["file"]: r for r in json.load(open(os.path.join(ROOT, "tests/data/cli/examples.json")))["images"]}
    n_caption_tokens = len(ref[os.path.basename(IMAGE)]["greedy_ids"]) - 1  # [CLS] left out, [SEP] counted
    key_file = os.path.join(dest, "key.txt")
    with open(key_file, "w") as f:
        f.write(KEY + "\n")
    srv = Server(GITC, ["--threads", "2", "--api-key-file", key_file])
    try:
        r = subprocess.run(["node", os.path.join(dest, "clients.mjs"), "http://127.0.0.1:%d" % srv.port, KEY, IMAGE,
                            QUESTION], capture_output=True, text=True, timeout=120, env=plain_env())
    finally:
        rc, _ = srv.stop()
    print(r.stdout.strip())
    if r.returncode != 0:
        print("FAIL: clients.mjs exited %d:\n%s" % (r.returncode, r.stderr[-2000:]))
        return 1
    got = json.loads(r.stdout)
    failures = []

    def check(cond, what):
        print(("ok:   " if cond else "FAIL: ") + what)
        if not cond:
            failures.append(what)

    check(got["hf_image_to_text"] == caption, "huggingface.js imageToText = the CLI's caption %r" % caption)
    vqa = got["hf_vqa"]
    check(isinstance(vqa, dict) and vqa.get("answer") == answer, "huggingface.js visualQuestionAnswering answer = "
          "`gitc ask` %r (%s)" % (answer, vqa))
    if isinstance(vqa, dict) and "score" in vqa:
        want = math.exp(lib["score"])
        check(lib["text"] == answer and abs(vqa["score"] - want) <= 1e-9 * want and 0 < vqa["score"] <= 1,
              "VQA score %r = exp(the library's summed log-prob %r) = %r" % (vqa["score"], lib["score"], want))
    check(got["hf_chat"] == {"text": caption, "finish_reason": "stop"}, "huggingface.js chatCompletion = the caption")
    check(got["hf_chat_stream"].get("text") == caption and got["hf_chat_stream"].get("chunks", 0) > 3,
          "huggingface.js chatCompletionStream streams the caption")
    check(got["openai_models"] == ["git-shapes"], "openai models.list")
    check(got["openai_retrieve"] == {"id": "git-shapes", "object": "model"}, "openai models.retrieve")
    check("NotFoundError" in got["openai_retrieve_missing"].get("error", ""), "openai models.retrieve of another id: 404")
    chat = got["openai_chat"]
    check(chat.get("text") == answer and chat.get("finish_reason") == "stop" and chat.get("usage", {}).get("completion_tokens") == 2,
          "openai chat with an image and a question = `gitc ask` (%s)" % chat)
    stream = got["openai_stream"]
    usage = stream.get("usage") or {}
    check(stream.get("text") == caption and stream.get("finish_reason") == "stop" and
          usage.get("completion_tokens") == n_caption_tokens and
          usage.get("total_tokens") == usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
          "openai streaming with include_usage: the caption, then the usage (%s)" % stream)
    check(got["openai_followup"] == {"caption": caption, "text": answer},
          "openai follow-up question about the image of an earlier turn = `gitc ask`")
    check("AuthenticationError" in got["openai_wrong_key"].get("error", ""), "openai with a wrong key: AuthenticationError")
    check(rc == 0, "server exit status %d" % rc)
    print("test_serve_clients: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
