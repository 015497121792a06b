/* Writes the TIFF, AVIF and HEIC test images of this folder that Pillow cannot
 * write (tiles, associated alpha, min-is-white, big-endian, 2/4-bit samples,
 * float samples) with libtiff, and the AVIF/HEIC files with libavif (aom) and
 * libheif (x265). For AVIF/HEIC it also writes NAME.ref.png: the library's own
 * RGB decode, which is what gitc promises for formats Pillow 9.4 cannot read.
 * The Pillow-written TIFFs and every TIFF's reference come from make_refs.py.
 *
 * Build and run from this folder:
 *   cc -O2 -o /tmp/make_formats make_formats.c -ltiff -lavif -lheif -lpng && /tmp/make_formats
 */
#include <avif/avif.h>
#include <libheif/heif.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

/* A smooth colour pattern (lossy codecs keep it close). */
static uint8_t pat(int x, int y, int c, int w, int h)
{
    switch (c) {
    case 0: return (uint8_t)(255 * x / (w - 1));
    case 1: return (uint8_t)(255 * y / (h - 1));
    default: return (uint8_t)(128 + 100 * ((x / 8 + y / 8) % 2 ? 1 : -1) * (x + y) / (w + h));
    }
}

static void fail(const char *what)
{
    fprintf(stderr, "make_formats: %s\n", what);
    exit(1);
}

/* Writes a TIFF from sample rows produced by `sample(x, y, c)`. */
typedef unsigned (*sample_fn)(int x, int y, int c);
static void write_tiff(const char *path, const char *mode, int w, int h, int spp, int bps,
                       int photometric, int extra, int tile, int compression, int format,
                       sample_fn sample)
{
    TIFF *t = TIFFOpen(path, mode);
    if (!t)
        fail(path);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bps);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photometric);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, compression);
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, format);
    if (extra) {
        uint16_t e[1] = {(uint16_t)extra};
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, e);
    }
    if (photometric == PHOTOMETRIC_PALETTE) {
        int n = 1 << bps;
        uint16_t *r = calloc(256, 2), *g = calloc(256, 2), *b = calloc(256, 2);
        for (int i = 0; i < n; i++) {
            r[i] = (uint16_t)(i * 65535 / (n - 1));
            g[i] = (uint16_t)((n - 1 - i) * 4369 + 77);
            b[i] = (uint16_t)((i * 40503) & 0xffff);
        }
        TIFFSetField(t, TIFFTAG_COLORMAP, r, g, b);
        free(r);
        free(g);
        free(b);
    }
    size_t row_bytes = ((size_t)w * spp * bps + 7) / 8;
    if (tile) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, tile);
        TIFFSetField(t, TIFFTAG_TILELENGTH, tile);
        size_t px = (size_t)spp * bps / 8;
        uint8_t *buf = calloc((size_t)tile * tile, px);
        for (int y0 = 0; y0 < h; y0 += tile)
            for (int x0 = 0; x0 < w; x0 += tile) {
                memset(buf, 0, (size_t)tile * tile * px);
                for (int y = 0; y < tile && y0 + y < h; y++)
                    for (int x = 0; x < tile && x0 + x < w; x++)
                        for (int c = 0; c < spp; c++)
                            buf[((size_t)y * tile + x) * px + c] = (uint8_t)sample(x0 + x, y0 + y, c);
                if (TIFFWriteTile(t, buf, x0, y0, 0, 0) < 0)
                    fail("tile");
            }
        free(buf);
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 8);
        uint8_t *row = calloc(row_bytes, 1);
        for (int y = 0; y < h; y++) {
            memset(row, 0, row_bytes);
            for (int x = 0; x < w; x++)
                for (int c = 0; c < spp; c++) {
                    unsigned v = sample(x, y, c);
                    size_t i = (size_t)x * spp + c;
                    if (bps == 8) {
                        row[i] = (uint8_t)v;
                    } else if (bps == 16) {
                        uint16_t s = (uint16_t)v;
                        memcpy(row + 2 * i, &s, 2); /* native order: libtiff swaps for "wb" */
                    } else if (bps == 32) {
                        float f = (float)v / 255.0f;
                        memcpy(row + 4 * i, &f, 4);
                    } else {
                        size_t bit = i * bps;
                        row[bit / 8] |= (uint8_t)(v << (8 - bps - bit % 8));
                    }
                }
            if (TIFFWriteScanline(t, row, y, 0) < 0)
                fail("scanline");
        }
        free(row);
    }
    TIFFClose(t);
}

static unsigned s_rgb(int x, int y, int c) { return pat(x, y, c, 40, 37); }
static unsigned s_assoc(int x, int y, int c)
{
    unsigned a = (unsigned)((x * 37 + y * 11) % 256);
    if (y == 0)
        a = x % 2 ? 255 : 0; /* the 0 and 255 special cases */
    if (c == 3)
        return a;
    return pat(x, y, c, 33, 21) * a / 255; /* premultiplied */
}
static unsigned s_grey(int x, int y, int c) { return (unsigned)((x * 9 + y * 5) % 256); }
static unsigned s_bit(int x, int y, int c) { return (unsigned)((x / 3 + y / 2) % 2); }
static unsigned s_nibble(int x, int y, int c) { return (unsigned)((x + 2 * y) % 16); }
static unsigned s_crumb(int x, int y, int c) { return (unsigned)((x + y) % 4); }
static unsigned s_wide(int x, int y, int c) { return (unsigned)((x * 2039 + y * 977 + c * 19997) % 65536); }
static unsigned s_grey16(int x, int y, int c) { return (unsigned)((x * 17 + y * 3) % 400); }

/* Writes rgb [h, w, 3] as an 8-bit RGB PNG. */
static void write_png(const char *path, const uint8_t *rgb, int w, int h, int stride)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&im, path, 0, rgb, stride, NULL))
        fail(path);
}

static void write_avif(const char *path, int w, int h, int lossless, int alpha)
{
    avifImage *im = avifImageCreate((uint32_t)w, (uint32_t)h, 8,
                                    lossless ? AVIF_PIXEL_FORMAT_YUV444 : AVIF_PIXEL_FORMAT_YUV420);
    if (lossless) {
        im->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_IDENTITY;
        im->yuvRange = AVIF_RANGE_FULL;
    }
    /* With an alpha plane, so the colours are stored unpremultiplied. */
    avifImageAllocatePlanes(im, alpha ? AVIF_PLANES_ALL : AVIF_PLANES_YUV);
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, im);
    rgb.format = AVIF_RGB_FORMAT_RGBA;
    rgb.depth = 8;
    avifRGBImageAllocatePixels(&rgb);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = rgb.pixels + (size_t)y * rgb.rowBytes + (size_t)x * 4;
            for (int c = 0; c < 3; c++)
                p[c] = pat(x, y, c, w, h);
            p[3] = alpha ? (uint8_t)(x * 255 / (w - 1)) : 255;
        }
    if (avifImageRGBToYUV(im, &rgb) != AVIF_RESULT_OK)
        fail("avif rgb->yuv");
    avifEncoder *enc = avifEncoderCreate();
    enc->speed = 8;
    if (lossless) {
        enc->minQuantizer = enc->maxQuantizer = AVIF_QUANTIZER_LOSSLESS;
        enc->minQuantizerAlpha = enc->maxQuantizerAlpha = AVIF_QUANTIZER_LOSSLESS;
    } else {
        enc->minQuantizer = enc->maxQuantizer = 10;
    }
    avifRWData out = AVIF_DATA_EMPTY;
    if (avifEncoderWrite(enc, im, &out) != AVIF_RESULT_OK)
        fail("avif encode");
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(out.data, 1, out.size, f) != out.size || fclose(f) != 0)
        fail(path);
    avifRWDataFree(&out);
    avifEncoderDestroy(enc);
    avifRGBImageFreePixels(&rgb);
    avifImageDestroy(im);

    /* The reference: libavif's own decode to 8-bit RGBA with its defaults, alpha dropped. */
    avifDecoder *dec = avifDecoderCreate();
    avifImage *got = avifImageCreateEmpty();
    if (avifDecoderReadFile(dec, got, path) != AVIF_RESULT_OK)
        fail("avif decode");
    avifRGBImage back;
    avifRGBImageSetDefaults(&back, got);
    back.format = AVIF_RGB_FORMAT_RGBA;
    back.depth = 8;
    avifRGBImageAllocatePixels(&back);
    if (avifImageYUVToRGB(got, &back) != AVIF_RESULT_OK)
        fail("avif yuv->rgb");
    for (int i = 0; i < w * h; i++) /* rowBytes is w * 4: pack RGB in place */
        memmove(back.pixels + 3 * i, back.pixels + 4 * i, 3);
    char ref[512];
    snprintf(ref, sizeof ref, "%.*s.ref.png", (int)(strlen(path) - 5), path);
    write_png(ref, back.pixels, w, h, w * 3);
    avifRGBImageFreePixels(&back);
    avifImageDestroy(got);
    avifDecoderDestroy(dec);
}

static void heif_check(struct heif_error e, const char *what)
{
    if (e.code != heif_error_Ok) {
        fprintf(stderr, "%s: %s\n", what, e.message);
        exit(1);
    }
}

static void write_heic(const char *path, int w, int h)
{
    struct heif_context *ctx = heif_context_alloc();
    struct heif_encoder *enc = NULL;
    heif_check(heif_context_get_encoder_for_format(ctx, heif_compression_HEVC, &enc), "encoder");
    heif_encoder_set_lossy_quality(enc, 90);
    struct heif_image *im = NULL;
    heif_check(heif_image_create(w, h, heif_colorspace_RGB, heif_chroma_interleaved_RGB, &im), "image");
    heif_check(heif_image_add_plane(im, heif_channel_interleaved, w, h, 8), "plane");
    int stride = 0;
    uint8_t *p = heif_image_get_plane(im, heif_channel_interleaved, &stride);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                p[(size_t)y * stride + (size_t)x * 3 + c] = pat(x, y, c, w, h);
    heif_check(heif_context_encode_image(ctx, im, enc, NULL, NULL), "encode");
    heif_check(heif_context_write_to_file(ctx, path), path);
    heif_image_release(im);
    heif_encoder_release(enc);
    heif_context_free(ctx);

    /* The reference: libheif's own decode of the primary image to interleaved RGB. */
    ctx = heif_context_alloc();
    struct heif_image_handle *hd = NULL;
    heif_check(heif_context_read_from_file(ctx, path, NULL), "read");
    heif_check(heif_context_get_primary_image_handle(ctx, &hd), "handle");
    heif_check(heif_decode_image(hd, &im, heif_colorspace_RGB, heif_chroma_interleaved_RGB, NULL), "decode");
    const uint8_t *q = heif_image_get_plane_readonly(im, heif_channel_interleaved, &stride);
    char ref[512];
    snprintf(ref, sizeof ref, "%.*s.ref.png", (int)(strlen(path) - 5), path);
    write_png(ref, q, heif_image_get_width(im, heif_channel_interleaved),
              heif_image_get_height(im, heif_channel_interleaved), stride);
    heif_image_release(im);
    heif_image_handle_release(hd);
    heif_context_free(ctx);
}

int main(void)
{
    write_tiff("tiled_rgb8_deflate.tif", "w", 40, 37, 3, 8, PHOTOMETRIC_RGB, 0, 16,
               COMPRESSION_ADOBE_DEFLATE, SAMPLEFORMAT_UINT, s_rgb);
    write_tiff("assoc_rgba8.tif", "w", 33, 21, 4, 8, PHOTOMETRIC_RGB, EXTRASAMPLE_ASSOCALPHA, 0,
               COMPRESSION_NONE, SAMPLEFORMAT_UINT, s_assoc);
    write_tiff("miniswhite_l8.tif", "w", 31, 17, 1, 8, PHOTOMETRIC_MINISWHITE, 0, 0,
               COMPRESSION_PACKBITS, SAMPLEFORMAT_UINT, s_grey);
    write_tiff("miniswhite_bilevel.tif", "w", 29, 13, 1, 1, PHOTOMETRIC_MINISWHITE, 0, 0,
               COMPRESSION_NONE, SAMPLEFORMAT_UINT, s_bit);
    write_tiff("grey4.tif", "w", 27, 11, 1, 4, PHOTOMETRIC_MINISBLACK, 0, 0, COMPRESSION_NONE,
               SAMPLEFORMAT_UINT, s_nibble);
    write_tiff("palette4.tif", "w", 27, 11, 1, 4, PHOTOMETRIC_PALETTE, 0, 0, COMPRESSION_LZW,
               SAMPLEFORMAT_UINT, s_nibble);
    write_tiff("palette2.tif", "w", 19, 7, 1, 2, PHOTOMETRIC_PALETTE, 0, 0, COMPRESSION_NONE,
               SAMPLEFORMAT_UINT, s_crumb);
    write_tiff("rgb16_bigendian.tif", "wb", 23, 9, 3, 16, PHOTOMETRIC_RGB, 0, 0, COMPRESSION_NONE,
               SAMPLEFORMAT_UINT, s_wide);
    write_tiff("grey16_bigendian.tif", "wb", 23, 9, 1, 16, PHOTOMETRIC_MINISBLACK, 0, 0,
               COMPRESSION_NONE, SAMPLEFORMAT_UINT, s_grey16);
    write_tiff("float32_grey.tif", "w", 8, 8, 1, 32, PHOTOMETRIC_MINISBLACK, 0, 0,
               COMPRESSION_NONE, SAMPLEFORMAT_IEEEFP, s_grey);
    write_avif("lossless.avif", 48, 32, 1, 0);
    write_avif("lossy_alpha.avif", 48, 32, 0, 1);
    write_heic("photo.heic", 64, 48);
    return 0;
}
