/* TIFF, AVIF and HEIC decoding (tests/data/images/formats).
 * TIFF: every NAME.tif with a NAME.ref.png (Pillow 9.4's convert("RGB"),
 * written by make_refs.py) must decode to exactly those pixels; TIFFs Pillow
 * cannot read must be refused. AVIF/HEIC, which Pillow 9.4 cannot read: the
 * pixels equal NAME.ref.png, the library's own RGB decode made by
 * make_formats.c, and stay close to the pattern that was encoded (exact for
 * lossless AVIF). Then bad inputs: truncated, corrupt, oversized headers,
 * unsupported layouts, the pixel limit. */
#include "check.h"
#include "gitc.h"
#include "image_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR_FORMATS "tests/data/images/formats"

static int has_format(const char *name)
{
    return strstr(gitc_formats(), name) != NULL;
}

static const char *fpath(const char *name)
{
    static char buf[4][4096];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", check_path(DIR_FORMATS), name);
    return p;
}

/* Decodes NAME and NAME's reference PNG; compares exactly. */
static void compare_with_ref(const char *file, const char *ref, int exif)
{
    gitc_error err = {0};
    gitc_image got = {0}, want = {0};
    gitc_image_params p = gitc_image_default_params();
    p.exif_transpose = exif;
    gitc_status st = gitc_image_load(fpath(file), &p, &got, &err);
    if (!check_true(st == GITC_OK, "%s: %s", file, err.message))
        return;
    if (!check_true(gitc_image_load(fpath(ref), NULL, &want, &err) == GITC_OK, "%s: %s", ref,
                    err.message)) {
        gitc_image_free(&got);
        return;
    }
    int same_size = got.width == want.width && got.height == want.height;
    long diff = 0, maxd = 0;
    if (same_size) {
        for (size_t i = 0; i < (size_t)got.width * got.height * 3; i++) {
            int d = abs((int)got.rgb[i] - (int)want.rgb[i]);
            diff += d != 0;
            maxd = d > maxd ? d : maxd;
        }
    }
    printf("%-32s %4dx%-4d vs %-30s %ld values differ (max %ld)\n", file, got.width, got.height,
           ref, diff, maxd);
    check_true(same_size, "%s: size %dx%d, reference %dx%d", file, got.width, got.height,
               want.width, want.height);
    check_true(same_size && diff == 0, "%s: %ld values differ from %s", file, diff, ref);
    gitc_image_free(&got);
    gitc_image_free(&want);
}

static void test_tiff_references(void)
{
    DIR *d = opendir(check_path(DIR_FORMATS));
    if (!check_true(d != NULL, "open %s", DIR_FORMATS))
        return;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".tif") != 0)
            continue;
        char ref[512];
        snprintf(ref, sizeof ref, "%.*s.ref.png", (int)(len - 4), e->d_name);
        FILE *f = fopen(fpath(ref), "rb");
        if (f) {
            fclose(f);
            compare_with_ref(e->d_name, ref, 0);
            n++;
        } else {
            /* Pillow refuses it: gitc must refuse it too, with a message. */
            gitc_error err = {0};
            gitc_image im = {0};
            gitc_status st = gitc_image_load(fpath(e->d_name), NULL, &im, &err);
            printf("%-32s no Pillow reference -> %s: %s\n", e->d_name, gitc_status_string(st),
                   err.message);
            check_true(st == GITC_ERR_UNSUPPORTED && strstr(err.message, e->d_name),
                       "%s: refused as unsupported, naming the file: %d %s", e->d_name, (int)st,
                       err.message);
            gitc_image_free(&im);
        }
    }
    closedir(d);
    check_true(n >= 20, "compared %d TIFF files with Pillow references", n);
}

/* The Orientation tag with exif_transpose: transformers' load_image on Pillow
 * 9.4 (which already applied it at load) applies it again; so does gitc. */
static void test_tiff_orientation(void)
{
    static const char *const files[][2] = {{"orient2.tif", "orient2.exif.png"},
                                           {"orient6.tif", "orient6.exif.png"},
                                           {"orient8.tif", "orient8.exif.png"}};
    for (int i = 0; i < 3; i++)
        compare_with_ref(files[i][0], files[i][1], 1);
}

/* The pattern make_formats.c encodes. */
static uint8_t pat(int x, int y, int c, int w, int h)
{
    switch (c) {
    case 0: return (uint8_t)(255 * x / (w - 1));
    case 1: return (uint8_t)(255 * y / (h - 1));
    default: return (uint8_t)(128 + 100 * ((x / 8 + y / 8) % 2 ? 1 : -1) * (x + y) / (w + h));
    }
}

/* AVIF/HEIC: equal to the library's reference decode, close to the source pattern. */
static void test_heif_family(const char *file, const char *ref, int max_diff, double max_mean)
{
    compare_with_ref(file, ref, 0);
    gitc_error err = {0};
    gitc_image im = {0};
    if (gitc_image_load(fpath(file), NULL, &im, &err) != GITC_OK)
        return;
    long total = 0, maxd = 0;
    for (int y = 0; y < im.height; y++)
        for (int x = 0; x < im.width; x++)
            for (int c = 0; c < 3; c++) {
                int d = abs((int)im.rgb[((size_t)y * im.width + x) * 3 + c] -
                            (int)pat(x, y, c, im.width, im.height));
                total += d;
                maxd = d > maxd ? d : maxd;
            }
    double mean = (double)total / ((double)im.width * im.height * 3);
    printf("%-32s vs the encoded pattern: max abs diff %ld, mean %.3f (bounds %d, %.2f)\n", file,
           maxd, mean, max_diff, max_mean);
    check_true(maxd <= max_diff && mean <= max_mean, "%s: max %ld mean %.3f vs the pattern", file,
               maxd, mean);
    gitc_image_free(&im);
}

static void expect_fail(const char *what, const void *data, size_t n, gitc_status want,
                        const char *name)
{
    gitc_error err = {0};
    gitc_image im = {0};
    gitc_status st = gitc_image_decode(data, n, name, NULL, &im, &err);
    printf("%-40s -> %-16s %s\n", what, gitc_status_string(st), err.message);
    check_true(st == want && im.rgb == NULL && strstr(err.message, name),
               "%s: status %d (%s), want %d", what, (int)st, err.message, (int)want);
    gitc_image_free(&im);
}

static char *read_data(const char *file, size_t *n)
{
    char *data = NULL;
    gitc_error err = {0};
    if (gitci_read_file(fpath(file), &data, n, &err) != GITC_OK)
        check_true(0, "read %s: %s", file, err.message);
    return data;
}

/* A little-endian TIFF with one IFD of SHORT/LONG tags. */
static size_t tiny_tiff(uint8_t *out, uint32_t w, uint32_t h, uint16_t bps, uint16_t photometric)
{
    struct { uint16_t tag, type; uint32_t value; } tags[] = {
        {256, 4, w}, {257, 4, h}, {258, 3, bps}, {259, 3, 1}, {262, 3, photometric},
        {273, 4, 200}, {277, 3, 1}, {278, 4, h}, {279, 4, 16},
    };
    size_t n = 0;
    memcpy(out, "II*\0\x08\0\0\0", 8);
    n = 8;
    uint16_t count = (uint16_t)(sizeof tags / sizeof tags[0]);
    memcpy(out + n, &count, 2);
    n += 2;
    for (size_t i = 0; i < count; i++) {
        uint32_t c = 1;
        memcpy(out + n, &tags[i].tag, 2);
        memcpy(out + n + 2, &tags[i].type, 2);
        memcpy(out + n + 4, &c, 4);
        memset(out + n + 8, 0, 4);
        if (tags[i].type == 3) {
            uint16_t v = (uint16_t)tags[i].value;
            memcpy(out + n + 8, &v, 2);
        } else {
            memcpy(out + n + 8, &tags[i].value, 4);
        }
        n += 12;
    }
    memset(out + n, 0, 4 + 200 + 16 - n);
    return 216;
}

static void test_bad_inputs(void)
{
    size_t n = 0;
    char *tif = read_data("rgb8_lzw.tif", &n);
    if (tif) {
        /* Pillow writes the strips first and the directory at the end: cut it. */
        expect_fail("TIFF truncated to half", tif, n / 2, GITC_ERR_FORMAT, "half.tif");
        expect_fail("TIFF signature only", tif, 4, GITC_ERR_FORMAT, "sig.tif");
        char *bad = malloc(n);
        memcpy(bad, tif, n);
        for (size_t i = 8; i < n / 2; i++) /* LZW strips destroyed */
            bad[i] = (char)(i * 131);
        gitc_error err = {0};
        gitc_image im = {0};
        gitc_status st = gitc_image_decode(bad, n, "junk.tif", NULL, &im, &err);
        printf("%-40s -> %-16s %s\n", "TIFF with corrupt LZW data", gitc_status_string(st),
               err.message);
        /* LZW garbage may still decode to some pixels, as in Pillow; it must not crash. */
        check_true(st == GITC_OK || (st == GITC_ERR_FORMAT && strstr(err.message, "junk.tif")),
                   "corrupt LZW data: %d %s", (int)st, err.message);
        gitc_image_free(&im);
        free(bad);
        free(tif);
    }
    uint8_t t[256];
    size_t tn = tiny_tiff(t, 100000, 100000, 8, 1);
    expect_fail("TIFF header 100000x100000", t, tn, GITC_ERR_LIMIT, "big.tif");
    tn = tiny_tiff(t, 4, 4, 8, 1);
    {
        gitc_error err = {0};
        gitc_image im = {0};
        gitc_status st = gitc_image_decode(t, tn, "tiny.tif", NULL, &im, &err);
        check_true(st == GITC_OK && im.width == 4 && im.height == 4, "hand-made 4x4 TIFF: %s",
                   err.message);
        gitc_image_free(&im);
    }
    tn = tiny_tiff(t, 4, 4, 8, 8); /* CIELab */
    expect_fail("TIFF CIELab", t, tn, GITC_ERR_UNSUPPORTED, "lab.tif");
    tn = tiny_tiff(t, 4, 4, 12, 1); /* 12-bit grey */
    expect_fail("TIFF 12-bit grey", t, tn, GITC_ERR_UNSUPPORTED, "grey12.tif");
    tn = tiny_tiff(t, 0, 4, 8, 1);
    expect_fail("TIFF of width 0", t, tn, GITC_ERR_FORMAT, "zero.tif");
    {
        gitc_image im = {0};
        gitc_error err = {0};
        gitc_image_params p = gitc_image_default_params();
        p.max_pixels = 45 * 29 - 1;
        gitc_status st = gitc_image_load(fpath("rgb8.tif"), &p, &im, &err);
        check_true(st == GITC_ERR_LIMIT, "max_pixels below a 45x29 TIFF refuses it: %d", (int)st);
        gitc_image_free(&im);
    }

    static const char *const heif_family[] = {"lossless.avif", "photo.heic"};
    for (int i = 0; i < 2; i++) {
        char *d = read_data(heif_family[i], &n);
        if (!d)
            continue;
        char name[64];
        snprintf(name, sizeof name, "half-%s", heif_family[i]);
        expect_fail("truncated to half", d, n / 2, GITC_ERR_FORMAT, name);
        snprintf(name, sizeof name, "head-%s", heif_family[i]);
        expect_fail("ftyp box only", d, 32, GITC_ERR_FORMAT, name);
        char *bad = malloc(n);
        memcpy(bad, d, n);
        for (size_t k = n / 2; k < n; k++)
            bad[k] = (char)(k * 7);
        snprintf(name, sizeof name, "junk-%s", heif_family[i]);
        gitc_error err = {0};
        gitc_image im = {0};
        gitc_status st = gitc_image_decode(bad, n, name, NULL, &im, &err);
        printf("%-40s -> %-16s %s\n", "second half destroyed", gitc_status_string(st), err.message);
        check_true(st == GITC_OK || (st == GITC_ERR_FORMAT && strstr(err.message, name)),
                   "%s: a clean result or a clean error: %d %s", name, (int)st, err.message);
        gitc_image_free(&im);
        /* The pixel limit applies before decoding. */
        gitc_image_params p = gitc_image_default_params();
        p.max_pixels = 100;
        st = gitc_image_decode(d, n, heif_family[i], &p, &im, &err);
        printf("%-40s -> %-16s %s\n", "max_pixels 100", gitc_status_string(st), err.message);
        check_true(st == GITC_ERR_LIMIT || st == GITC_ERR_FORMAT,
                   "%s: max_pixels 100 refuses it: %d", heif_family[i], (int)st);
        check_true(im.rgb == NULL, "nothing returned");
        free(bad);
        free(d);
    }
    /* An MP4 also starts with 'ftyp' but is no image. */
    static const uint8_t mp4[] = {0, 0, 0, 24, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2,
                                  0, 'i', 's', 'o', 'm', 'm', 'p', '4', '1'};
    expect_fail("MP4 ftyp", mp4, sizeof mp4, GITC_ERR_UNSUPPORTED, "clip.mp4");
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    printf("formats of this build: %s\n", gitc_formats());
    if (has_format("TIFF")) {
        test_tiff_references();
        test_tiff_orientation();
    }
    if (has_format("AVIF")) {
        test_heif_family("lossless.avif", "lossless.ref.png", 0, 0.0);
        /* Lossy 4:2:0 of a pattern with sharp blue edges: measured max 53, mean 4.2.
         * The bounds tell the right image from a wrong one (alpha-multiplied
         * colours: mean 57; a transposed image: far more). */
        test_heif_family("lossy_alpha.avif", "lossy_alpha.ref.png", 80, 8.0);
    }
    if (has_format("HEIC")) /* measured max 6, mean 1.5 */
        test_heif_family("photo.heic", "photo.ref.png", 24, 4.0);
    if (has_format("TIFF") && has_format("AVIF") && has_format("HEIC"))
        test_bad_inputs();
    return check_done("test_image_formats");
}
