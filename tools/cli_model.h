/* Finding and opening models for the gitc subcommands (tools/cli_model.c);
 * cli_resolve_model and the revision are declared in cli.h for the server. */
#ifndef GITC_CLI_MODEL_H
#define GITC_CLI_MODEL_H

#include "cli.h"

/* What the embedded demo model is, said wherever a user meets it (the CLI's
 * stderr, gitc inspect, gitc serve's /v1/models and web page). */
#define CLI_EMBEDDED_NOTICE                                                                        \
    "the embedded demo model knows only coloured shapes on plain backgrounds (a photo gets a "   \
    "shape caption); for photos: hf download microsoft/git-base-coco, then -m microsoft/git-base-coco"

/* The number of online CPUs (at least 1). */
int cli_cpu_count(void);

/* Resolves a model argument and loads the model; `*dir` (may be NULL)
 * receives the resolved folder (caller frees). NULL after printing a message. */
gitc_model *cli_open_model(const char *arg, int video, char **dir);

/* Creates a session with n_threads workers (more than the CPUs: a warning and
 * one per CPU); NULL after printing a message. */
gitc_session *cli_open_session(const gitc_model *model, int n_threads);

#endif /* GITC_CLI_MODEL_H */
