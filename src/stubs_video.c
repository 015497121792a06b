/* TEMPORARY stub until src/video.c lands: delete this file when it does. */
#include "internal.h"
void gitc_video_sample_indices(int n_total, int n_sample, int *indices) { for (int i = 0; i < n_sample; i++) indices[i] = 0; }
gitc_status gitc_video_load(const char *p, int n, const gitc_image_params *x, gitc_image *f, int *t, gitc_error *e) { return gitc_fail(e, GITC_ERR_UNSUPPORTED, "not implemented"); }
