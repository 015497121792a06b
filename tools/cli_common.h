/* Helpers shared by the user-facing gitc subcommands (tools/cli_common.c):
 * decoding flags, input lists, JSON output, timing and the progress bar. */
#ifndef GITC_CLI_COMMON_H
#define GITC_CLI_COMMON_H

#include <getopt.h>
#include <stdio.h>

#include "cli.h"

/* Exit statuses of every subcommand. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILED = 1, CLI_EXIT_USAGE = 2 };

/* max_length used when the model's generation_config.json sets neither
 * max_length nor max_new_tokens (transformers' 20 cuts captions short). */
#define CLI_DEFAULT_MAX_LENGTH 30

/* getopt_long codes of the long-only options. */
enum {
    OPT_MAX_LENGTH = 1000,
    OPT_MAX_NEW_TOKENS,
    OPT_MIN_LENGTH,
    OPT_MIN_NEW_TOKENS,
    OPT_BEAMS,
    OPT_LENGTH_PENALTY,
    OPT_EARLY_STOPPING,
    OPT_SAMPLE,
    OPT_TEMPERATURE,
    OPT_TOP_K,
    OPT_TOP_P,
    OPT_SEED,
    OPT_REPETITION_PENALTY,
    OPT_NO_REPEAT_NGRAM,
    OPT_NUM_RETURN,
    OPT_THREADS,
    OPT_JSON,
    OPT_STDIN,
    OPT_FRAMES,
    OPT_OUT,
    OPT_NO_SPECIAL,
    OPT_KEEP_SPECIAL,
    OPT_NO_CLEAN_UP,
    OPT_DTYPE,
    OPT_BATCH
};

/* Long options every model command takes: -m/--model, --threads, --dtype, --json, -h/--help. */
#define CLI_COMMON_LONG_OPTIONS                                   \
    {"model", required_argument, NULL, 'm'},                     \
    {"threads", required_argument, NULL, OPT_THREADS},           \
    {"dtype", required_argument, NULL, OPT_DTYPE},               \
    {"json", no_argument, NULL, OPT_JSON},                       \
    {"help", no_argument, NULL, 'h'}

/* Long options of the decoding settings (caption, ask, video). */
#define CLI_DECODE_LONG_OPTIONS                                             \
    {"max-length", required_argument, NULL, OPT_MAX_LENGTH},               \
    {"max-new-tokens", required_argument, NULL, OPT_MAX_NEW_TOKENS},       \
    {"min-length", required_argument, NULL, OPT_MIN_LENGTH},               \
    {"min-new-tokens", required_argument, NULL, OPT_MIN_NEW_TOKENS},       \
    {"beams", required_argument, NULL, OPT_BEAMS},                         \
    {"num-beams", required_argument, NULL, OPT_BEAMS},                     \
    {"length-penalty", required_argument, NULL, OPT_LENGTH_PENALTY},       \
    {"early-stopping", required_argument, NULL, OPT_EARLY_STOPPING},       \
    {"sample", no_argument, NULL, OPT_SAMPLE},                             \
    {"temperature", required_argument, NULL, OPT_TEMPERATURE},             \
    {"top-k", required_argument, NULL, OPT_TOP_K},                         \
    {"top-p", required_argument, NULL, OPT_TOP_P},                         \
    {"seed", required_argument, NULL, OPT_SEED},                           \
    {"repetition-penalty", required_argument, NULL, OPT_REPETITION_PENALTY}, \
    {"no-repeat-ngram-size", required_argument, NULL, OPT_NO_REPEAT_NGRAM}, \
    {"num-return-sequences", required_argument, NULL, OPT_NUM_RETURN}

/* The --help text of the decoding flags and of the model flags. */
extern const char cli_decode_help[];
extern const char cli_model_help[];

/* The weight precision models are loaded in (--dtype; default f32). */
extern gitc_dtype cli_dtype;
/* Parses a --dtype value into cli_dtype; prints the error and returns -1 when unknown. */
int cli_parse_dtype(const char *arg);

/* Bits of cli_decode_flags.set: which settings the command line gave. */
enum {
    CLI_SET_MAX_LENGTH = 1u << 0,
    CLI_SET_MAX_NEW_TOKENS = 1u << 1,
    CLI_SET_MIN_LENGTH = 1u << 2,
    CLI_SET_MIN_NEW_TOKENS = 1u << 3,
    CLI_SET_BEAMS = 1u << 4,
    CLI_SET_LENGTH_PENALTY = 1u << 5,
    CLI_SET_EARLY_STOPPING = 1u << 6,
    CLI_SET_SAMPLE = 1u << 7,
    CLI_SET_TEMPERATURE = 1u << 8,
    CLI_SET_TOP_K = 1u << 9,
    CLI_SET_TOP_P = 1u << 10,
    CLI_SET_SEED = 1u << 11,
    CLI_SET_REPETITION_PENALTY = 1u << 12,
    CLI_SET_NO_REPEAT_NGRAM = 1u << 13,
    CLI_SET_NUM_RETURN = 1u << 14
};

/* Decoding settings given on the command line, applied over the model's defaults. */
typedef struct cli_decode_flags {
    gitc_generate_params value; /* the values given (others unused) */
    unsigned set;               /* CLI_SET_* bits */
} cli_decode_flags;

/* Handles one getopt code of CLI_DECODE_LONG_OPTIONS. Returns 1 when handled,
 * 0 when `code` is not a decoding option, -1 after printing a message for an
 * invalid value. */
int cli_decode_option(cli_decode_flags *flags, int code, const char *arg);

/* The settings for a run: gitc_model_generate_params(model), max_length
 * CLI_DEFAULT_MAX_LENGTH when the folder's generation_config.json sets no
 * length, then the flags. Checks them against the model's config; returns 0,
 * or -1 after printing a message (a usage error). */
int cli_generate_params(const gitc_model *model, const char *model_dir,
                        const cli_decode_flags *flags, gitc_generate_params *out);

/* Parses a whole decimal integer in [lo, hi]; prints a message naming `what`
 * and returns -1 otherwise. */
int cli_parse_int(const char *s, long lo, long hi, const char *what, long *out);

/* Prints the "unknown option / missing value" message for a getopt '?' or ':'
 * result and a hint to run `gitc CMD --help`. Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd);

/* Resolves a model argument and loads the model; `*dir` (may be NULL)
 * receives the resolved folder (caller frees). NULL after printing a message. */
gitc_model *cli_open_model(const char *arg, int video, char **dir);

/* Creates a session with n_threads workers; NULL after printing a message. */
gitc_session *cli_open_session(const gitc_model *model, int n_threads);

/* A growable list of input paths. */
typedef struct cli_inputs {
    char **paths;
    int n;
    int cap;
} cli_inputs;

/* What a directory argument expands to. */
typedef enum cli_input_kind { CLI_INPUT_IMAGES, CLI_INPUT_VIDEOS } cli_input_kind;

/* Adds a path argument: a file as is, a directory as its image (or video)
 * files sorted by name, "-" as the paths read from stdin (one per line).
 * Returns 0, or -1 after printing a message. */
int cli_inputs_add(cli_inputs *list, const char *arg, cli_input_kind kind);

/* Adds the paths listed on stdin, one per line (directories expanded). */
int cli_inputs_add_stdin(cli_inputs *list, cli_input_kind kind);

void cli_inputs_free(cli_inputs *list);

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

#endif /* GITC_CLI_COMMON_H */
