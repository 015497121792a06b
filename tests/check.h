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
