/*
 * The image processor: Pillow-exact resizing (resized_rgb) and the CLIP /
 * VideoMAE pixel_values of transformers 4.39.3 for every reference image, the
 * EXIF-transposed input of img12, and the demo model's pixel_values, all with
 * max diff exactly 0. Also the preprocessor_config.json rules (size forms,
 * crop padding, unsupported filters) and a timing of the 1280x720 JPEG.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gitc.h"
#include "image_internal.h"
#include "safetensors.h"

static st_file *refs;

/* Rebuilds a reference F32 [3, H, W] tensor stored as NAME.values + NAME.index
 * (see tests/data/images/make_refs.py). Caller frees; NULL when missing. */
static float *ref_f32(const char *name, int *h, int *w)
{
    char vn[256], in[256];
    snprintf(vn, sizeof vn, "%s.values", name);
    snprintf(in, sizeof in, "%s.index", name);
    const st_tensor *v = gitci_st_find(refs, vn), *ix = gitci_st_find(refs, in);
    if (!check_true(v && ix && v->dtype == ST_F32 && ix->dtype == ST_U8 && ix->ndim == 3 &&
                        ix->shape[0] == 3 && v->numel == 3 * 256,
                    "%s: reference missing or malformed", name))
        return NULL;
    *h = (int)ix->shape[1];
    *w = (int)ix->shape[2];
    size_t plane = (size_t)*h * *w;
    float *out = malloc(sizeof(float) * 3 * plane);
    float vals[3 * 256];
    memcpy(vals, v->data, sizeof vals); /* the mapping need not be 4-byte aligned */
    const uint8_t *idx = ix->data;
    for (size_t i = 0; i < 3 * plane; i++)
        out[i] = vals[(i / plane) * 256 + idx[i]];
    return out;
}

/* Runs a processor on an image and compares with a reference tensor, exactly. */
static void compare_processor(const char *what, const gitc_processor *p, const gitc_image *im,
                              const char *ref_name)
{
    int h = 0, w = 0;
    float *want = ref_f32(ref_name, &h, &w);
    if (!want)
        return;
    int oh = 0, ow = 0;
    gitc_processor_output_size(p, &oh, &ow);
    check_true(oh == h && ow == w, "%s: output size %dx%d, reference %dx%d", what, ow, oh, w, h);
    float *got = calloc((size_t)3 * h * w, sizeof(float));
    gitc_error err = {0};
    if (check_true(gitc_processor_run(p, im, got, (size_t)3 * h * w, &err) == GITC_OK, "%s: %s", what, err.message))
        check_close(what, got, want, (size_t)3 * h * w, 0.0);
    free(got);
    free(want);
}

/* Resizes and compares with a U8 [h, w, 3] reference, exactly. */
static void compare_resize(const char *what, const gitc_image *im, int resample,
                           const char *ref_name)
{
    const st_tensor *t = gitci_st_find(refs, ref_name);
    if (!check_true(t && t->dtype == ST_U8 && t->ndim == 3, "%s: reference missing", ref_name))
        return;
    int h = (int)t->shape[0], w = (int)t->shape[1];
    gitc_image out = {0};
    gitc_error err = {0};
    if (!check_true(gitci_image_resize(im, w, h, resample, &out, &err) == GITC_OK, "%s: %s", what,
                    err.message))
        return;
    const uint8_t *ref = t->data;
    int mx = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        int d = abs((int)out.rgb[i] - (int)ref[i]);
        mx = d > mx ? d : mx;
    }
    printf("%-60s %dx%d -> %dx%d max abs diff %d\n", what, im->width, im->height, w, h, mx);
    check_true(mx == 0, "%s: max abs diff %d", what, mx);
    gitc_image_free(&out);
}

static gitc_processor *processor_from(const cJSON *node, const char *name)
{
    char *text = cJSON_PrintUnformatted(node);
    gitc_processor *p = NULL;
    gitc_error err = {0};
    check_true(gitc_processor_from_json(text, strlen(text), name, &p, &err) == GITC_OK, "%s: %s",
               name, err.message);
    free(text);
    return p;
}

static void test_reference(void)
{
    cJSON *meta = check_load_json(check_path("tests/data/images/image_refs.json"));
    if (!meta)
        return;
    gitc_processor *clip = processor_from(cJSON_GetObjectItemCaseSensitive(meta, "processor"),
                                          "clip processor");
    gitc_processor *vmae = processor_from(
        cJSON_GetObjectItemCaseSensitive(meta, "videomae_processor"), "videomae processor");
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(meta, "images");
    int n = 0;
    for (const cJSON *it = images ? images->child : NULL; it && clip && vmae; it = it->next) {
        const char *file = cJSON_GetObjectItemCaseSensitive(it, "file")->valuestring;
        const char *key = cJSON_GetObjectItemCaseSensitive(it, "key")->valuestring;
        char path[512], what[256], ref[128];
        snprintf(path, sizeof path, "tests/data/images/inputs/%s", file);
        gitc_image im = {0};
        gitc_error err = {0};
        if (!check_true(gitc_image_load(check_path(path), NULL, &im, &err) == GITC_OK, "%s",
                        err.message))
            continue;
        n++;
        snprintf(what, sizeof what, "resized_rgb bicubic %s", key);
        snprintf(ref, sizeof ref, "%s.resized_rgb", key);
        compare_resize(what, &im, GITC_RESAMPLE_BICUBIC, ref);
        snprintf(what, sizeof what, "clip pixel_values %s (%s)", key, file);
        snprintf(ref, sizeof ref, "%s.processor", key);
        compare_processor(what, clip, &im, ref);
        snprintf(ref, sizeof ref, "%s.videomae.resized_rgb", key);
        if (gitci_st_find(refs, ref)) {
            snprintf(what, sizeof what, "videomae resized_rgb bilinear %s", key);
            compare_resize(what, &im, GITC_RESAMPLE_BILINEAR, ref);
            snprintf(what, sizeof what, "videomae pixel_values %s", key);
            snprintf(ref, sizeof ref, "%s.videomae.processor", key);
            compare_processor(what, vmae, &im, ref);
        }
        gitc_image_free(&im);
        snprintf(ref, sizeof ref, "%s.processor_after_load_image", key);
        if (gitci_st_find(refs, "img12.processor_after_load_image.index") && !strcmp(key, "img12")) {
            gitc_image_params p = gitc_image_default_params();
            p.exif_transpose = 1;
            if (check_true(gitc_image_load(check_path(path), &p, &im, &err) == GITC_OK, "%s",
                           err.message)) {
                compare_processor("clip pixel_values img12 after exif_transpose", clip, &im, ref);
                gitc_image_free(&im);
            }
        }
    }
    check_true(n == 13, "processed %d of 13 reference images", n);
    gitc_processor_free(clip);
    gitc_processor_free(vmae);
    cJSON_Delete(meta);
}

static void test_demo(void)
{
    static const char *const files[8] = {
        "shapes_0_224x224.png", "shapes_1_320x240.jpg", "shapes_2_300x400.png",
        "shapes_3_224x224.jpg", "shapes_4_500x300.png", "shapes_5_256x256.jpg",
        "shapes_6_224x224.png", "shapes_7_640x480.jpg"};
    gitc_processor *p = NULL;
    gitc_error err = {0};
    if (!check_true(gitc_processor_load(check_path("models/git-shapes"), &p, &err) == GITC_OK,
                    "%s", err.message))
        return;
    for (int k = 0; k < 8; k++) {
        char path[256], what[128], ref[64];
        snprintf(path, sizeof path, "tests/data/images/demo/%s", files[k]);
        gitc_image im = {0};
        if (!check_true(gitc_image_load(check_path(path), NULL, &im, &err) == GITC_OK, "%s",
                        err.message))
            continue;
        snprintf(what, sizeof what, "demo ex%d pixel_values (%s)", k, files[k]);
        snprintf(ref, sizeof ref, "demo.ex%d.pixel_values", k);
        compare_processor(what, p, &im, ref);
        gitc_image_free(&im);
    }
    gitc_processor_free(p);
}

/* ------------------------------------------------------------------ */
/* Config rules                                                        */
/* ------------------------------------------------------------------ */

static gitc_processor *from_text(const char *json, gitc_status want)
{
    gitc_processor *p = NULL;
    gitc_error err = {0};
    gitc_status st = gitc_processor_from_json(json, strlen(json), "test.json", &p, &err);
    check_true(st == want, "config %s: status %d (%s), want %d", json, (int)st, err.message,
               (int)want);
    if (st != GITC_OK)
        check_true(strstr(err.message, "test.json") != NULL, "message names the file: %s",
                   err.message);
    return p;
}

/* A w x h test image with a deterministic pattern. */
static gitc_image pattern(int w, int h)
{
    gitc_image im = {w, h, malloc((size_t)w * h * 3)};
    for (int i = 0; i < w * h * 3; i++)
        im.rgb[i] = (uint8_t)((i * 7919) >> 3);
    return im;
}

static void test_config_rules(void)
{
    gitc_error err = {0};
    int h, w;
    /* An int size is shortest_edge, an int crop is square. */
    gitc_processor *p = from_text("{\"size\": 32, \"crop_size\": 20}", GITC_OK);
    gitc_processor_output_size(p, &h, &w);
    check_true(h == 20 && w == 20, "int crop_size: %dx%d", w, h);
    gitc_processor_free(p);
    /* height/width resize (no aspect ratio), no crop: output is that size. */
    p = from_text("{\"size\": {\"height\": 10, \"width\": 30}, \"do_center_crop\": false,"
                  "\"image_mean\": 0.5, \"image_std\": [1, 2, 4]}",
                  GITC_OK);
    gitc_processor_output_size(p, &h, &w);
    check_true(h == 10 && w == 30, "height/width size: %dx%d", w, h);
    gitc_image im = pattern(17, 23);
    if (p) {
        float *out = malloc(sizeof(float) * 3 * 10 * 30);
        gitc_image r = {0};
        gitc_processor_run(p, &im, out, 3 * 10 * 30, &err);
        gitci_image_resize(&im, 30, 10, GITC_RESAMPLE_BICUBIC, &r, &err);
        float mx = 0;
        const float stdv[3] = {1, 2, 4};
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 300; i++) {
                float x = (float)((double)r.rgb[3 * i + c] * (1.0 / 255.0));
                float want = (x - 0.5f) / stdv[c];
                mx = fmaxf(mx, fabsf(out[c * 300 + i] - want));
            }
        printf("%-60s max abs diff %g\n", "height/width resize + scalar mean + std list", mx);
        check_true(mx == 0, "height/width processor differs: %g", mx);
        gitc_image_free(&r);
        free(out);
    }
    gitc_processor_free(p);

    /* Crop larger than the resized image: zero padding centred with ceil
     * (transformers' center_crop), padding normalized like a 0 pixel. */
    p = from_text("{\"image_processor_type\": \"CLIPImageProcessor\", \"size\": {\"height\": 5,"
                  "\"width\": 8}, \"crop_size\": {\"height\": 8, \"width\": 6},"
                  "\"do_normalize\": false}",
                  GITC_OK);
    if (p) {
        float out[3 * 8 * 6];
        gitc_image r = {0};
        check_true(gitc_processor_run(p, &im, out, sizeof out / sizeof out[0], &err) == GITC_OK, "%s", err.message);
        gitci_image_resize(&im, 8, 5, GITC_RESAMPLE_BICUBIC, &r, &err);
        /* Rows: padded to 8 with top_pad = ceil(3/2) = 2, so output row y is image row y - 2.
         * Columns: 8 -> 6 crops left = (8 - 6) // 2 = 1. */
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 6; x++) {
                    int sy = y - 2, sx = x + 1;
                    int v = sy >= 0 && sy < 5 ? r.rgb[(sy * 8 + sx) * 3 + c] : 0;
                    float want = (float)((double)v * (1.0 / 255.0));
                    bad += out[c * 48 + y * 6 + x] != want;
                }
        printf("%-60s %d mismatches\n", "crop 8x6 of a 5x8 resize (zero padding)", bad);
        check_true(bad == 0, "padded crop: %d mismatches", bad);
        gitc_image_free(&r);
    }
    gitc_processor_free(p);

    /* No resize, no crop: the image's own size; output_size cannot know it. */
    p = from_text("{\"do_resize\": false, \"do_center_crop\": false, \"do_rescale\": false,"
                  "\"do_normalize\": false}",
                  GITC_OK);
    gitc_processor_output_size(p, &h, &w);
    check_true(h == 0 && w == 0, "image-dependent output size reported as 0x0");
    check_true(gitci_processor_image_output_size(p, 17, 23, &h, &w) && h == 23 && w == 17,
               "output size for a 17x23 image without resize/crop: %dx%d", w, h);
    if (p) {
        float *out = malloc(sizeof(float) * 3 * 17 * 23);
        gitc_processor_run(p, &im, out, 3 * 17 * 23, &err);
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 17 * 23; i++)
                bad += out[c * 17 * 23 + i] != (float)im.rgb[3 * i + c];
        check_true(bad == 0, "identity processor: %d mismatches", bad);
        free(out);
    }
    gitc_processor_free(p);

    /* VideoMAE defaults: bilinear, mean = std = 0.5. */
    p = from_text("{\"image_processor_type\": \"VideoMAEImageProcessor\", \"size\": 16,"
                  "\"crop_size\": 16}",
                  GITC_OK);
    if (p) {
        float out[3 * 16 * 16];
        gitc_image r = {0};
        gitc_processor_run(p, &im, out, sizeof out / sizeof out[0], &err);
        /* 17x23 -> shortest edge 16: width 16, height int(16*23/17) = 21; crop top 2. */
        gitci_image_resize(&im, 16, 21, GITC_RESAMPLE_BILINEAR, &r, &err);
        int bad = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++) {
                    float v = (float)((double)r.rgb[((y + 2) * 16 + x) * 3 + c] * (1.0 / 255.0));
                    bad += out[c * 256 + y * 16 + x] != (v - 0.5f) / 0.5f;
                }
        check_true(bad == 0, "videomae defaults: %d mismatches", bad);
        gitc_image_free(&r);
    }
    gitc_processor_free(p);

    /* Errors. */
    gitc_processor_free(from_text("{\"resample\": 0}", GITC_ERR_UNSUPPORTED));
    gitc_processor_free(from_text("{\"resample\": 7}", GITC_ERR_FORMAT));
    gitc_processor_free(from_text("{\"size\": {\"longest_edge\": 10}}", GITC_ERR_UNSUPPORTED));
    gitc_processor_free(from_text("{\"crop_size\": {\"height\": 10}}", GITC_ERR_FORMAT));
    gitc_processor_free(from_text("{\"image_mean\": [0.5, 0.5]}", GITC_ERR_FORMAT));
    gitc_processor_free(from_text("{\"image_processor_type\": \"ViTImageProcessor\"}",
                                  GITC_ERR_UNSUPPORTED));
    gitc_processor_free(from_text("{\"size\": ", GITC_ERR_FORMAT));
    gitc_processor *none = NULL;
    check_true(gitc_processor_load(check_path("tests/data/images"), &none, &err) == GITC_ERR_IO &&
                   none == NULL,
               "missing preprocessor_config.json: %s", err.message);

    /* Other Pillow filters: a constant image stays constant (plausibility only). */
    gitc_image flat = {9, 7, malloc(9 * 7 * 3)};
    memset(flat.rgb, 137, 9 * 7 * 3);
    for (int f = 1; f <= 5; f++) {
        gitc_image r = {0};
        int ok = gitci_image_resize(&flat, 20, 4, f, &r, &err) == GITC_OK;
        for (int i = 0; ok && i < 20 * 4 * 3; i++)
            ok = r.rgb[i] == 137;
        check_true(ok, "filter %d keeps a flat image flat", f);
        gitc_image_free(&r);
    }
    gitc_image_free(&flat);
    gitc_image_free(&im);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); /* CPU time: the test machine may be loaded */
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void test_timing(void)
{
    gitc_processor *p = NULL;
    gitc_error err = {0};
    char *data = NULL;
    size_t n = 0;
    if (gitc_processor_load(check_path("models/git-shapes"), &p, &err) != GITC_OK ||
        gitci_read_file(check_path("tests/data/images/inputs/hd_1280x720.jpg"), &data, &n, &err)) {
        gitc_processor_free(p);
        return;
    }
    float *out = malloc(sizeof(float) * 3 * 224 * 224);
    const int reps = 5;
    double t_dec = 0, t_proc = 0;
    for (int i = 0; i < reps; i++) {
        gitc_image im = {0};
        double t0 = now_ms();
        gitc_image_decode(data, n, "hd", NULL, &im, &err);
        double t1 = now_ms();
        gitc_processor_run(p, &im, out, 3 * 224 * 224, &err);
        t_proc += now_ms() - t1;
        t_dec += t1 - t0;
        gitc_image_free(&im);
    }
    printf("%-60s decode %.2f ms + preprocess %.2f ms CPU time (mean of %d)\n",
           "hd_1280x720.jpg timing", t_dec / reps, t_proc / reps, reps);
    free(out);
    free(data);
    gitc_processor_free(p);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    gitc_error err = {0};
    if (!check_true(gitci_st_open(check_path("tests/data/images/refs.safetensors"), &refs, &err) ==
                        GITC_OK,
                    "%s", err.message))
        return check_done("test_processor");
    test_reference();
    test_demo();
    test_config_rules();
    test_timing();
    gitci_st_close(refs);
    return check_done("test_processor");
}
