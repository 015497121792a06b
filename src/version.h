/* What this build of libgitc is (version.c). */
#ifndef GITC_VERSION_H
#define GITC_VERSION_H

/* The image formats this build decodes ("JPEG PNG BMP WebP ..."); static. */
const char *gitci_image_formats(void);

#endif /* GITC_VERSION_H */
