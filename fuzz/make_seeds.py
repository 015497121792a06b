#!/usr/bin/python3
"""Writes the handcrafted fuzz seeds under fuzz/seeds/<target>/ (run from anywhere;
the output is committed). Edge cases the repository's own test files do not
cover: unusual but valid forms, values at and just past the limits, and the
regression inputs of the campaign."""
import io
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()


def st_file(header, data=b""):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


# ---- safetensors ----
write("safetensors", "f32_pair.safetensors", st_file(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
     "b": {"dtype": "F32", "shape": [1, 1], "data_offsets": [8, 12]}}, b"\0" * 12))
dtypes = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
hdr, off = {"__metadata__": {"format": "pt"}}, 0
for i, (dt, sz) in enumerate(dtypes.items()):
    hdr["t%d" % i] = {"dtype": dt, "shape": [3], "data_offsets": [off, off + 3 * sz]}
    off += 3 * sz
write("safetensors", "all_dtypes.safetensors", st_file(hdr, bytes(range(off))))
write("safetensors", "scalar_and_empty.safetensors", st_file(
    {"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
     "e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [4, 4]}}, b"\0\0\x80\x3f"))
write("safetensors", "padded_header.safetensors", st_file(
    b'{"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}      ', b"\x80\x3f" * 4))
write("safetensors", "max_dims.safetensors", st_file(
    {"a": {"dtype": "U8", "shape": [1] * 8, "data_offsets": [0, 1]}}, b"\x07"))
write("safetensors", "offsets_2p53.safetensors", st_file(
    b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[9007199254740993,9007199254740994]}}'))
write("safetensors", "offsets_neg.safetensors", st_file(
    b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', b"\0"))
write("safetensors", "shape_big.safetensors", st_file(
    b'{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', b"\0" * 8))
tiny = read("tests/data/tiny/tiny-bf16/model.safetensors")
hl = struct.unpack("<Q", tiny[:8])[0]
write("safetensors", "tiny_header_only.safetensors", tiny[:8 + hl])

# ---- config.json ----
for rel in ["tests/data/tiny/tiny/config.json", "tests/data/tiny/tiny-video/config.json",
            "models/git-shapes/config.json"]:
    write("config", rel.replace("/", "_"), read(rel))
write("config", "empty.json", "{}")
write("config", "nulls.json", '{"vision_config": null, "num_image_with_embedding": null, "model_type": "git"}')
write("config", "edge_values.json", json.dumps(
    {"vocab_size": 4194304, "hidden_size": 32768, "num_attention_heads": 1024, "num_hidden_layers": 0,
     "max_position_embeddings": 65536, "layer_norm_eps": 5e-324,
     "vision_config": {"image_size": 4096, "patch_size": 4096, "num_channels": 3, "hidden_act": "quick_gelu"}}))
write("config", "big_numbers.json", '{"vocab_size": 1e400, "hidden_size": -0.0, "intermediate_size": 1e9,'
      ' "vision_config": {"hidden_size": 2.5, "layer_norm_eps": -1e-400}}')
write("config", "deep.json", '{"a":' + "[" * 64 + "]" * 64 + "}")
write("config", "strings.json", '{"model_type": "git\\u0000x", "hidden_act": "gelu", '
      '"position_embedding_type": "relative_key", "vision_config": {"hidden_act": 1}}')

# ---- generation_config.json ----
write("generation", "git_shapes.json", read("models/git-shapes/generation_config.json"))
write("generation", "beam.json", json.dumps(
    {"num_beams": 4, "length_penalty": 0.6, "max_length": 50, "early_stopping": "never",
     "no_repeat_ngram_size": 3, "num_return_sequences": 2}))
write("generation", "sample.json", json.dumps(
    {"do_sample": True, "temperature": 0.7, "top_k": 0, "top_p": 0.9, "repetition_penalty": 1.2,
     "max_new_tokens": 20, "min_new_tokens": 2, "min_length": 3, "early_stopping": True}))
write("generation", "issue14_max_new_tokens.json", '{"max_new_tokens": 1000000000}')
write("generation", "issue14_float_overflow.json", '{"temperature": -1e39, "length_penalty": 1e400}')
write("generation", "limits.json", '{"max_length": 65536, "max_new_tokens": 65537, "num_beams": 64,'
      ' "num_return_sequences": 65, "top_k": 1073741824, "top_p": 1.0000001}')

# ---- preprocessor_config.json ----
write("preprocessor", "git_shapes.json", read("models/git-shapes/preprocessor_config.json"))
write("preprocessor", "videomae.json", json.dumps(
    {"image_processor_type": "VideoMAEImageProcessor", "size": {"shortest_edge": 16},
     "crop_size": [16, 16], "resample": 2, "do_center_crop": True, "image_mean": 0.5, "image_std": 0.5}))
write("preprocessor", "small_clip.json", json.dumps(
    {"image_processor_type": "CLIPImageProcessor", "size": 8, "crop_size": 8, "resample": 1,
     "rescale_factor": 0.00392156862745098, "do_normalize": False, "image_mean": [0, 0, 0],
     "image_std": [1, 1, 1]}))
write("preprocessor", "height_width.json", json.dumps(
    {"image_processor_type": "CLIPImageProcessor", "size": {"height": 12, "width": 20},
     "crop_size": {"height": 10, "width": 6}, "resample": 4, "do_center_crop": True}))
write("preprocessor", "no_crop.json", json.dumps(
    {"size": [5, 7], "do_center_crop": False, "resample": 5, "image_std": [1e-45, 3.5e38, -2]}))
write("preprocessor", "bad_values.json", '{"size": 32769, "crop_size": {"height": 0.5}, "resample": 0,'
      ' "rescale_factor": 1e400, "image_std": [0, 0, 0]}')

# ---- tokenizer files ----
write("tokenizer_vocab", "git_shapes_vocab.txt", read("models/git-shapes/vocab.txt"))
specials = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
write("tokenizer_vocab", "small_crlf.txt", (specials + "the\r\ncat\r\n##s\rmat\n\u00e9t\u00e9\n\u65e5\n##ing").encode())
write("tokenizer_vocab", "dups.txt", specials + "a\na\n[CLS]\n\n\n##\n")
write("tokenizer_json", "git_shapes_tokenizer.json", read("models/git-shapes/tokenizer.json"))
write("tokenizer_json", "minimal.json", json.dumps(
    {"model": {"type": "WordPiece", "max_input_chars_per_word": 5, "unk_token": "[UNK]",
               "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "a": 5, "##b": 6}},
     "normalizer": {"type": "BertNormalizer", "lowercase": False, "handle_chinese_chars": True,
                    "strip_accents": None}}))
for name, rel in [("git_shapes_config", "models/git-shapes/tokenizer_config.json"),
                  ("bert_config", "tests/data/tokenizer/bert-base-uncased/tokenizer_config.json")]:
    write("tokenizer_config", name + ".bin", b"\0" + read(rel))
write("tokenizer_config", "special_map.bin", b"\1" + read("models/git-shapes/special_tokens_map.json"))
write("tokenizer_config", "special_map_objects.bin", b"\1" + json.dumps(
    {"cls_token": {"content": "[CLS]", "lstrip": False}, "sep_token": "[SEP]", "pad_token": None,
     "additional_special_tokens": ["[MASK]", {"content": "[unused1]"}]}).encode())
write("tokenizer_config", "config_flags.bin", b"\0" + json.dumps(
    {"do_lower_case": False, "strip_accents": None, "tokenize_chinese_chars": False,
     "do_basic_tokenize": False, "clean_up_tokenization_spaces": False, "never_split": ["[unused3]", "x"],
     "unk_token": "[UNK]", "added_tokens_decoder": {"100": {"content": "[UNK]", "special": True}}}).encode())

# ---- images ----
try:
    from PIL import Image
except ImportError:
    sys.exit("make_seeds.py: Pillow is needed for the image seeds")


def img_bytes(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


base = Image.new("RGB", (7, 5))
for y in range(5):
    for x in range(7):
        base.putpixel((x, y), (x * 36, y * 50, (x * y * 20) % 256))
write("image", "cmyk.jpg", img_bytes(base.convert("CMYK"), "JPEG", quality=90))
write("image", "progressive.jpg", img_bytes(base, "JPEG", progressive=True, quality=80))
write("image", "gray.jpg", img_bytes(base.convert("L"), "JPEG"))
write("image", "subsampled420.jpg", img_bytes(base.resize((17, 9)), "JPEG", subsampling=2))
write("image", "rgba.png", img_bytes(base.convert("RGBA"), "PNG"))
write("image", "la.png", img_bytes(base.convert("LA"), "PNG"))
write("image", "one_bit.png", img_bytes(base.convert("1"), "PNG"))
write("image", "pal_trns.png", img_bytes(base.convert("P"), "PNG", transparency=3))
write("image", "i16.png", img_bytes(base.convert("L").convert("I"), "PNG"))
write("image", "lossy.webp", img_bytes(base, "WEBP", quality=50))
write("image", "lossless_alpha.webp", img_bytes(base.convert("RGBA"), "WEBP", lossless=True))
frames = [base, base.transpose(Image.FLIP_LEFT_RIGHT)]
write("image", "animated.webp", img_bytes(frames[0], "WEBP", save_all=True, append_images=frames[1:]))
write("image", "animated.gif", img_bytes(frames[0].convert("P"), "GIF", save_all=True,
                                         append_images=[f.convert("P") for f in frames[1:]]))
write("image", "interlaced.gif", img_bytes(base.convert("P"), "GIF", interlace=True))
write("image", "bmp1.bmp", img_bytes(base.convert("1"), "BMP"))
write("image", "bmp8.bmp", img_bytes(base.convert("P"), "BMP"))
write("image", "bmp24.bmp", img_bytes(base, "BMP"))
# EXIF orientation 8 in a JPEG
exif = Image.Exif()
exif[0x0112] = 8
write("image", "exif8.jpg", img_bytes(base, "JPEG", exif=exif.tobytes()))

# ---- video ----
y4m = b"YUV4MPEG2 W8 H6 F25:1 Ip A1:1 C420jpeg\n"
for i in range(3):
    y4m += b"FRAME\n" + bytes([16 * i + k % 7 for k in range(48)]) + bytes([128] * 24)
write("video", "small.y4m", y4m)
write("video", "gray.y4m", b"YUV4MPEG2 W4 H4 F1:1 Cmono\nFRAME\n" + bytes(range(16)) * 1)
print("seeds written to", OUT)
