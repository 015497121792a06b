#!/bin/sh
# Builds a program outside the source tree against gitc the ways people embed it.
#   run.sh installed SOURCE BUILD WORK [CFLAGS]: cmake --install BUILD into
#       WORK/prefix, then the consumer with pkg-config and with find_package(gitc),
#       both run on the installed demo model, and the installed gitc --version.
#   run.sh subdir SOURCE WORK [CFLAGS]: add_subdirectory(SOURCE) with every
#       optional codec off; the consumer must report only JPEG PNG BMP and refuse
#       a WebP image with a message naming the missing codec.
set -eu
mode=$1 src=$2
want_caption="caption: a large red circle on a white background"
check() { # check FILE TEXT: FILE contains TEXT
    if ! grep -qF -- "$2" "$1"; then
        echo "FAIL: expected '$2' in:"; cat "$1"; exit 1
    fi
    echo "ok: $2"
}
if [ "$mode" = installed ]; then
    build=$3 work=$4 cflags=${5:-}
    rm -rf "$work" && mkdir -p "$work"
    prefix=$work/prefix
    cmake --install "$build" --prefix "$prefix" > "$work/install.log"
    pc=$(find "$prefix" -name gitc.pc | head -n 1)
    [ -n "$pc" ] || { echo "FAIL: no gitc.pc installed"; exit 1; }
    export PKG_CONFIG_PATH="$(dirname "$pc")"
    libdir=$(pkg-config --variable=libdir gitc)
    echo "pkg-config --cflags --libs gitc: $(pkg-config --cflags --libs gitc)"
    # shellcheck disable=SC2046,SC2086
    ${CC:-cc} $cflags -o "$work/consumer_pc" "$src/tests/package/consumer.c" \
        $(pkg-config --cflags --libs gitc) -Wl,-rpath,"$libdir"
    "$work/consumer_pc" "$prefix/share/gitc/models/git-shapes" "$src/examples/shapes_0_224x224.png" > "$work/pc.out"
    check "$work/pc.out" "$want_caption"
    cmake -S "$src/tests/package" -B "$work/fp" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_FLAGS="$cflags" > "$work/fp.log"
    cmake --build "$work/fp" >> "$work/fp.log"
    "$work/fp/consumer" "$prefix/share/gitc/models/git-shapes" "$src/examples/shapes_0_224x224.png" > "$work/fp.out"
    check "$work/fp.out" "$want_caption"
    "$prefix/bin/gitc" --version > "$work/version.out"
    check "$work/version.out" "formats: JPEG PNG BMP"
elif [ "$mode" = subdir ]; then
    work=$3 cflags=${4:-}
    rm -rf "$work" && mkdir -p "$work"
    cmake -S "$src/tests/package" -B "$work/sub" -DGITC_SUBDIR="$src" -DCMAKE_C_FLAGS="$cflags" \
        -DGITC_BUILD_CLI=OFF -DGITC_WITH_WEBP=OFF -DGITC_WITH_GIF=OFF -DGITC_WITH_TIFF=OFF \
        -DGITC_WITH_AVIF=OFF -DGITC_WITH_HEIC=OFF -DGITC_WITH_FFMPEG=OFF > "$work/sub.log"
    cmake --build "$work/sub" --target consumer -j 2 >> "$work/sub.log"
    "$work/sub/consumer" > "$work/formats.out"
    check "$work/formats.out" "formats: JPEG PNG BMP"
    if grep -q "WebP\|GIF\|TIFF\|AVIF\|HEIC\|video" "$work/formats.out"; then
        echo "FAIL: codecs switched off are still reported:"; cat "$work/formats.out"; exit 1
    fi
    if "$work/sub/consumer" "$src/models/git-shapes" "$src/tests/data/images/fuzz-seeds/probe_lossy.webp" > "$work/webp.out"; then
        echo "FAIL: a WebP image was read without WebP support"; exit 1
    fi
    check "$work/webp.out" "built without WebP support"
    "$work/sub/consumer" "$src/models/git-shapes" "$src/examples/shapes_0_224x224.png" > "$work/png.out"
    check "$work/png.out" "$want_caption"
else
    echo "usage: run.sh installed|subdir ..."; exit 2
fi
echo "package test passed"
