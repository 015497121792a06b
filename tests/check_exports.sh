#!/bin/sh
# Checks the export surface: libgitc.so defines exactly the functions gitc.h
# declares with GITC_API (no internal symbol, none missing), and the gitc tool
# (when given) takes every libgitc function from libgitc.so, i.e. the public API.
# Usage: check_exports.sh LIBGITC.so include/gitc.h [GITC_BINARY]
set -u
lib=$1 header=$2 tool=${3:-}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u > "$tmp/exported"
grep -v '^#' "$header" | grep -o 'GITC_API[^(]*(' | sed 's/ *($//; s/.*[ *]//' | sort -u > "$tmp/declared"
status=0
n_exp=$(wc -l < "$tmp/exported")
n_dec=$(wc -l < "$tmp/declared")
echo "libgitc.so exports $n_exp symbols; gitc.h declares $n_dec GITC_API functions"
if [ "$n_dec" -lt 20 ]; then
    echo "FAIL: found only $n_dec GITC_API declarations in $header"
    status=1
fi
# Every function declared in gitc.h carries GITC_API (else it would be hidden).
# (The inline default-params helpers are static inline: compiled into the caller.)
bare=$(grep -v '^#' "$header" | grep -E '^[A-Za-z_][A-Za-z0-9_ *]*[ *]gitc_[a-z0-9_]+\(' | grep -v '^GITC_API' | grep -v '^typedef' | grep -v '^static inline')
if [ -n "$bare" ]; then
    echo "FAIL: declared in gitc.h without GITC_API:"; echo "$bare" | sed 's/^/  /'
    status=1
fi
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then
    echo "FAIL: exported but not declared in gitc.h:"; echo "$extra" | sed 's/^/  /'
    status=1
fi
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$missing" ]; then
    echo "FAIL: declared in gitc.h but not exported:"; echo "$missing" | sed 's/^/  /'
    status=1
fi
if [ -n "$tool" ]; then
    if ! readelf -d "$tool" | grep -q 'NEEDED.*libgitc\.so'; then
        echo "FAIL: $tool is not linked against libgitc.so"
        status=1
    fi
    # Every gitc_* function the tool takes from a shared library is a public one.
    nm -D --undefined-only "$tool" | awk '{print $2}' | sed 's/@.*//' | grep '^gitc_' | sort -u > "$tmp/used"
    private=$(comm -23 "$tmp/used" "$tmp/declared")
    if [ -n "$private" ]; then
        echo "FAIL: $tool uses functions gitc.h does not declare:"; echo "$private" | sed 's/^/  /'
        status=1
    fi
    echo "gitc uses $(wc -l < "$tmp/used") public functions from libgitc.so"
fi
# The synthetic-model writer is a developer tool: it is not part of libgitc.
static=$(dirname "$lib")/libgitc.a
if [ -f "$static" ] && nm "$static" 2>/dev/null | grep -q ' T gitc_synth_'; then
    echo "FAIL: libgitc.a still contains the synthetic-model writer"
    status=1
fi
[ $status -eq 0 ] && echo "export surface OK"
exit $status
