/*
 * Image decoding: every reference image decodes to exactly the RGB (and CMYK)
 * bytes Pillow 9.4 gives; EXIF orientation; bad inputs fail cleanly; small
 * handcrafted PNG (16-bit, palette, grey), BMP, GIF and WebP files decode.
 *
 * Checked against Pillow: the reference images (tests/data/images/refs.safetensors,
 * written by tests/data/images/make_refs.py from shared/reference).
 * Checked by construction only (expected pixels follow from the file formats and
 * from Pillow's documented mode rules, not from a Pillow run): the handcrafted files.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <webp/decode.h>

#include "check.h"
#include "gitc.h"
#include "image_internal.h"
#include "image_pixels.h"
#include "safetensors.h"

/* Max |a - b| over n bytes. */
static int max_diff_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    int mx = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > mx)
            mx = d;
    }
    return mx;
}

/* Compares an image with a U8 [H, W, C] reference tensor, exactly. */
static void compare_u8(const char *what, const uint8_t *got, int w, int h, int c,
                       const st_tensor *ref)
{
    if (!check_true(ref != NULL, "%s: reference tensor missing", what))
        return;
    if (!check_true(ref->dtype == ST_U8 && ref->ndim == 3 && ref->shape[0] == h &&
                        ref->shape[1] == w && ref->shape[2] == c,
                    "%s: got %dx%dx%d, reference shape differs", what, h, w, c))
        return;
    int mx = max_diff_u8(got, ref->data, (size_t)w * h * c);
    printf("%-60s %dx%d max abs diff %d\n", what, w, h, mx);
    check_true(mx == 0, "%s: max abs diff %d", what, mx);
}

/* ------------------------------------------------------------------ */
/* Reference images                                                    */
/* ------------------------------------------------------------------ */

static void test_reference_images(void)
{
    st_file *refs = NULL;
    gitc_error err = {0};
    if (!check_true(gitci_st_open(check_path("tests/data/images/refs.safetensors"), &refs, &err) ==
                        GITC_OK,
                    "open refs: %s", err.message))
        return;
    cJSON *meta = check_load_json(check_path("tests/data/images/image_refs.json"));
    const cJSON *images = meta ? cJSON_GetObjectItemCaseSensitive(meta, "images") : NULL;
    int n_images = 0;
    for (const cJSON *it = images ? images->child : NULL; it; it = it->next) {
        const char *file = cJSON_GetObjectItemCaseSensitive(it, "file")->valuestring;
        const char *key = cJSON_GetObjectItemCaseSensitive(it, "key")->valuestring;
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(it, "size");
        int want_w = cJSON_GetArrayItem(size, 0)->valueint;
        int want_h = cJSON_GetArrayItem(size, 1)->valueint;
        char path[512], name[128];
        snprintf(path, sizeof path, "tests/data/images/inputs/%s", file);
        gitc_image im = {0};
        if (!check_true(gitc_image_load(check_path(path), NULL, &im, &err) == GITC_OK,
                        "decode %s: %s", file, err.message))
            continue;
        n_images++;
        check_true(im.width == want_w && im.height == want_h, "%s: size %dx%d, want %dx%d", file,
                   im.width, im.height, want_w, want_h);
        snprintf(name, sizeof name, "%s.decoded_rgb", key);
        const st_tensor *t = gitci_st_find(refs, name);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "has_decoded_rgb"))) {
            char what[200];
            snprintf(what, sizeof what, "decoded_rgb %s (%s)", file, key);
            compare_u8(what, im.rgb, im.width, im.height, 3, t);
        }
        gitc_image_free(&im);
        snprintf(name, sizeof name, "%s.decoded_cmyk", key);
        t = gitci_st_find(refs, name);
        if (t) {
            char *data = NULL;
            size_t len = 0;
            uint8_t *cmyk = NULL;
            int w = 0, h = 0;
            gitci_read_file(check_path(path), &data, &len, &err);
            if (check_true(gitci_jpeg_decode_cmyk(data, len, file, 0, &cmyk, &w, &h, &err) ==
                               GITC_OK,
                           "decode cmyk %s: %s", file, err.message)) {
                char what[200];
                snprintf(what, sizeof what, "decoded_cmyk %s (%s)", file, key);
                compare_u8(what, cmyk, w, h, 4, t);
            }
            free(cmyk);
            free(data);
        }
    }
    check_true(n_images == 13, "decoded %d of 13 reference images", n_images);
    cJSON_Delete(meta);
    gitci_st_close(refs);
}

/* ------------------------------------------------------------------ */
/* EXIF orientation                                                    */
/* ------------------------------------------------------------------ */

static void test_exif(void)
{
    gitc_error err = {0};
    const char *path = check_path("tests/data/images/inputs/exif_orient6_320x200.jpg");
    char *data = NULL;
    size_t len = 0;
    if (!check_true(gitci_read_file(path, &data, &len, &err) == GITC_OK, "%s", err.message))
        return;
    int o = gitci_image_file_orientation((const uint8_t *)data, len);
    printf("%-60s %d\n", "EXIF orientation of exif_orient6_320x200.jpg", o);
    check_true(o == 6, "orientation %d, want 6", o);
    gitc_image plain = {0}, turned = {0};
    gitc_image_params p = gitc_image_default_params();
    check_true(gitc_image_decode(data, len, "exif", &p, &plain, &err) == GITC_OK, "%s",
               err.message);
    check_true(plain.width == 320 && plain.height == 200, "default ignores EXIF: %dx%d",
               plain.width, plain.height);
    p.exif_transpose = 1;
    check_true(gitc_image_decode(data, len, "exif", &p, &turned, &err) == GITC_OK, "%s",
               err.message);
    check_true(turned.width == 200 && turned.height == 320, "exif_transpose: %dx%d",
               turned.width, turned.height);
    /* Orientation 6 is ROTATE_270 (90 degrees clockwise): out(x, y) = in(y, H - 1 - x). */
    int bad = 0;
    for (int y = 0; y < turned.height && plain.rgb && turned.rgb; y++)
        for (int x = 0; x < turned.width; x++)
            bad += memcmp(turned.rgb + ((size_t)y * 200 + x) * 3,
                          plain.rgb + ((size_t)(199 - x) * 320 + y) * 3, 3) != 0;
    check_true(bad == 0, "rotated pixels differ at %d places", bad);
    gitc_image_free(&plain);
    gitc_image_free(&turned);
    free(data);

    /* The eight orientations on a 3x2 image: compositions that must give the identity. */
    uint8_t src[18];
    for (int i = 0; i < 18; i++)
        src[i] = (uint8_t)(i * 13 + 1);
    static const int pairs[][2] = {{2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 8}, {8, 6}, {7, 7}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        gitc_image im = {3, 2, malloc(18)};
        memcpy(im.rgb, src, 18);
        gitci_image_orient(&im, pairs[k][0], &err);
        gitci_image_orient(&im, pairs[k][1], &err);
        check_true(im.width == 3 && im.height == 2 && memcmp(im.rgb, src, 18) == 0,
                   "orientation %d then %d is not the identity", pairs[k][0], pairs[k][1]);
        gitc_image_free(&im);
    }
    /* 6 twice = 3 (two quarter turns), 5 = 2 then 8 (transpose = mirror, then 90 ccw). */
    gitc_image a = {3, 2, malloc(18)}, b = {3, 2, malloc(18)};
    memcpy(a.rgb, src, 18);
    memcpy(b.rgb, src, 18);
    gitci_image_orient(&a, 6, &err);
    gitci_image_orient(&a, 6, &err);
    gitci_image_orient(&b, 3, &err);
    check_true(memcmp(a.rgb, b.rgb, 18) == 0, "orientation 6 twice differs from 3");
    memcpy(a.rgb, src, 18);
    memcpy(b.rgb, src, 18);
    a.width = b.width = 3;
    a.height = b.height = 2;
    gitci_image_orient(&a, 2, &err);
    gitci_image_orient(&a, 8, &err);
    gitci_image_orient(&b, 5, &err);
    check_true(a.width == b.width && memcmp(a.rgb, b.rgb, 18) == 0,
               "orientation 5 differs from 2 then 8");
    gitc_image_free(&a);
    gitc_image_free(&b);

    /* A big-endian EXIF block with orientation 3, and broken ones (offsets out of range). */
    static const uint8_t mm[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                                 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0};
    check_true(gitci_exif_orientation(mm, sizeof mm) == 3, "big-endian EXIF orientation");
    uint8_t broken[sizeof mm];
    memcpy(broken, mm, sizeof mm);
    broken[13] = 0xF0; /* IFD offset beyond the block */
    check_true(gitci_exif_orientation(broken, sizeof broken) == 0, "broken IFD offset");
    check_true(gitci_exif_orientation(mm, 20) == 0, "cut EXIF block");
}

/* ------------------------------------------------------------------ */
/* Handcrafted files                                                   */
/* ------------------------------------------------------------------ */

typedef struct buf {
    uint8_t *d;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->d = realloc(b->d, b->cap);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put8(buf *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put32be(buf *b, uint32_t v)
{
    uint8_t c[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, c, 4);
}

static void put16le(buf *b, unsigned v)
{
    put8(b, v & 0xFF);
    put8(b, (v >> 8) & 0xFF);
}

static void put32le(buf *b, uint32_t v)
{
    put16le(b, v & 0xFFFF);
    put16le(b, v >> 16);
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void png_chunk(buf *b, const char *type, const uint8_t *data, size_t n)
{
    put32be(b, (uint32_t)n);
    size_t at = b->n;
    put(b, type, 4);
    if (n)
        put(b, data, n);
    put32be(b, crc32_of(b->d + at, n + 4));
}

/* A PNG whose IDAT is a zlib stream of stored (uncompressed) deflate blocks.
 * `raw` holds the filtered scanlines (a filter byte 0 before each row). */
static buf make_png(uint32_t w, uint32_t h, int depth, int color, const uint8_t *raw,
                    size_t n_raw, const uint8_t *plte, size_t n_plte, const uint8_t *trns,
                    size_t n_trns)
{
    buf b = {0};
    put(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
                        (uint8_t)depth, (uint8_t)color, 0, 0, 0};
    png_chunk(&b, "IHDR", ihdr, 13);
    if (plte)
        png_chunk(&b, "PLTE", plte, n_plte);
    if (trns)
        png_chunk(&b, "tRNS", trns, n_trns);
    buf z = {0};
    put8(&z, 0x78);
    put8(&z, 0x01);
    size_t off = 0;
    do {
        size_t k = n_raw - off > 65535 ? 65535 : n_raw - off;
        put8(&z, off + k == n_raw ? 1 : 0);
        put16le(&z, (unsigned)k);
        put16le(&z, (unsigned)(~k & 0xFFFF));
        if (k)
            put(&z, raw + off, k);
        off += k;
    } while (off < n_raw);
    uint32_t s1 = 1, s2 = 0;
    for (size_t i = 0; i < n_raw; i++) {
        s1 = (s1 + raw[i]) % 65521;
        s2 = (s2 + s1) % 65521;
    }
    put32be(&z, s2 << 16 | s1);
    png_chunk(&b, "IDAT", z.d, z.n);
    png_chunk(&b, "IEND", NULL, 0);
    free(z.d);
    return b;
}

/* Decodes a buffer and compares with expected RGB bytes. */
static void expect_rgb(const char *what, const buf *b, int w, int h, const uint8_t *want)
{
    gitc_image im = {0};
    gitc_error err = {0};
    if (!check_true(gitc_image_decode(b->d, b->n, what, NULL, &im, &err) == GITC_OK, "%s: %s",
                    what, err.message))
        return;
    int ok = im.width == w && im.height == h;
    int mx = ok ? max_diff_u8(im.rgb, want, (size_t)w * h * 3) : 255;
    printf("%-60s %dx%d max abs diff %d\n", what, im.width, im.height, mx);
    check_true(ok && mx == 0, "%s: size %dx%d (want %dx%d), max diff %d", what, im.width,
               im.height, w, h, mx);
    gitc_image_free(&im);
}

static void test_png_variants(void)
{
    /* 16-bit RGB: PIL "RGB;16B" keeps the high byte of each sample. */
    {
        uint8_t raw[1 + 2 * 6] = {0, 0x12, 0x34, 0xAB, 0xCD, 0xFF, 0x01, 0x00, 0xFF, 0x80, 0x80,
                                  0x7F, 0xFF};
        uint8_t want[6] = {0x12, 0xAB, 0xFF, 0x00, 0x80, 0x7F};
        buf b = make_png(2, 1, 16, 2, raw, sizeof raw, NULL, 0, NULL, 0);
        expect_rgb("png 16-bit RGB (high bytes)", &b, 2, 1, want);
        free(b.d);
    }
    /* 16-bit RGBA: alpha dropped, high bytes. */
    {
        uint8_t raw[1 + 8] = {0, 0x10, 0x01, 0x20, 0x02, 0x30, 0x03, 0x00, 0x00};
        uint8_t want[3] = {0x10, 0x20, 0x30};
        buf b = make_png(1, 1, 16, 6, raw, sizeof raw, NULL, 0, NULL, 0);
        expect_rgb("png 16-bit RGBA (alpha dropped)", &b, 1, 1, want);
        free(b.d);
    }
    /* 16-bit grey: PIL mode "I", convert("RGB") clips the value to 0..255. */
    {
        uint8_t raw[1 + 6] = {0, 0x00, 0x7B, 0x01, 0x00, 0xFF, 0xFF};
        uint8_t want[9] = {0x7B, 0x7B, 0x7B, 255, 255, 255, 255, 255, 255};
        buf b = make_png(3, 1, 16, 0, raw, sizeof raw, NULL, 0, NULL, 0);
        expect_rgb("png 16-bit grey (mode I, clipped)", &b, 3, 1, want);
        free(b.d);
    }
    /* 16-bit grey + alpha: PIL "LA;16B", high byte. */
    {
        uint8_t raw[1 + 4] = {0, 0xC8, 0x11, 0x00, 0x00};
        uint8_t want[3] = {0xC8, 0xC8, 0xC8};
        buf b = make_png(1, 1, 16, 4, raw, sizeof raw, NULL, 0, NULL, 0);
        expect_rgb("png 16-bit grey+alpha", &b, 1, 1, want);
        free(b.d);
    }
    /* 2-bit grey: values scaled by 85 (PIL "L;2"). */
    {
        uint8_t raw[1 + 1] = {0, 0x1B}; /* 00 01 10 11 */
        uint8_t want[12] = {0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255};
        buf b = make_png(4, 1, 2, 0, raw, sizeof raw, NULL, 0, NULL, 0);
        expect_rgb("png 2-bit grey", &b, 4, 1, want);
        free(b.d);
    }
    /* 4-bit palette with tRNS, and an index past the palette (PIL's grey ramp). */
    {
        uint8_t plte[6] = {10, 20, 30, 200, 150, 100};
        uint8_t trns[2] = {0, 128};
        uint8_t raw[1 + 2] = {0, 0x01, 0x50}; /* indices 0, 1, 5, 0 */
        uint8_t want[12] = {10, 20, 30, 200, 150, 100, 5, 5, 5, 10, 20, 30};
        buf b = make_png(4, 1, 4, 3, raw, sizeof raw, plte, 6, trns, 2);
        expect_rgb("png 4-bit palette + tRNS", &b, 4, 1, want);
        free(b.d);
    }
    /* 8-bit RGBA, two rows (filter 0). */
    {
        uint8_t raw[2 * (1 + 4)] = {0, 1, 2, 3, 0, 0, 4, 5, 6, 255};
        uint8_t want[6] = {1, 2, 3, 4, 5, 6};
        buf b = make_png(1, 2, 8, 6, raw, sizeof raw, NULL, 0, NULL, 0);
        expect_rgb("png 8-bit RGBA", &b, 1, 2, want);
        free(b.d);
    }
}

/* A BMP with a BITMAPINFOHEADER; rows given top to bottom, written bottom-up
 * unless top_down. */
static buf make_bmp(int w, int h, int bpp, const uint8_t *pal, int n_pal, const uint8_t *rows,
                    int top_down)
{
    size_t stride = ((size_t)w * bpp + 31) / 32 * 4;
    size_t row_bytes = ((size_t)w * bpp + 7) / 8;
    uint32_t off = 14 + 40 + 4 * n_pal;
    buf b = {0};
    put(&b, "BM", 2);
    put32le(&b, off + (uint32_t)(stride * h));
    put32le(&b, 0);
    put32le(&b, off);
    put32le(&b, 40);
    put32le(&b, (uint32_t)w);
    put32le(&b, (uint32_t)(top_down ? -h : h));
    put16le(&b, 1);
    put16le(&b, (unsigned)bpp);
    put32le(&b, 0);
    put32le(&b, (uint32_t)(stride * h));
    put32le(&b, 2835);
    put32le(&b, 2835);
    put32le(&b, (uint32_t)n_pal);
    put32le(&b, 0);
    if (n_pal)
        put(&b, pal, 4 * (size_t)n_pal);
    uint8_t zero[4] = {0};
    for (int i = 0; i < h; i++) {
        int y = top_down ? i : h - 1 - i;
        put(&b, rows + (size_t)y * row_bytes, row_bytes);
        put(&b, zero, stride - row_bytes);
    }
    return b;
}

static void test_bmp_gif_webp(void)
{
    /* 24-bit BGR, 3x2 (rows padded to 12 bytes), bottom-up and top-down. */
    uint8_t bgr[2 * 9], rgb[2 * 9];
    for (int i = 0; i < 6; i++) {
        bgr[3 * i] = (uint8_t)(10 * i);
        bgr[3 * i + 1] = (uint8_t)(10 * i + 1);
        bgr[3 * i + 2] = (uint8_t)(10 * i + 2);
        rgb[3 * i] = bgr[3 * i + 2];
        rgb[3 * i + 1] = bgr[3 * i + 1];
        rgb[3 * i + 2] = bgr[3 * i];
    }
    buf b = make_bmp(3, 2, 24, NULL, 0, bgr, 0);
    expect_rgb("bmp 24-bit bottom-up", &b, 3, 2, rgb);
    free(b.d);
    b = make_bmp(3, 2, 24, NULL, 0, bgr, 1);
    expect_rgb("bmp 24-bit top-down", &b, 3, 2, rgb);
    free(b.d);
    /* 32-bit BGRX. */
    uint8_t bgrx[2 * 12];
    for (int i = 0; i < 6; i++) {
        memcpy(bgrx + 4 * i, bgr + 3 * i, 3);
        bgrx[4 * i + 3] = 0x77;
    }
    b = make_bmp(3, 2, 32, NULL, 0, bgrx, 0);
    expect_rgb("bmp 32-bit", &b, 3, 2, rgb);
    free(b.d);
    /* 8-bit palette (B, G, R, 0 entries). */
    uint8_t pal[3 * 4] = {1, 2, 3, 0, 40, 50, 60, 0, 7, 8, 9, 0};
    uint8_t idx[6] = {0, 1, 2, 2, 1, 0};
    uint8_t want8[18] = {3, 2, 1, 60, 50, 40, 9, 8, 7, 9, 8, 7, 60, 50, 40, 3, 2, 1};
    b = make_bmp(3, 2, 8, pal, 3, idx, 0);
    expect_rgb("bmp 8-bit palette", &b, 3, 2, want8);
    /* Cut pixel data: refused. */
    gitc_image im = {0};
    gitc_error err = {0};
    gitc_status st = gitc_image_decode(b.d, b.n - 3, "cut.bmp", NULL, &im, &err);
    printf("%-60s %s\n", "truncated BMP", err.message);
    check_true(st == GITC_ERR_FORMAT && strstr(err.message, "cut.bmp"), "truncated BMP: %d",
               (int)st);
    free(b.d);

    /* GIF 3x2 screen, 4-colour global palette, a 2x2 frame at (1, 0): LZW codes of
     * 3 bits (min code size 2), a clear code before every two pixels so the code
     * width never grows. Pixels outside the frame take index 0 (PIL). */
    {
        buf g = {0};
        put(&g, "GIF89a", 6);
        put16le(&g, 3);
        put16le(&g, 2);
        put8(&g, 0x81); /* global table, 2^(1+1) = 4 colours */
        put8(&g, 0);
        put8(&g, 0);
        uint8_t gpal[12] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255};
        put(&g, gpal, 12);
        put8(&g, 0x2C);
        put16le(&g, 1);
        put16le(&g, 0);
        put16le(&g, 2);
        put16le(&g, 2);
        put8(&g, 0);
        put8(&g, 2); /* LZW minimum code size */
        static const int codes[] = {4, 1, 2, 4, 3, 1, 5};
        uint8_t data[16] = {0};
        int bit = 0;
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            for (int k = 0; k < 3; k++, bit++)
                if (codes[i] >> k & 1)
                    data[bit / 8] |= (uint8_t)(1 << (bit % 8));
        int nbytes = (bit + 7) / 8;
        put8(&g, (unsigned)nbytes);
        put(&g, data, (size_t)nbytes);
        put8(&g, 0);
        put8(&g, 0x3B);
        uint8_t want[18] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0};
        expect_rgb("gif first frame (offset frame, global palette)", &g, 3, 2, want);
        free(g.d);
    }

    /* WebP: the 1x1 lossless, lossy, alpha and animated probes from Modernizr's
     * feature detection, checked against libwebp's own RGBA decode. */
    static const char *const probes[] = {
        "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==",
        "UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA",
        "UklGRkoAAABXRUJQVlA4WAoAAAAQAAAAAAAAAAAAQUxQSAwAAAARBxAR/Q9ERP8DAABWUDggGAAAABQBAJ0BKgEA"
        "AQAAAP4AAA3AAP7mtQAAAA==",
        "UklGRlIAAABXRUJQVlA4WAoAAAASAAAAAAAAAAAAQU5JTQYAAAD/////AABBTk1GJgAAAAAAAAAAAAAAAAAAAGQA"
        "AABWUDhMDQAAAC8AAAAQBxAREYiI/gcA"};
    static const char *const names[] = {"webp lossless 1x1", "webp lossy 1x1", "webp alpha 1x1",
                                        "webp animated"};
    for (int p = 0; p < 4; p++) {
        static const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        buf w = {0};
        uint32_t acc = 0;
        int nb = 0;
        for (const char *c = probes[p]; *c && *c != '='; c++) {
            acc = acc << 6 | (uint32_t)(strchr(tab, *c) - tab);
            nb += 6;
            if (nb >= 8) {
                nb -= 8;
                put8(&w, (acc >> nb) & 0xFF);
            }
        }
        gitc_image wi = {0};
        st = gitc_image_decode(w.d, w.n, names[p], NULL, &wi, &err);
        if (p == 3) {
            printf("%-60s %s\n", names[p], err.message);
            check_true(st == GITC_ERR_UNSUPPORTED, "animated WebP: status %d", (int)st);
        } else if (check_true(st == GITC_OK, "%s: %s", names[p], err.message)) {
            int ww = 0, hh = 0;
            uint8_t *rgba = WebPDecodeRGBA(w.d, w.n, &ww, &hh);
            int same = rgba && ww == wi.width && hh == wi.height &&
                       memcmp(rgba, wi.rgb, 3) == 0;
            printf("%-60s %dx%d rgb %d,%d,%d\n", names[p], wi.width, wi.height, wi.rgb[0],
                   wi.rgb[1], wi.rgb[2]);
            check_true(same, "%s: differs from libwebp's RGBA decode", names[p]);
            WebPFree(rgba);
        }
        gitc_image_free(&wi);
        free(w.d);
    }
}

/* ------------------------------------------------------------------ */
/* Bad inputs                                                          */
/* ------------------------------------------------------------------ */

static void expect_fail(const char *what, const void *data, size_t n, gitc_status want,
                        const char *name)
{
    gitc_image im = {0};
    gitc_error err = {0};
    gitc_status st = gitc_image_decode(data, n, name, NULL, &im, &err);
    printf("%-40s -> %-16s %s\n", what, gitc_status_string(st), err.message);
    check_true(st == want, "%s: status %d (%s), want %d", what, (int)st, err.message, (int)want);
    check_true(st == GITC_OK || strstr(err.message, name) != NULL,
               "%s: message does not name the file", what);
    check_true(im.rgb == NULL, "%s: output filled on failure", what);
    gitc_image_free(&im);
}

static void test_bad_inputs(void)
{
    gitc_error err = {0};
    char *jpg = NULL, *png = NULL;
    size_t njpg = 0, npng = 0;
    gitci_read_file(check_path("tests/data/images/inputs/gradient_640x480.jpg"), &jpg, &njpg, &err);
    gitci_read_file(check_path("tests/data/images/inputs/small_100x50.png"), &png, &npng, &err);
    if (!check_true(jpg && png, "read inputs"))
        return;
    expect_fail("truncated JPEG (half)", jpg, njpg / 2, GITC_ERR_FORMAT, "half.jpg");
    expect_fail("truncated JPEG (header only)", jpg, 300, GITC_ERR_FORMAT, "head.jpg");
    expect_fail("truncated PNG (half)", png, npng / 2, GITC_ERR_FORMAT, "half.png");
    expect_fail("truncated PNG (signature only)", png, 8, GITC_ERR_FORMAT, "sig.png");
    /* Corrupt bytes: the PNG's IHDR (CRC mismatch), the JPEG's tables and scan data. */
    char *bad = malloc(njpg > npng ? njpg : npng);
    memcpy(bad, png, npng);
    bad[20] ^= 0x5A;
    expect_fail("corrupt PNG header", bad, npng, GITC_ERR_FORMAT, "crc.png");
    memcpy(bad, png, npng);
    for (size_t i = 60; i < npng && i < 400; i++)
        bad[i] = (char)(i * 37);
    expect_fail("corrupt PNG data", bad, npng, GITC_ERR_FORMAT, "data.png");
    memcpy(bad, jpg, njpg);
    for (size_t i = 4; i < 600; i++)
        bad[i] = (char)0xFF;
    expect_fail("corrupt JPEG header", bad, njpg, GITC_ERR_FORMAT, "junk.jpg");
    free(bad);

    /* Zero-size images. */
    uint8_t raw[2] = {0, 0};
    buf z = make_png(0, 1, 8, 0, raw, 1, NULL, 0, NULL, 0);
    expect_fail("PNG of width 0", z.d, z.n, GITC_ERR_FORMAT, "zero.png");
    free(z.d);
    z = make_bmp(0, 0, 24, NULL, 0, NULL, 0);
    expect_fail("BMP of 0x0", z.d, z.n, GITC_ERR_FORMAT, "zero.bmp");
    free(z.d);

    /* Headers announcing 100000 x 100000 pixels: refused from the header, before any
     * pixel buffer exists (10^10 pixels: an allocation would fail under ASan). */
    buf big = make_png(100000, 100000, 8, 2, raw, 2, NULL, 0, NULL, 0);
    expect_fail("PNG header 100000x100000", big.d, big.n, GITC_ERR_LIMIT, "big.png");
    free(big.d);
    big = (buf){0};
    put(&big, "BM", 2);
    put32le(&big, 54);
    put32le(&big, 0);
    put32le(&big, 54);
    put32le(&big, 40);
    put32le(&big, 100000);
    put32le(&big, 100000);
    put16le(&big, 1);
    put16le(&big, 24);
    for (int i = 0; i < 6; i++)
        put32le(&big, 0);
    expect_fail("BMP header 100000x100000", big.d, big.n, GITC_ERR_LIMIT, "big.bmp");
    free(big.d);
    /* JPEG: SOI, SOF0 65000x65000x3, SOS: libjpeg reads the header, then the limit refuses. */
    static const uint8_t bigjpg[] = {0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0xFD, 0xE8, 0xFD, 0xE8, 3,
                                     1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 0xFF, 0xDA, 0, 12, 3,
                                     1, 0, 2, 0, 3, 0, 0, 63, 0};
    expect_fail("JPEG header 65000x65000", bigjpg, sizeof bigjpg, GITC_ERR_LIMIT, "big.jpg");
    /* A lower limit in the params. */
    {
        gitc_image im = {0};
        gitc_image_params p = gitc_image_default_params();
        p.max_pixels = 100 * 50 - 1;
        gitc_status st = gitc_image_decode(png, npng, "small.png", &p, &im, &err);
        check_true(st == GITC_ERR_LIMIT, "max_pixels = 4999 refuses 100x50: %d", (int)st);
        p.max_pixels = 100 * 50;
        st = gitc_image_decode(png, npng, "small.png", &p, &im, &err);
        check_true(st == GITC_OK, "max_pixels = 5000 accepts 100x50: %d", (int)st);
        gitc_image_free(&im);
    }

    /* Unsupported formats. */
    const char *text = "this is a text file, not an image\n";
    expect_fail("text file", text, strlen(text), GITC_ERR_UNSUPPORTED, "notes.txt");
    /* TIFF is read now (test_image_formats); a TIFF whose first directory has no tags is corrupt. */
    static const uint8_t tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0};
    expect_fail("TIFF header", tiff, sizeof tiff, GITC_ERR_FORMAT, "scan.tif");
    expect_fail("empty file", "", 0, GITC_ERR_FORMAT, "empty.png");

    /* A missing file. */
    gitc_image im = {0};
    gitc_status st = gitc_image_load(check_path("tests/data/images/no_such_file.jpg"), NULL, &im,
                                     &err);
    printf("%-40s -> %-16s %s\n", "missing file", gitc_status_string(st), err.message);
    check_true(st == GITC_ERR_IO && strstr(err.message, "no_such_file.jpg"), "missing file: %d",
               (int)st);
    free(jpg);
    free(png);
}

static void test_timing(void)
{
    gitc_error err = {0};
    char *data = NULL;
    size_t n = 0;
    if (gitci_read_file(check_path("tests/data/images/inputs/hd_1280x720.jpg"), &data, &n, &err))
        return;
    struct timespec t0, t1;
    const int reps = 5;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < reps; i++) {
        gitc_image im = {0};
        gitc_image_decode(data, n, "hd", NULL, &im, &err);
        gitc_image_free(&im);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / reps;
    printf("%-60s %.2f ms\n", "decode hd_1280x720.jpg (mean of 5)", ms);
    free(data);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    test_reference_images();
    test_exif();
    test_png_variants();
    test_bmp_gif_webp();
    test_bad_inputs();
    test_timing();
    return check_done("test_image");
}
