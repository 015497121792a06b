#!/usr/bin/env python3
"""Writes tests/data/images/refs.safetensors: the reference tensors test_image and
test_processor compare with, taken from /work/shared/reference (images/image_refs.safetensors
and demo/pixel_values.safetensors) and stored compactly but losslessly.

- U8 tensors (decoded_rgb, decoded_cmyk, resized_rgb, videomae.resized_rgb) are copied as they are.
- Each F32 [3,H,W] tensor T (processor outputs, demo pixel_values) is stored as
  T.values F32 [3,256] (the distinct values of each channel, sorted, padded with the last one)
  and T.index U8 [3,H,W] (the position of each element in its channel's list).
  A channel of a preprocessed uint8 image has at most 256 distinct values, so this is exact;
  the script rebuilds every tensor and checks it bit for bit before writing.
Demo tensors are renamed demo.exK.pixel_values.*. F32 tensors come first (4-byte aligned).

Usage: python3 make_refs.py [reference_dir] (default /work/shared/reference). Needs only Python 3.
"""
import json
import os
import struct
import sys
from array import array

REF = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/reference"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "refs.safetensors")


def read_st(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], blob[base + a:base + b])
    return out


def compact_f32(shape, raw):
    vals = array("f")
    vals.frombytes(raw)
    assert sys.byteorder == "little"
    c = shape[0]
    plane = len(vals) // c
    # Compare as bit patterns so -0.0 / 0.0 stay distinct and rebuilding is exact.
    bits = array("I")
    bits.frombytes(raw)
    table = array("I")
    index = bytearray(len(vals))
    for ch in range(c):
        chan = bits[ch * plane:(ch + 1) * plane]
        distinct = sorted(set(chan), key=lambda u: struct.unpack("<f", struct.pack("<I", u))[0])
        if len(distinct) > 256:
            raise SystemExit("channel has more than 256 distinct values")
        pos = {u: i for i, u in enumerate(distinct)}
        for i, u in enumerate(chan):
            index[ch * plane + i] = pos[u]
        row = distinct + [distinct[-1]] * (256 - len(distinct))
        table.extend(row)
    # Rebuild and check bit for bit.
    rebuilt = array("I", (table[(i // plane) * 256 + index[i]] for i in range(len(vals))))
    if rebuilt.tobytes() != raw:
        raise SystemExit("compact encoding is not exact")
    return table.tobytes(), bytes(index)


def main():
    tensors = []  # (name, dtype, shape, bytes)
    refs = read_st(os.path.join(REF, "images", "image_refs.safetensors"))
    demo = read_st(os.path.join(REF, "demo", "pixel_values.safetensors"))
    for src, prefix in ((refs, ""), (demo, "demo.")):
        for name in sorted(src):
            dtype, shape, raw = src[name]
            if dtype == "U8":
                tensors.append((prefix + name, "U8", shape, raw))
            elif dtype == "F32":
                table, index = compact_f32(shape, raw)
                tensors.append((prefix + name + ".values", "F32", [shape[0], 256], table))
                tensors.append((prefix + name + ".index", "U8", shape, index))
            else:
                raise SystemExit(name + ": unexpected dtype " + dtype)
    # F32 tensors first so every one stays 4-byte aligned in the file.
    tensors.sort(key=lambda t: t[1] != "F32")
    header = {"__metadata__": {"source": "make_refs.py from shared/reference"}}
    off = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(OUT + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for _, _, _, raw in tensors:
            f.write(raw)
    os.replace(OUT + ".tmp", OUT)
    print("wrote", OUT, len(tensors), "tensors", 8 + len(hj) + off, "bytes")


if __name__ == "__main__":
    main()
