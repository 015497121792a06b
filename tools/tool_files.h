/* Small file helpers of the gitc command and its developer tools: whole-file
 * reads with a size limit, atomic writes, paths, and gitc_error messages. The
 * tools reach the library only through gitc.h; these are their own. */
#ifndef GITC_TOOL_FILES_H
#define GITC_TOOL_FILES_H

#include "gitc.h"

#include <stddef.h>

/* Sets err (when not NULL) to status and a formatted message; returns status. */
gitc_status tool_fail(gitc_error *err, gitc_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads a regular file of at most max_bytes into a NUL-terminated buffer
 * (*data, caller frees; *size its length, may be NULL). A larger file is
 * GITC_ERR_LIMIT, checked before the buffer is allocated. */
gitc_status tool_read_file(const char *path, size_t max_bytes, char **data, size_t *size, gitc_error *err);

/* Writes `size` bytes to `path` atomically: a temporary file renamed into place. */
gitc_status tool_write_file_atomic(const char *path, const void *data, size_t size, gitc_error *err);

/* dir + "/" + name, newly allocated (caller frees); NULL when out of memory. */
char *tool_path_join(const char *dir, const char *name);

/* 1 when path names an existing regular file. */
int tool_file_exists(const char *path);

/* 1 when path names an existing folder. */
int tool_is_dir(const char *path);

/* Peak resident memory of this process (VmHWM) in MiB, or -1 when unknown. */
double tool_peak_rss_mb(void);

/* printf into a newly allocated string (caller frees); NULL when out of memory. */
char *tool_printf_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
