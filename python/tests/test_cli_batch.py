"""The CLI's batch-job options: --shard I/N splits the inputs so that every input is
captioned by exactly one shard; --resume OUT.jsonl after a run killed half-way gives
the records of an uninterrupted run, with no duplicates."""
import collections
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import EXAMPLES, gitc_bin, run_cli

IMAGES = sorted(n for n in os.listdir(EXAMPLES) if n.startswith("shapes_"))


def make_inputs(d, n):
    """n distinct paths linking to the demo images, with a broken file at position 7."""
    paths = []
    for i in range(n):
        path = d / f"{i:04d}_{IMAGES[i % len(IMAGES)]}"
        if i == 7:
            path.write_bytes(b"\xff\xd8\xff broken jpeg")
        else:
            os.symlink(os.path.join(EXAMPLES, IMAGES[i % len(IMAGES)]), path)
        paths.append(str(path))
    return paths


def records(text):
    recs = [json.loads(line) for line in text.splitlines()]
    for r in recs:
        r.pop("timings_ms", None)
    return recs


def test_shards_cover_every_input_exactly_once(tmp_path):
    paths = make_inputs(tmp_path, 25)
    whole = records(run_cli("caption", "--json", "--threads", "1", *paths, check_status=1).stdout)
    seen = []
    for i in range(3):
        r = run_cli("caption", "--json", "--threads", "1", "--shard", f"{i}/3", *paths)
        shard = records(r.stdout)
        assert [x["file"] for x in shard] == paths[i::3], f"shard {i}/3"
        assert r.returncode == (1 if paths[7] in paths[i::3] else 0)
        seen += shard
    assert sorted(seen, key=lambda x: x["file"]) == sorted(whole, key=lambda x: x["file"])
    assert len({x["file"] for x in seen}) == len(paths)
    # A folder argument is sharded after it is expanded; a shard may be empty.
    folder = records(run_cli("caption", "--json", "--shard", "2/4", EXAMPLES, check_status=0).stdout)
    listing = sorted(n for n in os.listdir(EXAMPLES) if n.endswith((".png", ".jpg")))
    assert [os.path.basename(x["file"]) for x in folder] == listing[2::4]
    assert run_cli("caption", "--shard", "5/6", paths[0], check_status=0).stdout == ""
    for bad in ("3/3", "-1/3", "1/0", "x/3", "1/", "1/3/4", "1"):
        r = run_cli("caption", "--shard", bad, paths[0], check_status=2)
        assert "--shard" in r.stderr and bad in r.stderr
    r = run_cli("video", "--frames", "--shard", "0/2", *[os.path.join(EXAMPLES, f"clip0_frame{i}.png")
                                                           for i in range(4)], check_status=2)
    assert "--shard" in r.stderr
    print("25 inputs in 3 shards: each exactly once, records equal the unsharded run")


def test_resume_after_a_kill_gives_the_uninterrupted_records(tmp_path):
    (tmp_path / "in").mkdir()
    paths = make_inputs(tmp_path / "in", 300)
    stdin = "\n".join(paths) + "\n"
    args = ["caption", "--threads", "1", "--beams", "3", "--stdin"]
    whole = records(run_cli(*args, "--json", stdin=stdin, check_status=1).stdout)
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([gitc_bin(), *args, "--resume", str(out)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    proc.stdin.write(stdin)
    proc.stdin.close()
    deadline = time.monotonic() + 120
    lines = 0
    while time.monotonic() < deadline and proc.poll() is None:
        lines = out.read_bytes().count(b"\n") if out.exists() else 0
        if lines >= len(paths) // 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed half-way"
    first = out.read_bytes()
    n_first = first.count(b"\n")
    assert len(paths) // 2 <= n_first < len(paths)
    # A record cut short by the kill, as a crash in the middle of a write leaves it.
    with open(out, "ab") as f:
        f.write(b'{"file": "' + paths[-1].encode() + b'", "text": "a lar')
    r = run_cli(*args, "--resume", str(out), stdin=stdin)
    assert r.stdout == "" and r.returncode == (1 if paths[7] not in first.decode() else 0), r.stderr
    resumed = records(out.read_text())
    counts = collections.Counter(x["file"] for x in resumed)
    assert max(counts.values()) == 1, "duplicated records"
    assert sorted(resumed, key=lambda x: x["file"]) == sorted(whole, key=lambda x: x["file"])
    assert out.read_bytes().startswith(first)
    # Everything recorded: nothing to do, nothing appended.
    before = out.read_bytes()
    run_cli(*args, "--resume", str(out), stdin=stdin, check_status=0)
    assert out.read_bytes() == before
    print(f"killed after {n_first} of {len(paths)} records; the resumed run completed the set")


def test_resume_refuses_a_file_that_is_not_records(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"file": "a.png", "text": "x"}\nhello\n')
    r = run_cli("caption", "--resume", str(out), os.path.join(EXAMPLES, IMAGES[0]), check_status=2)
    assert f"{out}: line 2 is not a gitc JSON record" in r.stderr
    assert out.read_text() == '{"file": "a.png", "text": "x"}\nhello\n'
