/* Internal helpers shared by the library's source files (not installed). */
#ifndef GITC_INTERNAL_H
#define GITC_INTERNAL_H

#include "gitc.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define GITC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GITC_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define GITC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GITC_PRINTF(f, a)
#endif

/* Sets err (when not NULL) to status and a formatted message; returns status. */
gitc_status gitc_fail(gitc_error *err, gitc_status status, const char *fmt, ...) GITC_PRINTF(3, 4);

/* Prefixes an existing error message with "prefix: ". */
void gitc_error_prefix(gitc_error *err, const char *prefix);

/* Reads a whole file into a NUL-terminated buffer (caller frees). */
gitc_status gitc_read_file(const char *path, char **data, size_t *size, gitc_error *err);

/* Joins a folder and a file name into a newly allocated path (caller frees); NULL on OOM. */
char *gitc_path_join(const char *dir, const char *name);

/* 1 when path names an existing regular file. */
int gitc_file_exists(const char *path);

/* Writes `size` bytes to `path` atomically: a temporary file renamed into place. */
gitc_status gitc_write_file_atomic(const char *path, const void *data, size_t size, gitc_error *err);

/* IEEE half and bfloat16 to float32 (exact). */
float gitc_f16_to_f32(uint16_t h);
float gitc_bf16_to_f32(uint16_t b);

#endif /* GITC_INTERNAL_H */
