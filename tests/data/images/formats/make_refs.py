"""Writes the Pillow TIFF test images of this folder and, for every .tif here
(these and make_formats.c's), NAME.ref.png: Pillow 9.4's
Image.open(NAME).convert("RGB"), the pixels gitc must give (Pillow applies a
TIFF's Orientation tag when it loads it), and for orient*.tif NAME.exif.png:
ImageOps.exif_transpose(Image.open(NAME)).convert("RGB"). Files Pillow
cannot open get no reference (gitc must then refuse them too: see
test_image_formats.c). Run with Debian's python3 (Pillow 9.4) from this folder:
    /usr/bin/python3 make_refs.py
"""
import glob

import PIL
from PIL import Image, ImageOps

assert PIL.__version__ == "9.4.0", PIL.__version__


def pattern(w, h):
    im = Image.new("RGB", (w, h))
    im.putdata([((x * 255) // (w - 1), (y * 255) // (h - 1), (x * y * 7) % 256)
                for y in range(h) for x in range(w)])
    return im


rgb = pattern(45, 29)
rgb.save("rgb8.tif")
rgb.save("rgb8_lzw.tif", compression="tiff_lzw")
rgb.save("rgb8_deflate.tif", compression="tiff_adobe_deflate")
rgb.save("rgb8_packbits.tif", compression="packbits")
rgba = rgb.copy()
rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
rgba.save("rgba8.tif")
rgb.convert("L").save("grey8.tif")
la = rgb.convert("LA")
la.putalpha(77)
la.save("grey_alpha8.tif")
rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=37).save("palette8.tif")
rgb.convert("1").save("bilevel.tif")
rgb.convert("1").save("bilevel_g4.tif", compression="group4")
rgb.convert("CMYK").save("cmyk8.tif")
cmyk = Image.new("CMYK", (17, 9))
cmyk.putdata([(x * 15, y * 28, (x * y) % 256, 255 - x * 15) for y in range(9) for x in range(17)])
cmyk.save("cmyk8_ink.tif")
i16 = Image.new("I;16", (23, 9))
i16.putdata([(x * 17 + y * 3) % 400 for y in range(9) for x in range(23)])
i16.save("grey16.tif")
second = pattern(12, 10).transpose(Image.Transpose.ROTATE_90)
rgb.save("multipage.tif", save_all=True, append_images=[second])
for orientation in (2, 6, 8):
    rgb.save(f"orient{orientation}.tif", tiffinfo={274: orientation})

for path in sorted(glob.glob("*.tif")):
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("F", "I"):  # float / 32-bit int samples: not a mode gitc reads
                print(f"{path}: {mode}, not a common mode: no reference")
                continue
            im.convert("RGB").save(path[:-4] + ".ref.png")
        print(f"{path}: {mode} -> {path[:-4]}.ref.png")
        if path.startswith("orient"):
            # transformers' load_image: exif_transpose, then convert("RGB"). Pillow
            # 9.4 has already applied a TIFF's orientation when it loaded it, so
            # this applies it a second time; gitc does the same.
            with Image.open(path) as im:
                ImageOps.exif_transpose(im).convert("RGB").save(path[:-4] + ".exif.png")
    except Exception as e:  # Pillow cannot read it: no reference
        print(f"{path}: Pillow refuses it ({type(e).__name__}: {e})")
