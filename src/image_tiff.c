/*
 * TIFF with Debian's libtiff, converted to RGB as Pillow 9.4's
 * Image.open(f).convert("RGB") does for the common modes of the first page:
 * bilevel and 2/4/8-bit grey (min-is-black or min-is-white), 16-bit grey
 * (mode I;16, clipped to 0..255), grey + alpha, 8-bit palette (the 16-bit
 * colormap divided by 256), 8/16-bit RGB and RGBA (16-bit keeps the high byte;
 * associated alpha is un-premultiplied as Pillow's "RGBa" unpacker does; alpha
 * is then dropped), and 8-bit CMYK (Pillow's cmyk2rgb). Strips or tiles, any
 * compression libtiff decodes. Pillow 9.4 applies the Orientation tag when it
 * loads a TIFF (TiffImageFile.load_end), so this does too; exif_transpose then
 * applies it once more, as ImageOps.exif_transpose does on such an image.
 *
 * Untrusted input: the size is checked against max_pixels before any pixel
 * buffer exists, libtiff's own allocations are capped, its messages go to this
 * decode's error text (never to stderr), and every layout is checked.
 */
#include "image_codecs.h"
#include "image_pixels.h"

#if GITC_HAVE_TIFF

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

/* The file in memory, and the first libtiff message of this decode. */
typedef struct tiff_mem {
    const uint8_t *data;
    size_t size;
    size_t pos;
    char message[256];
} tiff_mem;

static tmsize_t mem_read(thandle_t h, void *buf, tmsize_t n)
{
    tiff_mem *m = h;
    if (n <= 0 || m->pos >= m->size)
        return 0;
    size_t k = GITC_MIN((size_t)n, m->size - m->pos);
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *buf, tmsize_t n)
{
    (void)h;
    (void)buf;
    (void)n;
    return -1;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence)
{
    tiff_mem *m = h;
    uint64_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->size : 0;
    if (off > UINT64_MAX - base)
        return (toff_t)-1;
    m->pos = (size_t)GITC_MIN(base + off, (uint64_t)SIZE_MAX);
    return (toff_t)m->pos;
}

static int mem_close(thandle_t h)
{
    (void)h;
    return 0;
}

static toff_t mem_size(thandle_t h)
{
    return (toff_t)((tiff_mem *)h)->size;
}

static int mem_map(thandle_t h, void **base, toff_t *size)
{
    tiff_mem *m = h;
    *base = (void *)m->data; /* opened read-only: libtiff never writes through it */
    *size = (toff_t)m->size;
    return 1;
}

static void mem_unmap(thandle_t h, void *base, toff_t size)
{
    (void)h;
    (void)base;
    (void)size;
}

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)module;
    tiff_mem *m = user;
    if (!m->message[0])
        vsnprintf(m->message, sizeof m->message, fmt, ap);
    return 1; /* handled: nothing is printed */
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}

/* Pillow's unpackRGBa: associated alpha divided out, 0 alpha gives black. */
static void unpremultiply(uint8_t *rgb, const uint8_t *rgba)
{
    int a = rgba[3];
    for (int c = 0; c < 3; c++) {
        int v = a == 0 ? 0 : a == 255 ? rgba[c] : rgba[c] * 255 / a;
        rgb[c] = (uint8_t)(v > 255 ? 255 : v);
    }
}

/* The pixel layouts read here, from the tags. */
typedef enum tiff_kind {
    KIND_GREY,    /* 1, 2, 4, 8-bit grey, spp 1 or grey + alpha */
    KIND_GREY16,  /* 16-bit grey */
    KIND_PALETTE, /* 1, 2, 4, 8-bit indices */
    KIND_RGB,     /* 8 or 16-bit RGB(A) */
    KIND_CMYK     /* 8-bit CMYK */
} tiff_kind;

gitc_status gitci_decode_tiff(const uint8_t *data, size_t size, const char *name,
                              uint64_t max_pixels, gitc_image *out, gitc_error *err)
{
    tiff_mem mem = {data, size, 0, {0}};
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory opening the TIFF", name);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &mem);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &mem);
    /* No single libtiff allocation above what the pixel limit allows (plus headroom). */
    uint64_t cap = max_pixels ? max_pixels * 8 + (1u << 20) : 0;
    if (cap && cap < (uint64_t)INT64_MAX)
        TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)cap);
    /* "rm" is not used: the map procs hand libtiff the caller's bytes read-only. */
    TIFF *tif = TIFFClientOpenExt(name, "r", &mem, mem_read, mem_write, mem_seek, mem_close,
                                  mem_size, mem_map, mem_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt TIFF: %s", name,
                          mem.message[0] ? mem.message : "cannot read the header");

    gitc_status st = GITC_OK;
    uint8_t *raw = NULL, *tile = NULL;
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, photometric = 0, planar = PLANARCONFIG_CONTIG, format = 1;
    uint16_t n_extra = 0, *extra = NULL, inkset = INKSET_CMYK;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h)) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: TIFF has no image size", name);
        goto done;
    }
    st = gitci_check_image_size(name, w, h, max_pixels, err);
    if (st != GITC_OK)
        goto done;
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
    TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &n_extra, &extra);
    TIFFGetFieldDefaulted(tif, TIFFTAG_INKSET, &inkset);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric)) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: TIFF has no photometric interpretation", name);
        goto done;
    }
    int associated = n_extra >= 1 && extra && extra[0] == EXTRASAMPLE_ASSOCALPHA;
    tiff_kind kind;
    int grey = photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
    if (format != SAMPLEFORMAT_UINT) {
        kind = KIND_GREY;
        st = GITC_ERR_UNSUPPORTED;
    } else if (grey && (spp == 1 || (spp == 2 && bps == 8 && !associated)) &&
               (bps == 1 || bps == 2 || bps == 4 || bps == 8)) {
        kind = KIND_GREY;
    } else if (grey && spp == 1 && bps == 16 && photometric == PHOTOMETRIC_MINISBLACK) {
        kind = KIND_GREY16;
    } else if (photometric == PHOTOMETRIC_PALETTE && spp == 1 &&
               (bps == 1 || bps == 2 || bps == 4 || bps == 8)) {
        kind = KIND_PALETTE;
    } else if (photometric == PHOTOMETRIC_RGB && (spp == 3 || spp == 4) &&
               (bps == 8 || bps == 16)) {
        kind = KIND_RGB;
    } else if (photometric == PHOTOMETRIC_SEPARATED && inkset == INKSET_CMYK && spp == 4 &&
               bps == 8) {
        kind = KIND_CMYK;
    } else {
        kind = KIND_GREY;
        st = GITC_ERR_UNSUPPORTED;
    }
    if (st == GITC_OK && spp > 1 && planar != PLANARCONFIG_CONTIG)
        st = GITC_ERR_UNSUPPORTED;
    if (st != GITC_OK) {
        st = gitci_fail(err, GITC_ERR_UNSUPPORTED,
                        "%s: TIFF layout not supported (photometric %u, %u samples of %u bits, "
                        "sample format %u, planar config %u)",
                        name, photometric, spp, bps, format, planar);
        goto done;
    }

    /* The first page's samples, row after row, as libtiff decodes them (16-bit
     * samples in native byte order). */
    uint64_t row_bits = (uint64_t)w * spp * bps;
    size_t row = (size_t)((row_bits + 7) / 8);
    raw = malloc(row * (size_t)h);
    if (!raw) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory for %ux%u pixels", name, w, h);
        goto done;
    }
    if (TIFFIsTiled(tif)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
        tmsize_t tsize = TIFFTileSize(tif);
        size_t pixel = (size_t)spp * bps / 8;
        if (tw == 0 || th == 0 || tsize <= 0 || (spp * bps) % 8 ||
            (uint64_t)tsize < (uint64_t)tw * th * pixel) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: TIFF tiles of %ux%u are not readable", name,
                            tw, th);
            goto done;
        }
        tile = malloc((size_t)tsize);
        if (!tile) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory for a TIFF tile", name);
            goto done;
        }
        for (uint32_t y0 = 0; y0 < h; y0 += th)
            for (uint32_t x0 = 0; x0 < w; x0 += tw) {
                if (TIFFReadTile(tif, tile, x0, y0, 0, 0) < 0) {
                    st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt TIFF tile at %u,%u: %s",
                                    name, x0, y0, mem.message[0] ? mem.message : "read error");
                    goto done;
                }
                uint32_t cw = GITC_MIN(tw, w - x0), ch = GITC_MIN(th, h - y0);
                for (uint32_t y = 0; y < ch; y++)
                    memcpy(raw + (size_t)(y0 + y) * row + (size_t)x0 * pixel,
                           tile + (size_t)y * tw * pixel, (size_t)cw * pixel);
            }
    } else {
        if ((uint64_t)TIFFScanlineSize64(tif) != row) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: TIFF rows are not %zu bytes", name, row);
            goto done;
        }
        for (uint32_t y = 0; y < h; y++)
            if (TIFFReadScanline(tif, raw + (size_t)y * row, y, 0) < 0) {
                st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt or truncated TIFF at row %u: %s",
                                name, y, mem.message[0] ? mem.message : "read error");
                goto done;
            }
    }

    st = gitci_alloc_rgb(out, name, (int)w, (int)h, err);
    if (st != GITC_OK)
        goto done;
    uint8_t pal[256][3];
    if (kind == KIND_PALETTE) {
        uint16_t *r = NULL, *g = NULL, *b = NULL;
        if (!TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &g, &b) || !r || !g || !b) {
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: palette TIFF has no colormap", name);
            goto done;
        }
        memset(pal, 0, sizeof pal);
        for (int i = 0; i < (1 << bps); i++) {
            pal[i][0] = (uint8_t)(r[i] / 256);
            pal[i][1] = (uint8_t)(g[i] / 256);
            pal[i][2] = (uint8_t)(b[i] / 256);
        }
    }
    int invert = photometric == PHOTOMETRIC_MINISWHITE;
    unsigned maxv = (1u << (bps < 16 ? bps : 8)) - 1;
    for (uint32_t y = 0; y < h; y++) {
        const uint8_t *src = raw + (size_t)y * row;
        uint8_t *dst = out->rgb + (size_t)y * w * 3;
        for (uint32_t x = 0; x < w; x++, dst += 3) {
            switch (kind) {
            case KIND_GREY:
            case KIND_PALETTE: {
                unsigned v;
                if (bps == 8) {
                    v = src[(size_t)x * spp];
                } else {
                    size_t bit = (size_t)x * bps;
                    v = (src[bit / 8] >> (8 - bps - bit % 8)) & maxv;
                }
                if (kind == KIND_PALETTE) {
                    memcpy(dst, pal[v], 3);
                } else {
                    /* Pillow's L;1/L;2/L;4 unpackers scale to 0..255; "I" variants invert. */
                    uint8_t l = (uint8_t)(v * 255 / maxv);
                    dst[0] = dst[1] = dst[2] = invert ? (uint8_t)(255 - l) : l;
                }
                break;
            }
            case KIND_GREY16: {
                uint16_t v;
                memcpy(&v, src + (size_t)x * 2, 2);
                dst[0] = dst[1] = dst[2] = v > 255 ? 255 : (uint8_t)v;
                break;
            }
            case KIND_RGB: {
                uint8_t px[4];
                for (int c = 0; c < spp; c++) {
                    if (bps == 8) {
                        px[c] = src[(size_t)x * spp + c];
                    } else {
                        uint16_t v;
                        memcpy(&v, src + ((size_t)x * spp + c) * 2, 2);
                        px[c] = (uint8_t)(v >> 8);
                    }
                }
                if (spp == 4 && associated)
                    unpremultiply(dst, px);
                else
                    memcpy(dst, px, 3);
                break;
            }
            case KIND_CMYK:
                gitci_cmyk_to_rgb(dst, src + (size_t)x * 4, 1);
                break;
            }
        }
    }
    uint16_t orientation = ORIENTATION_TOPLEFT;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orientation);
    st = gitci_image_orient(out, orientation, err);
done:
    if (st != GITC_OK)
        gitc_image_free(out);
    free(raw);
    free(tile);
    TIFFClose(tif);
    return st;
}

#endif /* GITC_HAVE_TIFF */
