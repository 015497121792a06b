/* TEMPORARY stub until src/image.c and src/processor.c land: delete this file when they do. */
#include "internal.h"
gitc_image_params gitc_image_default_params(void) { gitc_image_params p = {100000000, 0}; return p; }
gitc_status gitc_image_load(const char *p, const gitc_image_params *x, gitc_image *o, gitc_error *e) { return gitc_fail(e, GITC_ERR_UNSUPPORTED, "not implemented"); }
gitc_status gitc_image_decode(const void *d, size_t s, const char *n, const gitc_image_params *x, gitc_image *o, gitc_error *e) { return gitc_fail(e, GITC_ERR_UNSUPPORTED, "not implemented"); }
void gitc_image_free(gitc_image *i) { (void)i; }
gitc_status gitc_processor_load(const char *d, gitc_processor **o, gitc_error *e) { *o = NULL; return gitc_fail(e, GITC_ERR_UNSUPPORTED, "not implemented"); }
gitc_status gitc_processor_from_json(const char *j, size_t l, const char *n, gitc_processor **o, gitc_error *e) { *o = NULL; return gitc_fail(e, GITC_ERR_UNSUPPORTED, "not implemented"); }
void gitc_processor_free(gitc_processor *p) { (void)p; }
void gitc_processor_output_size(const gitc_processor *p, int *h, int *w) { *h = *w = 0; }
gitc_status gitc_processor_run(const gitc_processor *p, const gitc_image *i, float *o, gitc_error *e) { return gitc_fail(e, GITC_ERR_UNSUPPORTED, "not implemented"); }
