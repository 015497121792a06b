/* The image decoders that live in their own files (image_tiff.c,
 * image_heif.c), called by the dispatcher in image.c. */
#ifndef GITC_IMAGE_CODECS_H
#define GITC_IMAGE_CODECS_H

#include "internal.h"

/* What the 'ftyp' brands of an ISO-BMFF file say it holds. */
enum { GITC_BRAND_NONE = 0, GITC_BRAND_AVIF, GITC_BRAND_HEIF };
int gitci_isobmff_brand(const uint8_t *data, size_t size);

/* Decoders in their own files, each built when its codec is configured in;
 * `out` is filled only on success. */
gitc_status gitci_decode_tiff(const uint8_t *data, size_t size, const char *name,
                              uint64_t max_pixels, gitc_image *out, gitc_error *err);
gitc_status gitci_decode_avif(const uint8_t *data, size_t size, const char *name,
                              uint64_t max_pixels, gitc_image *out, gitc_error *err);
gitc_status gitci_decode_heif(const uint8_t *data, size_t size, const char *name,
                              uint64_t max_pixels, gitc_image *out, gitc_error *err);

#endif /* GITC_IMAGE_CODECS_H */
