/* Test harness implementation. */
#include "check.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

int check_failures;
int check_count;
const char *check_root = ".";

void check_init(int argc, char **argv)
{
    if (argc > 1)
        check_root = argv[1];
}

int check_true(int cond, const char *fmt, ...)
{
    check_count++;
    if (!cond) {
        check_failures++;
        va_list ap;
        va_start(ap, fmt);
        fprintf(stdout, "FAIL: ");
        vfprintf(stdout, fmt, ap);
        fprintf(stdout, "\n");
        va_end(ap);
    }
    return cond;
}

int check_close(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double mx = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= mx)) { /* NaN counts as a maximum */
            mx = isnan(d) ? INFINITY : d;
            at = i;
        }
    }
    printf("%-60s max abs diff %.3g (tol %.3g)\n", what, mx, tol);
    return check_true(mx <= tol, "%s: max abs diff %.6g at %zu (got %.8g want %.8g) > %.3g", what,
                      mx, at, n ? got[at] : 0.0, n ? want[at] : 0.0, tol);
}

int check_close_f64(const char *what, const float *got, const double *want, size_t n, double tol)
{
    double mx = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= mx)) {
            mx = isnan(d) ? INFINITY : d;
            at = i;
        }
    }
    printf("%-60s max abs diff %.3g vs f64 (tol %.3g)\n", what, mx, tol);
    return check_true(mx <= tol, "%s: max abs diff %.6g at %zu (got %.8g want %.8g) > %.3g", what,
                      mx, at, n ? got[at] : 0.0, n ? want[at] : 0.0, tol);
}

int check_ids(const char *what, const int32_t *got, int n_got, const int32_t *want, int n_want)
{
    int n = n_got < n_want ? n_got : n_want;
    for (int i = 0; i < n; i++) {
        if (got[i] != want[i])
            return check_true(0, "%s: differs at %d: got %d want %d", what, i, got[i], want[i]);
    }
    if (n_got != n_want)
        return check_true(0, "%s: length %d, want %d", what, n_got, n_want);
    printf("%-60s %d ids identical\n", what, n);
    return check_true(1, "%s", what);
}

const char *check_path(const char *rel)
{
    static char bufs[8][4096];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", check_root, rel);
    return b;
}

int check_open_model(const char *dir, const gitc_model_params *mp, gitc_model **m, gitc_session **s)
{
    gitc_error err = {0};
    *m = NULL;
    *s = NULL;
    if (!check_true(gitc_model_load(dir, mp, m, &err) == GITC_OK, "load %s: %s", dir, err.message))
        return 0;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    if (!check_true(gitc_session_create(*m, &sp, s, &err) == GITC_OK, "session on %s: %s", dir, err.message)) {
        gitc_model_free(*m);
        *m = NULL;
        return 0;
    }
    return 1;
}

int check_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

char *check_read_file(const char *path, size_t *size)
{
    if (size)
        *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc(n > 0 ? (size_t)n + 1 : 1);
    size_t got = s && n > 0 ? fread(s, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!s)
        return NULL;
    s[got] = '\0';
    if (size)
        *size = got;
    return s;
}

int check_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

int check_copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    if (!f)
        return -1;
    fclose(f);
    size_t n = 0;
    char *data = check_read_file(from, &n);
    int rc = data ? check_write_file(to, data, n) : -1;
    free(data);
    return rc;
}

const char *check_gitc_bin(void)
{
    const char *bin = getenv("GITC_BIN");
    if (!check_true(bin && *bin, "GITC_BIN names the gitc binary"))
        return "gitc";
    return bin;
}

void check_run_show(int ok, const char *what, const check_run *r)
{
    if (!ok)
        printf("  [%s] exit %d%s\n  stdout: %s\n  stderr: %s\n", what, r->status, r->signal ? " (signal)" : "",
               r->out, r->err);
}

void check_run_free(check_run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* Monotonic seconds. */
static double run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void check_run_argv(check_run *r, const check_run_io *io, const char *const *argv)
{
    static const check_run_io none = {0};
    if (!io)
        io = &none;
    memset(r, 0, sizeof *r);
    /* stdin, stdout and stderr go through scratch files of this process. */
    const char *tmp = getenv("GITC_TMP");
    char in_path[4200], out_path[4200], err_path[4200];
    snprintf(in_path, sizeof in_path, "%s/check-run-%ld.in", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    snprintf(out_path, sizeof out_path, "%s/check-run-%ld.out", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    snprintf(err_path, sizeof err_path, "%s/check-run-%ld.err", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    size_t in_len = io->input ? (io->input_len ? io->input_len : strlen(io->input)) : 0;
    if (!io->input_pipe)
        check_write_file(in_path, io->input ? io->input : "", in_len);
    int fds[2] = {-1, -1};
    if (io->input_pipe && pipe(fds) != 0)
        fds[0] = fds[1] = -1;
    const char *polled = io->stdout_path ? io->stdout_path : out_path;
    if (io->signal_when)
        remove(polled); /* an earlier run's output must not trigger the signal */
    fflush(stdout);
    fflush(stderr);
    double t0 = run_now();
    pid_t pid = fork();
    if (pid == 0) {
        int in = io->input_pipe ? fds[0] : open(in_path, O_RDONLY);
        if (io->input_pipe)
            close(fds[1]);
        int out = open(io->stdout_path ? io->stdout_path : out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0)
            _exit(127);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        if (io->cwd && chdir(io->cwd) != 0)
            _exit(127);
        unsetenv("GITC_MODEL_DIR");
        unsetenv("HF_HUB_CACHE");
        unsetenv("HUGGINGFACE_HUB_CACHE");
        unsetenv("HF_HOME");
        for (int i = 0; io->env && io->env[i]; i++)
            putenv((char *)io->env[i]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (io->input_pipe) {
        /* A reader that stops early (an error) closes the pipe: no SIGPIPE for the test. */
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        close(fds[0]);
        size_t done = 0;
        while (pid > 0 && done < in_len) {
            ssize_t n = write(fds[1], io->input + done, in_len - done);
            if (n <= 0)
                break;
            done += (size_t)n;
        }
        close(fds[1]);
        signal(SIGPIPE, old);
    }
    int st = 0, sent = 0;
    pid_t w = -1;
    r->status = -1;
    /* With signal_when, poll the child's stdout every 2 ms until it shows the text. */
    while (pid > 0 && (w = waitpid(pid, &st, io->signal_when && !sent ? WNOHANG : 0)) == 0) {
        char *so = check_read_file(polled, NULL);
        if (so && strstr(so, io->signal_when)) {
            kill(pid, io->signal);
            sent = 1;
        }
        free(so);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    if (pid > 0 && w == pid) {
        if (WIFEXITED(st))
            r->status = WEXITSTATUS(st);
        else if (WIFSIGNALED(st))
            r->signal = WTERMSIG(st);
    }
    r->secs = run_now() - t0;
    r->out = io->stdout_path ? strdup("") : check_read_file(out_path, &r->out_len);
    r->err = check_read_file(err_path, NULL);
    if (!r->out)
        r->out = strdup("");
    if (!r->err)
        r->err = strdup("");
    remove(in_path);
    remove(out_path);
    remove(err_path);
    check_true(pid > 0, "fork %s", argv[0]);
    check_true(!strstr(r->err, "Sanitizer") && !strstr(r->err, "runtime error:"),
               "%s %s ran clean under the sanitizers: %s", argv[0], argv[1] ? argv[1] : "", r->err);
}

void check_run_gitc(check_run *r, const check_run_io *io, ...)
{
    const char *argv[64 + 2];
    int argc = 0;
    argv[argc++] = check_gitc_bin();
    va_list ap;
    va_start(ap, io);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 64 + 1)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    check_run_argv(r, io, argv);
}

/* Loads examples/<file> into *img (the test fails when it cannot). */
static int demo_load_image(const char *file, gitc_image *img)
{
    char rel[512];
    gitc_error err = {0};
    snprintf(rel, sizeof rel, "examples/%s", file);
    return check_true(gitc_image_load(check_path(rel), NULL, img, &err) == GITC_OK, "%s: %s", file, err.message);
}

void check_demo_run(const cJSON *examples, int videos, const gitc_model_params *mp, check_demo_fn fn, void *user)
{
    const char *rel = videos ? "models/git-shapes-video" : "models/git-shapes";
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    float *px = NULL;
    if (!check_open_model(check_path(rel), mp, &m, &s))
        return;
    if (mp)
        check_true(gitc_model_dtype(m) == mp->dtype, "%s loaded as %s", rel, gitc_dtype_name(gitc_model_dtype(m)));
    const gitc_processor *proc = gitc_model_processor(m);
    int h = 0, w = 0;
    gitc_processor_output_size(proc, &h, &w);
    size_t frame = (size_t)3 * h * w;
    px = malloc(CHECK_DEMO_MAX_FRAMES * frame * sizeof(float));
    if (!check_true(px && frame > 0, "%s: pixel buffer of %zu floats per frame", rel, frame))
        goto done;
    const cJSON *it;
    int k = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(examples, videos ? "videos" : "images"))
    {
        check_demo_input in = {.ref = it, .index = k++, .pixels = px};
        char clip[32];
        snprintf(clip, sizeof clip, "clip%d", in.index);
        int ok = 1;
        if (videos) {
            in.name = clip;
            const cJSON *f;
            cJSON_ArrayForEach(f, cJSON_GetObjectItem(it, "frames"))
            {
                if (in.n_frames < CHECK_DEMO_MAX_FRAMES)
                    ok = demo_load_image(f->valuestring, &in.frames[in.n_frames++]) && ok;
                else
                    ok = 0;
            }
            ok = check_true(ok && in.n_frames == CHECK_DEMO_MAX_FRAMES, "%s: %d frames loaded", clip, in.n_frames);
        } else {
            in.name = cJSON_GetObjectItem(it, "file")->valuestring;
            ok = demo_load_image(in.name, &in.frames[in.n_frames++]);
        }
        for (int i = 0; ok && i < in.n_frames; i++) {
            gitc_error err = {0};
            ok = check_true(gitc_processor_run(proc, &in.frames[i], px + (size_t)i * frame, frame, &err) == GITC_OK,
                            "%s: processor: %s", in.name, err.message);
        }
        in.n_pixels = (size_t)in.n_frames * frame;
        if (ok)
            fn(user, s, m, &in);
        for (int i = 0; i < in.n_frames; i++)
            gitc_image_free(&in.frames[i]);
    }
done:
    free(px);
    gitc_session_free(s);
    gitc_model_free(m);
}

cJSON *check_load_json(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    gitc_error err = {0};
    if (gitci_read_file(path, &text, &len, &err) != GITC_OK) {
        check_true(0, "cannot read %s: %s", path, err.message);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    check_true(j != NULL, "%s: malformed JSON", path);
    return j;
}

int check_json_ids(const cJSON *node, const char *key, int32_t *out, int max)
{
    const cJSON *a = key ? cJSON_GetObjectItemCaseSensitive(node, key) : node;
    if (!cJSON_IsArray(a))
        return -1;
    int n = 0;
    for (const cJSON *it = a->child; it && n < max; it = it->next)
        out[n++] = (int32_t)it->valuedouble;
    return n;
}

st_file *check_open_st(const char *path)
{
    st_file *f = NULL;
    gitc_error err = {0};
    if (gitci_st_open(path, &f, &err) != GITC_OK)
        check_true(0, "cannot open %s: %s", path, err.message);
    return f;
}

float *check_tensor_f32(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = f ? gitci_st_find(f, name) : NULL;
    if (!check_true(t != NULL, "reference tensor %s missing", name))
        return NULL;
    float *out = malloc((size_t)t->numel * sizeof(float) + 1);
    gitc_error err = {0};
    if (gitci_st_to_f32(f, t, out, &err) != GITC_OK) {
        check_true(0, "%s", err.message);
        free(out);
        return NULL;
    }
    if (n)
        *n = (size_t)t->numel;
    return out;
}

double *check_tensor_f64(const st_file *f, const char *name, size_t *n)
{
    const st_tensor *t = f ? gitci_st_find(f, name) : NULL;
    if (!check_true(t != NULL && t->dtype == ST_F64, "reference tensor %s missing or not F64", name))
        return NULL;
    double *out = malloc(t->nbytes + 1);
    memcpy(out, t->data, t->nbytes);
    if (n)
        *n = (size_t)t->numel;
    return out;
}
