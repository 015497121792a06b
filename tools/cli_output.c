/* The output side of the gitc subcommands: stdout's write errors, JSON
 * strings, time and the progress bar. */
#include "cli_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* errno of the first failed flush of stdout (0: none yet). */
static int stdout_errno;

int cli_flush_stdout(void)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    if (!stdout_errno) stdout_errno = errno ? errno : EIO;
    return -1;
}

int cli_finish_output(int status)
{
    errno = 0;
    int failed = ferror(stdout);
    if (fflush(stdout) != 0) failed = 1;
    int e = stdout_errno ? stdout_errno : errno;
    if (fclose(stdout) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    if (!failed) return status;
    cli_error("cannot write the output to stdout%s%s", e ? ": " : "", e ? strerror(e) : "");
    return CLI_EXIT_FAILED;
}

/* ------------------------------------------------------------------ */
/* JSON, time, progress                                                */
/* ------------------------------------------------------------------ */

void cli_json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t left = strlen((const char *)s);
    fputc('"', f);
    while (*s) {
        size_t n = gitc_utf8_sequence_length((const char *)s, left);
        if (n == 0) {
            fputs("\\ufffd", f);
            s++;
            left--;
            continue;
        }
        if (n > 1) {
            fwrite(s, 1, n, f);
            s += n;
            left -= n;
            continue;
        }
        switch (*s) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (*s < 0x20 || *s == 0x7F) fprintf(f, "\\u%04x", *s);
            else fputc(*s, f);
        }
        s++;
        left--;
    }
    fputc('"', f);
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void cli_progress_start(cli_progress *p, int total)
{
    p->active = total > 1 && isatty(STDERR_FILENO);
    p->total = total;
    p->start_ms = cli_now_ms();
}

void cli_progress_update(cli_progress *p, int done, const char *name)
{
    if (!p->active) return;
    enum { WIDTH = 24 };
    int filled = p->total ? done * WIDTH / p->total : WIDTH;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    double secs = (cli_now_ms() - p->start_ms) / 1e3;
    fprintf(stderr, "\r\033[K[%s] %d/%d %.1fs %.40s", bar, done, p->total, secs, base);
    fflush(stderr);
}

void cli_progress_clear(cli_progress *p)
{
    if (!p->active) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}
