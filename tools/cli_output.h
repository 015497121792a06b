/* The output side of the gitc subcommands (tools/cli_output.c): stdout's
 * write errors, JSON strings, time and the progress bar. */
#ifndef GITC_CLI_OUTPUT_H
#define GITC_CLI_OUTPUT_H

#include <stdio.h>

#include "cli.h"

/* Flushes stdout; -1 when a write failed (remembered for cli_finish_output). */
int cli_flush_stdout(void);

/* Checks stdout after a command: a failed write or flush (a full disk, a closed
 * pipe) is reported and turns `status` into CLI_EXIT_FAILED. Returns the status. */
int cli_finish_output(int status);

/* Writes `s` as a JSON string literal (quotes included); invalid UTF-8 bytes
 * become U+FFFD so the output is always valid JSON. */
void cli_json_string(FILE *f, const char *s);

/* Milliseconds on a monotonic clock. */
double cli_now_ms(void);

/* A one-line progress bar on stderr, shown only when stderr is a terminal and
 * there are several inputs. */
typedef struct cli_progress {
    int active;
    int total;
    double start_ms;
} cli_progress;

void cli_progress_start(cli_progress *p, int total);
/* Draws "done/total" with the name of the input being worked on. */
void cli_progress_update(cli_progress *p, int done, const char *name);
/* Erases the bar (call before printing other lines, and at the end). */
void cli_progress_clear(cli_progress *p);

#endif /* GITC_CLI_OUTPUT_H */
