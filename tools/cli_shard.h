/* Batch jobs of the gitc subcommands (tools/cli_shard.c): --shard and --resume. */
#ifndef GITC_CLI_SHARD_H
#define GITC_CLI_SHARD_H

#include "cli_inputs.h"

/* --shard I/N: parses "I/N" (0 <= I < N); returns 0, or -1 after printing a message. */
int cli_parse_shard(const char *arg, int *index, int *count);

/* Keeps the inputs whose position in the list, modulo count, is index. */
void cli_inputs_shard(cli_inputs *list, int index, int count);

/* --resume OUT.jsonl: drops from the list the inputs that OUT already has a
 * record of (one input per record with its "file"; a missing OUT has none),
 * truncates an unfinished last line left by a crash, and points stdout at
 * OUT for appending. Returns 0, or -1 after printing a message. */
int cli_resume(const char *path, cli_inputs *list);

#endif /* GITC_CLI_SHARD_H */
