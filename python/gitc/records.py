"""JSON Lines records in the shape of `gitc caption/ask/video --json`, shared by
`python3 -m gitc` and gitc.dask, and the reading side of resuming a run."""
import json
import os


def record(file, result, question=None, frames=None, video_file=False):
    """The CLI's JSON record of one input: `result` is a gitc.Generation or a gitc.Error.
    timings_ms is rounded to microseconds as the CLI prints it."""
    r = {"file": file}
    if frames is not None:
        r["frames"] = list(frames)
    if question is not None:
        r["question"] = question
    if not hasattr(result, "texts"):
        r["error"] = getattr(result, "message", str(result))
        return r
    if question is not None:
        r["answer"] = result.texts[0]
    r["text"] = result.texts[0]
    r["finish_reason"] = result.finish_reasons[0]
    if len(result.texts) > 1:
        r["texts"] = list(result.texts)
        r["scores"] = [float(f"{s:.6g}") for s in result.scores]
        r["finish_reasons"] = list(result.finish_reasons)
    if result.seed is not None:
        r["seed"] = result.seed
    if video_file:
        r["frames_decoded"] = result.frames_decoded
    t = result.timings_ms
    r["timings_ms"] = {k: round(t.get(k, 0.0), 3) for k in ("load", "generate", "total")}
    return r


def dumps(rec):
    """One JSON line (UTF-8, no trailing newline)."""
    return json.dumps(rec, ensure_ascii=False)


def recorded_files(path):
    """The "file" of every complete record in a JSONL file (a list; missing file: []).

    A last line without its newline is a record cut short by a crash: it is not
    counted, and the file is truncated to its last complete line so appending
    goes on cleanly. Any other line that is not a JSON object with "file" raises
    ValueError naming the line."""
    try:
        f = open(path, "r+b")
    except FileNotFoundError:
        return []
    files = []
    with f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)
        for n, line in enumerate(data[:end].split(b"\n")[:-1], 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if not isinstance(rec, dict) or not isinstance(rec.get("file"), str):
                raise ValueError(f"{os.fsdecode(path)}: line {n} is not a gitc JSON record with a \"file\"")
            files.append(rec["file"])
    return files
