/* Option parsing shared by the gitc subcommands (tools/cli_options.c):
 * exit statuses, getopt codes, the model options parsed in one place, the
 * decoding flags, numbers and messages. */
#ifndef GITC_CLI_OPTIONS_H
#define GITC_CLI_OPTIONS_H

#include <getopt.h>
#include <stdint.h>
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
    OPT_NULL,
    OPT_RECURSIVE,
    OPT_QUESTION,
    OPT_PROMPT,
    OPT_NO_EXIF,
    OPT_FORCE,
    OPT_READ_TIMEOUT,
    OPT_REVISION,
    OPT_DTYPE,
    OPT_BATCH
};

/* Long options every model command takes: -m/--model, --threads, --dtype, --json, -h/--help. */
#define CLI_COMMON_LONG_OPTIONS                                   \
    {"model", required_argument, NULL, 'm'},                     \
    {"revision", required_argument, NULL, OPT_REVISION},         \
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

/* The model options every model command takes, parsed by cli_model_option:
 * -m/--model, --revision (into cli_revision), --threads, --dtype (into cli_dtype). */
typedef struct cli_model_opts {
    const char *model; /* -m: a folder or hub id; NULL: the embedded default */
    int n_threads;     /* --threads: worker threads, 0 = one per CPU */
} cli_model_opts;

/* Handles one getopt code of the model options (those of CLI_COMMON_LONG_OPTIONS
 * but --json and --help, and -m). Returns 1 when handled, 0 when `code` is not a
 * model option, -1 after printing a message for an invalid value. */
int cli_model_option(cli_model_opts *opts, int code, const char *arg);

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
 * -1 after printing a message about a flag (a usage error), or -2 after printing
 * a message naming generation_config.json and the key when a value from the model
 * folder is what cannot be used (a model error: no flag is blamed). */
int cli_generate_params(const gitc_model *model, const char *model_dir,
                        const cli_decode_flags *flags, gitc_generate_params *out);

/* Prints "gitc: WHAT: MESSAGE" when the library's message already names
 * `name` (a file or folder), else "gitc: WHAT (NAME): MESSAGE": each name once. */
void cli_error_about(const char *what, const char *name, const char *message);

/* Parses a whole decimal integer in [lo, hi]; prints a message naming `what`
 * and returns -1 otherwise. */
int cli_parse_int(const char *s, long lo, long hi, const char *what, long *out);

/* Prints the hint to run `gitc CMD --help`. Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd);

/* Prints the "unknown option / missing value" message of a getopt '?' or ':'
 * result (naming the option itself, also inside a cluster such as -dash.png)
 * and the --help hint. Call right after getopt_long. Returns CLI_EXIT_USAGE. */
int cli_option_error(const char *cmd, int code, char **argv);

/* Sampling without --seed: a random seed (the caller reports it). */
uint64_t cli_random_seed(void);

#endif /* GITC_CLI_OPTIONS_H */
