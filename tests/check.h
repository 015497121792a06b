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

#endif
