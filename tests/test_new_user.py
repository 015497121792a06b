#!/usr/bin/python3
"""What a new user is told (issue 21): the one-line note on stderr when the
embedded demo model captions (silenced by -q and by -m), the same note in
`gitc inspect`, the suggestion of microsoft/NAME for a hub id given without
its org (command and Python package), one download hint wording (`hf
download`, with the older `huggingface-cli download`) in both, and
gitc.dask naming its missing dependency.

Usage: test_new_user.py REPO_ROOT GITC_BINARY"""
import json
import os
import subprocess
import sys
import tempfile

ROOT, GITC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
IMAGE = os.path.join(ROOT, "examples", "shapes_0_224x224.png")
CLIP = os.path.join(ROOT, "examples", "moving_square_h264.mp4")
NOTE = "the embedded demo model knows only coloured shapes"
failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def run(*args, env=None):
    return subprocess.run([GITC, *args], capture_output=True, text=True, timeout=120, env=env)


def python(code, env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def main():
    caption = run("caption", IMAGE)
    lines = [x for x in caption.stderr.splitlines() if NOTE in x]
    check(caption.returncode == 0 and len(lines) == 1 and "hf download microsoft/git-base-coco" in lines[0] and
          "-m microsoft/git-base-coco" in lines[0] and "-q" in lines[0],
          "caption with the embedded model: one note line on stderr (%r)" % caption.stderr)
    check(NOTE not in caption.stdout, "the note stays off stdout")
    for args, what in ((["caption", "-q", IMAGE], "caption -q"), (["caption", "--quiet", "--json", IMAGE], "caption --quiet --json"),
                       (["caption", "-m", os.path.join(ROOT, "models", "git-shapes"), IMAGE], "caption -m FOLDER"),
                       (["ask", "-q", IMAGE, "what color is the background?"], "ask -q"),
                       (["video", "-q", CLIP], "video -q")):
        r = run(*args)
        check(r.returncode == 0 and NOTE not in r.stderr, "%s: no note (%r)" % (what, r.stderr))
    for args, what in ((["ask", IMAGE, "what color is the background?"], "ask"), (["video", CLIP], "video"),
                       (["caption", "--json", IMAGE], "caption --json")):
        r = run(*args)
        check(r.returncode == 0 and NOTE in r.stderr, "%s with the embedded model: the note (%r)" % (what, r.stderr))
    r = run("caption", "--help")
    check("-q, --quiet" in r.stdout, "caption --help lists -q")

    r = run("inspect")
    check(r.returncode == 0 and "note:" in r.stdout and NOTE in r.stdout, "inspect: the note (%r)" % r.stdout[:300])
    r = run("inspect", "--json")
    check(r.returncode == 0 and NOTE in json.loads(r.stdout).get("notice", ""), "inspect --json: \"notice\"")
    r = run("inspect", "-m", os.path.join(ROOT, "models", "git-shapes"), "--json")
    check(r.returncode == 0 and "notice" not in json.loads(r.stdout), "inspect -m FOLDER: no notice")

    cache = tempfile.mkdtemp(prefix="gitc-empty-hub-")
    env = dict(os.environ, HF_HUB_CACHE=cache)
    r = run("caption", "-m", "git-base-coco", IMAGE, env=env)
    check(r.returncode == 1 and "did you mean microsoft/git-base-coco?" in r.stderr and
          "hf download microsoft/git-base-coco" in r.stderr, "-m git-base-coco suggests microsoft/git-base-coco (%r)" % r.stderr)
    r = run("caption", "-m", "microsoft/git-base-coco", IMAGE, env=env)
    check(r.returncode == 1 and "did you mean" not in r.stderr and "hf download microsoft/git-base-coco" in r.stderr,
          "-m microsoft/git-base-coco: the download hint, no suggestion")

    penv = dict(env, PYTHONPATH=os.path.join(ROOT, "python"))
    penv.setdefault("GITC_LIBRARY", os.path.join(os.path.dirname(GITC), "libgitc.so"))
    code = ("import gitc\n"
            "for m in ('git-base-coco', 'microsoft/git-base-coco'):\n"
            "    try:\n"
            "        gitc.Model(m)\n"
            "    except gitc.Error as e:\n"
            "        print(e)\n")
    r = python(code, penv)
    out = r.stdout.splitlines()
    check(r.returncode == 0 and len(out) == 2 and all("hf download" in x and "huggingface-cli download" in x for x in out)
          and "did you mean microsoft/git-base-coco?" in out[0] and "did you mean" not in out[1],
          "Python: the CLI's download hint and suggestion (%r %r)" % (r.stdout, r.stderr[-300:]))
    r = python("import sys\nsys.modules['distributed'] = None\nimport gitc.dask\n", penv)
    check(r.returncode != 0 and "python3-distributed" in r.stderr and sys.executable in r.stderr,
          "gitc.dask without distributed names the package and the interpreter (%r)" % r.stderr[-300:])
    os.rmdir(cache)
    print("test_new_user: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
