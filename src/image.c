/*
 * Image decoding with the decoders Pillow uses (libjpeg-turbo, libpng for the
 * lossless PNG format, libwebp, giflib, a small BMP reader), converted to RGB
 * as PIL's Image.open(f).convert("RGB") does, plus EXIF orientation.
 *
 * Untrusted input: the format comes from the magic bytes, the pixel count is
 * checked against max_pixels from the header before any pixel buffer is
 * allocated, libjpeg/libpng errors longjmp back here (never exit, never print).
 */
#include "image_internal.h"
#include "image_codecs.h"
#include "image_pixels.h"
#include "version.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <string.h>
#if GITC_HAVE_GIF
#include <gif_lib.h>
#endif
#if GITC_HAVE_WEBP
#include <webp/decode.h>
#endif

void gitc_image_params_init(gitc_image_params *p, size_t size)
{
    gitc_image_params d = {.size = sizeof d, .max_pixels = 100000000, .exif_transpose = 0};
    gitci_params_fill(p, size, &d, sizeof d);
}

/* ------------------------------------------------------------------ */
/* EXIF orientation                                                    */
/* ------------------------------------------------------------------ */

static unsigned rd16(const uint8_t *p, int big)
{
    return big ? (unsigned)(p[0] << 8 | p[1]) : (unsigned)(p[1] << 8 | p[0]);
}

static uint32_t rd32(const uint8_t *p, int big)
{
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int gitci_exif_orientation(const uint8_t *exif, size_t size)
{
    if (size >= 6 && memcmp(exif, "Exif\0\0", 6) == 0) {
        exif += 6;
        size -= 6;
    }
    if (size < 8)
        return 0;
    int big;
    if (exif[0] == 'I' && exif[1] == 'I')
        big = 0;
    else if (exif[0] == 'M' && exif[1] == 'M')
        big = 1;
    else
        return 0;
    if (rd16(exif + 2, big) != 42)
        return 0;
    uint32_t ifd = rd32(exif + 4, big);
    if (ifd > size - 2)
        return 0;
    unsigned n = rd16(exif + ifd, big);
    for (unsigned i = 0; i < n; i++) {
        uint64_t at = (uint64_t)ifd + 2 + 12 * (uint64_t)i;
        if (at + 12 > size)
            return 0;
        const uint8_t *e = exif + at;
        if (rd16(e, big) != 0x0112)
            continue;
        unsigned type = rd16(e + 2, big);
        if (rd32(e + 4, big) < 1)
            return 0;
        if (type == 3) /* SHORT, stored in the first two bytes of the value field */
            return (int)rd16(e + 8, big);
        if (type == 4) /* LONG */
            return (int)GITC_MIN(rd32(e + 8, big), 0xffffu);
        return 0;
    }
    return 0;
}

/* The first APP1 "Exif" segment of a JPEG, before the first scan. */
static int jpeg_orientation(const uint8_t *d, size_t n)
{
    size_t i = 2;
    while (i + 4 <= n) {
        if (d[i] != 0xFF)
            return 0;
        uint8_t m = d[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            i += 2;
            continue;
        }
        if (m == 0xDA || m == 0xD9)
            return 0;
        size_t len = (size_t)d[i + 2] << 8 | d[i + 3];
        if (len < 2 || len > n - i - 2)
            return 0;
        if (m == 0xE1 && len >= 8 && memcmp(d + i + 4, "Exif\0\0", 6) == 0)
            return gitci_exif_orientation(d + i + 4, len - 2);
        i += 2 + len;
    }
    return 0;
}

/* The eXIf chunk of a PNG (before or after IDAT). */
static int png_orientation(const uint8_t *d, size_t n)
{
    size_t i = 8;
    while (i + 12 <= n) {
        uint32_t len = rd32(d + i, 1);
        if (len > n - i - 12)
            return 0;
        if (memcmp(d + i + 4, "eXIf", 4) == 0)
            return gitci_exif_orientation(d + i + 8, len);
        if (memcmp(d + i + 4, "IEND", 4) == 0)
            return 0;
        i += 12 + (size_t)len;
    }
    return 0;
}

/* The EXIF chunk of a RIFF WebP. */
static int webp_orientation(const uint8_t *d, size_t n)
{
    size_t i = 12;
    while (i + 8 <= n) {
        uint32_t len = rd32(d + i + 4, 0);
        if (len > n - i - 8)
            return 0;
        if (memcmp(d + i, "EXIF", 4) == 0)
            return gitci_exif_orientation(d + i + 8, len);
        i += 8 + (size_t)len + (len & 1);
    }
    return 0;
}

int gitci_image_file_orientation(const uint8_t *d, size_t n)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return jpeg_orientation(d, n);
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return png_orientation(d, n);
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return webp_orientation(d, n);
    /* A TIFF file is itself TIFF-structured: the Orientation tag of its first IFD. */
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0))
        return gitci_exif_orientation(d, n);
    return 0;
}

/* ------------------------------------------------------------------ */
/* JPEG (libjpeg-turbo, Pillow's default settings)                     */
/* ------------------------------------------------------------------ */

typedef struct jpeg_ctx {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_ctx *ctx = (jpeg_ctx *)cinfo->err;
    ctx->pub.format_message(cinfo, ctx->message);
    longjmp(ctx->jump, 1);
}

/* Warnings (corrupt-data recoveries) are ignored as Pillow ignores them; nothing is printed. */
static void jpeg_on_output(j_common_ptr cinfo) { (void)cinfo; }

static void jpeg_src_init(j_decompress_ptr cinfo) { (void)cinfo; }
static void jpeg_src_term(j_decompress_ptr cinfo) { (void)cinfo; }

/* All data is in memory from the start: needing more means the file is truncated
 * (Pillow: "image file is truncated"). */
static boolean jpeg_src_fill(j_decompress_ptr cinfo)
{
    ERREXIT(cinfo, JERR_INPUT_EOF);
    return FALSE;
}

static void jpeg_src_skip(j_decompress_ptr cinfo, long n)
{
    struct jpeg_source_mgr *src = cinfo->src;
    if (n <= 0)
        return;
    if ((size_t)n > src->bytes_in_buffer)
        ERREXIT(cinfo, JERR_INPUT_EOF);
    src->next_input_byte += n;
    src->bytes_in_buffer -= (size_t)n;
}

/* Bounds the scans of a progressive file so a hostile one cannot take minutes. */
static void jpeg_progress(j_common_ptr cinfo)
{
    jpeg_ctx *ctx = (jpeg_ctx *)cinfo->err;
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > 1000) {
        snprintf(ctx->message, sizeof ctx->message, "more than 1000 progressive scans");
        longjmp(ctx->jump, 2);
    }
}

/* Decodes a JPEG. want_cmyk: return the CMYK planes of a 4-component file instead of RGB. */
static gitc_status decode_jpeg(const uint8_t *data, size_t size, const char *name,
                               uint64_t max_pixels, int want_cmyk, uint8_t **out, int *out_w,
                               int *out_h, gitc_error *err)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_ctx ctx;
    struct jpeg_source_mgr src;
    struct jpeg_progress_mgr progress;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;
    gitc_status st = GITC_OK;

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&ctx.pub);
    ctx.pub.error_exit = jpeg_on_error;
    ctx.pub.output_message = jpeg_on_output;
    ctx.message[0] = 0;
    int jumped = setjmp(ctx.jump);
    if (jumped) {
        if (jumped == 2)
            st = gitci_fail(err, GITC_ERR_LIMIT, "%s: JPEG has %s", name, ctx.message);
        else if (ctx.pub.msg_code == JERR_INPUT_EOF)
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: JPEG file is truncated", name);
        else
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt JPEG: %s", name, ctx.message);
        goto done;
    }
    jpeg_create_decompress(&cinfo);
    memset(&src, 0, sizeof src);
    src.init_source = jpeg_src_init;
    src.fill_input_buffer = jpeg_src_fill;
    src.skip_input_data = jpeg_src_skip;
    src.resync_to_restart = jpeg_resync_to_restart;
    src.term_source = jpeg_src_term;
    src.next_input_byte = data;
    src.bytes_in_buffer = size;
    cinfo.src = &src;
    memset(&progress, 0, sizeof progress);
    progress.progress_monitor = jpeg_progress;
    cinfo.progress = &progress;

    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: JPEG has no image", name);
        goto done;
    }
    int w = (int)GITC_MIN(cinfo.image_width, 0x7fffffffu);
    int h = (int)GITC_MIN(cinfo.image_height, 0x7fffffffu);
    st = gitci_check_image_size(name, cinfo.image_width, cinfo.image_height, max_pixels, err);
    if (st != GITC_OK)
        goto done;
    /* Pillow: 1 layer -> "L", 3 -> "RGB", 4 -> "CMYK" (raw mode "CMYK;I", Adobe inversion).
     * Its decoder keeps libjpeg's defaults: JDCT_ISLOW, fancy upsampling on. */
    int nc = cinfo.num_components;
    if (nc == 1)
        cinfo.out_color_space = JCS_GRAYSCALE;
    else if (nc == 3)
        cinfo.out_color_space = JCS_RGB;
    else if (nc == 4)
        cinfo.out_color_space = JCS_CMYK;
    else {
        st = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: JPEG with %d components", name, nc);
        goto done;
    }
    if (want_cmyk && nc != 4) {
        st = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: not a CMYK JPEG", name);
        goto done;
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_width != w || (int)cinfo.output_height != h ||
        cinfo.output_components != nc) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: unexpected JPEG output geometry", name);
        goto done;
    }
    int out_c = want_cmyk ? 4 : 3;
    pixels = malloc((size_t)w * (size_t)h * (size_t)out_c);
    if (nc != 3)
        row = malloc((size_t)w * (size_t)nc);
    if (!pixels || (nc != 3 && !row)) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory for %dx%d pixels", name, w, h);
        goto done;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        uint8_t *dst = pixels + y * (size_t)w * out_c;
        JSAMPROW r = nc == 3 ? dst : row;
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: JPEG file is truncated", name);
            goto done;
        }
        if (nc == 1) {
            for (int x = 0; x < w; x++)
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
        } else if (nc == 4) {
            for (int x = 0; x < 4 * w; x++)
                row[x] = (uint8_t)(255 - row[x]);
            if (want_cmyk)
                memcpy(dst, row, (size_t)w * 4);
            else
                gitci_cmyk_to_rgb(dst, row, (size_t)w);
        }
    }
    /* jpeg_finish_decompress is not called: data after the last scanline (or a
     * missing EOI) does not matter, as for Pillow. */
    *out = pixels;
    pixels = NULL;
    *out_w = w;
    *out_h = h;
done:
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(row);
    return st;
}

gitc_status gitci_jpeg_decode_cmyk(const void *data, size_t size, const char *name,
                                   uint64_t max_pixels, uint8_t **cmyk, int *width, int *height,
                                   gitc_error *err)
{
    const uint8_t *d = data;
    if (size < 3 || d[0] != 0xFF || d[1] != 0xD8 || d[2] != 0xFF)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: not a JPEG file", name);
    return decode_jpeg(d, size, name, max_pixels, 1, cmyk, width, height, err);
}

/* ------------------------------------------------------------------ */
/* PNG (libpng; PNG is lossless, so any correct decoder matches PIL)   */
/* ------------------------------------------------------------------ */

typedef struct png_ctx {
    const uint8_t *data;
    size_t size;
    size_t pos;
    char message[200];
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->message, sizeof ctx->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep out, png_size_t n)
{
    png_ctx *ctx = png_get_io_ptr(png);
    if (n > ctx->size - ctx->pos)
        png_error(png, "file is truncated");
    memcpy(out, ctx->data + ctx->pos, n);
    ctx->pos += n;
}

/* PIL's palette: the file's entries, then the grey ramp of a fresh ImagingPalette. */
static void pil_palette(uint8_t pal[256][3], const uint8_t *entries, int n, int stride)
{
    for (int i = 0; i < 256; i++)
        pal[i][0] = pal[i][1] = pal[i][2] = (uint8_t)i;
    for (int i = 0; i < n && i < 256; i++)
        memcpy(pal[i], entries + (size_t)i * stride, 3);
}

static gitc_status decode_png(const uint8_t *data, size_t size, const char *name,
                              uint64_t max_pixels, gitc_image *out, gitc_error *err)
{
    png_ctx ctx = {data, size, 0, {0}};
    png_structp png = NULL;
    png_infop info = NULL;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile raw = NULL;
    png_bytep *volatile rows = NULL;
    gitc_status st = GITC_OK;

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    if (png)
        info = png_create_info_struct(png);
    if (!png || !info) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory creating the PNG decoder", name);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        if (strstr(ctx.message, "truncated") || ctx.pos >= ctx.size)
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: PNG file is truncated (%s)", name,
                            ctx.message);
        else
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt PNG: %s", name, ctx.message);
        goto done;
    }
    png_set_read_fn(png, &ctx, png_read_mem);
    /* Pillow checks the CRC of every chunk before the image data. */
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);
    png_uint_32 w32 = 0, h32 = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(png, info, &w32, &h32, &depth, &color, &interlace, NULL, NULL);
    st = gitci_check_image_size(name, w32, h32, max_pixels, err);
    if (st != GITC_OK)
        goto done;
    int w = (int)w32, h = (int)h32;

    /* What PIL does per mode: 16-bit channels keep their high byte ("RGB;16B"),
     * except 16-bit grey which becomes mode "I" and is clipped to 0..255 by
     * convert("RGB"); grey is replicated; alpha is dropped; palette indices map
     * through PIL's 256-entry palette. */
    int gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
    int paletted = color == PNG_COLOR_TYPE_PALETTE;
    int channels = 3;
    if (gray16) {
        png_set_swap(png); /* native little-endian 16-bit samples */
        channels = 2;
    } else if (paletted) {
        png_set_packing(png); /* one index per byte */
        channels = 1;
    } else {
        if (depth == 16)
            png_set_strip_16(png);
        if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
            if (depth < 8)
                png_set_expand_gray_1_2_4_to_8(png);
            png_set_gray_to_rgb(png);
        }
        png_set_strip_alpha(png);
    }
    if (interlace != PNG_INTERLACE_NONE)
        png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * (size_t)channels) {
        st = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: PNG color type %d depth %d not handled",
                        name, color, depth);
        goto done;
    }
    st = gitci_alloc_rgb(out, name, w, h, err);
    if (st != GITC_OK)
        goto done;
    pixels = out->rgb;
    out->rgb = NULL;
    uint8_t *target = pixels;
    if (channels != 3) {
        raw = malloc(rowbytes * (size_t)h);
        if (!raw) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory for %dx%d pixels", name, w, h);
            goto done;
        }
        target = raw;
    }
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!rows) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", name);
        goto done;
    }
    for (int y = 0; y < h; y++)
        rows[y] = target + (size_t)y * rowbytes;
    png_read_image(png, rows);
    /* png_read_end is not called: trailing chunks do not matter, as for Pillow. */
    size_t n = (size_t)w * (size_t)h;
    if (gray16) {
        const uint16_t *g = (const uint16_t *)(void *)raw;
        for (size_t i = 0; i < n; i++) {
            uint8_t v = g[i] > 255 ? 255 : (uint8_t)g[i];
            pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = v;
        }
    } else if (paletted) {
        png_colorp entries = NULL;
        int n_entries = 0;
        uint8_t pal[256][3];
        if (!png_get_PLTE(png, info, &entries, &n_entries))
            n_entries = 0;
        pil_palette(pal, (const uint8_t *)entries, n_entries, (int)sizeof(png_color));
        for (size_t i = 0; i < n; i++)
            memcpy(pixels + 3 * i, pal[raw[i]], 3);
    }
    out->rgb = pixels;
    out->width = w;
    out->height = h;
    pixels = NULL;
done:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    free(pixels);
    free(raw);
    free(rows);
    return st;
}

/* ------------------------------------------------------------------ */
/* WebP                                                                */
/* ------------------------------------------------------------------ */

#if GITC_HAVE_WEBP
static gitc_status decode_webp(const uint8_t *data, size_t size, const char *name,
                               uint64_t max_pixels, gitc_image *out, gitc_error *err)
{
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(data, size, &f);
    if (vs == VP8_STATUS_NOT_ENOUGH_DATA)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: WebP file is truncated", name);
    if (vs != VP8_STATUS_OK)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt WebP header (status %d)", name,
                          (int)vs);
    if (f.has_animation)
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: animated WebP is not supported", name);
    gitc_status st = gitci_check_image_size(name, (uint64_t)GITC_MAX(f.width, 0),
                                (uint64_t)GITC_MAX(f.height, 0), max_pixels, err);
    if (st != GITC_OK)
        return st;
    st = gitci_alloc_rgb(out, name, f.width, f.height, err);
    if (st != GITC_OK)
        return st;
    size_t n = (size_t)f.width * (size_t)f.height * 3;
    if (!WebPDecodeRGBInto(data, size, out->rgb, n, f.width * 3)) {
        gitc_image_free(out);
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt or truncated WebP data", name);
    }
    return GITC_OK;
}

#endif /* GITC_HAVE_WEBP */

/* ------------------------------------------------------------------ */
/* GIF (first frame)                                                   */
/* ------------------------------------------------------------------ */

#if GITC_HAVE_GIF
typedef struct gif_mem {
    const uint8_t *data;
    size_t size;
    size_t pos;
} gif_mem;

static int gif_read_mem(GifFileType *gif, GifByteType *buf, int n)
{
    gif_mem *m = gif->UserData;
    if (n <= 0)
        return 0;
    size_t k = GITC_MIN((size_t)n, m->size - m->pos);
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (int)k;
}

static gitc_status decode_gif(const uint8_t *data, size_t size, const char *name,
                              uint64_t max_pixels, gitc_image *out, gitc_error *err)
{
    gif_mem mem = {data, size, 0};
    int gerr = 0;
    GifFileType *gif = DGifOpen(&mem, gif_read_mem, &gerr);
    if (!gif)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt GIF: %s", name, GifErrorString(gerr));
    gitc_status st = GITC_OK;
    uint8_t *index = NULL;
    GifByteType *line = NULL;
    int transparency = -1;
    int sw = gif->SWidth, sh = gif->SHeight;
    st = gitci_check_image_size(name, (uint64_t)GITC_MAX(sw, 0), (uint64_t)GITC_MAX(sh, 0), max_pixels, err);
    if (st != GITC_OK)
        goto done;
    for (;;) {
        GifRecordType type;
        if (DGifGetRecordType(gif, &type) == GIF_ERROR) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt or truncated GIF: %s", name,
                            GifErrorString(gif->Error));
            goto done;
        }
        if (type == TERMINATE_RECORD_TYPE) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: GIF has no image", name);
            goto done;
        }
        if (type == EXTENSION_RECORD_TYPE) {
            int code = 0;
            GifByteType *ext = NULL;
            if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) {
                st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt GIF extension", name);
                goto done;
            }
            if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 && (ext[1] & 1))
                transparency = ext[4];
            while (ext) {
                if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) {
                    st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt GIF extension", name);
                    goto done;
                }
            }
            continue;
        }
        if (type != IMAGE_DESC_RECORD_TYPE)
            continue;
        if (DGifGetImageDesc(gif) == GIF_ERROR) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt GIF image descriptor", name);
            goto done;
        }
        GifImageDesc *d = &gif->Image;
        if (d->Width <= 0 || d->Height <= 0 ||
            (max_pixels && (uint64_t)d->Width * (uint64_t)d->Height > max_pixels)) {
            st = gitci_fail(err, d->Width <= 0 || d->Height <= 0 ? GITC_ERR_FORMAT : GITC_ERR_LIMIT,
                            "%s: GIF frame of %dx%d pixels refused", name, d->Width, d->Height);
            goto done;
        }
        /* PIL starts frame 0 from the transparency index (or 0) everywhere. */
        index = malloc((size_t)sw * (size_t)sh);
        line = malloc((size_t)d->Width);
        if (!index || !line) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", name);
            goto done;
        }
        memset(index, transparency >= 0 ? transparency : 0, (size_t)sw * (size_t)sh);
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        int passes = d->Interlace ? 4 : 1;
        for (int p = 0; p < passes; p++) {
            for (int y = d->Interlace ? start[p] : 0; y < d->Height;
                 y += d->Interlace ? step[p] : 1) {
                if (DGifGetLine(gif, line, d->Width) == GIF_ERROR) {
                    st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt or truncated GIF data",
                                    name);
                    goto done;
                }
                int yy = d->Top + y;
                if (yy < 0 || yy >= sh)
                    continue;
                for (int x = 0; x < d->Width; x++) {
                    int xx = d->Left + x;
                    if (xx >= 0 && xx < sw)
                        index[(size_t)yy * sw + xx] = line[x];
                }
            }
        }
        const ColorMapObject *map = d->ColorMap ? d->ColorMap : gif->SColorMap;
        uint8_t pal[256][3];
        pil_palette(pal, map ? (const uint8_t *)map->Colors : NULL, map ? map->ColorCount : 0,
                    (int)sizeof(GifColorType));
        st = gitci_alloc_rgb(out, name, sw, sh, err);
        if (st != GITC_OK)
            goto done;
        size_t n = (size_t)sw * (size_t)sh;
        for (size_t i = 0; i < n; i++)
            memcpy(out->rgb + 3 * i, pal[index[i]], 3);
        break;
    }
done:
    DGifCloseFile(gif, &gerr);
    free(index);
    free(line);
    return st;
}

#endif /* GITC_HAVE_GIF */

/* ------------------------------------------------------------------ */
/* BMP (uncompressed 1/4/8-bit palette, 24-bit, 32-bit)                */
/* ------------------------------------------------------------------ */

static gitc_status decode_bmp(const uint8_t *d, size_t size, const char *name,
                              uint64_t max_pixels, gitc_image *out, gitc_error *err)
{
    if (size < 26)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: BMP file is truncated", name);
    uint32_t offset = rd32(d + 10, 0);
    uint32_t hsize = rd32(d + 14, 0);
    int64_t w, h;
    unsigned bpp, compression = 0, n_colors = 0, pal_stride = 4;
    if (hsize == 12) {
        w = rd16(d + 18, 0);
        h = rd16(d + 20, 0);
        bpp = rd16(d + 24, 0);
        pal_stride = 3;
    } else if (hsize >= 40 && hsize <= 124) {
        if (size < 14 + (size_t)hsize)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: BMP header is truncated", name);
        w = (int32_t)rd32(d + 18, 0);
        h = (int32_t)rd32(d + 22, 0);
        bpp = rd16(d + 28, 0);
        compression = rd32(d + 30, 0);
        n_colors = rd32(d + 46, 0);
    } else {
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: BMP header of %u bytes", name, hsize);
    }
    int top_down = h < 0;
    if (h < 0)
        h = -h;
    if (w < 0)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: BMP has a negative width", name);
    gitc_status st = gitci_check_image_size(name, (uint64_t)w, (uint64_t)h, max_pixels, err);
    if (st != GITC_OK)
        return st;
    if (compression == 3 && bpp == 32) {
        /* BI_BITFIELDS: only the BGRX layout PIL also reads as "BGRX"/"BGRA". */
        size_t at = 14 + 40;
        if (size < at + 12)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: BMP masks are truncated", name);
        if (rd32(d + at, 0) != 0xFF0000 || rd32(d + at + 4, 0) != 0xFF00 ||
            rd32(d + at + 8, 0) != 0xFF)
            return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: BMP bit masks not supported", name);
    } else if (compression != 0) {
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: compressed BMP (method %u) not supported",
                          name, compression);
    }
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 24 && bpp != 32)
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: %u-bit BMP not supported", name, bpp);
    uint8_t pal[256][3];
    if (bpp <= 8) {
        unsigned max_colors = 1u << bpp;
        if (n_colors == 0 || n_colors > max_colors)
            n_colors = max_colors;
        size_t at = 14 + (size_t)hsize;
        if (size < at || (size - at) / pal_stride < n_colors)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: BMP palette is truncated", name);
        uint8_t rgbpal[256 * 3];
        for (unsigned i = 0; i < n_colors; i++) {
            const uint8_t *e = d + at + (size_t)i * pal_stride; /* B, G, R */
            rgbpal[3 * i] = e[2];
            rgbpal[3 * i + 1] = e[1];
            rgbpal[3 * i + 2] = e[0];
        }
        pil_palette(pal, rgbpal, (int)n_colors, 3);
    }
    size_t stride = ((size_t)w * bpp + 31) / 32 * 4;
    if (offset > size || (size - offset) / stride < (size_t)h)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: BMP pixel data is truncated", name);
    st = gitci_alloc_rgb(out, name, (int)w, (int)h, err);
    if (st != GITC_OK)
        return st;
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *src = d + offset + (size_t)(top_down ? y : h - 1 - y) * stride;
        uint8_t *dst = out->rgb + (size_t)y * (size_t)w * 3;
        for (int64_t x = 0; x < w; x++, dst += 3) {
            if (bpp >= 24) {
                const uint8_t *p = src + (size_t)x * (bpp / 8);
                dst[0] = p[2];
                dst[1] = p[1];
                dst[2] = p[0];
            } else {
                size_t bit = (size_t)x * bpp;
                unsigned v = (src[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
                memcpy(dst, pal[v], 3);
            }
        }
    }
    return GITC_OK;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */
/* ------------------------------------------------------------------ */

#if !(GITC_HAVE_WEBP && GITC_HAVE_GIF && GITC_HAVE_TIFF && GITC_HAVE_AVIF && GITC_HAVE_HEIC)
/* A format this build was configured without (GITC_WITH_* off). */
static gitc_status not_built(const char *name, const char *format, gitc_error *err)
{
    return gitci_fail(err, GITC_ERR_UNSUPPORTED,
                      "%s: %s image, but this gitc was built without %s support (it reads: %s)",
                      name, format, format, gitci_image_formats());
}
#endif

gitc_status gitc_image_decode(const void *data, size_t size, const char *name,
                              const gitc_image_params *params, gitc_image *out, gitc_error *err)
{
    if (params && gitci_params_size_check(params->size, sizeof *params, "gitc_image_params", err) != GITC_OK)
        return GITC_ERR_ARGUMENT;
    gitc_image_params p = params ? *params : gitc_image_default_params();
    const uint8_t *d = data;
    if (!name)
        name = "image";
    if (!out || (!data && size))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "%s: invalid arguments", name);
    gitc_image im = {0, 0, NULL};
    gitc_status st;
    if (size >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
        uint8_t *rgb = NULL;
        st = decode_jpeg(d, size, name, p.max_pixels, 0, &rgb, &im.width, &im.height, err);
        im.rgb = rgb;
    } else if (size >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
        st = decode_png(d, size, name, p.max_pixels, &im, err);
    } else if (size >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) {
#if GITC_HAVE_WEBP
        st = decode_webp(d, size, name, p.max_pixels, &im, err);
#else
        return not_built(name, "WebP", err);
#endif
    } else if (size >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) {
#if GITC_HAVE_GIF
        st = decode_gif(d, size, name, p.max_pixels, &im, err);
#else
        return not_built(name, "GIF", err);
#endif
    } else if (size >= 2 && d[0] == 'B' && d[1] == 'M') {
        st = decode_bmp(d, size, name, p.max_pixels, &im, err);
    } else if (size >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0)) {
#if GITC_HAVE_TIFF
        st = gitci_decode_tiff(d, size, name, p.max_pixels, &im, err);
#else
        return not_built(name, "TIFF", err);
#endif
    } else if (gitci_isobmff_brand(d, size) == GITC_BRAND_AVIF) {
#if GITC_HAVE_AVIF
        st = gitci_decode_avif(d, size, name, p.max_pixels, &im, err);
#else
        return not_built(name, "AVIF", err);
#endif
    } else if (gitci_isobmff_brand(d, size) == GITC_BRAND_HEIF) {
#if GITC_HAVE_HEIC
        st = gitci_decode_heif(d, size, name, p.max_pixels, &im, err);
#else
        return not_built(name, "HEIC", err);
#endif
    } else if (size == 0) {
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: empty file", name);
    } else {
        return gitci_fail(err, GITC_ERR_UNSUPPORTED,
                          "%s: unknown image format (this build reads: %s)", name,
                          gitci_image_formats());
    }
    if (st != GITC_OK) {
        gitc_image_free(&im);
        return st;
    }
    if (p.exif_transpose) {
        st = gitci_image_orient(&im, gitci_image_file_orientation(d, size), err);
        if (st != GITC_OK) {
            gitc_image_free(&im);
            gitci_error_prefix(err, name);
            return st;
        }
    }
    *out = im;
    return GITC_OK;
}

gitc_status gitc_image_load(const char *path, const gitc_image_params *params, gitc_image *out,
                            gitc_error *err)
{
    char *data = NULL;
    size_t size = 0;
    gitc_status st = gitci_read_file(path, &data, &size, err);
    if (st != GITC_OK)
        return st;
    st = gitc_image_decode(data, size, path, params, out, err);
    free(data);
    return st;
}
