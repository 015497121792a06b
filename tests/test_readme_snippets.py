#!/usr/bin/python3
"""The README's code blocks, run as written: every ```python block is saved to a
file and run with this Python (PYTHONPATH=python, GITC_LIBRARY from the
environment) in a scratch folder that links the repository's examples/, with a
time limit, so a snippet that hangs (the Dask one without its __main__ guard
did) or fails is caught. Blocks that talk to `gitc serve` on 127.0.0.1:8080
run against a server started here (the port number swapped in); blocks that
import a module this Python lacks (huggingface_hub, openai: pip packages)
are reported as skipped. The ```js block runs with node when the client
packages are installed (test_serve_clients installs them into the build
folder). The ```c block is compiled against libgitc.so and run. Outputs are
checked against the CLI's captions.

Usage: test_readme_snippets.py REPO_ROOT GITC_BINARY SCRATCH_DIR"""
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.abspath(sys.argv[1]), "python"))  # gitc itself, for the import check
from serve_client import Server

ROOT, GITC, SCRATCH = (os.path.abspath(a) for a in sys.argv[1:4])
failures = []
skipped = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)
    return cond


def blocks(text):
    """(language, first line number, code) of every fenced block."""
    out = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        out.append((m.group(1), text[:m.start()].count("\n") + 1, m.group(2)))
    return out


def missing_modules(code):
    """The top-level modules the code imports that this Python cannot find."""
    names = set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", code, re.M))
    return sorted(n for n in names if importlib.util.find_spec(n) is None)


def run_python(code, cwd, name, timeout=180):
    path = os.path.join(cwd, name)
    with open(path, "w") as f:
        f.write(code)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    env.setdefault("GITC_LIBRARY", os.path.join(os.path.dirname(os.path.abspath(GITC)), "libgitc.so"))
    # Its own process group, so a hung snippet goes with the worker processes it started.
    p = subprocess.Popen([sys.executable, path], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return subprocess.CompletedProcess(p.args, -9, out, (err or "") + "\ntimed out after %d s" % timeout)


def run_c(code, work, where, want):
    """Compiles a C block against include/ and libgitc.so, runs it on the embedded model and an example."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    flags = shlex.split(os.environ.get("GITC_CONSUMER_CFLAGS", ""))  # the sanitizer build's, from ctest
    lib = os.path.abspath(os.environ.get("GITC_LIBRARY") or os.path.join(os.path.dirname(GITC), "libgitc.so"))
    src, exe = os.path.join(work, "snippet.c"), os.path.join(work, "snippet")
    with open(src, "w") as f:
        f.write(code)
    r = subprocess.run([cc, "-std=c11", "-Wall", "-Werror", *flags, "-I", os.path.join(ROOT, "include"), src, "-o", exe, lib,
                        "-Wl,-rpath," + os.path.dirname(lib)], capture_output=True, text=True)
    if r.returncode != 0:
        print("%s: cc failed:\n%s" % (where, r.stderr[-2000:]))
        return False
    r = subprocess.run([exe, os.path.join(ROOT, "models", "git-shapes"), "examples/shapes_1_320x240.jpg"], cwd=work,
                       capture_output=True, text=True, timeout=120)
    print("%s: exit %d, %r %s" % (where, r.returncode, r.stdout, r.stderr[-500:]))
    return r.returncode == 0 and r.stdout.strip() == want


def main():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    found = blocks(readme)
    os.makedirs(SCRATCH, exist_ok=True)
    work = tempfile.mkdtemp(prefix="readme-", dir=SCRATCH)
    os.symlink(os.path.join(ROOT, "examples"), os.path.join(work, "examples"))
    examples = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.startswith("shapes_"))
    cli = {}
    out = subprocess.run([GITC, "caption", "-q", "--json", *[os.path.join(ROOT, "examples", f) for f in examples]],
                         check=True, capture_output=True, text=True).stdout
    for rec in map(json.loads, out.splitlines()):
        cli[os.path.basename(rec["file"])] = rec["text"]
    answer = subprocess.run([GITC, "ask", "-q", os.path.join(ROOT, "examples", "shapes_1_320x240.jpg"),
                             "what color is the background?"], check=True, capture_output=True, text=True).stdout.strip()
    answer0 = subprocess.run([GITC, "ask", "-q", "--beams", "3", os.path.join(ROOT, "examples", "shapes_0_224x224.png"),
                              "what color is the background?"], check=True, capture_output=True, text=True).stdout.strip()
    answer_beam3 = subprocess.run([GITC, "caption", "-q", "--beams", "3", "--max-length", "30",
                                   os.path.join(ROOT, "examples", "shapes_1_320x240.jpg")], check=True,
                                  capture_output=True, text=True).stdout.strip()
    server = None
    n_python = 0
    try:
        for lang, line, code in found:
            where = "README.md:%d (%s)" % (line, lang or "text")
            if lang == "c":
                check(run_c(code, work, where, answer_beam3), "%s compiles against libgitc and captions as the CLI" % where)
                continue
            if lang == "js":
                mods = os.path.join(os.path.dirname(os.path.abspath(SCRATCH)), "clients", "node_modules")
                if not shutil.which("node") or not os.path.isdir(mods):
                    skipped.append("%s: no node or no client packages in %s (test_serve_clients installs them)" % (where, mods))
                    continue
                if server is None:
                    server = Server(GITC, ["--threads", "2"])
                js = code.replace("8080", str(server.port))
                path = os.path.join(os.path.dirname(mods), "readme_snippet_%d.mjs" % line)
                with open(path, "w") as f:
                    f.write(js)
                env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
                r = subprocess.run(["node", path], cwd=work, capture_output=True, text=True, timeout=120, env=env)
                check(r.returncode == 0 and cli["shapes_1_320x240.jpg"] in r.stdout and
                      "answer: '%s'" % answer in r.stdout and r.stdout.strip().endswith(answer),
                      "%s runs with node: %r %s" % (where, r.stdout, r.stderr[-500:]))
                continue
            if lang != "python":
                continue
            n_python += 1
            missing = missing_modules(code)
            if missing:
                skipped.append("%s: this Python (%s) lacks %s" % (where, sys.executable, ", ".join(missing)))
                continue
            if "127.0.0.1:8080" in code:
                if server is None:
                    server = Server(GITC, ["--threads", "2"])
                code = code.replace("8080", str(server.port))
            r = run_python(code, work, "readme_snippet_%d.py" % line)
            if not check(r.returncode == 0, "%s runs (exit %d)" % (where, r.returncode)):
                print(r.stdout[-2000:], r.stderr[-3000:])
                continue
            if r.stderr.strip():
                print("%s stderr:\n%s" % (where, r.stderr[-3000:]))
            print(r.stdout.strip())
            if "gitc.dask" in code:
                recs = [json.loads(x) for x in open(os.path.join(work, "captions.jsonl"))]
                got = {os.path.basename(x["file"]): x["text"] for x in recs}
                check(len(recs) == len(examples) and got == cli,
                      "%s: captions.jsonl holds every example once, as `gitc caption` (%d records)" % (where, len(recs)))
                # What the block without its __main__ guard printed, once per worker process, before it hung.
                check("bootstrapping phase" not in r.stderr, "%s: workers started cleanly" % where)
            elif "gitc.Model" in code:
                lines = r.stdout.splitlines()
                check(lines[:2] == [cli["shapes_0_224x224.png"], answer0],
                      "%s prints the CLI's caption and answer first: %r" % (where, lines[:2]))
            elif "huggingface_hub" in code or "openai" in code:
                check(cli["shapes_0_224x224.png"] in r.stdout and answer in r.stdout, "%s: the CLI's texts" % where)
    finally:
        if server is not None:
            server.stop()
    check(n_python >= 3, "the README has its Python, Dask and client blocks (%d python blocks)" % n_python)
    for s in skipped:
        print("skipped:", s)
    shutil.rmtree(work, ignore_errors=True)
    print("test_readme_snippets: %d blocks, %d failed, %d skipped" % (len(found), len(failures), len(skipped)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
