"""gitc.train / gitc.Trainer / gitc.Dataset over libgitc's trainer: the Python loop reaches
the weights of `gitc train` bit for bit, steps lower the loss, a bad dataset is refused with
its bad lines, and checkpoints resume."""
import json
import os
import subprocess

import pytest

import gitc
from conftest import ROOT, gitc_bin, run_cli

TMP = os.path.join(os.environ.get("GITC_TMP") or "/tmp", "python_train")


def make_shapes(path, n, seed):
    tool = os.path.join(os.path.dirname(gitc_bin()), "make_shapes_dataset")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([tool, path, str(n), str(seed)], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def data():
    return make_shapes(os.path.join(TMP, "data"), 12, 4)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_train_equals_cli(data):
    cli_out, py_out = os.path.join(TMP, "cli"), os.path.join(TMP, "py")
    settings = ["--steps", "4", "--batch", "4", "--accumulate", "2", "--lr", "1e-3", "--warmup", "1",
                "--seed", "3", "--threads", "2", "--freeze", "vision"]
    run_cli("train", "--data", data, "--out", cli_out, "--json", *settings, check_status=0)
    seen = []
    recs = gitc.train(data, py_out, steps=4, batch=4, accumulate=2, lr=1e-3, warmup=1, seed=3, threads=2,
                      freeze=["vision"], log=seen.append)
    assert [r["step"] for r in recs] == [1, 2, 3, 4] and seen == recs
    assert read(os.path.join(cli_out, "model.safetensors")) == read(os.path.join(py_out, "model.safetensors"))
    with gitc.Model(py_out) as m:
        assert isinstance(m.caption(os.path.join(data, "scene_00000.bmp")), str)
    print("gitc.train and gitc train wrote identical weights")


def test_trainer_steps_and_resume(data):
    with gitc.Model(None) as m, gitc.Dataset(m, data) as ds:
        assert len(ds) == 12 and ds.skipped == 0 and ds.record(0)[1].startswith("the background is")
        px, ids, labels, T = ds.batch([0, 1, 2])
        with gitc.Trainer(m, lr=1e-3, max_batch=3, threads=2, dropout=False) as tr:
            before, n = tr.evaluate(px, ids, labels, 3, T)
            s = tr.step(px, ids, labels, 3, T)
            assert s["stepped"] and s["step"] == 1 and abs(s["loss"] - before) < 1e-5 and n > 0
            after, _ = tr.evaluate(px, ids, labels, 3, T)
            assert after < before
            ck = os.path.join(TMP, "ck")
            tr.save_checkpoint(ck, '{"note": "python"}')
            tr.step(px, ids, labels, 3, T)
            want = tr.evaluate(px, ids, labels, 3, T)[0]
        with gitc.Trainer(m, lr=1e-3, max_batch=3, threads=2, dropout=False) as tr2:
            assert json.loads(tr2.resume(ck)) == {"note": "python"} and tr2.steps == 1
            tr2.step(px, ids, labels, 3, T)
            assert tr2.evaluate(px, ids, labels, 3, T)[0] == want
    print(f"loss {before:.4f} -> {after:.4f}; resumed run identical")


def test_bad_dataset_is_refused(data):
    bad = os.path.join(TMP, "bad")
    os.makedirs(bad, exist_ok=True)
    with open(os.path.join(bad, "metadata.csv"), "w") as f:
        f.write('file_name,text\nmissing.png,a red circle\n"open,x\n')
    with gitc.Model(None) as m:
        with pytest.raises(gitc.Error) as e:
            gitc.Dataset(m, bad)
        assert "metadata.csv:2: missing.png: image file not found" in e.value.message
        assert "metadata.csv:3: a quoted field is not closed" in e.value.message
    with pytest.raises(gitc.ArgumentError):
        gitc.Trainer(None, freeze=["everything"])
