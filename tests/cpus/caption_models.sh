#!/bin/sh
# Captions the bundled example on emulated x86 CPUs (QEMU user mode) and
# checks each answer equals the native one: the CPU check must keep every
# wider instruction set out of the way (the AVX-512 SIGILL on AVX2 CPUs).
#   caption_models.sh GITC_BIN ROOT [CPU...]
# Exits 77 (skipped) where qemu-x86_64 is missing or the host is not x86-64.
set -u
gitc=$1 root=$2
shift 2
[ $# -gt 0 ] || set -- Haswell SandyBridge Nehalem
if [ "$(uname -m)" != x86_64 ] || ! command -v qemu-x86_64 >/dev/null 2>&1; then
    echo "SKIP: needs an x86-64 host with qemu-x86_64 (Debian: qemu-user)"
    exit 77
fi
image=$root/examples/shapes_0_224x224.png
want=$("$gitc" caption "$image") || { echo "FAIL: native caption failed"; exit 1; }
echo "native: $want"
fail=0
for cpu in "$@"; do
    got=$(qemu-x86_64 -cpu "$cpu" "$gitc" caption "$image" 2>/tmp/gitc-cpu-$$.err)
    rc=$?
    if [ $rc -ne 0 ] || [ "$got" != "$want" ]; then
        echo "FAIL: -cpu $cpu: exit $rc, caption '$got'"
        grep -v "TCG doesn't support" /tmp/gitc-cpu-$$.err | head -5
        fail=1
    else
        echo "ok: -cpu $cpu: $got"
    fi
done
rm -f /tmp/gitc-cpu-$$.err
exit $fail
