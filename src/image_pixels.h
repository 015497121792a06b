/* RGB pixel buffers shared by every image decoder: size checks, allocation,
 * CMYK conversion and orientation (image_pixels.c). */
#ifndef GITC_IMAGE_PIXELS_H
#define GITC_IMAGE_PIXELS_H

#include "internal.h"

/* Checks decoded dimensions against zero size, int overflow and the pixel limit. */
gitc_status gitci_check_image_size(const char *name, uint64_t w, uint64_t h, uint64_t max_pixels,
                                   gitc_error *err);

/* Allocates the RGB pixels of an image already checked by gitci_check_image_size. */
gitc_status gitci_alloc_rgb(gitc_image *im, const char *name, int w, int h, gitc_error *err);

/* Pillow 9.4's CMYK -> RGB conversion of n pixels (4 bytes in, 3 bytes out). */
void gitci_cmyk_to_rgb(uint8_t *rgb, const uint8_t *cmyk, size_t n);

/* Transposes an image in place as ImageOps.exif_transpose does for an orientation
 * (2..8; other values leave it unchanged). */
gitc_status gitci_image_orient(gitc_image *image, int orientation, gitc_error *err);

#endif /* GITC_IMAGE_PIXELS_H */
