/*
 * AVIF (Debian's libavif) and HEIC/HEIF (Debian's libheif): both are ISO-BMFF
 * files told apart by the brands of their 'ftyp' box. Pillow 9.4 reads
 * neither, so their RGB is defined as these libraries' own 8-bit RGB output:
 * libavif's avifImageYUVToRGB with its defaults (the file's matrix and range,
 * no irot/imir applied) to RGBA with the alpha then dropped, as
 * convert("RGB") drops it for every other format (libavif's own RGB output
 * would multiply the colours by alpha); libheif's interleaved RGB of the
 * primary image (its transformations applied, as libheif does by default).
 * The size is checked against max_pixels before anything is decoded.
 */
#include "image_codecs.h"
#include "image_pixels.h"

#include <stdlib.h>
#include <string.h>

#if GITC_HAVE_AVIF
#include <avif/avif.h>
#endif
#if GITC_HAVE_HEIC
#include <libheif/heif.h>
#endif

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int brand_is(const uint8_t *b, const char *const *names)
{
    for (; *names; names++)
        if (memcmp(b, *names, 4) == 0)
            return 1;
    return 0;
}

int gitci_isobmff_brand(const uint8_t *d, size_t n)
{
    static const char *const avif[] = {"avif", "avis", NULL};
    static const char *const heif[] = {"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1",
                                       "msf1", NULL};
    if (n < 16 || memcmp(d + 4, "ftyp", 4) != 0)
        return GITC_BRAND_NONE;
    uint32_t len = be32(d);
    if (len < 16 || len > n)
        return GITC_BRAND_NONE;
    /* The major brand decides; then the compatible brands, AVIF first. */
    if (brand_is(d + 8, avif))
        return GITC_BRAND_AVIF;
    if (brand_is(d + 8, heif) && memcmp(d + 8, "mif1", 4) != 0 && memcmp(d + 8, "msf1", 4) != 0)
        return GITC_BRAND_HEIF;
    int any_heif = brand_is(d + 8, heif);
    for (uint32_t i = 16; i + 4 <= len; i += 4) {
        if (brand_is(d + i, avif))
            return GITC_BRAND_AVIF;
        any_heif = any_heif || brand_is(d + i, heif);
    }
    return any_heif ? GITC_BRAND_HEIF : GITC_BRAND_NONE;
}

#if GITC_HAVE_AVIF
gitc_status gitci_decode_avif(const uint8_t *data, size_t size, const char *name,
                              uint64_t max_pixels, gitc_image *out, gitc_error *err)
{
    avifDecoder *dec = avifDecoderCreate();
    if (!dec)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory creating the AVIF decoder", name);
    gitc_status st = GITC_OK;
    dec->ignoreExif = AVIF_TRUE;
    dec->ignoreXMP = AVIF_TRUE;
    avifResult r = avifDecoderSetIOMemory(dec, data, size);
    if (r == AVIF_RESULT_OK)
        r = avifDecoderParse(dec);
    if (r != AVIF_RESULT_OK) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: corrupt AVIF: %s", name, avifResultToString(r));
        goto done;
    }
    st = gitci_check_image_size(name, dec->image->width, dec->image->height, max_pixels, err);
    if (st != GITC_OK)
        goto done;
    r = avifDecoderNextImage(dec);
    if (r != AVIF_RESULT_OK) {
        st = gitci_fail(err, r == AVIF_RESULT_NO_CODEC_AVAILABLE ? GITC_ERR_UNSUPPORTED : GITC_ERR_FORMAT,
                        "%s: cannot decode the AVIF image: %s", name, avifResultToString(r));
        goto done;
    }
    const avifImage *im = dec->image;
    st = gitci_check_image_size(name, im->width, im->height, max_pixels, err);
    if (st == GITC_OK)
        st = gitci_alloc_rgb(out, name, (int)im->width, (int)im->height, err);
    if (st != GITC_OK)
        goto done;
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, im);
    rgb.format = AVIF_RGB_FORMAT_RGBA;
    rgb.depth = 8;
    rgb.rowBytes = im->width * 4;
    rgb.pixels = malloc((size_t)rgb.rowBytes * im->height);
    r = rgb.pixels ? avifImageYUVToRGB(im, &rgb) : AVIF_RESULT_OUT_OF_MEMORY;
    if (r == AVIF_RESULT_OK) {
        size_t n = (size_t)im->width * im->height;
        for (size_t i = 0; i < n; i++)
            memcpy(out->rgb + 3 * i, rgb.pixels + 4 * i, 3);
    } else {
        gitc_image_free(out);
        st = gitci_fail(err, r == AVIF_RESULT_OUT_OF_MEMORY ? GITC_ERR_MEMORY : GITC_ERR_FORMAT,
                        "%s: AVIF to RGB conversion failed: %s", name, avifResultToString(r));
    }
    free(rgb.pixels);
done:
    avifDecoderDestroy(dec);
    return st;
}
#endif /* GITC_HAVE_AVIF */

#if GITC_HAVE_HEIC
gitc_status gitci_decode_heif(const uint8_t *data, size_t size, const char *name,
                              uint64_t max_pixels, gitc_image *out, gitc_error *err)
{
    heif_init(NULL);
    struct heif_context *ctx = heif_context_alloc();
    struct heif_image_handle *handle = NULL;
    struct heif_image *img = NULL;
    gitc_status st = GITC_OK;
    if (!ctx) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory creating the HEIF decoder", name);
        goto done;
    }
    struct heif_error he = heif_context_read_from_memory_without_copy(ctx, data, size, NULL);
    if (he.code == heif_error_Ok)
        he = heif_context_get_primary_image_handle(ctx, &handle);
    if (he.code != heif_error_Ok) {
        st = gitci_fail(err, he.code == heif_error_Memory_allocation_error ? GITC_ERR_MEMORY : GITC_ERR_FORMAT,
                        "%s: corrupt HEIF: %s", name, he.message);
        goto done;
    }
    int w = heif_image_handle_get_width(handle), h = heif_image_handle_get_height(handle);
    st = gitci_check_image_size(name, (uint64_t)GITC_MAX(w, 0), (uint64_t)GITC_MAX(h, 0),
                                max_pixels, err);
    if (st != GITC_OK)
        goto done;
    he = heif_decode_image(handle, &img, heif_colorspace_RGB, heif_chroma_interleaved_RGB, NULL);
    if (he.code != heif_error_Ok) {
        st = gitci_fail(err, he.code == heif_error_Unsupported_feature || he.code == heif_error_Unsupported_filetype
                                ? GITC_ERR_UNSUPPORTED : GITC_ERR_FORMAT,
                       "%s: cannot decode the HEIF image: %s", name, he.message);
        goto done;
    }
    /* Transformations (rotation, crop) may change the size: check it again. */
    w = heif_image_get_width(img, heif_channel_interleaved);
    h = heif_image_get_height(img, heif_channel_interleaved);
    int stride = 0;
    const uint8_t *plane = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    if (!plane || w <= 0 || h <= 0 || stride < 3 * w) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: HEIF decoder gave no RGB image", name);
        goto done;
    }
    st = gitci_check_image_size(name, (uint64_t)w, (uint64_t)h, max_pixels, err);
    if (st == GITC_OK)
        st = gitci_alloc_rgb(out, name, w, h, err);
    if (st != GITC_OK)
        goto done;
    for (int y = 0; y < h; y++)
        memcpy(out->rgb + (size_t)y * w * 3, plane + (size_t)y * stride, (size_t)w * 3);
done:
    heif_image_release(img);
    heif_image_handle_release(handle);
    heif_context_free(ctx);
    heif_deinit();
    return st;
}
#endif /* GITC_HAVE_HEIC */
