#!/bin/sh
# Checks that the command (tools/) is built on the public header alone: every
# #include "..." in tools/ names gitc.h or a header in tools/, and no
# #include <...> names a header of the library's src/ (or a path into it).
# Usage: check_tool_includes.sh REPOSITORY_ROOT
set -u
root=$1
status=0
n=0
tmp_fail=$(mktemp) || exit 1
trap 'rm -f "$tmp_fail"' EXIT
for f in "$root"/tools/*.c "$root"/tools/*.h; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    grep -n '^[[:space:]]*#[[:space:]]*include' "$f" | while IFS= read -r line; do
        name=$(printf '%s\n' "$line" | sed -n 's/.*#[[:space:]]*include[[:space:]]*["<]\([^">]*\)[">].*/\1/p')
        case "$line" in
        *'"'*)
            if [ "$name" != gitc.h ] && [ ! -f "$root/tools/$name" ]; then
                echo "FAIL: ${f#$root/}:$line: not gitc.h or a header in tools/"
                echo x >> "$tmp_fail"
            fi ;;
        *)
            base=${name##*/}
            if [ "$base" != gitc.h ] && { [ -f "$root/src/$base" ] || [ "${name#*src/}" != "$name" ]; }; then
                echo "FAIL: ${f#$root/}:$line: a library-internal header"
                echo x >> "$tmp_fail"
            fi ;;
        esac
    done
done
[ -s "$tmp_fail" ] && status=1
echo "tools/: $n files checked"
[ $status -eq 0 ] && echo "tools include only gitc.h, their own headers and system headers"
exit $status
