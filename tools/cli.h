/* Shared declarations of the gitc command-line tool. Each subcommand is
 * `int cmd_NAME(int argc, char **argv)` with argv[0] = the subcommand name;
 * it returns the process exit status (0 ok, 1 some input failed, 2 usage). */
#ifndef GITC_CLI_H
#define GITC_CLI_H

#include "gitc.h"

/* User-facing commands (tools/gitc.c and tools/cmd_*.c). */
int cmd_caption(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_video(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_serve(int argc, char **argv); /* tools/cmd_serve.c */

/* Developer commands (tools/cmd_dev.c). */
int cmd_forward(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* gitc train and gitc bench --train (tools/cmd_train.c). */
int cmd_train(int argc, char **argv);
int cmd_bench_train(int argc, char **argv);
/* The cached synthetic git-base folder of gitc bench, written on first use
 * (tools/cmd_dev.c); malloc'd, or NULL after printing a message. */
char *cli_synthetic_base_dir(void);

/* gitc inspect (tools/cmd_inspect.c). */
int cmd_inspect(int argc, char **argv);

/* Resolves -m MODEL: a folder, or a hub id ("microsoft/git-base-coco") found
 * in the local HuggingFace cache (HF_HUB_CACHE, HF_HOME/hub,
 * ~/.cache/huggingface/hub), or NULL for the embedded default
 * (`video` selects git-shapes-video). Returns a malloc'd folder path, or NULL
 * after printing a message (with the download command for a hub id). */
char *cli_resolve_model(const char *arg, int video);

/* --revision REV of the model commands (NULL: main); cli_resolve_model uses it for hub ids. */
extern const char *cli_revision;

/* The snapshot (commit) the last hub id resolved to, or NULL when none was resolved. */
const char *cli_resolved_revision(void);

/* Prints "gitc: " + message to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* GITC_CLI_H */
