/* The inputs of the gitc subcommands: path arguments, folder walks (by bytes
 * or extension, optionally recursive), stdin lists and images, pipes and
 * FIFOs read with a timeout, and small text files. */
#include "cli_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tool_files.h"

/* ------------------------------------------------------------------ */
/* Inputs                                                              */
/* ------------------------------------------------------------------ */

static int push_path(cli_inputs *list, const char *path)
{
    if (list->n == list->cap) {
        int cap = list->cap ? list->cap * 2 : 16;
        char **p = realloc(list->paths, (size_t)cap * sizeof *p);
        if (!p) return -1;
        list->paths = p;
        list->cap = cap;
    }
    list->paths[list->n] = strdup(path);
    if (!list->paths[list->n]) return -1;
    list->n++;
    return 0;
}

static int has_extension(const char *name, const char *const *exts)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (int i = 0; exts[i]; i++)
        if (!strcasecmp(dot + 1, exts[i])) return 1;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Image file name extensions: what the library decodes, and the still-image
 * formats it may not (those are tried, so their failure is reported). */
static const char *const image_exts[] = {"jpg", "jpeg", "jpe", "jfif", "png", "webp", "bmp",
                                         "dib", "gif", "tif", "tiff", "avif", "heic", "heif",
                                         "jxl", "jp2", "ico", "psd", "dng", NULL};
static const char *const video_exts[] = {"mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg",
                                         "mpeg", "ts", "m2ts", "wmv", "flv", "3gp", "ogv",
                                         "gif", NULL};

/* 1 when the first bytes of a file are those of a still image (what PIL
 * would try to open); ISO-BMFF files count when their brand is HEIF/AVIF. */
static int sniff_image(const unsigned char *b, size_t n)
{
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return 1;         /* JPEG */
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return 1;                     /* PNG */
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return 1;  /* GIF */
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return 1;    /* WebP */
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return 1;                            /* BMP */
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4))) return 1;     /* TIFF */
    if (n >= 12 && !memcmp(b + 4, "ftyp", 4)) {                                    /* HEIF, AVIF */
        static const char *const brands[] = {"heic", "heix", "heim", "heis", "hevc", "hevx",
                                              "mif1", "msf1", "avif", "avis", NULL};
        for (int i = 0; brands[i]; i++)
            if (!memcmp(b + 8, brands[i], 4)) return 1;
    }
    return 0;
}

/* The first bytes of a regular file (0 when it cannot be read). */
static size_t file_head(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* Files a folder walk left out, named on stderr at the end of the walk. */
typedef struct skip_list {
    cli_inputs names;
    int n_folders; /* subfolders not entered (no --recursive) */
} skip_list;

/* Collects the input files of a folder (and, recursively, of its subfolders). */
static int walk_directory(cli_inputs *found, skip_list *skipped, const char *dir,
                          cli_input_kind kind, int recursive, int depth)
{
    const char *const *exts = kind == CLI_INPUT_VIDEOS ? video_exts : image_exts;
    DIR *d = opendir(dir);
    if (!d) {
        cli_error("%s: cannot open the folder: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    size_t n = strlen(dir);
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *path = tool_printf_alloc("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", e->d_name);
        struct stat st, lst;
        int oom = 0;
        if (!path) {
            oom = 1;
        } else if (stat(path, &st) != 0) {
            oom = push_path(&skipped->names, path) != 0; /* a dangling link */
        } else if (S_ISDIR(st.st_mode)) {
            /* Linked folders are not followed: a walk never loops. */
            if (!recursive) skipped->n_folders++;
            else if (lstat(path, &lst) == 0 && S_ISDIR(lst.st_mode) && depth < 64)
                rc = walk_directory(found, skipped, path, kind, recursive, depth + 1);
        } else {
            unsigned char head[16];
            size_t got = S_ISREG(st.st_mode) ? file_head(path, head, sizeof head) : 0;
            int take = S_ISREG(st.st_mode) &&
                       (has_extension(e->d_name, exts) ||
                        (kind == CLI_INPUT_IMAGES && sniff_image(head, got)));
            oom = push_path(take ? found : &skipped->names, path) != 0;
        }
        free(path);
        if (oom) {
            cli_error("out of memory");
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

/* Names the files a folder walk left out, on stderr. */
static void report_skipped(const char *dir, skip_list *sk, cli_input_kind kind)
{
    const char *what = kind == CLI_INPUT_VIDEOS ? " video file" : " image file";
    const char *plural = kind == CLI_INPUT_VIDEOS ? " video files" : " image files";
    if (sk->names.n) {
        qsort(sk->names.paths, (size_t)sk->names.n, sizeof *sk->names.paths, compare_names);
        int one = sk->names.n == 1;
        fprintf(stderr, "gitc: %s: skipped %d file%s that %s not%s%s:", dir, sk->names.n,
                one ? "" : "s", one ? "is" : "are", one ? " an" : "", one ? what : plural);
        for (int i = 0; i < sk->names.n && i < 20; i++)
            fprintf(stderr, " %s", sk->names.paths[i]);
        fputs(sk->names.n > 20 ? " ...\n" : "\n", stderr);
    }
    if (sk->n_folders)
        fprintf(stderr, "gitc: %s: skipped %d subfolder%s (-r/--recursive enters them)\n", dir,
                sk->n_folders, sk->n_folders == 1 ? "" : "s");
}

/* Adds the image (or video) files of a folder, sorted by path. */
static int add_directory(cli_inputs *list, const char *dir, cli_input_kind kind)
{
    cli_inputs found = {0};
    skip_list skipped = {0};
    int rc = walk_directory(&found, &skipped, dir, kind, list->recursive, 0);
    if (rc == 0) report_skipped(dir, &skipped, kind);
    if (found.n) qsort(found.paths, (size_t)found.n, sizeof *found.paths, compare_names);
    for (int i = 0; rc == 0 && i < found.n; i++) rc = push_path(list, found.paths[i]);
    if (rc == 0 && found.n == 0)
        cli_error("%s: no %s files in this folder", dir,
                  kind == CLI_INPUT_VIDEOS ? "video" : "image");
    else if (rc == 0 && (found.n || skipped.names.n)) list->listed = 1;
    cli_inputs_free(&found);
    cli_inputs_free(&skipped.names);
    return rc;
}

int cli_inputs_several(const cli_inputs *list) { return list->n_args > 1 || list->listed; }

/* Adds the paths of a list (newline- or NUL-separated), folders expanded. */
static int add_path_list(cli_inputs *list, char *text, size_t len, cli_input_kind kind)
{
    char sep = list->null_separated ? '\0' : '\n';
    int rc = 0;
    list->listed = 1;
    for (size_t i = 0; rc == 0 && i < len;) {
        char *line = text + i;
        char *end = memchr(line, sep, len - i);
        size_t n = end ? (size_t)(end - line) : len - i;
        i += n + 1;
        line[n] = '\0';
        if (!list->null_separated)
            while (n > 0 && line[n - 1] == '\r') line[--n] = '\0';
        if (n == 0) continue;
        if (strlen(line) != n) {
            cli_error("stdin: a path holds a NUL byte (use -0/--null for find -print0 lists)");
            return -1;
        }
        if (tool_is_dir(line)) {
            rc = add_directory(list, line, kind);
        } else if (push_path(list, line)) {
            cli_error("out of memory");
            rc = -1;
        }
    }
    return rc;
}

/* Reads all of stdin without blocking forever (caller frees); -1 after a message. */
static int read_stdin(const cli_inputs *list, unsigned char **data, size_t *size)
{
    if (isatty(STDIN_FILENO)) {
        cli_error("stdin is a terminal: pipe an image or a list of paths into gitc "
                  "(find photos -name '*.jpg' | gitc caption -)");
        return -1;
    }
    /* stdin waits as long as its writer lives (as xargs does), unless --read-timeout. */
    gitc_error err = {0};
    if (cli_read_special("stdin", STDIN_FILENO, list->read_timeout, CLI_MAX_PIPE_BYTES, data,
                         size, &err)) {
        cli_error("%s", err.message);
        return -1;
    }
    return 0;
}

int cli_inputs_add(cli_inputs *list, const char *arg, cli_input_kind kind)
{
    list->n_args++;
    if (!strcmp(arg, "-")) {
        if (kind != CLI_INPUT_IMAGES) return cli_inputs_add_stdin(list, kind);
        unsigned char *data = NULL;
        size_t size = 0;
        if (read_stdin(list, &data, &size)) return -1;
        int rc = 0;
        if (sniff_image(data, size)) {
            if (list->stdin_image) {
                cli_error("-: stdin can be read once");
                rc = -1;
            } else if (push_path(list, CLI_STDIN_NAME)) {
                cli_error("out of memory");
                rc = -1;
            } else {
                list->stdin_image = data;
                list->stdin_image_size = size;
                return 0;
            }
        } else {
            rc = add_path_list(list, (char *)data, size, kind);
        }
        free(data);
        return rc;
    }
    if (tool_is_dir(arg)) return add_directory(list, arg, kind);
    if (push_path(list, arg)) {
        cli_error("out of memory");
        return -1;
    }
    return 0;
}

int cli_inputs_add_stdin(cli_inputs *list, cli_input_kind kind)
{
    unsigned char *data = NULL;
    size_t size = 0;
    if (read_stdin(list, &data, &size)) return -1;
    int rc = add_path_list(list, (char *)data, size, kind);
    free(data);
    return rc;
}

void cli_inputs_free(cli_inputs *list)
{
    for (int i = 0; i < list->n; i++) free(list->paths[i]);
    free(list->paths);
    free(list->stdin_image);
    memset(list, 0, sizeof *list);
}

gitc_status cli_load_image(const cli_inputs *in, const char *path, int exif_transpose,
                           double timeout_s, gitc_image *image, gitc_error *err)
{
    gitc_image_params ip = gitc_image_default_params();
    ip.exif_transpose = exif_transpose;
    if (!strcmp(path, CLI_STDIN_NAME) && in->stdin_image)
        return gitc_image_decode(in->stdin_image, in->stdin_image_size, "stdin", &ip, image, err);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        /* A pipe or FIFO: the library's file reader would wait on it for ever. */
        unsigned char *data = NULL;
        size_t size = 0;
        double t = timeout_s > 0 ? timeout_s : CLI_DEFAULT_READ_TIMEOUT;
        if (cli_read_special(path, -1, t, CLI_MAX_PIPE_BYTES, &data, &size, err))
            return err->status;
        gitc_status s = gitc_image_decode(data, size, path, &ip, image, err);
        free(data);
        return s;
    }
    return gitc_image_load(path, &ip, image, err);
}

int cli_read_special(const char *path, int fd, double timeout_s, size_t max_bytes,
                     unsigned char **data, size_t *size, gitc_error *err)
{
    *data = NULL;
    *size = 0;
    int own = fd < 0;
    /* O_NONBLOCK: opening a FIFO that has no writer does not wait. */
    if (own && (fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        snprintf(err->message, sizeof err->message, "%s: cannot open: %s", path,
                 strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? 0 : -1;
    if (!buf) snprintf(err->message, sizeof err->message, "%s: out of memory", path);
    /* The wait restarts with each piece of data: a slow writer is fine, a silent one is not. */
    double deadline = cli_now_ms() + timeout_s * 1e3;
    while (rc == 0) {
        struct pollfd p = {fd, POLLIN, 0};
        double left = deadline - cli_now_ms();
        int ready = timeout_s <= 0 ? poll(&p, 1, -1)
                    : left > 0     ? poll(&p, 1, (int)(left < 1e9 ? left : 1e9))
                                   : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            if (ready < 0)
                snprintf(err->message, sizeof err->message, "%s: cannot wait for data: %s", path,
                         strerror(errno));
            else
                snprintf(err->message, sizeof err->message,
                         "%s: no data for %g s (a pipe or FIFO nobody writes to?); "
                         "--read-timeout sets the wait", path, timeout_s);
            rc = -1;
            break;
        }
        if (len == cap) {
            size_t nc = cap * 2;
            unsigned char *q = nc > cap ? realloc(buf, nc) : NULL;
            if (!q) {
                snprintf(err->message, sizeof err->message, "%s: out of memory", path);
                rc = -1;
                break;
            }
            buf = q;
            cap = nc;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) {
            snprintf(err->message, sizeof err->message, "%s: read error: %s", path,
                     strerror(errno));
            rc = -1;
        } else if (n == 0) {
            break; /* end of the data */
        } else if ((deadline = cli_now_ms() + timeout_s * 1e3, len += (size_t)n) > max_bytes) {
            snprintf(err->message, sizeof err->message, "%s: more than %zu bytes", path,
                     max_bytes);
            rc = -1;
        }
    }
    if (own) close(fd);
    if (rc) {
        free(buf);
        err->status = GITC_ERR_IO;
        return -1;
    }
    *data = buf;
    *size = len;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Small text files                                                    */
/* ------------------------------------------------------------------ */

int cli_read_small_file(const char *path, size_t max_bytes, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) {
        cli_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max_bytes) {
        cli_error("%s: not a regular file of at most %zu bytes", path, max_bytes);
        fclose(f);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        cli_error("%s: %s", path, buf ? "read error" : "out of memory");
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}
