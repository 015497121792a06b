"""The gitc Python package against the gitc CLI and the transformers reference texts
(tests/data/cli/examples.json): every demo image and clip, greedy, 3 beams, VQA and
video; every image input kind; errors; threads; batches; settings; model lookup."""
import ctypes
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

import gitc
from conftest import EXAMPLES, ROOT, cli_records, example, run_cli

IMAGES = sorted(n for n in os.listdir(EXAMPLES) if n.startswith("shapes_"))
CLIPS = [[f"clip{c}_frame{i}.png" for i in range(4)] for c in range(3)]
MP4 = "moving_square_h264.mp4"


@pytest.fixture(scope="module")
def model():
    with gitc.Model() as m:
        yield m


@pytest.fixture(scope="module")
def video_model():
    with gitc.Model(video=True) as m:
        yield m


@pytest.fixture(scope="module")
def cli(examples):
    """The CLI's records for every demo image: greedy, 3 beams, VQA (by file name)."""
    paths = [example(n) for n in IMAGES]
    out = {"greedy": cli_records("caption", *paths), "beam3": cli_records("caption", "--beams", "3", *paths)}
    vqa = {}
    for ref in examples["images"]:
        (rec,) = cli_records("ask", example(ref["file"]), ref["vqa_question"])
        vqa[ref["file"]] = rec
    out["vqa"] = vqa
    for k in ("greedy", "beam3"):
        out[k] = {os.path.basename(r["file"]): r for r in out[k]}
    return out


def test_library_is_cdll_so_calls_release_the_gil():
    # ctypes.CDLL (unlike PyDLL) releases the GIL around every call.
    assert type(gitc._lib.lib) is ctypes.CDLL
    print("libgitc:", gitc.find_library())


def test_ctypes_structs_match_gitc_h():
    dump = os.environ.get("GITC_ABI_DUMP") or os.path.join(ROOT, "build", "tests", "python_abi_dump")
    c = json.loads(subprocess.run([dump], capture_output=True, text=True, check=True).stdout)
    L = gitc._lib
    structs = {"gitc_error": L.gitc_error, "gitc_image": L.gitc_image, "gitc_image_params": L.gitc_image_params,
               "gitc_session_params": L.gitc_session_params, "gitc_sequence": L.gitc_sequence,
               "gitc_generation": L.gitc_generation, "gitc_generate_params": L.gitc_generate_params,
               "gitc_config": L.gitc_config}
    n = 0
    for key, value in c.items():
        if key == "end":
            continue
        sname, _, field = key.partition(".")
        st = structs[sname]
        got = getattr(st, field).offset if field else ctypes.sizeof(st)
        assert got == value, f"{key}: ctypes says {got}, gitc.h says {value}"
        n += 1
    print(f"{n} sizes and offsets identical")


def test_model_properties(model, video_model):
    assert model.num_frames == 1 and video_model.num_frames == 4
    assert model.config.eos_token_id == 102 and model.config.vision_image_size == 224
    assert model.config.image_tokens_per_frame == (224 // model.config.vision_patch_size) ** 2 + 1


@pytest.mark.parametrize("name", IMAGES)
def test_image_texts_equal_cli_and_reference(model, cli, examples, name):
    ref = next(r for r in examples["images"] if r["file"] == name)
    path = example(name)
    greedy = model.generate(path)
    assert greedy.text == cli["greedy"][name]["text"] == ref["greedy_text"]
    assert greedy.ids[0] == ref["greedy_ids"]
    assert greedy.finish_reason == cli["greedy"][name]["finish_reason"] == "stop"
    beam = model.generate(path, num_beams=3)
    assert beam.text == cli["beam3"][name]["text"] == ref["beam3_text"]
    assert beam.ids[0] == ref["beam3_ids"]
    assert abs(beam.scores[0] - ref["beam3_sequences_score"]) < 1e-3
    answer = model.ask(path, ref["vqa_question"])
    assert answer == cli["vqa"][name]["answer"] == ref["vqa_answer"]
    print(f"{name}: greedy, beam3, vqa identical to the CLI and transformers")


@pytest.mark.parametrize("clip", range(len(CLIPS)))
def test_clip_texts_equal_cli_and_reference(video_model, examples, clip):
    frames = [example(f) for f in CLIPS[clip]]
    ref = next(v for v in examples["videos"] if v["frames"] == CLIPS[clip])
    (rec,) = cli_records("video", "--frames", *frames)
    g = video_model.generate(frames)
    assert g.text == rec["text"] == ref["greedy_text"]
    assert g.ids[0] == ref["greedy_ids"]
    assert video_model.describe_video([Image.open(f) for f in frames]) == ref["greedy_text"]


def test_video_file_equals_cli(video_model):
    (rec,) = cli_records("video", example(MP4))
    g = video_model.generate(example(MP4))
    assert g.text == rec["text"] == "a blue square moving to the right on a white background"
    assert g.frames_decoded == rec["frames_decoded"]
    assert video_model.describe_video(pathlib.Path(example(MP4))) == g.text


@pytest.mark.parametrize("name", IMAGES)
def test_every_input_kind_gives_the_path_result(model, name):
    path = example(name)
    want = model.generate(path)
    with open(path, "rb") as f:
        data = f.read()
    pil = Image.open(path)
    arr = np.asarray(pil.convert("RGB"))
    kinds = {"pathlib": pathlib.Path(path), "bytes": data, "bytearray": bytearray(data),
             "memoryview": memoryview(data), "PIL": pil, "numpy": arr,
             "numpy non-contiguous": np.asfortranarray(arr)}
    for kind, x in kinds.items():
        g = model.generate(x)
        assert (g.ids, g.texts) == (want.ids, want.texts), f"{name} as {kind}"
    # A PIL image in another mode is converted with convert("RGB"), as transformers does.
    gray = pil.convert("L")
    assert model.caption(gray) == model.caption(np.asarray(gray.convert("RGB")))


def test_bad_inputs_raise_with_the_library_message(model, tmp_path):
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(open(example("shapes_1_320x240.jpg"), "rb").read()[:300])
    text = tmp_path / "notes.png"
    text.write_text("not an image\n")
    missing = tmp_path / "missing.png"
    for path in (truncated, text, missing):
        (rec,) = cli_records("caption", path)
        with pytest.raises(gitc.Error) as e:
            model.caption(str(path))
        assert e.value.message == rec["error"] == str(e.value)
        assert str(path) in e.value.message
        print(f"{path.name}: {type(e.value).__name__}: {e.value.message}")
    with pytest.raises(gitc.IoError):
        model.caption(str(missing))
    with pytest.raises(gitc.Error, match="<bytes>"):
        model.caption(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(gitc.ArgumentError, match="uint8"):
        model.caption(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(gitc.ArgumentError, match=r"\(height, width, 3\)"):
        model.caption(np.zeros((8, 8), np.uint8))
    with pytest.raises(gitc.ArgumentError, match="not an image"):
        model.caption(42)
    half = tmp_path / "half.jpg"
    half.write_bytes(open(example("shapes_1_320x240.jpg"), "rb").read()[:2000])
    with pytest.raises(gitc.FormatError, match="half.jpg: PIL cannot decode it"):
        model.caption(Image.open(half))
    with pytest.raises(gitc.ArgumentError, match="UTF-8"):
        model.ask(example(IMAGES[0]), "what \udc80?")
    huge = np.lib.stride_tricks.as_strided(np.zeros(3, np.uint8), (20000, 20000, 3), (0, 0, 1))
    with pytest.raises(gitc.LimitError, match="20000x20000 pixels: more than the limit"):
        model.caption(huge)
    # Settings the library refuses carry its message.
    with pytest.raises(gitc.ArgumentError, match="num_beams = 0: must be 1..64"):
        model.caption(example(IMAGES[0]), num_beams=0)
    with pytest.raises(gitc.ArgumentError, match="max_length = 5000 exceeds"):
        model.caption(example(IMAGES[0]), max_length=5000)
    with pytest.raises(gitc.ArgumentError, match="unknown generation keyword: beams"):
        model.caption(example(IMAGES[0]), beams=3)
    with pytest.raises(gitc.ArgumentError, match="out of range"):
        model.caption(example(IMAGES[0]), max_length=2**40)
    with pytest.raises(gitc.ArgumentError, match="takes 4 frames per input, got 2"):
        gitc.Model(video=True).describe_video([example(f) for f in CLIPS[0][:2]])
    with pytest.raises(gitc.ArgumentError, match="image model"):
        model.describe_video(example(MP4))
    with pytest.raises(gitc.IoError, match="no such model folder"):
        gitc.Model(str(tmp_path / "nope" / "x"))
    bad = tmp_path / "badmodel"
    shutil.copytree(os.path.join(ROOT, "models", "git-shapes"), bad)
    (bad / "config.json").write_text("{ not json")
    with pytest.raises(gitc.FormatError, match="config.json"):
        gitc.Model(str(bad))
    # A batch with errors="return" keeps going and puts the error in place.
    out = model.generate_batch([example(IMAGES[0]), str(text), example(IMAGES[1])], errors="return")
    assert isinstance(out[1], gitc.Error) and out[0].text and out[2].text


def test_two_threads_give_the_results_of_one(model):
    paths = [example(n) for n in IMAGES] * 3
    want = [model.generate(p, num_beams=2) for p in paths]
    results = {}

    def work(key, session):
        with session:
            results[key] = [session.generate(p, num_beams=2) for p in paths]

    with gitc.Model() as other:
        threads = [threading.Thread(target=work, args=("session", model.session(threads=1))),
                   threading.Thread(target=work, args=("model", other.session(threads=1)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for key in ("session", "model"):
        assert [(g.ids, g.texts, g.scores) for g in results[key]] == [(g.ids, g.texts, g.scores) for g in want], key
    # The model's own methods may be called from several threads (they take turns).
    shared = [None] * 2
    ts = [threading.Thread(target=lambda i=i: shared.__setitem__(i, model.caption_batch(paths)))
          for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert shared[0] == shared[1] == [g.text for g in model.generate_batch(paths)]


def test_batches_equal_single_inputs(model, video_model):
    paths = [example(n) for n in IMAGES]
    single = [model.generate(p) for p in paths]
    for bs in (3, 8):
        batch = model.generate_batch(paths, batch_size=bs)
        assert [(g.ids, g.texts) for g in batch] == [(g.ids, g.texts) for g in single]
        for a, b in zip(batch, single):
            assert abs(a.scores[0] - b.scores[0]) < 1e-4
    assert model.caption_batch(paths) == [g.text for g in single]
    qs = ["what color is the background?", "what shape is on the left?"] * 4
    assert model.ask_batch(paths, qs) == [model.ask(p, q) for p, q in zip(paths, qs)]
    clips = [[example(f) for f in c] for c in CLIPS] + [example(MP4)]
    assert video_model.describe_video_batch(clips) == [video_model.describe_video(c) for c in clips]


def test_generation_settings_match_the_cli(model):
    path = example(IMAGES[1])
    eos = model.config.eos_token_id
    g = model.generate(path, max_new_tokens=3)
    assert g.finish_reason == "length" and len(g.ids[0]) == 4 and g.ids[0][-1] != eos
    assert model.generate(path, max_length=5).ids[0].__len__() == 5
    (rec,) = cli_records("caption", "--max-new-tokens", "3", path)
    assert rec["text"] == g.text and rec["finish_reason"] == "length"
    n = model.generate(path, num_beams=3, num_return_sequences=3, length_penalty=0.5)
    (rec,) = cli_records("caption", "--beams", "3", "--num-return-sequences", "3", "--length-penalty", "0.5", path)
    assert n.texts == rec["texts"] and len(n.ids) == 3
    rec_beams = rec
    assert all(abs(a - b) <= 1e-5 * max(1.0, abs(b)) for a, b in zip(n.scores, rec["scores"]))
    kw = dict(do_sample=True, seed=7, temperature=1.5, top_k=20, top_p=0.9, num_return_sequences=2)
    s = model.generate(path, **kw)
    (rec,) = cli_records("caption", "--sample", "--seed", "7", "--temperature", "1.5", "--top-k", "20",
                         "--top-p", "0.9", "--num-return-sequences", "2", path)
    assert s.texts == rec["texts"] and model.generate(path, **kw).texts == s.texts and s.seed == 7
    assert n.finish_reasons == rec_beams["finish_reasons"] == ["stop"] * 3
    # Without seed= sampling draws a fresh seed and reports it; that seed repeats the texts.
    kw.pop("seed")
    drawn = model.generate(path, **kw)
    assert drawn.seed is not None and model.generate(path, seed=drawn.seed, **kw).texts == drawn.texts
    assert model.generate(path).seed is None
    r = model.generate(path, repetition_penalty=1.3, no_repeat_ngram_size=2, min_new_tokens=4)
    (rec,) = cli_records("caption", "--repetition-penalty", "1.3", "--no-repeat-ngram-size", "2",
                         "--min-new-tokens", "4", path)
    assert r.text == rec["text"]
    # bad_words_ids bans the greedy caption's first word.
    first = model.generate(path).ids[0][1]
    assert model.generate(path, bad_words_ids=[[first]]).ids[0][1] != first


def test_python_m_gitc_prints_the_cli_records(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n")
    args = [example(n) for n in IMAGES[:3]] + [str(broken)]
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "gitc", "caption", "--json", "--beams", "2", *args],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1, r.stderr
    got = [json.loads(line) for line in r.stdout.splitlines()]
    for rec in got:
        rec.pop("timings_ms", None)
    assert got == cli_records("caption", "--beams", "2", *args)
    r = subprocess.run([sys.executable, "-m", "gitc", "ask", example(IMAGES[0]), "what color is the background?"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout == run_cli("ask", example(IMAGES[0]), "what color is the background?").stdout


def test_hub_cache_revisions(tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--org--shapes"
    for commit in ("a" * 40, "b" * 40):
        shutil.copytree(os.path.join(ROOT, "models", "git-shapes"), repo / "snapshots" / commit)
    # The second snapshot answers with another vocabulary order: tell them apart by config.
    cfg = repo / "snapshots" / ("b" * 40) / "generation_config.json"
    cfg.write_text(json.dumps({"max_length": 4}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (repo / "refs" / "v2").write_text("b" * 40 + "\n")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    path = example(IMAGES[0])
    with gitc.Model("org/shapes") as m:
        assert m.path.endswith("a" * 40) and len(m.generate(path).ids[0]) == 10
    for spec, rev in (("org/shapes", "v2"), ("org/shapes@v2", None), ("org/shapes@" + "b" * 40, None)):
        with gitc.Model(spec, revision=rev) as m:
            assert m.path.endswith("b" * 40) and len(m.generate(path).ids[0]) == 4
    with pytest.raises(gitc.IoError, match="revision 'v3' is not in the local cache"):
        gitc.Model("org/shapes", revision="v3")
    with pytest.raises(gitc.IoError, match="not in the local HuggingFace cache"):
        gitc.Model("org/other")
    with pytest.raises(gitc.ArgumentError, match="revision"):
        gitc.Model("org/shapes", revision="../x")


def test_library_lookup(tmp_path):
    lib = gitc.find_library()
    pkg = tmp_path / "site" / "gitc"
    shutil.copytree(os.path.join(ROOT, "python", "gitc"), pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(lib, pkg / "libgitc.so.0")
    env = {k: v for k, v in os.environ.items() if k not in ("GITC_LIBRARY", "PYTHONPATH")}
    env["PYTHONPATH"] = str(tmp_path / "site")
    code = "import gitc; print(gitc.find_library()); print(gitc.Model(%r).caption(%r))" % (
        os.path.join(ROOT, "models", "git-shapes"), example(IMAGES[0]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [str(pkg / "libgitc.so.0"), "a large red circle on a white background"]
    env["GITC_LIBRARY"] = str(tmp_path / "nope.so")
    r = subprocess.run([sys.executable, "-c", "import gitc"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "GITC_LIBRARY=" in r.stderr and "nope.so" in r.stderr


def test_close(tmp_path):
    m = gitc.Model()
    s = m.session()
    assert s.caption(example(IMAGES[0])) == m.caption(example(IMAGES[0]))
    m.close()
    with pytest.raises(gitc.Error, match="closed"):
        s.caption(example(IMAGES[0]))
    with pytest.raises(gitc.Error, match="closed"):
        m.caption(example(IMAGES[0]))
    m.close()  # twice is fine


def test_readme_example_runs():
    """The README's Python example, with the embedded model and demo images in place of the
    hub checkpoint and photos."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Python, Dask and batch jobs"):]
    code = section[section.index("```python\n") + 10:]
    code = code[:code.index("```")]
    subs = {'"microsoft/git-base-coco"': repr(os.path.join(ROOT, "models", "git-shapes")),
            '"photo.jpg"': repr(example(IMAGES[0])), '"a.jpg"': repr(example(IMAGES[1])),
            '"b.jpg"': repr(example(IMAGES[2])), '"c.jpg"': repr(example(IMAGES[3]))}
    for k, v in subs.items():
        assert k in code, k
        code = code.replace(k, v)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "a large red circle on a white background" and len(lines) == 4
    assert lines[2].endswith(" stop") and lines[3].startswith("[")


def test_config_from_json_and_parameters_match_the_checkpoint(model):
    # The parameter list of a config (no weights loaded) is exactly the tensors of
    # the model's safetensors file, names and shapes; a bad config is refused.
    with open(os.path.join(model.path, "config.json"), encoding="utf-8") as f:
        cfg = gitc.Config.from_json(f.read())
    assert cfg == model.config
    with open(os.path.join(model.path, "model.safetensors"), "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    want = {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__" and not k.endswith(".position_ids")}
    got = cfg.parameters()
    assert dict(got) == want and len(got) == len(want)
    print(f"{len(got)} parameters from the config equal the checkpoint's tensors")
    with pytest.raises(gitc.FormatError):
        gitc.Config.from_json('{"vocab_size": "many"}')
