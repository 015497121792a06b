/* Internal video entry points shared by video.c, the tests and the fuzz
 * target (not installed): the load path chosen, decoding from memory, limits. */
#ifndef GITC_VIDEO_INTERNAL_H
#define GITC_VIDEO_INTERNAL_H

#include "internal.h"

/* Frames one decoding pass of gitc_video_load may decode before it refuses the
 * file (GITC_ERR_LIMIT): about 12 hours at 25 frames per second. */
#define GITC_VIDEO_MAX_FRAMES (1 << 20)

/* gitc_video_load with the path chosen: allow_seek 0 always decodes the whole
 * clip (twice); 1 first tries the container's frame count and seeking.
 * `seeked` (may be NULL) receives 1 when the frames came from seeking. */
gitc_status gitci_video_load_mode(const char *path, int n_frames, const gitc_image_params *params,
                                  gitc_image *frames, int *n_total, int allow_seek, int *seeked,
                                  gitc_error *err);

/* gitc_video_load over `size` bytes in memory (read through a custom
 * AVIOContext; `name` names the input in messages; always the two decoding
 * passes), refusing a pass that decodes more than max_frames frames (0: no
 * limit). Same outputs and ownership as gitc_video_load; data is borrowed for
 * the call only. */
gitc_status gitci_video_load_memory(const void *data, size_t size, const char *name, int max_frames,
                                    int n_frames, const gitc_image_params *params,
                                    gitc_image *frames, int *n_total, gitc_error *err);

#endif /* GITC_VIDEO_INTERNAL_H */
