"""Captioning many files on a Dask cluster (distributed's Client: a LocalCluster on one
machine, or dask-scheduler + dask-worker / dask-jobqueue on a cluster).

    from distributed import Client, LocalCluster
    import gitc.dask
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        gitc.dask.caption_files(client, paths, model="microsoft/git-base-coco",
                                out="captions.jsonl", batch_size=8)

Each worker process loads the model once (a per-process cache) and captions batches of
files with the library's batched generation. The client writes every batch's records to
`out` as JSON Lines shaped as `gitc caption --json` prints them ({"file", "text",
"finish_reason", "timings_ms"}, or {"file", "error"} for a file that failed: a bad file is
a record, not a failed job). Records are written only when a batch's result reaches the
client, so a worker that dies mid-run loses nothing: the scheduler runs its batches again
elsewhere and every input appears exactly once. resume=True skips the files `out`
already has records of, so a run whose client died can be started again.

Workers must be able to import gitc and load libgitc (install both, or set PYTHONPATH and
GITC_LIBRARY in the workers' environment) and read the files under the same paths:
use absolute paths on a shared file system.
"""
import collections
import os
import sys
import threading
import uuid

try:
    import distributed
except ImportError as e:
    raise ImportError(
        f"gitc.dask needs Dask's distributed package, which {sys.executable} cannot import ({e}); "
        "Debian packages it as python3-distributed for /usr/bin/python3 (scripts/install-deps.sh installs it), "
        "another Python needs it installed there"
    ) from None

from . import GENERATE_KEYWORDS, ArgumentError, Model
from .records import dumps, record, recorded_files

# Per worker process: loaded models (key: model, revision, threads, video), how many
# loads happened, and each worker thread's sessions.
_models = {}
_models_lock = threading.Lock()
_loads = collections.Counter()
_local = threading.local()


def _session(spec):
    """This thread's session on the process's copy of the model (loaded on first use)."""
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    s = sessions.get(spec)
    if s is None:
        with _models_lock:
            m = _models.get(spec)
            if m is None:
                model, revision, threads, video = spec
                m = _models[spec] = Model(model, revision, threads, video=video)
                _loads[spec] += 1
        s = sessions[spec] = m.session()
    return s


def loaded_models():
    """How many times this process loaded a model (for client.run: one load per worker)."""
    with _models_lock:
        return sum(_loads.values())


def _caption_batch(spec, paths, question, gen):
    """Worker task: the CLI-shaped records of a batch of files."""
    session = _session(spec)
    video = spec[3]
    results = session.generate_batch(paths, question, batch_size=len(paths), errors="return", **gen)
    return [record(p, r, question, video_file=video) for p, r in zip(paths, results)]


def caption_files(client, paths, model=None, out=None, batch_size=8, *, question=None, video=False,
                  revision=None, threads=0, resume=False, max_in_flight=None, progress=None, **gen):
    """Captions `paths` (answers `question` about them; video=True: video files) on the
    cluster of `client` and writes one JSON Lines record per input to `out`.

    model: a model folder or hub id as every worker sees it (None: the embedded model);
    batch_size: files per task, decoded together; threads: libgitc threads per worker
    thread (0: every CPU of the worker's machine: pair it with threads_per_worker=1);
    resume: keep `out` and skip the inputs it already has records of (else `out` is
    rewritten); max_in_flight: tasks submitted at once (default: twice the cluster's
    threads, at least 4), so a million files do not become a million futures;
    progress(done, total): called after each batch is written; gen: generation keywords
    as Model.generate takes them.

    Records are in completion order. Returns {"written", "errors", "skipped"}."""
    if out is None:
        raise ArgumentError("caption_files: out= (the JSON Lines file to write) is required")
    unknown = sorted(set(gen) - set(GENERATE_KEYWORDS))
    if unknown:
        raise ArgumentError(f"unknown generation keyword{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ArgumentError(f"batch_size = {batch_size!r}: must be a positive integer")
    paths = [os.fsdecode(os.fspath(p)) for p in paths]
    skipped = 0
    if resume:
        try:
            done = collections.Counter(recorded_files(out))
        except ValueError as e:
            raise ArgumentError(str(e)) from None
        todo = []
        for p in paths:
            if done[p] > 0:
                done[p] -= 1
                skipped += 1
            else:
                todo.append(p)
        paths = todo
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise ArgumentError(f"out={out!r}: the folder {out_dir} does not exist")
    model_arg = None if model is None else os.fsdecode(os.fspath(model))
    spec = (model_arg, revision, threads, bool(video))
    batches = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    if max_in_flight is None:
        n_threads = sum(client.nthreads().values())
        max_in_flight = max(4, 2 * n_threads)
    run_id = uuid.uuid4().hex[:12]
    written = errors = 0
    # `out` is opened when the first batch's records arrive, so a run that fails before any
    # (a model that does not load on the workers) leaves no empty or truncated file behind.
    f = None
    try:
        pending = iter(enumerate(batches))

        def submit(n):
            futures = []
            for i, batch in pending:
                futures.append(client.submit(_caption_batch, spec, batch, question, gen,
                                             key=f"gitc-caption-{run_id}-{i}", pure=False))
                if len(futures) == n:
                    break
            return futures

        ac = distributed.as_completed(submit(max_in_flight))
        for future in ac:
            records = future.result()  # re-raises a failed task (a model that does not load)
            future.release()
            if f is None:
                f = open(out, "a" if resume else "w", encoding="utf-8")
            for rec in records:
                f.write(dumps(rec) + "\n")
                errors += "error" in rec
            f.flush()
            written += len(records)
            for nf in submit(1):
                ac.add(nf)
            if progress is not None:
                progress(written, len(paths))
        if f is None:  # nothing to caption: the (empty, or kept with resume) file still exists
            f = open(out, "a" if resume else "w", encoding="utf-8")
    finally:
        if f is not None:
            f.close()
    return {"written": written, "errors": errors, "skipped": skipped}
