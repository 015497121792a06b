/* The inputs of the gitc subcommands (tools/cli_inputs.c): path arguments,
 * folders, stdin, pipes and small text files. */
#ifndef GITC_CLI_INPUTS_H
#define GITC_CLI_INPUTS_H

#include <stddef.h>

#include "cli.h"

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

/* Reads a regular file of at most max_bytes into a NUL-terminated buffer
 * (caller frees *text). Returns 0, or -1 after printing a message. */
int cli_read_small_file(const char *path, size_t max_bytes, char **text, size_t *len);

#endif /* GITC_CLI_INPUTS_H */
