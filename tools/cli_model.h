/* Finding and opening models for the gitc subcommands (tools/cli_model.c);
 * cli_resolve_model and the revision are declared in cli.h for the server. */
#ifndef GITC_CLI_MODEL_H
#define GITC_CLI_MODEL_H

#include "cli.h"

/* The number of online CPUs (at least 1). */
int cli_cpu_count(void);

/* Resolves a model argument and loads the model; `*dir` (may be NULL)
 * receives the resolved folder (caller frees). NULL after printing a message. */
gitc_model *cli_open_model(const char *arg, int video, char **dir);

/* Creates a session with n_threads workers (more than the CPUs: a warning and
 * one per CPU); NULL after printing a message. */
gitc_session *cli_open_session(const gitc_model *model, int n_threads);

#endif /* GITC_CLI_MODEL_H */
