/* Internal image functions shared by image.c, processor.c and the tests (not installed). */
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
gitc_status gitc_jpeg_decode_cmyk(const void *data, size_t size, const char *name,
                                  uint64_t max_pixels, uint8_t **cmyk, int *width, int *height,
                                  gitc_error *err);

/* Pillow 9.4's CMYK -> RGB conversion of n pixels (4 bytes in, 3 bytes out). */
void gitc_cmyk_to_rgb(uint8_t *rgb, const uint8_t *cmyk, size_t n);

/* The EXIF Orientation (tag 0x0112 of IFD0) of a TIFF-structured EXIF block, with or
 * without the "Exif\0\0" prefix; 0 when absent or unreadable. Bounds-checked. */
int gitc_exif_orientation(const uint8_t *exif, size_t size);

/* The EXIF orientation of an encoded image file (JPEG APP1, PNG eXIf, WebP EXIF); 0 if none. */
int gitc_image_file_orientation(const uint8_t *data, size_t size);

/* Transposes an image in place as ImageOps.exif_transpose does for an orientation
 * (2..8; other values leave it unchanged). */
gitc_status gitc_image_orient(gitc_image *image, int orientation, gitc_error *err);

/* Resizes an RGB image exactly as Pillow 9.4's Image.resize((out_w, out_h), resample)
 * on an 8-bit RGB image (filters BILINEAR, BICUBIC, LANCZOS, BOX, HAMMING).
 * `out` is filled on success (caller frees with gitc_image_free). */
gitc_status gitc_image_resize(const gitc_image *in, int out_w, int out_h, int resample,
                              gitc_image *out, gitc_error *err);

/* The rectangle [x0, x0 + rw) x [y0, y0 + rh) of that resize, written to `out`
 * ([rh, rw, 3]); the pixels equal those of the full resize. */
gitc_status gitc_image_resize_region(const gitc_image *in, int out_w, int out_h, int resample,
                                     int x0, int y0, int rw, int rh, uint8_t *out,
                                     gitc_error *err);

/* The pixel_values height and width gitc_processor_run gives for an image of
 * width x height (also when the processor does not crop); 0 when it is too large. */
int gitc_processor_image_output_size(const gitc_processor *p, int width, int height, int *out_h,
                                     int *out_w);

/* Checks decoded dimensions against zero size, int overflow and the pixel limit. */
gitc_status gitc_check_image_size(const char *name, uint64_t w, uint64_t h, uint64_t max_pixels,
                                  gitc_error *err);

/* Allocates the RGB pixels of an image already checked by gitc_check_image_size. */
gitc_status gitc_alloc_rgb(gitc_image *im, const char *name, int w, int h, gitc_error *err);

/* The image formats this build decodes ("JPEG PNG BMP WebP ..."); static. */
const char *gitc_image_formats(void);

/* What the 'ftyp' brands of an ISO-BMFF file say it holds. */
enum { GITC_BRAND_NONE = 0, GITC_BRAND_AVIF, GITC_BRAND_HEIF };
int gitc_isobmff_brand(const uint8_t *data, size_t size);

/* Decoders in their own files, each built when its codec is configured in;
 * `out` is filled only on success. */
gitc_status gitc_decode_tiff(const uint8_t *data, size_t size, const char *name,
                             uint64_t max_pixels, gitc_image *out, gitc_error *err);
gitc_status gitc_decode_avif(const uint8_t *data, size_t size, const char *name,
                             uint64_t max_pixels, gitc_image *out, gitc_error *err);
gitc_status gitc_decode_heif(const uint8_t *data, size_t size, const char *name,
                             uint64_t max_pixels, gitc_image *out, gitc_error *err);

#endif /* GITC_IMAGE_INTERNAL_H */
