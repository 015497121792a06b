"""`python3 -m gitc caption|ask|video ...`: the basic cases of the gitc command, same output."""
import argparse
import json
import os
import sys

from . import Error, Model
from .records import dumps, record

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".gif")


def _expand(args, exts):
    """Files as given; a folder as its files with the extensions, sorted by name."""
    out = []
    for a in args:
        if os.path.isdir(a):
            names = sorted(n for n in os.listdir(a)
                           if not n.startswith(".") and n.lower().endswith(exts)
                           and os.path.isfile(os.path.join(a, n)))
            if not names:
                raise SystemExit(f"gitc: {a}: no matching files in this folder")
            out += [a + ("" if a.endswith("/") else "/") + n for n in names]
        else:
            out.append(a)
    return out


def _parser():
    p = argparse.ArgumentParser(prog="python3 -m gitc", description="GIT captions through libgitc.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("caption", "describe images in one sentence"),
                        ("ask", "answer a question about images (the last argument)"),
                        ("video", "describe video files")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("inputs", nargs="+", metavar="FILE")
        s.add_argument("-m", "--model", default=None, help="model folder or hub id (default: embedded)")
        s.add_argument("--revision", default=None, help="hub revision (branch, tag or commit)")
        s.add_argument("--threads", type=int, default=0)
        s.add_argument("--json", action="store_true", help="JSON Lines records as `gitc --json`")
        s.add_argument("--batch-size", type=int, default=8)
        s.add_argument("--max-length", type=int)
        s.add_argument("--max-new-tokens", type=int)
        s.add_argument("--beams", "--num-beams", dest="num_beams", type=int)
        s.add_argument("--sample", dest="do_sample", action="store_true", default=None)
        s.add_argument("--temperature", type=float)
        s.add_argument("--top-k", type=int)
        s.add_argument("--top-p", type=float)
        s.add_argument("--seed", type=int)
        s.add_argument("--repetition-penalty", type=float)
        s.add_argument("--no-repeat-ngram-size", type=int)
        s.add_argument("--length-penalty", type=float)
        s.add_argument("--num-return-sequences", type=int)
    return p


GEN_ARGS = ("max_length", "max_new_tokens", "num_beams", "do_sample", "temperature", "top_k", "top_p",
            "seed", "repetition_penalty", "no_repeat_ngram_size", "length_penalty", "num_return_sequences")


def main(argv=None):
    a = _parser().parse_args(argv)
    question = None
    inputs = a.inputs
    if a.command == "ask":
        if len(inputs) < 2:
            print("gitc: ask: needs IMAGE... and a QUESTION", file=sys.stderr)
            return 2
        question = inputs.pop()
    video = a.command == "video"
    inputs = _expand(inputs, VIDEO_EXTS if video else IMAGE_EXTS)
    gen = {k: getattr(a, k) for k in GEN_ARGS if getattr(a, k) is not None}
    try:
        model = Model(a.model, a.revision, a.threads, video=video)
        results = model.generate_batch(inputs, question, batch_size=a.batch_size, errors="return", **gen)
    except Error as e:
        print(f"gitc: {e.message}", file=sys.stderr)
        return 2 if e.status == 5 else 1
    failed = 0
    for path, res in zip(inputs, results):
        if a.json:
            print(dumps(record(path, res, question, video_file=video)))
        elif isinstance(res, Error):
            msg = res.message
            print(f"gitc: {msg}" if msg.startswith(path + ":") else f"gitc: {path}: {msg}", file=sys.stderr)
        else:
            for t in res.texts:
                print(f"{path}: {t}" if len(inputs) > 1 else t)
        failed += isinstance(res, Error)
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
