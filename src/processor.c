/*
 * The image processor of transformers 4.39.3 (CLIPImageProcessor and
 * VideoMAEImageProcessor, classic PIL path): preprocessor_config.json,
 * Pillow 9.4's 8-bit separable resampling (ImagingResample), center crop,
 * rescale and normalize in float32, CHW output.
 *
 * Bit-exactness: this file is compiled with -ffp-contract=off (no FMA), the
 * resampling coefficients are computed in double exactly as Pillow does, and
 * the float32 rescale/normalize keeps numpy's two rounded operations.
 */
#include "image_internal.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS 22 /* Pillow's fixed point for 8-bit resampling */
#define MAX_SIDE 32768    /* largest size / crop size accepted from a config */

/* ------------------------------------------------------------------ */
/* Pillow filters (Resample.c)                                         */
/* ------------------------------------------------------------------ */

typedef struct resample_filter {
    double (*fn)(double x);
    double support;
} resample_filter;

static double filter_box(double x)
{
    return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
}

static double filter_bilinear(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double filter_hamming(double x)
{
    if (x < 0.0)
        x = -x;
    if (x == 0.0)
        return 1.0;
    if (x >= 1.0)
        return 0.0;
    x = x * M_PI;
    return sin(x) / x * (0.54 + 0.46 * cos(x));
}

static double filter_bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc_filter(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double filter_lanczos(double x)
{
    if (-3.0 <= x && x < 3.0)
        return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

static const resample_filter *get_filter(int resample)
{
    static const resample_filter box = {filter_box, 0.5};
    static const resample_filter bilinear = {filter_bilinear, 1.0};
    static const resample_filter hamming = {filter_hamming, 1.0};
    static const resample_filter bicubic = {filter_bicubic, 2.0};
    static const resample_filter lanczos = {filter_lanczos, 3.0};
    switch (resample) {
    case GITC_RESAMPLE_BOX: return &box;
    case GITC_RESAMPLE_BILINEAR: return &bilinear;
    case GITC_RESAMPLE_HAMMING: return &hamming;
    case GITC_RESAMPLE_BICUBIC: return &bicubic;
    case GITC_RESAMPLE_LANCZOS: return &lanczos;
    default: return NULL;
    }
}

/* Fixed-point coefficients of output indices [first, first + count) of a
 * resize from in_size to out_size, as Pillow's precompute_coeffs followed by
 * normalize_coeffs_8bpc: bounds[2i] = first input index, bounds[2i+1] = taps,
 * kk[i * ksize + t] = the tap's 22-bit weight. */
typedef struct coeffs {
    int ksize;
    int *bounds;
    int32_t *kk;
} coeffs;

static void coeffs_free(coeffs *c)
{
    free(c->bounds);
    free(c->kk);
    c->bounds = NULL;
    c->kk = NULL;
}

static int coeffs_make(coeffs *c, int in_size, int out_size, int first, int count,
                       const resample_filter *f)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = f->support * filterscale;
    double ksize_d = ceil(support) * 2 + 1;
    c->bounds = NULL;
    c->kk = NULL;
    if (ksize_d > (double)(INT_MAX / 8) || (double)count * ksize_d > (double)(SIZE_MAX / 8))
        return 0;
    int ksize = (int)ksize_d;
    c->ksize = ksize;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)GITC_MAX(count, 1));
    c->kk = malloc(sizeof(int32_t) * (size_t)ksize * (size_t)GITC_MAX(count, 1));
    double *k = malloc(sizeof(double) * (size_t)ksize);
    if (!c->bounds || !c->kk || !k) {
        free(k);
        coeffs_free(c);
        return 0;
    }
    double ss = 1.0 / filterscale;
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = (xx + 0.5) * scale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = f->fn((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        int32_t *kk = c->kk + (size_t)i * ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? k[x] / ww : k[x];
            kk[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                          : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        for (int x = GITC_MAX(xmax, 0); x < ksize; x++)
            kk[x] = 0;
        c->bounds[2 * i] = xmin;
        c->bounds[2 * i + 1] = GITC_MAX(xmax, 0);
    }
    free(k);
    return 1;
}

static inline uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

gitc_status gitci_image_resize_region(const gitc_image *in, int out_w, int out_h, int resample,
                                      int x0, int y0, int rw, int rh, uint8_t *out,
                                      gitc_error *err)
{
    const resample_filter *f = get_filter(resample);
    if (!f)
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "resample filter %d is not supported",
                          resample);
    int w = in->width, h = in->height;
    if (w <= 0 || h <= 0 || !in->rgb || out_w <= 0 || out_h <= 0 || x0 < 0 || y0 < 0 ||
        rw < 0 || rh < 0 || rw > out_w - x0 || rh > out_h - y0)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "invalid resize of %dx%d to %dx%d", w, h, out_w,
                          out_h);
    if (rw == 0 || rh == 0)
        return GITC_OK;
    /* Pillow skips a pass whose size is unchanged. */
    int need_h = out_w != w, need_v = out_h != h;
    coeffs ch = {0, NULL, NULL}, cv = {0, NULL, NULL};
    uint8_t *tmp = NULL, *row4 = NULL;
    int32_t *acc = NULL;
    gitc_status st = GITC_OK;
    if ((need_h && !coeffs_make(&ch, w, out_w, x0, rw, f)) ||
        (need_v && !coeffs_make(&cv, h, out_h, y0, rh, f))) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory resizing %dx%d to %dx%d", w, h, out_w,
                        out_h);
        goto done;
    }
    /* Input rows the vertical pass reads. */
    int row0 = y0, row1 = y0 + rh;
    if (need_v) {
        row0 = cv.bounds[0];
        row1 = 0;
        for (int i = 0; i < rh; i++) {
            row0 = GITC_MIN(row0, cv.bounds[2 * i]);
            row1 = GITC_MAX(row1, cv.bounds[2 * i] + cv.bounds[2 * i + 1]);
        }
        if (row1 <= row0)
            row1 = row0 + 1;
    }
    /* Horizontal pass into uint8 (or a view of the input when not needed). */
    const uint8_t *mid;
    size_t mid_stride;
    if (need_h) {
        tmp = malloc((size_t)(row1 - row0) * (size_t)rw * 3);
        row4 = malloc((size_t)w * 4);
        if (!tmp || !row4) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory resizing %dx%d", w, h);
            goto done;
        }
        for (int y = row0; y < row1; y++) {
            /* Pillow's 4-byte pixels: the fixed 4-lane sums below vectorize. */
            const uint8_t *src = in->rgb + (size_t)y * w * 3;
            for (int x = 0; x < w; x++) {
                row4[4 * x] = src[3 * x];
                row4[4 * x + 1] = src[3 * x + 1];
                row4[4 * x + 2] = src[3 * x + 2];
                row4[4 * x + 3] = 0;
            }
            uint8_t *dst = tmp + (size_t)(y - row0) * rw * 3;
            for (int i = 0; i < rw; i++) {
                int xmin = ch.bounds[2 * i], n = ch.bounds[2 * i + 1];
                const int32_t *k = ch.kk + (size_t)i * ch.ksize;
                const uint8_t *p = row4 + (size_t)xmin * 4;
                int32_t s[4] = {1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1),
                                1 << (PRECISION_BITS - 1), 1 << (PRECISION_BITS - 1)};
                for (int x = 0; x < n; x++, p += 4)
                    for (int c = 0; c < 4; c++)
                        s[c] += p[c] * k[x];
                dst[3 * i] = clip8(s[0]);
                dst[3 * i + 1] = clip8(s[1]);
                dst[3 * i + 2] = clip8(s[2]);
            }
        }
        mid = tmp;
        mid_stride = (size_t)rw * 3;
    } else {
        mid = in->rgb + (size_t)row0 * w * 3 + (size_t)x0 * 3;
        mid_stride = (size_t)w * 3;
    }
    /* Vertical pass (or a copy of the rows): whole rows at a time into int32
     * accumulators (integer sums, so the order of the taps does not matter). */
    if (need_v) {
        acc = malloc(sizeof(int32_t) * 3 * (size_t)rw);
        if (!acc) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory resizing %dx%d", w, h);
            goto done;
        }
    }
    for (int i = 0; i < rh; i++) {
        uint8_t *dst = out + (size_t)i * rw * 3;
        if (!need_v) {
            memcpy(dst, mid + (size_t)i * mid_stride, (size_t)rw * 3);
            continue;
        }
        int ymin = cv.bounds[2 * i] - row0, n = cv.bounds[2 * i + 1];
        const int32_t *k = cv.kk + (size_t)i * cv.ksize;
        for (int x = 0; x < 3 * rw; x++)
            acc[x] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < n; y++) {
            const uint8_t *src = mid + (size_t)(ymin + y) * mid_stride;
            int32_t ky = k[y];
            for (int x = 0; x < 3 * rw; x++)
                acc[x] += src[x] * ky;
        }
        for (int x = 0; x < 3 * rw; x++)
            dst[x] = clip8(acc[x]);
    }
done:
    coeffs_free(&ch);
    coeffs_free(&cv);
    free(tmp);
    free(row4);
    free(acc);
    return st;
}

gitc_status gitci_image_resize(const gitc_image *in, int out_w, int out_h, int resample,
                               gitc_image *out, gitc_error *err)
{
    if (out_w <= 0 || out_h <= 0 || (uint64_t)out_w * (uint64_t)out_h > (uint64_t)INT_MAX / 3)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "invalid resize target %dx%d", out_w, out_h);
    uint8_t *px = malloc((size_t)out_w * (size_t)out_h * 3);
    if (!px)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory for a %dx%d image", out_w, out_h);
    gitc_status st = gitci_image_resize_region(in, out_w, out_h, resample, 0, 0, out_w, out_h, px,
                                               err);
    if (st != GITC_OK) {
        free(px);
        return st;
    }
    out->rgb = px;
    out->width = out_w;
    out->height = out_h;
    return GITC_OK;
}

/* ------------------------------------------------------------------ */
/* preprocessor_config.json                                            */
/* ------------------------------------------------------------------ */

typedef enum size_kind { SIZE_SHORTEST_EDGE, SIZE_HEIGHT_WIDTH } size_kind;

struct gitc_processor {
    int do_resize;
    size_kind size_kind;
    int shortest_edge;          /* SIZE_SHORTEST_EDGE */
    int size_height, size_width; /* SIZE_HEIGHT_WIDTH */
    int resample;
    int do_center_crop;
    int crop_height, crop_width;
    int do_rescale;
    double rescale_factor;
    int do_normalize;
    float mean[3], std[3]; /* float32 as numpy casts them */
    int do_convert_rgb; /* parsed; a gitc_image is always RGB already */
    int videomae; /* 1: VideoMAEImageProcessor, 0: CLIPImageProcessor */
};

/* A JSON number that is a whole number in [1, MAX_SIDE]. */
static int json_side(const cJSON *v, int *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 1 && d <= MAX_SIDE) || d != floor(d))
        return 0;
    *out = (int)d;
    return 1;
}

/* Python truthiness of a JSON boolean or number; -1 when it is neither. */
static int json_flag(const cJSON *v)
{
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    if (cJSON_IsNumber(v))
        return v->valuedouble != 0;
    return -1;
}

/* transformers' get_size_dict for `size` (default_to_square=False for both processors):
 * an int is {"shortest_edge": n}, a list [h, w] is {"height", "width"}. */
static gitc_status parse_size(gitc_processor *p, const cJSON *v, const char *name,
                              gitc_error *err)
{
    if (cJSON_IsNumber(v)) {
        if (!json_side(v, &p->shortest_edge))
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: size must be an integer in 1..%d", name,
                              MAX_SIDE);
        p->size_kind = SIZE_SHORTEST_EDGE;
        return GITC_OK;
    }
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != 2 || !json_side(cJSON_GetArrayItem(v, 0), &p->size_height) ||
            !json_side(cJSON_GetArrayItem(v, 1), &p->size_width))
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: size list must be [height, width]", name);
        p->size_kind = SIZE_HEIGHT_WIDTH;
        return GITC_OK;
    }
    if (!cJSON_IsObject(v))
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: size must be a number or an object", name);
    const cJSON *se = cJSON_GetObjectItemCaseSensitive(v, "shortest_edge");
    const cJSON *hh = cJSON_GetObjectItemCaseSensitive(v, "height");
    const cJSON *ww = cJSON_GetObjectItemCaseSensitive(v, "width");
    /* The processors' resize: shortest_edge wins (a longest_edge beside it is
     * ignored), else height and width, else an error. */
    if (se) {
        if (!json_side(se, &p->shortest_edge))
            return gitci_fail(err, GITC_ERR_FORMAT,
                              "%s: size.shortest_edge must be an integer in 1..%d", name, MAX_SIDE);
        p->size_kind = SIZE_SHORTEST_EDGE;
        return GITC_OK;
    }
    if (hh && ww) {
        if (!json_side(hh, &p->size_height) || !json_side(ww, &p->size_width))
            return gitci_fail(err, GITC_ERR_FORMAT,
                              "%s: size.height/width must be integers in 1..%d", name, MAX_SIDE);
        p->size_kind = SIZE_HEIGHT_WIDTH;
        return GITC_OK;
    }
    return gitci_fail(err, GITC_ERR_UNSUPPORTED,
                      "%s: size must contain 'shortest_edge' or 'height' and 'width'", name);
}

/* get_size_dict for crop_size (default_to_square=True): an int n is n x n. */
static gitc_status parse_crop(gitc_processor *p, const cJSON *v, const char *name, gitc_error *err)
{
    if (cJSON_IsNumber(v)) {
        if (!json_side(v, &p->crop_height))
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: crop_size must be an integer in 1..%d",
                              name, MAX_SIDE);
        p->crop_width = p->crop_height;
        return GITC_OK;
    }
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != 2 || !json_side(cJSON_GetArrayItem(v, 0), &p->crop_height) ||
            !json_side(cJSON_GetArrayItem(v, 1), &p->crop_width))
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: crop_size list must be [height, width]",
                              name);
        return GITC_OK;
    }
    const cJSON *hh = cJSON_GetObjectItemCaseSensitive(v, "height");
    const cJSON *ww = cJSON_GetObjectItemCaseSensitive(v, "width");
    if (!cJSON_IsObject(v) || !hh || !ww)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: crop_size must have 'height' and 'width'",
                          name);
    if (!json_side(hh, &p->crop_height) || !json_side(ww, &p->crop_width))
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: crop_size.height/width must be integers in 1..%d", name, MAX_SIDE);
    return GITC_OK;
}

/* image_mean / image_std: a list of 3 numbers or one number for all channels. */
static gitc_status parse_stats(float out[3], const cJSON *v, const char *key, const char *name,
                               gitc_error *err)
{
    int is_std = strcmp(key, "image_std") == 0;
    if (!cJSON_IsNumber(v) && (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3))
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: %s must be 3 numbers (one per RGB channel)",
                          name, key);
    for (int c = 0; c < 3; c++) {
        const cJSON *e = cJSON_IsNumber(v) ? v : cJSON_GetArrayItem(v, c);
        if (!cJSON_IsNumber(e))
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: %s[%d] is not a number", name, key, c);
        /* Checked as a double before the conversion: finite as a float, a std not zero
         * (the processor divides by it). */
        double d = e->valuedouble;
        if (!(fabs(d) <= FLT_MAX) || (is_std && (float)d == 0.0f))
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: %s[%d] = %.17g is not a %s float", name, key,
                              c, d, is_std ? "non-zero finite" : "finite");
        out[c] = (float)d;
    }
    return GITC_OK;
}

gitc_status gitc_processor_from_json(const char *json, size_t len, const char *name,
                                     gitc_processor **out, gitc_error *err)
{
    if (!name)
        name = "preprocessor_config.json";
    if (!out || !json)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "%s: invalid arguments", name);
    *out = NULL;
    cJSON *root = NULL;
    gitc_status pst = gitci_json_parse_config(json, len, name, &root, err);
    if (pst != GITC_OK)
        return pst;
    gitc_status st = GITC_OK;
    gitc_processor *p = calloc(1, sizeof *p);
    if (!p) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", name);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: not a JSON object", name);
        goto done;
    }
    /* The class: AutoImageProcessor maps a GIT folder without a type to CLIP. */
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "image_processor_type");
    if (!cJSON_IsString(type))
        type = cJSON_GetObjectItemCaseSensitive(root, "feature_extractor_type");
    if (cJSON_IsString(type)) {
        const char *t = type->valuestring;
        if (!strcmp(t, "VideoMAEImageProcessor") || !strcmp(t, "VideoMAEFeatureExtractor"))
            p->videomae = 1;
        else if (strcmp(t, "CLIPImageProcessor") && strcmp(t, "CLIPFeatureExtractor")) {
            st = gitci_fail(err, GITC_ERR_UNSUPPORTED,
                            "%s: image processor type '%s' is not supported "
                            "(CLIPImageProcessor, VideoMAEImageProcessor)",
                            name, t);
            goto done;
        }
    }
    /* Defaults of the two classes' __init__. */
    p->do_resize = 1;
    p->size_kind = SIZE_SHORTEST_EDGE;
    p->shortest_edge = 224;
    p->do_center_crop = 1;
    p->crop_height = p->crop_width = 224;
    p->do_rescale = 1;
    p->rescale_factor = 1.0 / 255.0;
    p->do_normalize = 1;
    p->do_convert_rgb = 1;
    if (p->videomae) {
        static const float half[3] = {0.5f, 0.5f, 0.5f}; /* IMAGENET_STANDARD_MEAN / STD */
        p->resample = GITC_RESAMPLE_BILINEAR;
        memcpy(p->mean, half, sizeof half);
        memcpy(p->std, half, sizeof half);
    } else {
        /* OPENAI_CLIP_MEAN / OPENAI_CLIP_STD, used only when the file has no image_mean/std. */
        static const double clip_mean[3] = {0.48145466, 0.4578275, 0.40821073};
        static const double clip_std[3] = {0.26862954, 0.26130258, 0.27577711};
        p->resample = GITC_RESAMPLE_BICUBIC;
        for (int c = 0; c < 3; c++) {
            p->mean[c] = (float)clip_mean[c];
            p->std[c] = (float)clip_std[c];
        }
    }

    static const char *const flags[] = {"do_resize", "do_center_crop", "do_rescale",
                                        "do_normalize", "do_convert_rgb"};
    int *const flag_dst[] = {&p->do_resize, &p->do_center_crop, &p->do_rescale, &p->do_normalize,
                             &p->do_convert_rgb};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, flags[i]);
        if (!v || cJSON_IsNull(v))
            continue;
        int f = json_flag(v);
        if (f < 0) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: %s must be true or false", name, flags[i]);
            goto done;
        }
        *flag_dst[i] = f;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "size");
    if (v && !cJSON_IsNull(v) && (st = parse_size(p, v, name, err)) != GITC_OK)
        goto done;
    v = cJSON_GetObjectItemCaseSensitive(root, "use_square_size"); /* CLIP: Kosmos-2 configs */
    if (!p->videomae && json_flag(v) == 1 && p->size_kind == SIZE_SHORTEST_EDGE) {
        p->size_kind = SIZE_HEIGHT_WIDTH;
        p->size_height = p->size_width = p->shortest_edge;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "crop_size");
    if (v && !cJSON_IsNull(v) && (st = parse_crop(p, v, name, err)) != GITC_OK)
        goto done;
    v = cJSON_GetObjectItemCaseSensitive(root, "resample");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
            v->valuedouble < 0 || v->valuedouble > 5) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: resample must be a PIL filter code 0..5",
                            name);
            goto done;
        }
        p->resample = (int)v->valuedouble;
    }
    if (!get_filter(p->resample)) {
        st = gitci_fail(err, GITC_ERR_UNSUPPORTED,
                        "%s: resample=%d (NEAREST) is not supported (supported: 1 LANCZOS, "
                        "2 BILINEAR, 3 BICUBIC, 4 BOX, 5 HAMMING)",
                        name, p->resample);
        goto done;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "rescale_factor");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v)) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: rescale_factor must be a number", name);
            goto done;
        }
        if (!(fabs(v->valuedouble) <= FLT_MAX)) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: rescale_factor = %.17g is not finite", name,
                            v->valuedouble);
            goto done;
        }
        p->rescale_factor = v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "image_mean");
    if (v && !cJSON_IsNull(v) && (st = parse_stats(p->mean, v, "image_mean", name, err)) != GITC_OK)
        goto done;
    v = cJSON_GetObjectItemCaseSensitive(root, "image_std");
    if (v && !cJSON_IsNull(v) && (st = parse_stats(p->std, v, "image_std", name, err)) != GITC_OK)
        goto done;
    *out = p;
    p = NULL;
done:
    free(p);
    cJSON_Delete(root);
    return st;
}

gitc_status gitc_processor_load(const char *model_dir, gitc_processor **out, gitc_error *err)
{
    if (!out || !model_dir)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_processor_load: invalid arguments");
    *out = NULL;
    char *path = gitci_path_join(model_dir, "preprocessor_config.json");
    if (!path)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    char *text = NULL;
    size_t len = 0;
    gitc_status st = gitci_read_file_max(path, GITC_CONFIG_MAX_BYTES, &text, &len, err);
    if (st == GITC_OK)
        st = gitc_processor_from_json(text, len, path, out, err);
    free(text);
    free(path);
    return st;
}

void gitc_processor_free(gitc_processor *processor)
{
    free(processor);
}

/* The size after resizing an image of w x h (get_resize_output_image_size);
 * 0 when it does not fit an int. */
static int resized_size(const gitc_processor *p, int w, int h, int *rh, int *rw)
{
    if (!p->do_resize) {
        *rh = h;
        *rw = w;
        return 1;
    }
    if (p->size_kind == SIZE_HEIGHT_WIDTH) {
        *rh = p->size_height;
        *rw = p->size_width;
        return 1;
    }
    /* new_long = int(S * long / short), Python true division then truncation. */
    int64_t s = p->shortest_edge;
    int64_t shrt = w <= h ? w : h, lng = w <= h ? h : w;
    double nl = (double)(s * lng) / (double)shrt;
    if (nl > (double)(INT_MAX / 4))
        return 0;
    int new_long = (int)nl;
    if (w <= h) {
        *rh = new_long;
        *rw = (int)s;
    } else {
        *rh = (int)s;
        *rw = new_long;
    }
    return 1;
}

void gitc_processor_output_size(const gitc_processor *p, int *height, int *width)
{
    int h = 0, w = 0;
    if (p && p->do_center_crop) {
        h = p->crop_height;
        w = p->crop_width;
    } else if (p && p->do_resize && p->size_kind == SIZE_HEIGHT_WIDTH) {
        h = p->size_height;
        w = p->size_width;
    }
    /* Otherwise the size depends on the image: 0 x 0. */
    if (height)
        *height = h;
    if (width)
        *width = w;
}

int gitci_processor_image_output_size(const gitc_processor *p, int width, int height, int *out_h,
                                      int *out_w)
{
    int rh, rw;
    if (!p || width <= 0 || height <= 0 || !resized_size(p, width, height, &rh, &rw))
        return 0;
    *out_h = p->do_center_crop ? p->crop_height : rh;
    *out_w = p->do_center_crop ? p->crop_width : rw;
    return 1;
}

/* Floor division as Python's // for a possibly negative numerator. */
static int floor_div2(int a)
{
    return a >= 0 ? a / 2 : -((-a + 1) / 2);
}

size_t gitc_processor_output_floats(const gitc_processor *p, int width, int height)
{
    int h = 0, w = 0;
    if (!gitci_processor_image_output_size(p, width, height, &h, &w) ||
        (uint64_t)h * (uint64_t)w > (uint64_t)INT_MAX / 4)
        return 0;
    return (size_t)3 * (size_t)h * (size_t)w;
}

gitc_status gitc_processor_run(const gitc_processor *p, const gitc_image *image, float *out,
                               size_t out_capacity, gitc_error *err)
{
    if (!p || !image || !out || !image->rgb || image->width <= 0 || image->height <= 0)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_processor_run: invalid arguments");
    int rh, rw;
    if (!resized_size(p, image->width, image->height, &rh, &rw))
        return gitci_fail(err, GITC_ERR_LIMIT, "image of %dx%d resizes to a too large size",
                          image->width, image->height);
    /* Output geometry: transformers' center_crop takes rows top .. top + ch with
     * top = (H - ch) // 2; rows outside the image are the zero padding. */
    int oh = rh, ow = rw, top = 0, left = 0;
    if (p->do_center_crop) {
        oh = p->crop_height;
        ow = p->crop_width;
        top = floor_div2(rh - oh);
        left = floor_div2(rw - ow);
    }
    if ((uint64_t)oh * (uint64_t)ow > (uint64_t)INT_MAX / 4)
        return gitci_fail(err, GITC_ERR_LIMIT, "processor output of %dx%d is too large", ow, oh);
    /* Checked before anything is written: the output must fit the caller's buffer. */
    size_t need = (size_t)3 * (size_t)oh * (size_t)ow;
    if (need > out_capacity)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "image of %dx%d gives pixel_values [3, %d, %d] (%zu floats), but the "
                          "output buffer holds %zu floats",
                          image->width, image->height, oh, ow, need, out_capacity);
    /* The part of the resized image that lands in the output. */
    int y0 = GITC_MAX(top, 0), y1 = GITC_MIN(top + oh, rh);
    int x0 = GITC_MAX(left, 0), x1 = GITC_MIN(left + ow, rw);
    int vh = y1 - y0, vw = x1 - x0;
    uint8_t *pix = NULL;
    const uint8_t *view = NULL;
    size_t view_stride = 0;
    if (vh > 0 && vw > 0) {
        if (rh == image->height && rw == image->width) {
            view = image->rgb + ((size_t)y0 * image->width + x0) * 3;
            view_stride = (size_t)image->width * 3;
        } else {
            pix = malloc((size_t)vh * (size_t)vw * 3);
            if (!pix)
                return gitci_fail(err, GITC_ERR_MEMORY, "out of memory preprocessing an image");
            gitc_status st = gitci_image_resize_region(image, rw, rh, p->resample, x0, y0, vw, vh,
                                                       pix, err);
            if (st != GITC_OK) {
                free(pix);
                return st;
            }
            view = pix;
            view_stride = (size_t)vw * 3;
        }
    }
    /* Every uint8 value maps to one float per channel: rescale as
     * float32(float64(v) * factor), then normalize (x - mean) / std in float32. */
    float table[3][256];
    for (int c = 0; c < 3; c++) {
        for (int v = 0; v < 256; v++) {
            float x = p->do_rescale ? (float)((double)v * p->rescale_factor) : (float)v;
            if (p->do_normalize) {
                float d = x - p->mean[c];
                x = d / p->std[c];
            }
            table[c][v] = x;
        }
    }
    size_t plane = (size_t)oh * (size_t)ow;
    for (int y = 0; y < oh; y++) {
        int sy = y + top; /* row of the resized image */
        for (int x = 0; x < ow; x++) {
            int sx = x + left;
            const uint8_t *px = NULL;
            if (sy >= y0 && sy < y1 && sx >= x0 && sx < x1)
                px = view + (size_t)(sy - y0) * view_stride + (size_t)(sx - x0) * 3;
            size_t at = (size_t)y * ow + x;
            for (int c = 0; c < 3; c++)
                out[c * plane + at] = table[c][px ? px[c] : 0];
        }
    }
    free(pix);
    return GITC_OK;
}
