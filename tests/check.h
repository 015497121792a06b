/* A small test harness: checks count failures, and the program's exit status says whether any failed. */
#ifndef GITC_CHECK_H
#define GITC_CHECK_H

#include <stddef.h>
#include <stdint.h>

extern int check_failures;
extern int check_count;
extern const char *check_root; /* repository root (argv[1]) */

/* Records a check; prints FAIL with the message when cond is false. Returns cond. */
int check_true(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Compares two float arrays: prints the max abs difference, fails above tol. */
int check_close(const char *what, const float *got, const float *want, size_t n, double tol);

/* Compares a float array with a float64 reference. */
int check_close_f64(const char *what, const float *got, const double *want, size_t n, double tol);

/* Compares int arrays exactly, printing the first difference. */
int check_ids(const char *what, const int32_t *got, int n_got, const int32_t *want, int n_want);

/* Joins check_root with a relative path (static buffer rotation: valid for a few calls). */
const char *check_path(const char *rel);

/* Sets check_root from argv (default ".") */
void check_init(int argc, char **argv);

/* Prints the summary and returns the process exit status. */
int check_done(const char *name);

/* Loads the model folder dir (mp may be NULL: the defaults) and opens a
 * session of 2 threads on it. On success returns 1 and both are the caller's;
 * otherwise the test fails, returns 0 and leaves *m and *s NULL. */
#include "gitc.h"
int check_open_model(const char *dir, const gitc_model_params *mp, gitc_model **m, gitc_session **s);

#endif

/* Running a program (the gitc binary, mostly): one harness for every test. */

/* What one run gave. */
typedef struct check_run {
    int status;     /* exit status; -1 when it did not exit normally */
    int signal;     /* the signal that ended it, 0 when it exited */
    char *out;      /* stdout, NUL-terminated ("" when it went to stdout_path); check_run_free frees */
    size_t out_len; /* bytes of out */
    char *err;      /* stderr, NUL-terminated */
    double secs;    /* wall time */
} check_run;

/* How a run gets its stdin, stdout, folder and environment (NULL: all defaults). */
typedef struct check_run_io {
    const char *input;       /* bytes fed on stdin (NULL: empty) */
    size_t input_len;        /* 0: strlen(input) */
    int input_pipe;          /* 1: stdin is a pipe, not a file */
    const char *stdout_path; /* NULL: captured in out */
    const char *cwd;         /* NULL: the test's */
    const char *const *env;  /* "NAME=value" settings, NULL-terminated (may be NULL) */
    const char *signal_when; /* non-NULL: once stdout contains this text, send `signal` (once) */
    int signal;
} check_run_io;

/* Runs argv[0] (a path) with argv (NULL-terminated) and waits for it. The
 * child starts without GITC_MODEL_DIR and the HuggingFace cache variables,
 * so the host's settings do not leak in, then gets io->env. Checks that
 * stderr carries no sanitizer report (under -DGITC_SANITIZE=ON the binary
 * reports errors and leaks there). Release r with check_run_free. */
void check_run_argv(check_run *r, const check_run_io *io, const char *const *argv);

/* check_run_argv with $GITC_BIN and the arguments after io (NULL-terminated, at most 64). */
void check_run_gitc(check_run *r, const check_run_io *io, ...);

/* The gitc binary the tests run ($GITC_BIN; the test fails and "gitc" when unset). */
const char *check_gitc_bin(void);

/* Prints a run's exit status, stdout and stderr when `ok` is 0 (a failed check on it). */
void check_run_show(int ok, const char *what, const check_run *r);

/* Frees a run's output and zeroes it. */
void check_run_free(check_run *r);

/* The bytes of a file, NUL-terminated (malloc'd; "" when unreadable); *size
 * (may be NULL) gets their count. */
char *check_read_file(const char *path, size_t *size);

/* Writes n bytes to path; 0, or -1 when that failed. */
int check_write_file(const char *path, const void *data, size_t n);

/* Copies the file `from` to `to`; 0, or -1 when that failed. */
int check_copy_file(const char *from, const char *to);

/* Reference data helpers. */
#include <cjson/cJSON.h>
#include "safetensors.h"

/* Parses a JSON file (test fails and NULL when unreadable). Caller frees with cJSON_Delete. */
cJSON *check_load_json(const char *path);

/* Reads an int array (object key path, NULL key = the node itself) into out; returns the count or -1. */
int check_json_ids(const cJSON *node, const char *key, int32_t *out, int max);

/* Opens a reference safetensors file (test fails and NULL when unreadable). */
st_file *check_open_st(const char *path);

/* Float32 copy of a named tensor (malloc'd; NULL and a failure when absent). n gets the element count. */
float *check_tensor_f32(const st_file *f, const char *name, size_t *n);

/* Float64 data of a named F64 tensor (malloc'd copy). */
double *check_tensor_f64(const st_file *f, const char *name, size_t *n);

/* The demo runner: the embedded demo models over the examples of
 * tests/data/cli/examples.json, for test_demo (f32) and test_lowp_model (bf16, int8). */

#define CHECK_DEMO_MAX_FRAMES 4

/* One example of examples.json, decoded and prepared for the model. */
typedef struct check_demo_input {
    const cJSON *ref;       /* its entry in "images" or "videos" (the reference values) */
    const char *name;       /* the image file, or "clipK" for the K-th video */
    int index;              /* K: its position in the list */
    gitc_image frames[CHECK_DEMO_MAX_FRAMES]; /* the decoded images (1 for an image example) */
    int n_frames;
    const float *pixels;    /* the frames through the model's processor: [n_frames, 3, H, W] */
    size_t n_pixels;        /* floats of pixels */
} check_demo_input;

/* Called once per example with the session and model it runs on. */
typedef void (*check_demo_fn)(void *user, gitc_session *s, const gitc_model *m, const check_demo_input *in);

/* Loads models/git-shapes (videos = 0: the "images" examples) or
 * models/git-shapes-video (videos = 1: "videos", 4 frames each) with mp
 * (NULL: the defaults; a dtype other than f32 is checked to be the one
 * loaded), opens a 2-thread session, and calls fn for every example whose
 * images loaded and went through the processor (a failure to do so fails
 * the test and skips the example). */
void check_demo_run(const cJSON *examples, int videos, const gitc_model_params *mp, check_demo_fn fn, void *user);
