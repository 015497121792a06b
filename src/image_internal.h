/* Internal image functions of image.c (EXIF, CMYK JPEG) and processor.c
 * (Pillow-exact resizing), shared with the tests (not installed). */
#ifndef GITC_IMAGE_INTERNAL_H
#define GITC_IMAGE_INTERNAL_H

#include "internal.h"

/* PIL's resampling filter codes (Image.Resampling). */
enum {
    GITC_RESAMPLE_NEAREST = 0,
    GITC_RESAMPLE_LANCZOS = 1,
    GITC_RESAMPLE_BILINEAR = 2,
    GITC_RESAMPLE_BICUBIC = 3,
    GITC_RESAMPLE_BOX = 4,
    GITC_RESAMPLE_HAMMING = 5
};

/* Decodes a 4-component (CMYK or YCCK) JPEG to the CMYK planes Pillow holds for it
 * (libjpeg's output with the Adobe inversion undone): `*cmyk` is [height, width, 4],
 * caller frees with free(). Other JPEGs are GITC_ERR_UNSUPPORTED. */
gitc_status gitci_jpeg_decode_cmyk(const void *data, size_t size, const char *name,
                                   uint64_t max_pixels, uint8_t **cmyk, int *width, int *height,
                                   gitc_error *err);

/* The EXIF Orientation (tag 0x0112 of IFD0) of a TIFF-structured EXIF block, with or
 * without the "Exif\0\0" prefix; 0 when absent or unreadable. Bounds-checked. */
int gitci_exif_orientation(const uint8_t *exif, size_t size);

/* The EXIF orientation of an encoded image file (JPEG APP1, PNG eXIf, WebP EXIF); 0 if none. */
int gitci_image_file_orientation(const uint8_t *data, size_t size);

/* Resizes an RGB image exactly as Pillow 9.4's Image.resize((out_w, out_h), resample)
 * on an 8-bit RGB image (filters BILINEAR, BICUBIC, LANCZOS, BOX, HAMMING).
 * `out` is filled on success (caller frees with gitc_image_free). */
gitc_status gitci_image_resize(const gitc_image *in, int out_w, int out_h, int resample,
                               gitc_image *out, gitc_error *err);

/* The rectangle [x0, x0 + rw) x [y0, y0 + rh) of that resize, written to `out`
 * ([rh, rw, 3]); the pixels equal those of the full resize. */
gitc_status gitci_image_resize_region(const gitc_image *in, int out_w, int out_h, int resample,
                                      int x0, int y0, int rw, int rh, uint8_t *out,
                                      gitc_error *err);

/* The pixel_values height and width gitc_processor_run gives for an image of
 * width x height (also when the processor does not crop); 0 when it is too large. */
int gitci_processor_image_output_size(const gitc_processor *p, int width, int height, int *out_h,
                                      int *out_w);

#endif /* GITC_IMAGE_INTERNAL_H */
