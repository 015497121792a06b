#!/usr/bin/env python3
"""Checks that the files of src/ form no circle (notes/architecture.md).

Two graphs are checked:
  1. includes: file -> the src/ header it includes (#include "x.h");
  2. rooms: X.c -> Y.c when X.c calls a function defined in Y.c (read from the
     static library's symbol tables with nm) or includes a header that declares
     functions of Y.c (y.h, or the owner named in OWNERS). Headers that only
     define types and macros (model.h) tie no room to another.
A cycle in either graph fails the check, except cycles made only of the files
in KNOWN (the kernel sets, being untangled separately), which are printed.

With the public header, it also checks the names the static library defines:
every global symbol is public (gitc_*, declared in gitc.h) or carries the
private prefix gitci_, so none can clash with another library (zip_open) or
pass for public; the files in KNOWN_NAMES keep their gitc_ names for now.

usage: check_layers.py SRC_DIR [LIBGITC_STATIC_ARCHIVE [GITC_H]]
"""
import os
import re
import subprocess
import sys

# Headers whose functions live in a file of another name.
OWNERS = {"internal.h": "util.c", "image_internal.h": "image.c", "video_internal.h": "video.c"}

# Rooms whose mutual calls are known and tolerated for now (none).
KNOWN = set()

# Files whose internal symbols still carry the public prefix (none).
KNOWN_NAMES = set()

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
PROTOTYPE = re.compile(r'^(?!typedef\b|#|\s|struct\b|enum\b|union\b|static\b)[^;{}()=]*\b\w+\s*\([^;{}]*\)'
                       r'(\s*GITC_PRINTF\([^)]*\))?\s*;', re.M)


def strip_comments(text):
    """The text without C comments and string contents."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def cycles(graph):
    """The strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def symbols(archive):
    """(defined: name -> file, used: file -> names) of the archive's members."""
    text = subprocess.run(["nm", "-A", archive], check=True, capture_output=True, text=True).stdout
    defined, used = {}, {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        member = parts[0].split(":")[1]
        room = member[:-2] if member.endswith(".o") else member  # x.c.o -> x.c
        kind, name = parts[1], parts[2]
        if name.startswith("__"):
            continue  # the compiler's own (AddressSanitizer's __odr_asan.NAME, __asan_*)
        if kind == "U":
            used.setdefault(room, set()).add(name)
        elif kind in "TDBRCVW":
            defined[name] = room
    return defined, used


def call_edges(defined, used):
    """X.c -> Y.c for every function or object X.c uses that Y.c defines."""
    edges = {}
    for room, names in used.items():
        for name in names:
            if name in defined and defined[name] != room:
                edges.setdefault(room, set()).add(defined[name])
    return edges


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    src = sys.argv[1]
    files = sorted(f for f in os.listdir(src) if f.endswith((".c", ".h")))
    text = {f: open(os.path.join(src, f), encoding="utf-8").read() for f in files}
    includes = {f: {h for h in INCLUDE.findall(text[f]) if h in text} for f in files}

    failed = 0
    found = cycles(includes)
    print("include graph: %d files, %d edges, %d cycles" %
          (len(files), sum(len(v) for v in includes.values()), len(found)))
    for c in found:
        print("  FAIL include cycle: %s" % " <-> ".join(c))
        failed += 1

    declares = {h for h in files if h.endswith(".h") and PROTOTYPE.search(strip_comments(text[h]))}
    rooms = {}
    for f in files:
        if not f.endswith(".c"):
            continue
        for h in includes[f]:
            owner = OWNERS.get(h, h[:-2] + ".c")
            if h in declares and owner in text and owner != f:
                rooms.setdefault(f, set()).add(owner)
    n_calls = 0
    if len(sys.argv) > 2:
        defined, used = symbols(sys.argv[2])
        for room, targets in call_edges(defined, used).items():
            for t in targets:
                if room in text and t in text:
                    rooms.setdefault(room, set()).add(t)
                    n_calls += 1
    else:
        print("no library given: rooms from includes only")
    found = cycles(rooms)
    print("room graph: %d rooms, %d edges (%d from calls), %d cycles" %
          (len([f for f in files if f.endswith(".c")]), sum(len(v) for v in rooms.values()), n_calls,
           len(found)))
    for c in found:
        if set(c) <= KNOWN:
            print("  known (kernel sets): %s" % " <-> ".join(c))
        else:
            print("  FAIL room cycle: %s" % " <-> ".join(c))
            for a in c:
                print("    %s -> %s" % (a, ", ".join(sorted(set(rooms.get(a, ())) & set(c)))))
            failed += 1
    if len(sys.argv) > 3:
        public = set(re.findall(r"\b(gitc_\w+)\s*\(", strip_comments(open(sys.argv[3]).read())))
        bad, known = [], 0
        for name, room in sorted(defined.items()):
            if name.startswith("gitci_") or name in public:
                continue
            if room in KNOWN_NAMES and name.startswith("gitc_"):
                known += 1
                continue
            bad.append((room, name))
        print("names: %d global symbols, %d public, %d with the private prefix gitci_, %d known (%s)" %
              (len(defined), len(set(defined) & public), len([n for n in defined if n.startswith("gitci_")]),
               known, ", ".join(sorted(KNOWN_NAMES))))
        for room, name in bad:
            print("  FAIL %s defines %s: neither public (gitc.h) nor gitci_" % (room, name))
            failed += 1
    print("check_layers: %s" % ("FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
