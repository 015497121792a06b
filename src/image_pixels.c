/* RGB pixel buffers shared by every image decoder (image.c, image_tiff.c,
 * image_heif.c): size checks, allocation, CMYK conversion, orientation. */
#include "image_pixels.h"

#include <stdlib.h>
#include <string.h>

void gitc_image_free(gitc_image *image)
{
    if (!image)
        return;
    free(image->rgb);
    image->rgb = NULL;
    image->width = 0;
    image->height = 0;
}

gitc_status gitci_check_image_size(const char *name, uint64_t w, uint64_t h, uint64_t max_pixels,
                                   gitc_error *err)
{
    if (w == 0 || h == 0)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: image has zero size (%llux%llu)", name,
                          (unsigned long long)w, (unsigned long long)h);
    if (max_pixels && w * h > max_pixels)
        return gitci_fail(err, GITC_ERR_LIMIT,
                          "%s: image of %llux%llu pixels exceeds the limit of %llu pixels", name,
                          (unsigned long long)w, (unsigned long long)h,
                          (unsigned long long)max_pixels);
    /* Keep every byte offset of an RGBA buffer inside a signed int. */
    if (w > 0x7fffffffu / 4 / h)
        return gitci_fail(err, GITC_ERR_LIMIT, "%s: image of %llux%llu pixels is too large", name,
                          (unsigned long long)w, (unsigned long long)h);
    return GITC_OK;
}

gitc_status gitci_alloc_rgb(gitc_image *im, const char *name, int w, int h, gitc_error *err)
{
    im->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!im->rgb)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory for %dx%d pixels", name, w, h);
    im->width = w;
    im->height = h;
    return GITC_OK;
}

void gitci_cmyk_to_rgb(uint8_t *rgb, const uint8_t *cmyk, size_t n)
{
    /* Pillow's cmyk2rgb: nk = 255 - k; channel = clip8(nk - muldiv255(c, nk)). */
    for (size_t i = 0; i < n; i++, cmyk += 4, rgb += 3) {
        int nk = 255 - cmyk[3];
        for (int c = 0; c < 3; c++) {
            int t = cmyk[c] * nk + 128;
            int v = nk - (((t >> 8) + t) >> 8);
            rgb[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

gitc_status gitci_image_orient(gitc_image *im, int orientation, gitc_error *err)
{
    if (orientation < 2 || orientation > 8)
        return GITC_OK;
    int w = im->width, h = im->height;
    int swap = orientation >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *out = malloc((size_t)w * (size_t)h * 3);
    if (!out)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory rotating a %dx%d image", w, h);
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;             /* FLIP_LEFT_RIGHT */
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;     /* ROTATE_180 */
            case 4: sx = x; sy = h - 1 - y; break;             /* FLIP_TOP_BOTTOM */
            case 5: sx = y; sy = x; break;                     /* TRANSPOSE */
            case 6: sx = y; sy = h - 1 - x; break;             /* ROTATE_270 */
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;     /* TRANSVERSE */
            default: sx = w - 1 - y; sy = x; break;            /* 8: ROTATE_90 */
            }
            memcpy(out + ((size_t)y * ow + x) * 3, im->rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    free(im->rgb);
    im->rgb = out;
    im->width = ow;
    im->height = oh;
    return GITC_OK;
}
