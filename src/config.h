/* Reading a model folder's JSON settings: config.json (GitConfig and
 * GitVisionConfig) and generation_config.json. */
#ifndef GITC_CONFIG_H
#define GITC_CONFIG_H

#include "internal.h"

/* Applies generation_config.json text to params (unknown keys ignored). */
gitc_status gitci_generation_config_parse(const char *json, size_t len, const char *path,
                                          gitc_generate_params *params, gitc_error *err);

#endif /* GITC_CONFIG_H */
