/* What this build of libgitc is: its version and the formats its codecs decode. */
#include "gitc.h"
#include "version.h"

const char *gitc_version(void)
{
    return GITC_VERSION_STRING;
}

/* The optional codecs are chosen at configure time (GITC_WITH_* options). */
#if GITC_HAVE_WEBP
#define F_WEBP " WebP"
#else
#define F_WEBP ""
#endif
#if GITC_HAVE_GIF
#define F_GIF " GIF"
#else
#define F_GIF ""
#endif
#if GITC_HAVE_TIFF
#define F_TIFF " TIFF"
#else
#define F_TIFF ""
#endif
#if GITC_HAVE_AVIF
#define F_AVIF " AVIF"
#else
#define F_AVIF ""
#endif
#if GITC_HAVE_HEIC
#define F_HEIC " HEIC"
#else
#define F_HEIC ""
#endif
#if GITC_HAVE_FFMPEG
#define F_VIDEO " video"
#else
#define F_VIDEO ""
#endif
#define IMAGE_FORMATS "JPEG PNG BMP" F_WEBP F_GIF F_TIFF F_AVIF F_HEIC

const char *gitci_image_formats(void)
{
    return IMAGE_FORMATS;
}

const char *gitc_formats(void)
{
    return IMAGE_FORMATS F_VIDEO;
}
