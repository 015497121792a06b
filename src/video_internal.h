/* Internal video entry point shared by video.c and the tests (not installed). */
#ifndef GITC_VIDEO_INTERNAL_H
#define GITC_VIDEO_INTERNAL_H

#include "internal.h"

/* gitc_video_load with the path chosen: allow_seek 0 always decodes the whole
 * clip (twice); 1 first tries the container's frame count and seeking.
 * `seeked` (may be NULL) receives 1 when the frames came from seeking. */
gitc_status gitc_video_load_mode(const char *path, int n_frames, const gitc_image_params *params,
                                 gitc_image *frames, int *n_total, int allow_seek, int *seeked,
                                 gitc_error *err);

#endif /* GITC_VIDEO_INTERNAL_H */
