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

/* What the embedded demo model is, said wherever a user meets it (the CLI's
 * stderr, gitc inspect, gitc serve's /v1/models and web page). */
#define CLI_EMBEDDED_NOTICE                                                                        \
    "the embedded demo model knows only coloured shapes on plain backgrounds (a photo gets a "   \
    "shape caption); for photos: hf download microsoft/git-base-coco, then -m microsoft/git-base-coco"

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

/* Reads a regular file of at most max_bytes into a NUL-terminated buffer
 * (caller frees *text). Returns 0, or -1 after printing a message. */
int cli_read_small_file(const char *path, size_t max_bytes, char **text, size_t *len);

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

/* The number of online CPUs (at least 1). */
int cli_cpu_count(void);

/* Flushes stdout; -1 when a write failed (remembered for cli_finish_output). */
int cli_flush_stdout(void);

/* Checks stdout after a command: a failed write or flush (a full disk, a closed
 * pipe) is reported and turns `status` into CLI_EXIT_FAILED. Returns the status. */
int cli_finish_output(int status);

/* Reads a whole pipe, FIFO or other special file (also /dev/stdin and <(...)),
 * or the open descriptor fd when fd >= 0, without blocking forever: gives up
 * after timeout_s seconds without data (timeout_s <= 0: no limit) or when it
 * exceeds max_bytes. Returns 0 with *data (caller frees) and *size, or -1 with
 * a message in err. */
int cli_read_special(const char *path, int fd, double timeout_s, size_t max_bytes,
                     unsigned char **data, size_t *size, gitc_error *err);

/* Seconds to wait for data from a pipe or FIFO before giving up. */
#define CLI_DEFAULT_READ_TIMEOUT 60.0
/* The largest image read from a pipe. */
#define CLI_MAX_PIPE_BYTES ((size_t)1 << 30)

/* Resolves a model argument and loads the model; `*dir` (may be NULL)
 * receives the resolved folder (caller frees). NULL after printing a message. */
gitc_model *cli_open_model(const char *arg, int video, char **dir);

/* Creates a session with n_threads workers (more than the CPUs: a warning and
 * one per CPU); NULL after printing a message. */
gitc_session *cli_open_session(const gitc_model *model, int n_threads);

/* The name under which an image read from stdin is listed. */
#define CLI_STDIN_NAME "-"

/* A growable list of input paths. */
typedef struct cli_inputs {
    char **paths;
    int n;
    int cap;
    int n_args;        /* path arguments given (folders and "-" count once) */
    int listed;        /* 1 when a folder or a stdin list was expanded */
    int null_separated; /* -0/--null: stdin lists are NUL-separated (find -print0) */
    int recursive;      /* -r/--recursive: folders include their subfolders */
    unsigned char *stdin_image; /* "-" that was an image: its bytes (the path is "-") */
    size_t stdin_image_size;
    double read_timeout; /* --read-timeout for stdin; 0 = as long as its writer lives */
} cli_inputs;

/* What a directory argument expands to. */
typedef enum cli_input_kind { CLI_INPUT_IMAGES, CLI_INPUT_VIDEOS } cli_input_kind;

/* Adds a path argument: a file as is; a folder as its image (or video) files
 * sorted by name, found by their bytes or extension (what is left out is
 * listed on stderr; subfolders only with `recursive`); "-" as stdin, which is
 * one image when its bytes are an image (images only), else a list of paths.
 * Returns 0, or -1 after printing a message. */
int cli_inputs_add(cli_inputs *list, const char *arg, cli_input_kind kind);

/* Adds the paths listed on stdin, one per line (NUL-separated with
 * null_separated; folders expanded). */
int cli_inputs_add_stdin(cli_inputs *list, cli_input_kind kind);

/* Loads the image of an input: a file, the image read from stdin ("-"), or
 * the bytes of a pipe, FIFO or /dev/stdin (waiting at most timeout_s seconds
 * for data; 0: CLI_DEFAULT_READ_TIMEOUT). exif_transpose as gitc_image_params.
 * Release `image` with gitc_image_free. */
gitc_status cli_load_image(const cli_inputs *in, const char *path, int exif_transpose,
                           double timeout_s, gitc_image *image, gitc_error *err);

/* 1 when the output should name each input's file: several arguments, a
 * folder or a stdin list, however many files they gave. */
int cli_inputs_several(const cli_inputs *list);

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

/* --shard I/N: parses "I/N" (0 <= I < N); returns 0, or -1 after printing a message. */
int cli_parse_shard(const char *arg, int *index, int *count);

/* Keeps the inputs whose position in the list, modulo count, is index. */
void cli_inputs_shard(cli_inputs *list, int index, int count);

/* --resume OUT.jsonl: drops from the list the inputs that OUT already has a
 * record of (one input per record with its "file"; a missing OUT has none),
 * truncates an unfinished last line left by a crash, and points stdout at
 * OUT for appending. Returns 0, or -1 after printing a message. */
int cli_resume(const char *path, cli_inputs *list);

#endif /* GITC_CLI_COMMON_H */
