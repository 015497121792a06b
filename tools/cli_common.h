/* Helpers shared by the user-facing gitc subcommands, one header (and file)
 * per concern: cli_options.h (exit statuses, option codes, the model options
 * parsed in one place, decoding flags, numbers, messages), cli_model.h
 * (finding and opening models), cli_inputs.h (paths, folders, stdin, pipes),
 * cli_output.h (stdout, JSON, time, progress) and cli_shard.h (--shard,
 * --resume). The subcommands include this one. */
#ifndef GITC_CLI_COMMON_H
#define GITC_CLI_COMMON_H

#include "cli_inputs.h"
#include "cli_model.h"
#include "cli_options.h"
#include "cli_output.h"
#include "cli_shard.h"

#endif /* GITC_CLI_COMMON_H */
