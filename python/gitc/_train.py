"""Fine-tuning through libgitc's trainer: gitc.train(...) runs the loop of `gitc train`
(same data order, same steps, so the same weights), gitc.Trainer steps over batches
the caller builds, gitc.Dataset reads an HF imagefolder dataset.

    import gitc
    gitc.train(data="shapes-data", out="my-shapes", epochs=12, lr=1e-3, batch=16,
               freeze=["vision"], log=print)
    print(gitc.Model("my-shapes").caption("scene.bmp"))
"""
import ctypes
import os

from . import _lib
from ._lib import lib
from ._model import _check
from .errors import ArgumentError

_c = ctypes
_P = ctypes.POINTER

SCHEDULES = {"linear": 0, "cosine": 1, "constant": 2}
FREEZE = {"vision": 1, "projection": 2, "embeddings": 4}


class gitc_dataset_params(ctypes.Structure):
    _fields_ = [
        ("size", _c.c_size_t),
        ("max_length", _c.c_int),
        ("skip_bad", _c.c_int),
        ("check_images", _c.c_int),
        ("exif_transpose", _c.c_int),
    ]


class gitc_train_params(ctypes.Structure):
    _fields_ = [
        ("size", _c.c_size_t),
        ("lr", _c.c_double),
        ("beta1", _c.c_double),
        ("beta2", _c.c_double),
        ("eps", _c.c_double),
        ("weight_decay", _c.c_double),
        ("clip", _c.c_double),
        ("schedule", _c.c_int),
        ("warmup_steps", _c.c_long),
        ("total_steps", _c.c_long),
        ("accumulate", _c.c_int),
        ("freeze", _c.c_uint),
        ("dropout", _c.c_int),
        ("seed", _c.c_uint64),
        ("n_threads", _c.c_int),
        ("max_batch", _c.c_int),
        ("max_text", _c.c_int),
        ("cache_images", _c.c_int),
    ]


class gitc_train_stats(ctypes.Structure):
    _fields_ = [
        ("loss", _c.c_double),
        ("n_targets", _c.c_int),
        ("stepped", _c.c_int),
        ("step", _c.c_long),
        ("lr", _c.c_double),
        ("grad_norm", _c.c_double),
    ]


def _bind():
    err_p = _P(_lib.gitc_error)
    vp = _c.c_void_p
    sigs = {
        "gitc_dataset_params_init": (None, [_P(gitc_dataset_params), _c.c_size_t]),
        "gitc_dataset_load": (_c.c_int, [_c.c_char_p, vp, _P(gitc_dataset_params), _P(vp), _P(vp), err_p]),
        "gitc_dataset_free": (None, [vp]),
        "gitc_dataset_size": (_c.c_int, [vp]),
        "gitc_dataset_skipped": (_c.c_int, [vp]),
        "gitc_dataset_max_tokens": (_c.c_int, [vp]),
        "gitc_dataset_image_path": (_c.c_char_p, [vp, _c.c_int]),
        "gitc_dataset_text": (_c.c_char_p, [vp, _c.c_int]),
        "gitc_dataset_question": (_c.c_char_p, [vp, _c.c_int]),
        "gitc_dataset_batch": (
            _c.c_int,
            [vp, _P(_c.c_int), _c.c_int, _P(_c.c_float), _c.c_size_t, _P(_c.c_int32), _P(_c.c_int32),
             _c.c_size_t, _P(_c.c_int), err_p],
        ),
        "gitc_train_params_init": (None, [_P(gitc_train_params), _c.c_size_t]),
        "gitc_trainer_create": (_c.c_int, [vp, _P(gitc_train_params), _P(vp), err_p]),
        "gitc_trainer_free": (None, [vp]),
        "gitc_trainer_step": (
            _c.c_int,
            [vp, _P(_c.c_float), _c.c_size_t, _P(_c.c_int64), _c.c_int, _P(_c.c_int32), _P(_c.c_int32), _c.c_int,
             _P(gitc_train_stats), err_p],
        ),
        "gitc_trainer_evaluate": (
            _c.c_int,
            [vp, _P(_c.c_float), _c.c_size_t, _P(_c.c_int64), _c.c_int, _P(_c.c_int32), _P(_c.c_int32), _c.c_int,
             _P(_c.c_double), _P(_c.c_int), err_p],
        ),
        "gitc_trainer_steps": (_c.c_long, [vp]),
        "gitc_trainer_micro_steps": (_c.c_long, [vp]),
        "gitc_trainer_save": (_c.c_int, [vp, _c.c_char_p, err_p]),
        "gitc_trainer_save_checkpoint": (_c.c_int, [vp, _c.c_char_p, _c.c_char_p, err_p]),
        "gitc_trainer_resume": (_c.c_int, [vp, _c.c_char_p, _P(vp), err_p]),
        "gitc_model_pixel_floats": (_c.c_size_t, [vp]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


_bind()


def _take_string(ptr):
    """The text of a malloc'd char * (freed), or None."""
    if not ptr:
        return None
    text = ctypes.string_at(ptr).decode("utf-8", "replace")
    lib.gitc_free(ptr)
    return text


def _freeze_bits(freeze):
    if isinstance(freeze, str):
        freeze = [p for p in freeze.split(",") if p]
    bits = 0
    for part in freeze or ():
        if part not in FREEZE:
            raise ArgumentError(f"freeze: unknown part {part!r} (vision, projection, embeddings)")
        bits |= FREEZE[part]
    return bits


class Dataset:
    """A training dataset in the HF imagefolder layout (metadata.jsonl or metadata.csv),
    checked against a model when it is opened: every bad record is listed in `report`
    (and the open fails unless skip_bad)."""

    def __init__(self, model, path, max_length=0, skip_bad=False):
        self._ptr = None
        self._model = model  # keeps the model alive: the dataset uses its tokenizer and processor
        p = gitc_dataset_params()
        lib.gitc_dataset_params_init(_c.byref(p), _c.sizeof(p))
        p.max_length = int(max_length)
        p.skip_bad = 1 if skip_bad else 0
        ptr, report, err = _c.c_void_p(), _c.c_void_p(), _lib.gitc_error()
        st = lib.gitc_dataset_load(os.fsencode(path), model._model_ptr, _c.byref(p), _c.byref(ptr),
                                   _c.byref(report), _c.byref(err))
        self.report = _take_string(report.value) or ""
        if st != 0 and self.report:
            err.message = (err.message.decode("utf-8", "replace") + "\n" + self.report).encode()[:511]
        _check(st, err)
        self._ptr = ptr
        self.path = path
        self.skipped = lib.gitc_dataset_skipped(ptr)
        self.max_tokens = lib.gitc_dataset_max_tokens(ptr)

    def __len__(self):
        return lib.gitc_dataset_size(self._ptr)

    def record(self, i):
        """(image path, text, question or None) of record i."""
        q = lib.gitc_dataset_question(self._ptr, i)
        return (lib.gitc_dataset_image_path(self._ptr, i).decode(), lib.gitc_dataset_text(self._ptr, i).decode(),
                q.decode() if q else None)

    def batch(self, indices):
        """pixel_values (ctypes float array [B, frames, 3, H, W]), ids and labels (ctypes int32
        arrays [B, T]) and T for the records `indices`."""
        B = len(indices)
        npx = lib.gitc_model_pixel_floats(self._model._model_ptr)
        px = (_c.c_float * (B * npx))()
        ntok = B * max(self.max_tokens, 1)
        ids, labels = (_c.c_int32 * ntok)(), (_c.c_int32 * ntok)()
        idx = (_c.c_int * B)(*indices)
        T, err = _c.c_int(), _lib.gitc_error()
        _check(lib.gitc_dataset_batch(self._ptr, idx, B, px, B * npx, ids, labels, ntok, _c.byref(T),
                                      _c.byref(err)), err)
        return px, ids, labels, T.value

    def close(self):
        if self._ptr:
            lib.gitc_dataset_free(self._ptr)
            self._ptr = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _float_buffer(x):
    """A float32 pointer over x (a ctypes array or a C-contiguous float32 numpy array),
    the object that keeps it alive, and its length in floats."""
    if isinstance(x, _c.Array):
        return _c.cast(x, _P(_c.c_float)), x, len(x)
    import numpy as np

    a = np.ascontiguousarray(x, dtype=np.float32)
    return a.ctypes.data_as(_P(_c.c_float)), a, a.size


def _int_buffer(x, ctype):
    if isinstance(x, _c.Array):
        return _c.cast(x, _P(ctype)), x
    arr = (ctype * len(x))(*[int(v) for v in x])
    return _c.cast(arr, _P(ctype)), arr


class Trainer:
    """libgitc's trainer on a gitc.Model: step(pixel_values, ids, labels) over batches,
    evaluate, save (a folder transformers loads), save_checkpoint / resume. Keywords as
    `gitc train`'s options: lr, betas, eps, weight_decay, clip, schedule, warmup,
    total_steps, accumulate, freeze, dropout, seed, threads, max_batch, max_text,
    cache_images."""

    def __init__(self, model, lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, clip=1.0,
                 schedule="linear", warmup=0, total_steps=0, accumulate=1, freeze=(), dropout=True,
                 seed=42, threads=0, max_batch=8, max_text=0, cache_images=0):
        self._ptr = None
        if schedule not in SCHEDULES:
            raise ArgumentError(f"schedule {schedule!r}: linear, cosine or constant")
        p = gitc_train_params()
        lib.gitc_train_params_init(_c.byref(p), _c.sizeof(p))
        p.lr, (p.beta1, p.beta2), p.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        p.weight_decay, p.clip, p.schedule = float(weight_decay), float(clip), SCHEDULES[schedule]
        p.warmup_steps, p.total_steps, p.accumulate = int(warmup), int(total_steps), int(accumulate)
        p.freeze, p.dropout, p.seed = _freeze_bits(freeze), 1 if dropout else 0, int(seed)
        p.n_threads, p.max_batch, p.max_text = int(threads), int(max_batch), int(max_text)
        p.cache_images = int(cache_images)
        self._model = model
        ptr, err = _c.c_void_p(), _lib.gitc_error()
        _check(lib.gitc_trainer_create(model._model_ptr, _c.byref(p), _c.byref(ptr), _c.byref(err)), err)
        self._ptr = ptr

    def step(self, pixel_values, ids, labels, batch, text_len, image_keys=None):
        """One micro-batch of `batch` images and `text_len` tokens per row (labels -100: no
        target). Returns {"loss", "n_targets", "stepped", "step", "lr", "grad_norm"}."""
        px, keep_px, npx = _float_buffer(pixel_values)
        ip, keep_ids = _int_buffer(ids, _c.c_int32)
        lp, keep_labels = _int_buffer(labels, _c.c_int32)
        kp = _int_buffer(image_keys, _c.c_int64)[0] if image_keys is not None else None
        s, err = gitc_train_stats(), _lib.gitc_error()
        _check(lib.gitc_trainer_step(self._ptr, px, npx, kp, int(batch), ip, lp, int(text_len), _c.byref(s),
                                     _c.byref(err)), err)
        return {"loss": s.loss, "n_targets": s.n_targets, "stepped": bool(s.stepped), "step": s.step,
                "lr": s.lr, "grad_norm": s.grad_norm}

    def evaluate(self, pixel_values, ids, labels, batch, text_len, image_keys=None):
        """(mean loss, targets) of a batch with the current weights."""
        px, keep_px, npx = _float_buffer(pixel_values)
        ip, keep_ids = _int_buffer(ids, _c.c_int32)
        lp, keep_labels = _int_buffer(labels, _c.c_int32)
        kp = _int_buffer(image_keys, _c.c_int64)[0] if image_keys is not None else None
        loss, n, err = _c.c_double(), _c.c_int(), _lib.gitc_error()
        _check(lib.gitc_trainer_evaluate(self._ptr, px, npx, kp, int(batch), ip, lp, int(text_len), _c.byref(loss),
                                         _c.byref(n), _c.byref(err)), err)
        return loss.value, n.value

    @property
    def steps(self):
        return lib.gitc_trainer_steps(self._ptr)

    @property
    def micro_steps(self):
        return lib.gitc_trainer_micro_steps(self._ptr)

    def save(self, path):
        """Writes a model folder (config, generation config, processor and tokenizer files,
        model.safetensors) that transformers and gitc load."""
        err = _lib.gitc_error()
        _check(lib.gitc_trainer_save(self._ptr, os.fsencode(path), _c.byref(err)), err)

    def save_checkpoint(self, path, user_json=None):
        err = _lib.gitc_error()
        _check(lib.gitc_trainer_save_checkpoint(self._ptr, os.fsencode(path),
                                                user_json.encode() if user_json else None, _c.byref(err)), err)

    def resume(self, path):
        """Loads a checkpoint; returns the JSON text its writer kept (or None)."""
        user, err = _c.c_void_p(), _lib.gitc_error()
        _check(lib.gitc_trainer_resume(self._ptr, os.fsencode(path), _c.byref(user), _c.byref(err)), err)
        return _take_string(user.value)

    def close(self):
        if self._ptr:
            lib.gitc_trainer_free(self._ptr)
            self._ptr = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_MASK = (1 << 64) - 1


def _splitmix(state):
    state = (state + 0x9E3779B97F4A7C15) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return state, z ^ (z >> 31)


def epoch_order(n, seed, epoch):
    """The order of epoch `epoch` as `gitc train` draws it (tools/cmd_train.c)."""
    s = (seed ^ ((0xD1B54A32D192ED03 * (epoch + 1)) & _MASK)) & _MASK
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        s, r = _splitmix(s)
        j = r % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def train(data, out, model=None, epochs=3, steps=None, batch=8, accumulate=1, lr=5e-5, warmup=0,
          schedule="linear", weight_decay=0.01, clip=1.0, freeze=(), seed=42, dropout=True, threads=0,
          max_length=0, skip_bad=False, log=None):
    """Fine-tunes `model` (a folder, hub id, gitc.Model, or None for the embedded shapes
    model) on the dataset folder `data` and writes the result to `out`, as `gitc train`
    does with the same settings (the same data order and steps: the same weights).
    log (optional) is called with each optimizer step's record {"step", "epoch", "loss",
    "lr", "grad_norm"}. Returns the list of those records."""
    from ._model import Model

    own = not isinstance(model, Model)
    m = Model(model) if own else model
    try:
        with Dataset(m, data, max_length=max_length, skip_bad=skip_bad) as ds:
            n = len(ds)
            per_epoch = (n + batch - 1) // batch
            total = int(steps) if steps else epochs * per_epoch // accumulate
            if total < 1:
                raise ArgumentError("no optimizer step: fewer micro-batches than accumulate")
            frozen = _freeze_bits(freeze)
            with Trainer(m, lr=lr, weight_decay=weight_decay, clip=clip, schedule=schedule, warmup=warmup,
                         total_steps=total, accumulate=accumulate, freeze=freeze, dropout=dropout, seed=seed,
                         threads=threads, max_batch=batch, max_text=max(ds.max_tokens, 2),
                         cache_images=n if frozen & FREEZE["vision"] else 0) as tr:
                records, order, order_epoch, losses = [], None, -1, []
                while tr.steps < total:
                    micro = tr.micro_steps
                    epoch, i = divmod(micro, per_epoch)
                    if epoch != order_epoch:
                        order, order_epoch = epoch_order(n, seed, epoch), epoch
                    idx = order[i * batch:(i + 1) * batch]
                    px, ids, labels, T = ds.batch(idx)
                    s = tr.step(px, ids, labels, len(idx), T, image_keys=idx)
                    losses.append(s["loss"])
                    if s["stepped"]:
                        rec = {"step": s["step"], "epoch": (micro + 1) / per_epoch,
                               "loss": sum(losses) / len(losses), "lr": s["lr"], "grad_norm": s["grad_norm"]}
                        losses = []
                        records.append(rec)
                        if log:
                            log(rec)
                tr.save(out)
                return records
    finally:
        if own:
            m.close()
