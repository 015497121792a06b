"""Shared fixtures: the repository, the gitc CLI and its JSON output, the demo examples."""
import json
import os
import subprocess

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")


def gitc_bin():
    """The gitc CLI: $GITC_BIN (set by ctest), else build/gitc."""
    path = os.environ.get("GITC_BIN") or os.path.join(ROOT, "build", "gitc")
    assert os.access(path, os.X_OK), f"{path}: the gitc CLI is not built (set GITC_BIN)"
    return path


def run_cli(*args, check_status=None, stdin=None):
    """Runs the gitc CLI; returns the CompletedProcess (text mode)."""
    r = subprocess.run([gitc_bin(), *map(str, args)], capture_output=True, text=True, input=stdin,
                       timeout=300)
    if check_status is not None:
        assert r.returncode == check_status, f"gitc {' '.join(map(str, args))}: exit {r.returncode}\n{r.stderr}"
    return r


def cli_records(*args):
    """The CLI's --json records (timings left out: they differ from run to run)."""
    r = run_cli(args[0], "--json", *args[1:])
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    for rec in recs:
        rec.pop("timings_ms", None)
    return recs


@pytest.fixture(scope="session")
def examples():
    with open(os.path.join(ROOT, "tests", "data", "cli", "examples.json"), encoding="utf-8") as f:
        return json.load(f)


def example(name):
    return os.path.join(EXAMPLES, name)
