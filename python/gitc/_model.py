"""gitc.Model and gitc.Session: images, clips and questions in, texts out,
through libgitc's processor, tokenizer and gitc_generate."""
import ctypes
import dataclasses
import json
import math
import numbers
import os
import sys
import threading
import time
import weakref

from . import _lib
from ._lib import lib
from .errors import ArgumentError, Error, FormatError, IoError, LimitError, ShapeError, from_status

# max_length when the model's generation_config.json sets no length, as the CLI does
# (transformers' 20 cuts captions short).
DEFAULT_MAX_LENGTH = 30

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _check(status, err):
    """Raises the gitc.Error of a failed call."""
    if status != 0:
        msg = err.message.decode("utf-8", "replace") or lib.gitc_status_string(status).decode()
        raise from_status(status, msg)


# ---------------------------------------------------------------------------
# Model folders: paths, the embedded default, the HuggingFace cache
# ---------------------------------------------------------------------------


def _models_roots():
    env = os.environ.get("GITC_MODEL_DIR")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "models")  # source tree
    yield os.path.join(here, "..", "..", "..", "..", "share", "gitc", "models")  # <prefix>/lib/python3/...
    yield os.path.join(sys.prefix, "share", "gitc", "models")
    yield os.path.join(sys.prefix, "local", "share", "gitc", "models")


def default_model_dir(video=False):
    """The embedded shapes model the CLI uses without -m (git-shapes-video for clips)."""
    name = "git-shapes-video" if video else "git-shapes"
    for root in _models_roots():
        path = os.path.normpath(os.path.join(root, name))
        if os.path.isdir(path):
            return path
    raise IoError(f"{name}: embedded model folder not found (set GITC_MODEL_DIR or pass a model)")


def _hub_cache_dir():
    """The hub cache folder as huggingface_hub computes it."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return os.environ[var]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    if os.environ.get("XDG_CACHE_HOME"):
        return os.path.join(os.environ["XDG_CACHE_HOME"], "huggingface", "hub")
    return os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub")


def _looks_like_hub_id(s):
    if not s or s[0] in ".-" or ".." in s or "--" in s:
        return False
    parts = s.split("/")
    if len(parts) > 2 or any(not p or p[0] == "." for p in parts):
        return False
    return all(c.isascii() and (c.isalnum() or c in "._-") for p in parts for c in p)


def _hub_snapshot(model_id, revision):
    """The snapshot folder of a hub id at a revision (branch, tag or commit) in the local cache."""
    cache = _hub_cache_dir()
    repo = os.path.join(cache, "models--" + model_id.replace("/", "--"))
    if not os.path.isdir(repo):
        raise IoError(
            f"model '{model_id}' is not a folder and is not in the local HuggingFace cache "
            f"(looked for {repo}); gitc works offline: download it first "
            f"(huggingface-cli download {model_id})"
        )
    rev = revision or "main"
    if rev.startswith("/") or ".." in rev.split("/"):
        raise ArgumentError(f"revision '{rev}' is not a branch, tag or commit name")
    ref = os.path.join(repo, "refs", rev)
    if os.path.isfile(ref):
        with open(ref, encoding="utf-8") as f:
            commit = f.read().strip()
        snap = os.path.join(repo, "snapshots", commit)
        if commit and "/" not in commit and os.path.isdir(snap):
            return snap
        raise IoError(f"{ref}: names commit '{commit}', which has no snapshot in {repo}/snapshots")
    snap = os.path.join(repo, "snapshots", rev)
    if "/" not in rev and os.path.isdir(snap):
        return snap
    if revision is None:
        # No refs/main: the newest snapshot, as the CLI does.
        snaps = os.path.join(repo, "snapshots")
        found = [os.path.join(snaps, d) for d in os.listdir(snaps) if not d.startswith(".")] if os.path.isdir(snaps) else []
        found = [d for d in found if os.path.isdir(d)]
        if found:
            return max(found, key=os.path.getmtime)
    raise IoError(f"model '{model_id}': revision '{rev}' is not in the local cache ({repo}: no refs/{rev} "
                  f"and no snapshots/{rev}); download it with huggingface-cli download {model_id} --revision {rev}")


def resolve_model(path_or_hub_id, revision=None, video=False):
    """The model folder: a folder as is, a hub id ("org/name", "org/name@REV") from the
    local HuggingFace cache, or None for the embedded default."""
    if path_or_hub_id is None:
        if revision is not None:
            raise ArgumentError("revision= needs a hub id")
        return default_model_dir(video)
    arg = os.fspath(path_or_hub_id)
    if isinstance(arg, bytes):
        arg = os.fsdecode(arg)
    if os.path.isdir(arg):
        if revision is not None:
            raise ArgumentError(f"{arg}: revision= applies to hub ids, not folders")
        return arg
    if os.path.exists(arg):
        raise IoError(f"{arg}: not a folder (a model is a folder with config.json and model.safetensors)")
    model_id, rev = arg, revision
    if "@" in arg:
        model_id, at_rev = arg.split("@", 1)
        if revision is not None and revision != at_rev:
            raise ArgumentError(f"{arg}: revision given twice ('{at_rev}' and revision='{revision}')")
        rev = at_rev
    if _looks_like_hub_id(model_id):
        return _hub_snapshot(model_id, rev)
    raise IoError(f"{arg}: no such model folder")


# ---------------------------------------------------------------------------
# Generation settings: transformers' generate() keywords
# ---------------------------------------------------------------------------

_INT_KEYS = ("max_length", "max_new_tokens", "min_length", "min_new_tokens", "num_beams",
             "num_return_sequences", "no_repeat_ngram_size", "top_k")
_FLOAT_KEYS = ("temperature", "top_p", "repetition_penalty", "length_penalty")
GENERATE_KEYWORDS = _INT_KEYS + _FLOAT_KEYS + ("do_sample", "early_stopping", "seed", "bad_words_ids")


def _int_value(key, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ArgumentError(f"{key} = {v!r}: must be an integer")
    v = int(v)
    if not _INT_MIN <= v <= _INT_MAX:
        raise ArgumentError(f"{key} = {v}: out of range")
    return v


def _generate_params(defaults, gen):
    """A gitc_generate_params: the model's defaults with the keywords applied."""
    unknown = sorted(set(gen) - set(GENERATE_KEYWORDS))
    if unknown:
        raise ArgumentError(f"unknown generation keyword{'s' if len(unknown) > 1 else ''}: "
                            f"{', '.join(unknown)} (known: {', '.join(GENERATE_KEYWORDS)})")
    p = _lib.gitc_generate_params()
    ctypes.memmove(ctypes.byref(p), ctypes.byref(defaults), ctypes.sizeof(p))
    keep = []  # ctypes arrays the params point to
    gen = {k: v for k, v in gen.items() if v is not None}
    for key in _INT_KEYS:
        if key in gen:
            setattr(p, key, _int_value(key, gen[key]))
    if "max_length" in gen and "max_new_tokens" not in gen:
        p.max_new_tokens = 0  # max_length given alone wins over a configured max_new_tokens
    for key in _FLOAT_KEYS:
        if key in gen:
            v = gen[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ArgumentError(f"{key} = {v!r}: must be a number")
            if not math.isfinite(float(v)):
                raise ArgumentError(f"{key} = {v!r}: must be finite")
            setattr(p, key, float(v))
    if "do_sample" in gen:
        p.do_sample = 1 if gen["do_sample"] else 0
    if "early_stopping" in gen:
        v = gen["early_stopping"]
        if v is True or v is False:
            p.early_stopping = int(v)
        elif v == "never":
            p.early_stopping = 2
        else:
            raise ArgumentError(f"early_stopping = {v!r}: must be True, False or 'never'")
    if "seed" in gen:
        v = gen["seed"]
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**64:
            raise ArgumentError(f"seed = {v!r}: must be an integer in [0, 2**64)")
        p.seed = v
    if "bad_words_ids" in gen:
        seqs = gen["bad_words_ids"]
        try:
            seqs = [[_int_value("bad_words_ids", t) for t in s] for s in seqs]
        except TypeError:
            raise ArgumentError("bad_words_ids: must be a list of lists of token ids") from None
        flat = [t for s in seqs for t in s]
        offsets = [0]
        for s in seqs:
            offsets.append(offsets[-1] + len(s))
        ids = (ctypes.c_int32 * max(1, len(flat)))(*flat)
        offs = (ctypes.c_int * len(offsets))(*offsets)
        keep += [ids, offs]
        p.bad_words_ids = ctypes.cast(ids, ctypes.POINTER(ctypes.c_int32))
        p.bad_words_offsets = ctypes.cast(offs, ctypes.POINTER(ctypes.c_int))
        p.n_bad_words = len(seqs)
    return p, keep


# ---------------------------------------------------------------------------
# Inputs: paths, bytes, PIL images, numpy arrays, video files
# ---------------------------------------------------------------------------


class _Image:
    """A gitc_image with its owner: pixels freed by the library, or a Python buffer kept alive."""

    def __init__(self):
        self.c = _lib.gitc_image()
        self.owned = False
        self.keep = None

    def free(self):
        if self.owned:
            lib.gitc_image_free(ctypes.byref(self.c))
            self.owned = False
        self.keep = None


def _is_pathlike(x):
    return isinstance(x, (str, os.PathLike))


def _input_name(x):
    """The name of an input in records and messages."""
    if _is_pathlike(x):
        return os.fsdecode(os.fspath(x))
    return f"<{type(x).__name__}>"


def _check_pixels(width, height):
    """The library's default pixel limit, applied to in-memory images before any copy."""
    limit = _lib.params("image").max_pixels
    if limit and width * height > limit:
        raise LimitError(f"image of {width}x{height} pixels: more than the limit of {limit} pixels")


def _image_from_rgb(buf, width, height, keep):
    img = _Image()
    img.c.width, img.c.height = width, height
    img.c.rgb = ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint8))
    img.keep = keep
    return img


def _load_image(x):
    """Decodes one image input into a gitc_image (RGB, as PIL's convert("RGB"))."""
    err = _lib.gitc_error()
    if _is_pathlike(x):
        img = _Image()
        _check(lib.gitc_image_load(os.fsencode(os.fspath(x)), None, ctypes.byref(img.c), ctypes.byref(err)), err)
        img.owned = True
        return img
    if isinstance(x, (bytes, bytearray, memoryview)):
        data = bytes(x)
        img = _Image()
        _check(lib.gitc_image_decode(data, len(data), b"<bytes>", None, ctypes.byref(img.c), ctypes.byref(err)), err)
        img.owned = True
        return img
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(x, pil.Image):
        _check_pixels(*x.size)
        try:
            rgb = x.convert("RGB")  # PIL decodes lazily: a broken file fails here
        except (OSError, ValueError) as e:
            raise FormatError(f"{getattr(x, 'filename', '') or '<PIL image>'}: PIL cannot decode it: {e}") from None  # what transformers' processors do with a PIL image
        w, h = rgb.size
        if w < 1 or h < 1:
            raise ArgumentError(f"PIL image of {w}x{h} pixels: empty")
        data = rgb.tobytes()
        buf = ctypes.create_string_buffer(data, len(data))
        return _image_from_rgb(buf, w, h, buf)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.ndarray):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
            raise ArgumentError(f"numpy array of dtype {x.dtype} and shape {tuple(x.shape)}: "
                                "an image must be uint8 of shape (height, width, 3) (RGB, HWC)")
        h, w = int(x.shape[0]), int(x.shape[1])
        if w < 1 or h < 1 or w > _INT_MAX or h > _INT_MAX:
            raise ArgumentError(f"numpy image of shape {tuple(x.shape)}: empty or too large")
        _check_pixels(w, h)
        a = np.ascontiguousarray(x)
        return _image_from_rgb(a.ctypes.data, w, h, a)
    raise ArgumentError(f"{type(x).__name__}: not an image (a path, bytes, a PIL image or a "
                        "uint8 numpy array of shape (height, width, 3))")


def _load_video(path, n_frames):
    """Samples n_frames RGB frames from a video file; returns (frames, frames decoded)."""
    err = _lib.gitc_error()
    arr = (_lib.gitc_image * n_frames)()
    n_total = ctypes.c_int(0)
    _check(lib.gitc_video_load(os.fsencode(os.fspath(path)), n_frames, None, arr, ctypes.byref(n_total),
                               ctypes.byref(err)), err)
    frames = []
    for i in range(n_frames):
        img = _Image()
        img.c = arr[i]
        img.owned = True
        frames.append(img)
    return frames, n_total.value


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Generation:
    """The sequences generated for one input, best first.

    ids: prompt + generated token ids of each sequence (eos included when emitted);
    texts: their decoded texts (an answer leaves the question out);
    scores: the sequence scores (see gitc_sequence.score in gitc.h);
    finish_reasons: "stop" when the sequence ended with eos, "length" when it hit the length limit."""

    ids: list
    texts: list
    scores: list
    finish_reasons: list
    n_prompt: int = 1
    frames_decoded: int = None
    seed: int = None  # the sampling seed (drawn at random unless seed= was given); None without sampling
    timings_ms: dict = dataclasses.field(default_factory=dict)

    @property
    def text(self):
        """The best text."""
        return self.texts[0]

    @property
    def finish_reason(self):
        """The best sequence's finish reason."""
        return self.finish_reasons[0]


@dataclasses.dataclass(frozen=True)
class Config:
    """The numbers of the loaded GitConfig (gitc_config in gitc.h)."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    layer_norm_eps: float
    bos_token_id: int
    eos_token_id: int
    pad_token_id: int
    num_image_with_embedding: int
    vision_hidden_size: int
    vision_intermediate_size: int
    vision_num_hidden_layers: int
    vision_num_attention_heads: int
    vision_image_size: int
    vision_patch_size: int
    vision_num_channels: int
    vision_layer_norm_eps: float
    image_tokens_per_frame: int

    @classmethod
    def from_json(cls, text, name="config.json"):
        """The config of config.json text (str or bytes), GitConfig's defaults applied and
        every number range-checked as gitc_model_load does (gitc_config_from_json)."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        c = _lib.gitc_config()
        err = _lib.gitc_error()
        _check(lib.gitc_config_from_json(data, len(data), os.fsencode(name), ctypes.byref(c), ctypes.byref(err)),
               err)
        return cls(**{f: getattr(c, f) for f, _ in _lib.gitc_config._fields_})

    def parameters(self):
        """[(name, shape)] of every parameter a checkpoint of this config holds, in the
        library's weight-table order (gitc_config_for_each_parameter)."""
        c = _lib.gitc_config(**{f: getattr(self, f) for f, _ in _lib.gitc_config._fields_})
        out = []

        def visit(user, name, ndim, shape):
            out.append((name.decode("utf-8"), tuple(shape[i] for i in range(ndim))))
            return 1

        lib.gitc_config_for_each_parameter(ctypes.byref(c), _lib.parameter_fn(visit), None)
        return out


# ---------------------------------------------------------------------------
# Model and Session
# ---------------------------------------------------------------------------


class Session:
    """Per-thread state on a Model (KV caches, scratch, thread pool): one thread at a
    time uses a Session; threads with their own sessions run in parallel (the GIL is
    released during compute). Create with Model.session()."""

    def __init__(self, model, threads=0):
        self._model = model
        self._ptr = None
        self._lock = threading.Lock()  # a gitc_session serves one thread at a time
        threads = _int_value("threads", threads)
        sp = _lib.params("session")
        sp.n_threads = threads
        ptr = ctypes.c_void_p()
        err = _lib.gitc_error()
        _check(lib.gitc_session_create(model._handle(), ctypes.byref(sp), ctypes.byref(ptr),
                                       ctypes.byref(err)), err)
        self._ptr = ptr

    def close(self):
        """Frees the session (also done when the model closes); waits for a running call."""
        if self._ptr is not None:
            with self._lock:
                if self._ptr is not None:
                    lib.gitc_session_free(self._ptr)
                    self._ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def model(self):
        return self._model

    # -- one input ---------------------------------------------------------

    def generate(self, input, question=None, **gen):
        """Generates for one input: an image (path, bytes, PIL image, numpy uint8 HWC) for an
        image model; a video file or num_frames images for a video model. Returns a Generation."""
        return self.generate_batch([input], None if question is None else [question], **gen)[0]

    def caption(self, image, **gen):
        """The caption of an image (the best sequence's text)."""
        return self.generate(image, **gen).text

    def ask(self, image, question, **gen):
        """The answer to a question about an image (the question left out)."""
        if not isinstance(question, str) or not question:
            raise ArgumentError("ask: the question must be a non-empty string")
        return self.generate(image, question, **gen).text

    def describe_video(self, path_or_frames, question=None, **gen):
        """The caption of a clip: a video file, or the model's num_frames images."""
        self._require_video()
        return self.generate(path_or_frames, question, **gen).text

    # -- batches -------------------------------------------------------------

    def caption_batch(self, images, batch_size=8, **gen):
        """Captions of a list of images, decoded together batch_size at a time."""
        return [g.text for g in self.generate_batch(images, batch_size=batch_size, **gen)]

    def ask_batch(self, images, questions, batch_size=8, **gen):
        """Answers for a list of images; questions is one question or one per image."""
        return [g.text for g in self.generate_batch(images, questions, batch_size=batch_size, **gen)]

    def describe_video_batch(self, videos, question=None, batch_size=8, **gen):
        """Captions of a list of clips (video files or frame lists)."""
        self._require_video()
        return [g.text for g in self.generate_batch(videos, question, batch_size=batch_size, **gen)]

    def generate_batch(self, inputs, questions=None, batch_size=8, errors="raise", **gen):
        """Generations for a list of inputs, batch_size of them per gitc_generate call
        (the library decodes a batch's rows together; results equal unbatched ones).
        questions: None, one question for all, or one per input (None for a caption).
        errors="raise" raises the first input's gitc.Error; errors="return" puts the
        gitc.Error in that input's place and goes on."""
        if errors not in ("raise", "return"):
            raise ArgumentError(f"errors = {errors!r}: must be 'raise' or 'return'")
        inputs = list(inputs)
        if questions is None or isinstance(questions, str):
            questions = [questions] * len(inputs)
        else:
            questions = list(questions)
            if len(questions) != len(inputs):
                raise ArgumentError(f"{len(questions)} questions for {len(inputs)} inputs")
        batch_size = _int_value("batch_size", batch_size)
        if batch_size < 1:
            raise ArgumentError(f"batch_size = {batch_size}: must be at least 1")
        params, keep = _generate_params(self._model._gen_defaults, gen)
        if params.do_sample and gen.get("seed") is None:
            # As transformers (and the gitc command): a fresh seed, reported in Generation.seed.
            params.seed = int.from_bytes(os.urandom(8), "little") >> 1
        out = []
        with self._lock:
            self._handle()  # raises once the session (or its model) is closed
            for start in range(0, len(inputs), batch_size):
                out += self._run_batch(inputs[start:start + batch_size], questions[start:start + batch_size],
                                       params, errors)
        del keep
        return out

    # -- internals -------------------------------------------------------------

    def _require_video(self):
        if self._model.num_frames == 1:
            raise ArgumentError(f"{self._model.path} is an image model (1 frame per input): "
                                "use caption() or load a video model")

    def _handle(self):
        if self._ptr is None:
            raise Error("the session is closed" if self._model._model_ptr else "the model is closed")
        return self._ptr

    def _prepare(self, x, question):
        """Decodes and preprocesses one input: (pixels, prompt, timings, frames decoded)."""
        m = self._model
        n = m.num_frames
        t0 = time.perf_counter()
        frames = []
        n_total = None
        try:
            if n == 1:
                if isinstance(x, (list, tuple)):
                    raise ArgumentError(f"{m.path} is an image model: give one image per input, not a list")
                frames.append(_load_image(x))
            elif _is_pathlike(x):
                frames, n_total = _load_video(x, n)
            elif isinstance(x, (list, tuple)):
                if len(x) != n:
                    raise ArgumentError(f"{m.path} takes {n} frames per input, got {len(x)}")
                for f in x:
                    frames.append(_load_image(f))
            else:
                raise ArgumentError(f"{m.path} is a video model: give a video file or a list of {n} frames")
            t1 = time.perf_counter()
            pixels = m._preprocess(frames)
        finally:
            for f in frames:
                f.free()
        prompt = m._prompt(question)
        t2 = time.perf_counter()
        return pixels, prompt, (t1 - t0) * 1e3, (t2 - t1) * 1e3, n_total

    def _run_batch(self, inputs, questions, params, errors):
        """Prepares a batch, generates for the inputs that decoded, decodes the texts."""
        results = [None] * len(inputs)
        ready = []  # (index, pixels, prompt, load_ms, prepare_ms, n_total)
        for i, (x, q) in enumerate(zip(inputs, questions)):
            try:
                ready.append((i,) + self._prepare(x, q))
            except Error as e:
                if errors == "raise":
                    raise
                results[i] = e
        if ready:
            is_q = [questions[r[0]] is not None for r in ready]
            try:
                gens, gen_ms = self._generate([r[1] for r in ready], [r[2] for r in ready], params, is_q)
            except Error as e:
                if errors == "raise":
                    raise
                gens, gen_ms = [e], 0.0
                if len(ready) > 1:
                    # A setting failed the batch for one input (a long prompt): one by one,
                    # so the error lands on that input alone.
                    gens = []
                    for r, q in zip(ready, is_q):
                        try:
                            g, ms = self._generate([r[1]], [r[2]], params, [q])
                            gens.append(g[0])
                            gen_ms += ms
                        except Error as e1:
                            gens.append(e1)
            per_input_ms = gen_ms / len(ready)
            for r, g in zip(ready, gens):
                if isinstance(g, Generation):
                    g.seed = params.seed if params.do_sample else None
                    # As the CLI: "load" decodes the file; "generate" preprocesses, generates and
                    # decodes the text (a batch's generation time shared evenly by its inputs).
                    g.frames_decoded = r[5]
                    gen_total = r[4] + per_input_ms
                    g.timings_ms = {"load": r[3], "generate": gen_total, "total": r[3] + gen_total}
                results[r[0]] = g
        return results

    def _generate(self, pixels, prompts, params, is_question):
        """One gitc_generate call over a batch; returns (Generations, elapsed ms)."""
        m = self._model
        n = len(pixels)
        px = (ctypes.POINTER(ctypes.c_float) * n)(*[ctypes.cast(p, ctypes.POINTER(ctypes.c_float)) for p in pixels])
        pr = (ctypes.POINTER(ctypes.c_int32) * n)(*[ctypes.cast(p, ctypes.POINTER(ctypes.c_int32)) for p in prompts])
        npr = (ctypes.c_int * n)(*[len(p) for p in prompts])
        sizes = {ctypes.sizeof(p) // ctypes.sizeof(ctypes.c_float) for p in pixels}
        if len(sizes) != 1:
            raise ShapeError(f"pixel inputs of different sizes in one batch: {sorted(sizes)} floats")
        out = _lib._generation_padded()
        err = _lib.gitc_error()
        t0 = time.perf_counter()
        _check(lib.gitc_generate(self._handle(), px, sizes.pop(), pr, npr, n, ctypes.byref(params), ctypes.byref(out),
                                 ctypes.byref(err)), err)
        try:
            per = out.g.n_sequences // n
            eos = m.config.eos_token_id
            gens = []
            for i in range(n):
                ids, texts, scores, reasons = [], [], [], []
                n_prompt = 1
                for k in range(per):
                    sq = out.g.sequences[i * per + k]
                    seq = sq.ids[:sq.n_ids]
                    n_prompt = sq.n_prompt
                    ids.append(seq)
                    skip = sq.n_prompt if is_question[i] else 0
                    texts.append(m._decode(sq.ids, skip, sq.n_ids))
                    scores.append(sq.score)
                    reasons.append("stop" if len(seq) > sq.n_prompt and seq[-1] == eos else "length")
                gens.append(Generation(ids, texts, scores, reasons, n_prompt))
        finally:
            lib.gitc_generation_free(ctypes.byref(out))
        return gens, (time.perf_counter() - t0) * 1e3


class Model(Session):
    """A GIT model loaded by libgitc: a folder (config.json, model.safetensors, processor and
    tokenizer files), a HuggingFace hub id found in the local cache ("microsoft/git-base-coco",
    optionally "@REV" or revision=), or None for the embedded shapes model.

    The model's own methods (caption, ask, describe_video, generate and their _batch forms)
    run on one built-in session, one call at a time; for threads working in parallel give
    each its own Model.session(). Use as a context manager or call close()."""

    def __init__(self, path_or_hub_id=None, revision=None, threads=0, video=False):
        self._model_ptr = None
        self._ptr = None
        self._default = None
        self._sessions = weakref.WeakSet()
        self._lock = threading.Lock()
        self._threads = _int_value("threads", threads)
        self.path = resolve_model(path_or_hub_id, revision, video)
        ptr = ctypes.c_void_p()
        err = _lib.gitc_error()
        _check(lib.gitc_model_load(os.fsencode(self.path), None, ctypes.byref(ptr), ctypes.byref(err)), err)
        self._model_ptr = ptr
        c = lib.gitc_model_config(ptr).contents
        self.config = Config(**{f: getattr(c, f) for f, _ in _lib.gitc_config._fields_})
        self.num_frames = lib.gitc_model_num_frames(ptr)
        # The CPU features seen at load and the kernel set each precision runs.
        self.kernels = {"cpu_features": lib.gitc_model_cpu_features(ptr).decode()}
        for dtype, name in enumerate(("f32", "bf16", "int8")):
            self.kernels[name] = lib.gitc_model_kernel_set(ptr, dtype).decode()
        self._tokenizer = lib.gitc_model_tokenizer(ptr)
        self._processor = lib.gitc_model_processor(ptr)
        self._gen_defaults = _lib.params("generate", ptr)
        if not self._generation_config_sets_length():
            self._gen_defaults.max_length = DEFAULT_MAX_LENGTH
        self._model = self

    def _generation_config_sets_length(self):
        try:
            with open(os.path.join(self.path, "generation_config.json"), encoding="utf-8") as f:
                cfg = json.load(f)
        except (OSError, ValueError):
            return False
        return isinstance(cfg, dict) and any(
            isinstance(cfg.get(k), (int, float)) and not isinstance(cfg.get(k), bool)
            for k in ("max_length", "max_new_tokens"))

    def session(self, threads=None):
        """A new Session on this model (threads=None: the model's setting)."""
        s = Session(self, self._threads if threads is None else threads)
        self._sessions.add(s)
        return s

    def close(self):
        """Frees the model and every session made on it (after their running calls)."""
        with self._lock:
            for s in list(self._sessions):
                s.close()
            self._default = None
            if self._model_ptr is not None:
                lib.gitc_model_free(self._model_ptr)
                self._model_ptr = None

    def __repr__(self):
        return f"gitc.Model({self.path!r}, num_frames={self.num_frames})"

    # The Session methods run on the built-in session, under a lock.
    def generate_batch(self, inputs, questions=None, batch_size=8, errors="raise", **gen):
        with self._lock:
            if self._default is None:
                self._default = self.session()
            return self._default.generate_batch(inputs, questions, batch_size, errors, **gen)

    def _handle(self):
        if self._model_ptr is None:
            raise Error("the model is closed")
        return self._model_ptr

    def _preprocess(self, frames):
        """pixel_values [frames, 3, S, S] float32 of decoded frames, through the model's processor."""
        if not self._processor:
            raise IoError(f"{self.path}: no preprocessor_config.json: cannot prepare images")
        S = self.config.vision_image_size
        h, w = ctypes.c_int(0), ctypes.c_int(0)
        lib.gitc_processor_output_size(self._processor, ctypes.byref(h), ctypes.byref(w))
        if h.value != S or w.value != S:
            raise ShapeError(f"{self.path}: the processor produces {w.value}x{h.value} images "
                             f"but the vision model expects {S}x{S}")
        per = 3 * S * S
        buf = (ctypes.c_float * (per * len(frames)))()
        err = _lib.gitc_error()
        base = ctypes.addressof(buf)
        for i, f in enumerate(frames):
            out = ctypes.cast(base + i * per * 4, ctypes.POINTER(ctypes.c_float))
            _check(lib.gitc_processor_run(self._processor, ctypes.byref(f.c), out, per, ctypes.byref(err)), err)
        return buf

    def _require_tokenizer(self):
        if not self._tokenizer:
            raise IoError(f"{self.path}: no tokenizer files (vocab.txt or tokenizer.json)")

    def _prompt(self, question):
        """[CLS] alone for a caption, [CLS] + the question's tokens (no [SEP]) for VQA."""
        ids = [self.config.bos_token_id]
        if question is not None:
            if not isinstance(question, str):
                raise ArgumentError(f"question {question!r}: must be a string")
            self._require_tokenizer()
            try:
                data = question.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ArgumentError(f"question {question!r}: not encodable as UTF-8 ({e.reason})") from None
            out = ctypes.POINTER(ctypes.c_int32)()
            n = ctypes.c_size_t(0)
            err = _lib.gitc_error()
            _check(lib.gitc_tokenizer_encode(self._tokenizer, data, len(data), 0, ctypes.byref(out),
                                             ctypes.byref(n), ctypes.byref(err)), err)
            try:
                ids += out[:n.value]
            finally:
                lib.gitc_free(out)
        return (ctypes.c_int32 * len(ids))(*ids)

    def _decode(self, ids, skip, n_ids):
        """Text of ids[skip:n_ids] with special tokens skipped, as the library's describe does."""
        self._require_tokenizer()
        text = ctypes.c_void_p()
        err = _lib.gitc_error()
        start = ctypes.cast(ctypes.addressof(ids.contents) + 4 * skip, ctypes.POINTER(ctypes.c_int32))
        _check(lib.gitc_tokenizer_decode(self._tokenizer, start, n_ids - skip, 1, -1, ctypes.byref(text),
                                         ctypes.byref(err)), err)
        try:
            return ctypes.string_at(text).decode("utf-8", "replace")
        finally:
            lib.gitc_free(text)
