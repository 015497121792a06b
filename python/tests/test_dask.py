"""gitc.dask on a LocalCluster with 2 worker processes: 200 inputs (the demo images
repeated, plus 5 broken files) captioned to JSON Lines equal to the CLI's records;
a resumed run and a run with a worker killed mid-way give every input exactly once."""
import collections
import json
import logging
import os
import shutil
import signal

import pytest
from distributed import Client, LocalCluster

import gitc.dask
from conftest import EXAMPLES, run_cli

N_INPUTS = 200
IMAGES = sorted(n for n in os.listdir(EXAMPLES) if n.startswith("shapes_"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """200 distinct paths: links to the demo images, and 5 broken files among them."""
    d = tmp_path_factory.mktemp("dask-inputs")
    jpeg = open(os.path.join(EXAMPLES, "shapes_1_320x240.jpg"), "rb").read()
    broken = {"truncated.jpg": jpeg[: len(jpeg) // 3], "text.png": b"not an image\n", "empty.jpg": b"",
              "header-only.png": b"\x89PNG\r\n\x1a\n", "missing.png": None}
    paths = []
    bad = iter(broken.items())
    for i in range(N_INPUTS):
        if i % 40 == 17:
            name, data = next(bad)
            path = d / f"{i:03d}_{name}"
            if data is not None:
                path.write_bytes(data)
        else:
            name = IMAGES[i % len(IMAGES)]
            path = d / f"{i:03d}_{name}"
            os.symlink(os.path.join(EXAMPLES, name), path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def expected(inputs):
    """The CLI's --json records of the 200 inputs, by file (timings left out)."""
    r = run_cli("caption", "--json", "--threads", "1", "--stdin", stdin="\n".join(inputs) + "\n", check_status=1)
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    for rec in recs:
        rec.pop("timings_ms", None)
    assert len(recs) == N_INPUTS and sum("error" in r for r in recs) == 5
    return {r["file"]: r for r in recs}


@pytest.fixture(scope="module")
def client():
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


def read_records(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    recs = [json.loads(line) for line in lines]
    for rec in recs:
        t = rec.pop("timings_ms", None)
        assert ("error" in rec) == (t is None), rec
    return recs


def check_exactly_once(recs, expected):
    counts = collections.Counter(r["file"] for r in recs)
    dup = [f for f, n in counts.items() if n > 1]
    assert not dup, f"inputs recorded twice: {dup[:5]}"
    assert set(counts) == set(expected), f"missing: {sorted(set(expected) - set(counts))[:5]}"
    for r in recs:
        assert r == expected[r["file"]]


def test_records_equal_the_cli_and_the_model_loads_once_per_worker(client, inputs, expected, tmp_path):
    out = tmp_path / "captions.jsonl"
    summary = gitc.dask.caption_files(client, inputs, out=str(out), batch_size=4, threads=1)
    assert summary == {"written": N_INPUTS, "errors": 5, "skipped": 0}
    check_exactly_once(read_records(out), expected)
    loads = client.run(gitc.dask.loaded_models)
    assert len(loads) == 2 and all(n == 1 for n in loads.values()), loads
    print(f"{N_INPUTS} records equal to the CLI's; model loads per worker: {loads}")


def test_resume_after_the_client_stopped_half_way(client, inputs, expected, tmp_path):
    out = tmp_path / "captions.jsonl"

    class Stop(Exception):
        pass

    def stop_half_way(done, total):
        if done >= total // 2:
            raise Stop

    with pytest.raises(Stop):
        gitc.dask.caption_files(client, inputs, out=str(out), batch_size=4, threads=1, progress=stop_half_way)
    first = read_records(out)
    assert N_INPUTS // 2 <= len(first) < N_INPUTS
    with open(out, "a", encoding="utf-8") as f:
        f.write('{"file": "' + inputs[-1] + '", "te')  # a record cut short by the crash
    summary = gitc.dask.caption_files(client, inputs, out=str(out), batch_size=4, threads=1, resume=True)
    assert summary["skipped"] == len(first) and summary["written"] == N_INPUTS - len(first)
    check_exactly_once(read_records(out), expected)
    # Nothing left to do: nothing written.
    assert gitc.dask.caption_files(client, inputs, out=str(out), resume=True)["written"] == 0
    print(f"stopped after {len(first)} records; the resumed run wrote the other {summary['written']}")


def test_a_model_that_does_not_load_leaves_no_output_file(client, inputs, tmp_path):
    # Before: `out` was created (or truncated) first, and stayed empty when every task failed.
    out = tmp_path / "captions.jsonl"
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(gitc.Error, match="no-such-model"):
        gitc.dask.caption_files(client, inputs[:2], model=missing, out=str(out), batch_size=1, threads=1)
    assert not out.exists()
    out.write_text("kept\n")
    with pytest.raises(gitc.Error, match="no-such-model"):
        gitc.dask.caption_files(client, inputs[:2], model=missing, out=str(out), batch_size=1, threads=1)
    assert out.read_text() == "kept\n"


def test_a_killed_worker_loses_nothing(client, inputs, expected, tmp_path):
    out = tmp_path / "captions.jsonl"
    pids = client.run(os.getpid)
    killed = {}

    def kill_one_worker(done, total):
        if killed or done < 60:
            return
        # The worker holding the most work (running, or finished but not yet collected).
        held = collections.Counter()
        for addr, keys in client.processing().items():
            held[addr] += len(keys)
        for addr, keys in client.has_what().items():
            held[addr] += len(keys)
        addr, n = held.most_common(1)[0] if held else (None, 0)
        if n and addr in pids:
            os.kill(pids[addr], signal.SIGKILL)
            killed.update(addr=addr, at=done, held=n)

    summary = gitc.dask.caption_files(client, inputs, out=str(out), batch_size=2, threads=1,
                                      max_in_flight=8, progress=kill_one_worker)
    assert killed, "no worker held work after 60 records: the kill did not happen mid-run"
    assert killed["at"] < N_INPUTS
    assert summary["written"] == N_INPUTS
    check_exactly_once(read_records(out), expected)
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != set(pids.values())
    print(f"killed worker {killed['addr']} holding {killed['held']} tasks after {killed['at']} records; "
          f"all {N_INPUTS} inputs recorded exactly once")
