/* Small file helpers of the gitc command (see tool_files.h). */
#include "tool_files.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gitc_status tool_fail(gitc_error *err, gitc_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

gitc_status tool_read_file(const char *path, size_t max_bytes, char **data, size_t *size, gitc_error *err)
{
    *data = NULL;
    if (size)
        *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tool_fail(err, GITC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return tool_fail(err, GITC_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return tool_fail(err, GITC_ERR_LIMIT, "%s: %lld bytes, more than the limit of %zu for this file", path,
                         (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return tool_fail(err, GITC_ERR_MEMORY, "%s: out of memory reading %zu bytes", path, n);
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return tool_fail(err, GITC_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    buf[n] = '\0';
    *data = buf;
    if (size)
        *size = n;
    return GITC_OK;
}

gitc_status tool_write_file_atomic(const char *path, const void *data, size_t size, gitc_error *err)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    if (!tmp)
        return tool_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    gitc_status st = GITC_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = tool_fail(err, GITC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    } else {
        int ok = fwrite(data, 1, size, f) == size;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            st = tool_fail(err, GITC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
            remove(tmp);
        }
    }
    free(tmp);
    return st;
}

char *tool_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int tool_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int tool_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

double tool_peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atof(line + 6);
    if (f)
        fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

char *tool_printf_alloc(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}
