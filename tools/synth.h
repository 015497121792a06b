/* Synthetic weights (shared/reference/SYNTHETIC_WEIGHTS.md): every parameter
 * is a pure function of its name and shape, so full-size models need no download. */
#ifndef GITC_SYNTH_H
#define GITC_SYNTH_H

#include "gitc.h"

#include <stddef.h>
#include <stdint.h>

/* Element values of parameter `name` with the given shape (numel floats to out). */
void gitc_synth_param(const char *name, int ndim, const int64_t *shape, float *out);

/* Synthetic pixel input of the given element count: 1.5 * r on the stream of `name`. */
void gitc_synth_pixels(const char *name, size_t numel, float *out);

/* Writes DIR/config.json (a copy of config_json) and DIR/model.safetensors
 * (F32) for a config, streaming tensor by tensor; creates DIR if needed. */
gitc_status gitc_synth_write(const char *config_json, size_t len, const char *config_path,
                             const char *dir, gitc_error *err);

#endif
