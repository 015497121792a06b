#!/usr/bin/env python3
"""Writes the campaign section of notes/fuzzing.md (called by scripts/fuzz.sh all).

usage: write_notes.py NOTES OUTDIR SECONDS JOBS MACHINE COMMAND TARGET...

Reads OUTDIR/TARGET.row (target|executions|exec/s|edges|new units|corpus|findings) and
replaces the text between the campaign markers with a table: a row per target of this run,
plus the rows of earlier runs for targets this run did not include (a partial rerun keeps
the other figures). A target in several runs sums its executions and findings over them;
the runs column names them (the corpus carries over from run to run)."""
import os
import re
import sys
import time

notes, outdir, seconds, jobs, machine, command = sys.argv[1:7]
targets = sys.argv[7:]
begin = "<!-- campaign:begin (written by scripts/fuzz.sh all) -->"
end = "<!-- campaign:end -->"
# The run's start: from the output folder's name (scripts/fuzz.sh names it by the UTC time).
stamp = re.search(r"(\d{8}T\d{6})$", outdir.rstrip("/"))
start = time.strptime(stamp.group(1), "%Y%m%dT%H%M%S") if stamp else time.gmtime()
now = time.strftime("%Y-%m-%d %H:%M UTC", start)

text = open(notes).read() if os.path.exists(notes) else "# Fuzzing\n\n"
m = re.search(re.escape(begin) + r"(.*?)" + re.escape(end), text, re.S)
old = m.group(1) if m else ""

# Earlier runs: "- run N: DATE, S s per target, J side by side: `COMMAND`" and rows ending in "| N |".
runs = re.findall(r"^- run (\d+): (.*)$", old, re.M)
old_rows = {}
for line in old.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 8 and cells[1].isdigit() and not cells[0].startswith("**"):
        old_rows[cells[0]] = cells
run_id = str(max([int(r[0]) for r in runs] + [0]) + 1)

# A target run again adds its executions and findings to the earlier runs' (the
# campaign's figure is executions); the other columns are the latest run's.
rows = {}
for t in targets:
    with open(os.path.join(outdir, t + ".row")) as f:
        cells = f.read().strip().split("|")
    cells = cells[:7] + [run_id]
    if t in old_rows:
        prev = old_rows[t]
        cells[1] = str(int(prev[1]) + int(cells[1]))
        cells[6] = str(int(prev[6]) + int(cells[6]))
        cells[7] = prev[7] + "+" + run_id
    rows[t] = cells
for name, cells in old_rows.items():
    if name not in rows:
        rows[name] = cells
used = {r for cells in rows.values() for r in cells[7].split("+")}
runs = [r for r in runs if r[0] in used]
runs.append((run_id, "started %s, %s s per target, %s side by side: `%s`" % (now, seconds, jobs, command)))

out = [begin, "", "Machine: %s." % machine, ""]
out += ["- run %s: %s" % r for r in runs]
out += ["", "| target | executions (all runs) | exec/s (last run) | edges (cov) | new units | corpus (units/bytes) | findings (all runs) | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
total = found = 0
for name in sorted(rows):
    cells = rows[name]
    out.append("| " + " | ".join(cells) + " |")
    total += int(cells[1])
    found += int(cells[6])
out.append("| **total** | %d | | | | | %d | |" % (total, found))
out.append(end)
section = "\n".join(out)
if m:
    text = text[:m.start()] + section + text[m.end():]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(notes, "w").write(text)
