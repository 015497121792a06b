/* The gitc command line as scripts use it (issue 11): write errors, folders,
 * stdin lists and pipes, finish reasons, settings checked once, questions,
 * model kinds, EXIF, seeds, thread caps and the help texts. Runs the built
 * binary ($GITC_BIN) on the embedded shapes models; the expected texts come
 * from tests/data/cli/examples.json (transformers 4.39.3, max_length 30).
 * Scratch files go to $GITC_TMP/cli_scripts. */
#include "check.h"
#include "gitc.h"
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 64

static const char *gitc_bin;
static char tmp_dir[2048];
static cJSON *examples;

static char *tmp_path(const char *name)
{
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", tmp_dir, name);
    return p;
}

/* Prints one line per group of checks. */
static int report(const char *what, int ok, const check_run *r)
{
    if (r) check_run_show(ok, what, r);
    printf("%-66s %s\n", what, ok ? "ok" : "FAILED");
    return ok;
}

/* Occurrences of `needle` in `s`. */
static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

/* ------------------------------------------------------------------ */
/* Reference data                                                      */
/* ------------------------------------------------------------------ */

static const char *ref_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The i-th demo image's reference entry and path. */
static const cJSON *image_ref(int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(examples, "images"), i);
}

static const char *image_path(int i)
{
    static char paths[16][4096];
    snprintf(paths[i], sizeof paths[i], "%s/examples/%s", check_root,
             ref_string(image_ref(i), "file"));
    return paths[i];
}

static const char *greedy(int i) { return ref_string(image_ref(i), "greedy_text"); }

/* Absolute form of a path under the repository (for runs in another folder). */
static const char *abs_path(const char *p)
{
    static char buf[4][4096];
    static int k;
    char *b = buf[k++ & 3];
    if (p[0] == '/') {
        snprintf(b, sizeof buf[0], "%s", p);
    } else {
        char cwd[2048];
        snprintf(b, sizeof buf[0], "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : ".", p);
    }
    return b;
}

static int parse_json_lines(const char *out, cJSON **objs, int max)
{
    int n = 0;
    const char *line = out;
    while (*line && n < max) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 0) {
            cJSON *o = cJSON_ParseWithLength(line, len);
            if (!check_true(cJSON_IsObject(o), "JSON line %d parses: %.*s", n + 1, (int)len,
                            line)) {
                cJSON_Delete(o);
                return n;
            }
            objs[n++] = o;
        }
        line = end ? end + 1 : line + len;
    }
    return n;
}

static void free_lines(cJSON **objs, int n)
{
    for (int i = 0; i < n; i++) cJSON_Delete(objs[i]);
}

static void copy_file(const char *from, const char *to)
{
    size_t n = 0;
    char *data = check_read_file(from, &n);
    check_true(check_write_file(to, data, n) == 0, "copy %s to %s", from, to);
    free(data);
}

static void make_dir(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

/* ------------------------------------------------------------------ */
/* 1. Write errors                                                     */
/* ------------------------------------------------------------------ */

static void test_write_errors(void)
{
    if (access("/dev/full", W_OK) != 0) {
        printf("%-66s skipped (no /dev/full)\n", "write errors");
        return;
    }
    check_run_io full = {.stdout_path = "/dev/full"};
    check_run r;
    check_run_gitc(&r, &full, "caption", "--json", image_path(0), image_path(1), NULL);
    int ok = check_true(r.status == 1 && strstr(r.err, "stdout"),
                        "caption --json > /dev/full: exit %d (want 1) with a message", r.status);
    report("1. caption --json > /dev/full: exit 1, message", ok, &r);
    check_run_free(&r);
    check_run_gitc(&r, &full, "tokenize", "a red circle", NULL);
    ok = check_true(r.status == 1 && strstr(r.err, "stdout"), "tokenize > /dev/full: exit %d",
                    r.status);
    report("1. tokenize > /dev/full: exit 1, message", ok, &r);
    check_run_free(&r);
    check_run_gitc(&r, &full, "--help", NULL);
    ok = check_true(r.status == 1, "gitc --help > /dev/full: exit %d", r.status);
    report("1. gitc --help > /dev/full: exit 1", ok, &r);
    check_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 2. Folders                                                          */
/* ------------------------------------------------------------------ */

static void test_folders(void)
{
    char dir[4200], sub[4300], path[4400];
    snprintf(dir, sizeof dir, "%s", tmp_path("folder"));
    snprintf(sub, sizeof sub, "%s/sub", dir);
    make_dir(sub);
    snprintf(path, sizeof path, "%s/a.png", dir);
    copy_file(image_path(2), path);
    snprintf(path, sizeof path, "%s/c.jfif", dir); /* a JPEG under its other name */
    copy_file(image_path(1), path);
    snprintf(path, sizeof path, "%s/d.tif", dir); /* an image the library cannot read */
    check_write_file(path, "II*\0garbage that is no TIFF", 27);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    check_write_file(path, "not an image\n", 13);
    snprintf(path, sizeof path, "%s/e.png", sub);
    copy_file(image_path(3), path);

    check_run r;
    check_run_gitc(&r, NULL, "caption", "--json", dir, NULL);
    cJSON *lines[8];
    int n = parse_json_lines(r.out, lines, 8);
    int ok = check_true(r.status == 1 && n == 3, "folder: exit %d, %d records (want 1, 3)",
                        r.status, n);
    if (n == 3) {
        ok &= check_true(strstr(ref_string(lines[0], "file"), "a.png") &&
                             !strcmp(ref_string(lines[0], "text"), greedy(2)),
                         "a.png captioned");
        ok &= check_true(strstr(ref_string(lines[1], "file"), "c.jfif") &&
                             !strcmp(ref_string(lines[1], "text"), greedy(1)),
                         ".jfif is captioned (not dropped)");
        ok &= check_true(strstr(ref_string(lines[2], "file"), "d.tif") &&
                             cJSON_IsString(cJSON_GetObjectItemCaseSensitive(lines[2], "error")),
                         "an unreadable .tif gets a record with an error");
    }
    ok &= check_true(strstr(r.err, "notes.txt") && strstr(r.err, "skipped") &&
                         strstr(r.err, "subfolder"),
                     "stderr lists the skipped file and subfolder");
    report("2. folder: .jfif captioned, .tif error record, skips listed", ok, &r);
    free_lines(lines, n);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "caption", "-r", "--json", dir, NULL);
    n = parse_json_lines(r.out, lines, 8);
    ok = check_true(n == 4 && strstr(ref_string(lines[3], "file"), "sub/e.png") &&
                        !strcmp(ref_string(lines[3], "text"), greedy(3)),
                    "-r: the subfolder's image is the 4th record");
    report("2. -r/--recursive walks subfolders", ok, &r);
    free_lines(lines, n);
    check_run_free(&r);

    /* One image found in a folder: the output still names it. */
    char one[4200];
    snprintf(one, sizeof one, "%s", tmp_path("folder-one"));
    make_dir(one);
    snprintf(path, sizeof path, "%s/only.png", one);
    copy_file(image_path(0), path);
    check_run_gitc(&r, NULL, "caption", one, NULL);
    char want[8400];
    snprintf(want, sizeof want, "%s: %s\n", path, greedy(0));
    ok = check_true(r.status == 0 && !strcmp(r.out, want), "folder of one image: \"%s\"", r.out);
    report("2. a folder of one image keeps the FILE: prefix", ok, &r);
    check_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 3. Finish reasons and the length of answers                         */
/* ------------------------------------------------------------------ */

static void test_finish_reason(void)
{
    check_run r;
    check_run_gitc(&r, NULL, "caption", "--json", image_path(0), NULL);
    cJSON *line = NULL;
    int n = parse_json_lines(r.out, &line, 1);
    int ok = check_true(n == 1 && !strcmp(ref_string(line, "finish_reason"), "stop"),
                        "a full caption: finish_reason stop");
    free_lines(&line, n);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "caption", "--json", "--max-new-tokens", "2", image_path(0), NULL);
    n = parse_json_lines(r.out, &line, 1);
    ok &= check_true(n == 1 && !strcmp(ref_string(line, "finish_reason"), "length"),
                     "2 new tokens: finish_reason length");
    free_lines(&line, n);
    report("3. --json finish_reason stop / length", ok, &r);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "caption", "--max-new-tokens", "2", image_path(0), NULL);
    ok = check_true(r.status == 0 && strstr(r.err, "cut") && strstr(r.out, "a large"),
                    "cut text: printed, with a warning on stderr");
    report("3. a cut caption warns on stderr", ok, &r);
    check_run_free(&r);

    /* A long question: the answer still gets its room (before: 1 token, "length"). */
    const char *q = "what color is the background of this picture with one shape in the "
                    "middle of it and nothing else at all around it?";
    check_run_gitc(&r, NULL, "ask", "--json", image_path(0), q, NULL);
    n = parse_json_lines(r.out, &line, 1);
    ok = check_true(r.status == 0 && n == 1 &&
                        !strcmp(ref_string(line, "finish_reason"), "stop") &&
                        ref_string(line, "answer")[0],
                    "ask with a %zu-byte question: finish_reason stop", strlen(q));
    free_lines(&line, n);
    report("3. ask leaves room for the answer after a long question", ok, &r);
    check_run_free(&r);

    /* The library reports it too. */
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    gitc_image img = {0};
    gitc_error err = {0};
    gitc_texts t = {0};
    ok = gitc_model_load(check_path("models/git-shapes"), NULL, &m, &err) == GITC_OK &&
         gitc_session_create(m, NULL, &s, &err) == GITC_OK &&
         gitc_image_load(image_path(0), NULL, &img, &err) == GITC_OK;
    gitc_generate_params p = gitc_model_generate_params(m);
    p.max_length = 30;
    ok = ok && gitc_describe(s, &img, 1, NULL, &p, &t, &err) == GITC_OK;
    ok = check_true(ok && t.n == 1 && t.stopped && t.stopped[0] == 1,
                    "gitc_describe: stopped[0] = 1 for a full caption (%s)", err.message);
    gitc_texts_free(&t);
    p.max_length = 3;
    ok &= check_true(gitc_describe(s, &img, 1, NULL, &p, &t, &err) == GITC_OK && t.stopped &&
                         t.stopped[0] == 0,
                     "gitc_describe: stopped[0] = 0 when max_length cuts it");
    gitc_texts_free(&t);
    check_true(t.stopped == NULL && t.n == 0, "gitc_texts_free zeroes the struct");
    report("3. gitc_texts.stopped", ok, NULL);
    gitc_image_free(&img);
    gitc_session_free(s);
    gitc_model_free(m);
}

/* ------------------------------------------------------------------ */
/* 4. NUL-separated lists                                              */
/* ------------------------------------------------------------------ */

static void test_null_list(void)
{
    char list[8192];
    size_t a = strlen(image_path(4)), b = strlen(image_path(5));
    memcpy(list, image_path(4), a + 1);
    memcpy(list + a + 1, image_path(5), b + 1);
    check_run_io io = {.input = list, .input_len = a + b + 2};
    check_run r;
    check_run_gitc(&r, &io, "caption", "-0", "--stdin", NULL);
    char want[9000];
    snprintf(want, sizeof want, "%s: %s\n%s: %s\n", image_path(4), greedy(4), image_path(5),
             greedy(5));
    int ok = check_true(r.status == 0 && !strcmp(r.out, want), "-0 --stdin: two captions");
    report("4. find -print0 | gitc caption -0 --stdin", ok, &r);
    check_run_free(&r);
    check_run_gitc(&r, &io, "caption", "--null", "-", NULL);
    ok = check_true(r.status == 0 && !strcmp(r.out, want), "--null -: two captions");
    report("4. --null with -", ok, &r);
    check_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 5. Settings errors: once, exit 2, before any input                  */
/* ------------------------------------------------------------------ */

/* Symlinks some files of models/git-shapes into dir. */
static void link_model(const char *dir, const char *const *files)
{
    make_dir(dir);
    for (int i = 0; files[i]; i++) {
        char src[4096], dst[4400];
        snprintf(src, sizeof src, "%s", abs_path(check_path("models/git-shapes")));
        size_t n = strlen(src);
        snprintf(src + n, sizeof src - n, "/%s", files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        unlink(dst);
        check_true(symlink(src, dst) == 0, "link %s", dst);
    }
}

static void test_settings_once(void)
{
    static const char *const cases[][3] = {
        {"--beams", "100", NULL},
        {"--sample", "--beams", "3"},
        {"--max-new-tokens", "600", NULL},
    };
    int good = 0, n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        const char *argv[MAX_ARGS] = {gitc_bin, "caption"};
        int argc = 2;
        for (int k = 0; k < 3 && cases[i][k]; k++) argv[argc++] = cases[i][k];
        argv[argc++] = image_path(0);
        argv[argc++] = image_path(1);
        argv[argc] = NULL;
        check_run r;
        check_run_argv(&r, NULL, argv);
        int ok = check_true(r.status == 2 && count_of(r.err, "gitc:") == 1 && !r.out[0],
                            "caption %s %s: exit %d (want 2), one message, no output",
                            cases[i][0], cases[i][1], r.status);
        check_run_show(ok, cases[i][0], &r);
        good += ok;
        check_run_free(&r);
    }
    check_run r;
    check_run_gitc(&r, NULL, "ask", image_path(0), image_path(1), "--question", "bad \xff byte", NULL);
    good += check_true(r.status == 2 && count_of(r.err, "gitc:") == 1 && strstr(r.err, "UTF-8"),
                       "a non-UTF-8 question: exit %d (want 2), one message", r.status);
    check_run_show(r.status == 2, "non-UTF-8", &r);
    check_run_free(&r);

    static const char *const no_tok[] = {"config.json", "generation_config.json",
                                         "model.safetensors", "preprocessor_config.json", NULL};
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", tmp_path("model-no-tokenizer"));
    link_model(dir, no_tok);
    check_run_gitc(&r, NULL, "caption", "-m", dir, image_path(0), image_path(1), NULL);
    good += check_true(r.status == 2 && count_of(r.err, "gitc:") == 1 &&
                           strstr(r.err, "tokenizer"),
                       "a model without a tokenizer: exit %d (want 2), one message", r.status);
    check_run_show(r.status == 2, "no tokenizer", &r);
    check_run_free(&r);
    report("5. settings errors: one message, exit 2", good == n + 2, NULL);

    /* The library's check is the CLI's. */
    gitc_generate_params p = gitc_generate_default_params();
    gitc_error err = {0};
    int ok = check_true(gitc_generate_params_check(&p, 0, NULL, &err) == GITC_OK,
                        "defaults pass: %s", err.message);
    p.num_beams = GITC_MAX_BEAMS;
    ok &= check_true(gitc_generate_params_check(&p, 0, NULL, &err) == GITC_OK,
                     "%d beams pass", GITC_MAX_BEAMS);
    p.num_beams = GITC_MAX_BEAMS + 1;
    ok &= check_true(gitc_generate_params_check(&p, 0, NULL, &err) == GITC_ERR_ARGUMENT &&
                         strstr(err.message, "num_beams"),
                     "%d beams fail: %s", GITC_MAX_BEAMS + 1, err.message);
    p = gitc_generate_default_params();
    p.num_beams = 3;
    p.do_sample = 1;
    ok &= check_true(gitc_generate_params_check(&p, 0, NULL, &err) != GITC_OK,
                     "beam sampling fails: %s", err.message);
    gitc_model *m = NULL;
    if (gitc_model_load(check_path("models/git-shapes"), NULL, &m, &err) == GITC_OK) {
        p = gitc_generate_default_params();
        p.max_new_tokens = 20;
        int max_pos = gitc_model_config(m)->max_position_embeddings;
        ok &= check_true(gitc_generate_params_check(&p, max_pos - 20, m, &err) == GITC_OK,
                         "prompt + new tokens = max_position_embeddings passes: %s",
                         err.message);
        ok &= check_true(gitc_generate_params_check(&p, max_pos - 19, m, &err) != GITC_OK,
                         "one more prompt token fails");
        p.max_length = max_pos + 1;
        p.max_new_tokens = 0;
        ok &= check_true(gitc_generate_params_check(&p, 0, m, &err) != GITC_OK,
                         "max_length beyond the positions fails");
    }
    gitc_model_free(m);
    report("5. gitc_generate_params_check limits", ok, NULL);
}

/* ------------------------------------------------------------------ */
/* 6. Positional questions, options and file names                     */
/* ------------------------------------------------------------------ */

static void test_arguments(void)
{
    check_run r;
    check_run_gitc(&r, NULL, "ask", image_path(0), image_path(1), NULL);
    int ok = check_true(r.status == 2 && strstr(r.err, "--question") && !r.out[0],
                        "ask IMG IMG: exit %d (want 2), points to --question", r.status);
    report("6. ask a.png b.png is an error, not a question 'b.png'", ok, &r);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "ask", "--json", "--question", "what color is the background?",
             image_path(0), image_path(1), NULL);
    cJSON *lines[2];
    int n = parse_json_lines(r.out, lines, 2);
    ok = check_true(r.status == 0 && n == 2, "ask --question Q IMG IMG: exit %d, %d answers",
                    r.status, n);
    for (int i = 0; i < n; i++)
        ok &= check_true(!strcmp(ref_string(lines[i], "answer"),
                                 ref_string(image_ref(i), "vqa_answer")),
                         "answer %d = vqa_answer", i);
    free_lines(lines, n);
    report("6. ask --question Q IMAGE IMAGE", ok, &r);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "caption", "-dash.png", NULL);
    ok = check_true(r.status == 2 && strstr(r.err, "'-d'") && !strstr(r.err, "'caption'"),
                    "caption -dash.png: the message names -d: %s", r.err);
    report("6. caption -dash.png names the option '-d'", ok, &r);
    check_run_free(&r);

    char dash[4200];
    snprintf(dash, sizeof dash, "%s/-dash.png", tmp_dir);
    copy_file(image_path(0), dash);
    check_run_io io = {.cwd = tmp_dir};
    check_run_gitc(&r, &io, "caption", "-m", abs_path(check_path("models/git-shapes")), "--",
             "-dash.png", NULL);
    char want[512];
    snprintf(want, sizeof want, "%s\n", greedy(0));
    ok = check_true(r.status == 0 && !strcmp(r.out, want), "caption -- -dash.png: \"%s\"",
                    r.out);
    report("6. -- ends the options", ok, &r);
    check_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 7. The wrong kind of model                                          */
/* ------------------------------------------------------------------ */

static void test_model_kind(void)
{
    check_run r;
    check_run_gitc(&r, NULL, "video", "-m", check_path("models/git-shapes"),
             check_path("examples/moving_square_h264.mp4"), NULL);
    int ok = check_true(r.status == 2 && strstr(r.err, "gitc caption") && !r.out[0],
                        "video -m IMAGE_MODEL: exit %d (want 2), says gitc caption", r.status);
    report("7. video with an image model: one message, exit 2", ok, &r);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "caption", "-m", check_path("models/git-shapes-video"), image_path(0),
             image_path(1), NULL);
    ok = check_true(r.status == 2 && strstr(r.err, "gitc video") &&
                        count_of(r.err, "gitc:") == 1,
                    "caption -m VIDEO_MODEL: exit %d (want 2), says gitc video, once",
                    r.status);
    report("7. caption with a video model: one message, exit 2", ok, &r);
    check_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 8. Pipes and special files                                          */
/* ------------------------------------------------------------------ */

static void test_pipes(void)
{
    size_t size = 0;
    char *png = check_read_file(image_path(0), &size);
    char want[512];
    snprintf(want, sizeof want, "%s\n", greedy(0));
    check_run_io pipe_in = {.input = png, .input_len = size, .input_pipe = 1};
    check_run r;
    check_run_gitc(&r, &pipe_in, "caption", "-", NULL);
    int ok = check_true(r.status == 0 && !strcmp(r.out, want), "cat IMG | caption -: \"%s\"",
                        r.out);
    report("8. cat image | gitc caption -", ok, &r);
    check_run_free(&r);
    check_run_gitc(&r, &pipe_in, "caption", "/dev/stdin", NULL);
    ok = check_true(r.status == 0 && !strcmp(r.out, want), "cat IMG | caption /dev/stdin");
    report("8. cat image | gitc caption /dev/stdin", ok, &r);
    check_run_free(&r);
    char px_out[4200];
    snprintf(px_out, sizeof px_out, "%s", tmp_path("stdin-pixels.safetensors"));
    unlink(px_out);
    check_run_gitc(&r, &pipe_in, "preprocess", "-o", px_out, "-", NULL);
    ok = check_true(r.status == 0 && access(px_out, F_OK) == 0,
                    "cat IMG | preprocess -o OUT -: exit %d", r.status);
    report("8. cat image | gitc preprocess -o OUT -", ok, &r);
    check_run_free(&r);
    check_run_io file_in = {.input = png, .input_len = size};
    check_run_gitc(&r, &file_in, "caption", "/dev/stdin", NULL);
    ok = check_true(r.status == 0 && !strcmp(r.out, want), "caption /dev/stdin < IMG");
    report("8. gitc caption /dev/stdin < image", ok, &r);
    check_run_free(&r);
    free(png);

    char fifo[4200];
    snprintf(fifo, sizeof fifo, "%s", tmp_path("nowriter.fifo"));
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) {
        printf("%-66s skipped (mkfifo: %s)\n", "8. FIFO", strerror(errno));
        return;
    }
    check_run_gitc(&r, NULL, "caption", "--read-timeout", "1", fifo, image_path(1), NULL);
    ok = check_true(r.status == 1 && r.secs < 30 && strstr(r.err, "nowriter.fifo") &&
                        strstr(r.out, greedy(1)),
                    "a FIFO without a writer: exit %d after %.1f s, the next image captioned",
                    r.status, r.secs);
    report("8. a FIFO nobody writes to: an error, not a hang", ok, &r);
    check_run_free(&r);
    unlink(fifo);
}

/* ------------------------------------------------------------------ */
/* 9. synth keeps existing folders                                      */
/* ------------------------------------------------------------------ */

static void test_synth_force(void)
{
    char dir[4200], marker[4300];
    snprintf(dir, sizeof dir, "%s", tmp_path("synth-existing"));
    make_dir(dir);
    snprintf(marker, sizeof marker, "%s/keep.txt", dir);
    check_write_file(marker, "mine\n", 5);
    const char *config = check_path("tests/data/tiny/tiny/config.json");
    char cfg_out[4300], weights[4300];
    snprintf(cfg_out, sizeof cfg_out, "%s/config.json", dir);
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    unlink(cfg_out); /* from an earlier run */
    unlink(weights);
    check_run r;
    check_run_gitc(&r, NULL, "synth", "--config", config, "--out", dir, NULL);
    int ok = check_true(r.status == 2 && strstr(r.err, "--force") && access(cfg_out, F_OK) != 0,
                        "synth --out NON-EMPTY: exit %d (want 2), nothing written", r.status);
    report("9. synth refuses a non-empty folder", ok, &r);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "synth", "--config", config, "--out", dir, "--force", NULL);
    ok = check_true(r.status == 0 && access(cfg_out, F_OK) == 0, "synth --force: exit %d",
                    r.status);
    report("9. synth --force writes it", ok, &r);
    check_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 10. Threads beyond the CPUs                                          */
/* ------------------------------------------------------------------ */

static void test_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    char n[32];
    snprintf(n, sizeof n, "%ld", (cpus > 0 ? cpus : 1) * 4);
    check_run r;
    check_run_gitc(&r, NULL, "caption", "--threads", n, image_path(0), NULL);
    char want[512];
    snprintf(want, sizeof want, "%s\n", greedy(0));
    int ok = check_true(r.status == 0 && !strcmp(r.out, want) && strstr(r.err, "warning") &&
                            strstr(r.err, "CPU"),
                        "--threads %s on %ld CPUs: a warning, the same caption", n, cpus);
    report("10. --threads above the CPUs warns and caps", ok, &r);
    check_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 11. Video questions and prompts                                      */
/* ------------------------------------------------------------------ */

static void test_questions_prompts(void)
{
    const char *clip = check_path("examples/moving_square_h264.mp4");
    check_run r;
    check_run_gitc(&r, NULL, "video", "--json", clip, "what is moving?", NULL);
    cJSON *line = NULL;
    int n = parse_json_lines(r.out, &line, 1);
    int ok = check_true(r.status == 0 && n == 1 &&
                            !strcmp(ref_string(line, "question"), "what is moving?") &&
                            ref_string(line, "answer")[0],
                        "video CLIP QUESTION: exit %d, an answer", r.status);
    free_lines(&line, n);
    report("11. gitc video CLIP \"question\"", ok, &r);
    check_run_free(&r);

    /* The library's answer for the same frames and question. */
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    gitc_error err = {0};
    gitc_image frames[4] = {{0}};
    gitc_texts t = {0};
    int lib_ok = gitc_model_load(check_path("models/git-shapes-video"), NULL, &m, &err) == GITC_OK &&
                 gitc_session_create(m, NULL, &s, &err) == GITC_OK &&
                 gitc_video_load(clip, 4, NULL, frames, NULL, &err) == GITC_OK;
    gitc_generate_params p = gitc_model_generate_params(m);
    p.max_length = 30;
    p.max_new_tokens = 29; /* the CLI's default room for an answer */
    lib_ok = lib_ok && gitc_describe(s, frames, 4, "what is moving?", &p, &t, &err) == GITC_OK;
    check_run_gitc(&r, NULL, "video", "--question", "what is moving?", clip, NULL);
    char want[512];
    snprintf(want, sizeof want, "%s\n", lib_ok && t.n ? t.texts[0] : "?");
    ok = check_true(lib_ok && r.status == 0 && !strcmp(r.out, want),
                    "video --question: \"%s\", library \"%s\"", r.out, want);
    report("11. video --question equals gitc_describe with the question", ok, &r);
    check_run_free(&r);
    gitc_texts_free(&t);
    for (int i = 0; i < 4; i++) gitc_image_free(&frames[i]);
    gitc_session_free(s);
    gitc_model_free(m);

    /* Greedy decoding continued from its own first two words gives the rest. */
    const char *full = greedy(0);
    const char *second_space = strchr(strchr(full, ' ') + 1, ' ');
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(second_space - full), full);
    check_run_gitc(&r, NULL, "caption", "--json", "--prompt", prefix, image_path(0), NULL);
    n = parse_json_lines(r.out, &line, 1);
    ok = check_true(r.status == 0 && n == 1 && !strcmp(ref_string(line, "prompt"), prefix) &&
                        !strcmp(ref_string(line, "text"), second_space + 1),
                    "caption --prompt \"%s\": \"%s\", want \"%s\"", prefix,
                    n ? ref_string(line, "text") : "", second_space + 1);
    free_lines(&line, n);
    report("11. caption --prompt continues the prefix", ok, &r);
    check_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 12. EXIF orientation                                                 */
/* ------------------------------------------------------------------ */

/* pixel_values of a preprocess output (malloc'd), n floats. */
static float *read_pixels(const char *path, size_t *n)
{
    st_file *f = NULL;
    gitc_error err = {0};
    float *px = NULL;
    if (gitci_st_open(path, &f, &err) == GITC_OK) {
        const st_tensor *t = gitci_st_find(f, "pixel_values");
        if (t && t->dtype == ST_F32) {
            *n = (size_t)t->numel;
            px = malloc(*n * sizeof *px);
            memcpy(px, t->data, *n * sizeof *px);
        }
    }
    gitci_st_close(f);
    return px;
}

static void test_exif(void)
{
    const char *img = check_path("tests/data/images/inputs/exif_orient6_320x200.jpg");
    char out1[4200], out2[4200];
    snprintf(out1, sizeof out1, "%s", tmp_path("exif-default.safetensors"));
    snprintf(out2, sizeof out2, "%s", tmp_path("exif-off.safetensors"));
    check_run r;
    check_run_gitc(&r, NULL, "preprocess", "--out", out1, img, NULL);
    check_true(r.status == 0, "preprocess EXIF image: exit %d", r.status);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "preprocess", "--no-exif", "--out", out2, img, NULL);
    check_true(r.status == 0, "preprocess --no-exif: exit %d", r.status);
    check_run_free(&r);
    size_t n1 = 0, n2 = 0;
    float *got_on = read_pixels(out1, &n1), *got_off = read_pixels(out2, &n2);
    gitc_processor *proc = NULL;
    gitc_error err = {0};
    size_t per = (size_t)3 * 224 * 224;
    int ok = check_true(got_on && got_off && n1 == per && n2 == per, "both outputs [1,3,224,224]");
    if (ok && gitc_processor_load(check_path("models/git-shapes"), &proc, &err) == GITC_OK) {
        float *want = malloc(per * sizeof *want);
        for (int exif = 0; exif <= 1; exif++) {
            gitc_image_params ip = gitc_image_default_params();
            ip.exif_transpose = exif;
            gitc_image im = {0};
            ok &= check_true(gitc_image_load(img, &ip, &im, &err) == GITC_OK &&
                                 gitc_processor_run(proc, &im, want, per, &err) == GITC_OK,
                             "library processor: %s", err.message);
            ok &= check_close(exif ? "preprocess (default) vs exif_transpose = 1"
                                   : "preprocess --no-exif vs exif_transpose = 0",
                              exif ? got_on : got_off, want, per, 0.0);
            gitc_image_free(&im);
        }
        free(want);
        ok &= check_true(memcmp(got_on, got_off, per * sizeof(float)) != 0,
                         "the two orientations differ");
    }
    gitc_processor_free(proc);
    free(got_on);
    free(got_off);
    report("12. CLI applies EXIF orientation by default, --no-exif turns it off", ok, NULL);
}

/* ------------------------------------------------------------------ */
/* 14. Sampling seeds                                                   */
/* ------------------------------------------------------------------ */

static void test_sampling(void)
{
    check_run r;
    check_run_gitc(&r, NULL, "caption", "--json", "--sample", image_path(0), NULL);
    cJSON *line = NULL;
    int n = parse_json_lines(r.out, &line, 1);
    const cJSON *seed = n ? cJSON_GetObjectItemCaseSensitive(line, "seed") : NULL;
    int ok = check_true(r.status == 0 && cJSON_IsNumber(seed), "--sample --json has a seed");
    char seed_text[64] = "0", text[512] = "";
    if (cJSON_IsNumber(seed)) snprintf(seed_text, sizeof seed_text, "%.0f", seed->valuedouble);
    snprintf(text, sizeof text, "%s", n ? ref_string(line, "text") : "");
    free_lines(&line, n);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "caption", "--json", "--sample", "--seed", seed_text, image_path(0), NULL);
    n = parse_json_lines(r.out, &line, 1);
    ok &= check_true(n == 1 && !strcmp(ref_string(line, "text"), text),
                     "the reported seed %s repeats the text \"%s\"", seed_text, text);
    free_lines(&line, n);
    report("14. --sample without --seed reports its seed (JSON seed)", ok, &r);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "caption", "--sample", image_path(0), NULL);
    ok = check_true(r.status == 0 && strstr(r.err, "--seed"), "text mode: the seed on stderr");
    report("14. text mode names the seed on stderr", ok, &r);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "caption", "--temperature", "0.5", "--top-k", "3", image_path(0), NULL);
    ok = check_true(r.status == 0 && strstr(r.err, "--temperature") &&
                        strstr(r.err, "--top-k") && strstr(r.err, "no effect"),
                    "--temperature/--top-k without --sample warn");
    report("14. sampling settings without --sample warn", ok, &r);
    check_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* 16, 21. Help and messages                                            */
/* ------------------------------------------------------------------ */

static void test_messages(void)
{
    check_run r;
    /* tokenize --json | detokenize, as the help promises. */
    check_run_gitc(&r, NULL, "tokenize", "--json", greedy(0), NULL);
    char *json = strdup(r.out);
    check_run_free(&r);
    check_run_io io = {.input = json};
    check_run_gitc(&r, &io, "detokenize", NULL);
    char want[512];
    snprintf(want, sizeof want, "%s\n", greedy(0));
    int ok = check_true(r.status == 0 && !strcmp(r.out, want), "tokenize --json | detokenize: %s",
                        r.out);
    report("16. tokenize --json | detokenize", ok, &r);
    check_run_free(&r);
    free(json);

    check_run_gitc(&r, NULL, "synth", "--help", NULL);
    ok = check_true(r.status == 0 && !strstr(r.out, "SYNTHETIC_WEIGHTS.md") &&
                        strstr(r.out, "tools/synth.c") && access(check_path("tools/synth.c"), F_OK) == 0,
                    "synth --help names files of the repository");
    report("16. synth --help names a file that exists", ok, &r);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "forward", "--help", NULL);
    ok = check_true(r.status == 0 && strstr(r.out, "[B,F,3,S,S]") && strstr(r.out, "[B,I,Dv]") &&
                        !strstr(r.out, "[B,N] I64"),
                    "forward --help: consistent shape letters");
    report("16. forward --help shapes", ok, &r);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "video", "--frames", check_path("examples/clip0_frame0.png"), NULL);
    ok = check_true(r.status == 2 && strstr(r.err, "4 frames") && !strstr(r.err, "1 frames"),
                    "video --frames with one frame: %s", r.err);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "video", "--frames", "-m", check_path("models/git-shapes"),
             check_path("examples/clip0_frame0.png"), NULL);
    ok &= check_true(r.status == 2 && !strstr(r.err, "1 frames"),
                     "video --frames -m IMAGE_MODEL: exit %d (want 2): %s", r.status, r.err);
    report("16. frame counts in messages", ok, &r);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "bench", "-m", check_path("models/git-shapes"), "--runs", "1",
             "--threads", "1", NULL);
    ok = check_true(r.status == 0 && !strstr(r.out, "1 runs"), "bench --runs 1: %s", r.out);
    report("16. bench --runs 1 says one run", ok, &r);
    check_run_free(&r);

    char bad[4200];
    snprintf(bad, sizeof bad, "%s", tmp_path("not-an-image.png"));
    check_write_file(bad, "text\n", 5);
    char dup[8500];
    snprintf(dup, sizeof dup, "%s: %s:", bad, bad);
    check_run_gitc(&r, NULL, "preprocess", "-o", tmp_path("never.safetensors"), bad, NULL);
    ok = check_true(r.status == 1 && strstr(r.err, bad) && !strstr(r.err, dup),
                    "preprocess of a bad file names it once: %s", r.err);
    check_run_free(&r);
    char empty[4200];
    snprintf(empty, sizeof empty, "%s", tmp_path("empty-model"));
    make_dir(empty);
    check_run_gitc(&r, NULL, "tokenize", "-m", empty, "a", NULL);
    ok &= check_true(r.status == 1 && count_of(r.err, empty) == 1,
                     "tokenize -m EMPTY names the folder once: %s", r.err);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "caption", "-m", empty, image_path(0), NULL);
    ok &= check_true(r.status == 1 && count_of(r.err, empty) == 1,
                     "caption -m EMPTY names the folder once: %s", r.err);
    report("16. file names once in messages", ok, &r);
    check_run_free(&r);

    /* preprocess for a video model: the [B,F,3,H,W] that forward takes. */
    char out[4200];
    snprintf(out, sizeof out, "%s", tmp_path("video-pixels.safetensors"));
    check_run_gitc(&r, NULL, "preprocess", "-m", check_path("models/git-shapes-video"), "-o", out,
             check_path("examples/clip0_frame0.png"), check_path("examples/clip0_frame1.png"),
             check_path("examples/clip0_frame2.png"), check_path("examples/clip0_frame3.png"),
             NULL);
    st_file *f = NULL;
    gitc_error err = {0};
    const st_tensor *t = NULL;
    if (r.status == 0 && gitci_st_open(out, &f, &err) == GITC_OK) t = gitci_st_find(f, "pixel_values");
    ok = check_true(t && t->ndim == 5 && t->shape[0] == 1 && t->shape[1] == 4 && t->shape[2] == 3,
                    "video preprocess: pixel_values [1,4,3,H,W]");
    gitci_st_close(f);
    report("16. preprocess for a video model writes [B,F,3,H,W]", ok, &r);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "forward", "--json", "-m", check_path("models/git-shapes"), "--inputs",
             out, "--out", tmp_path("never.safetensors"), NULL);
    ok = check_true(r.status == 2 && strstr(r.err, "--json"), "forward --json: exit %d",
                    r.status);
    report("21. forward refuses --json instead of ignoring it", ok, &r);
    check_run_free(&r);

    /* The library's UTF-8 rule, which the CLI's JSON strings use. */
    ok = check_true(gitc_utf8_sequence_length("a", 1) == 1 &&
                        gitc_utf8_sequence_length("\xc3\xa9", 2) == 2 &&
                        gitc_utf8_sequence_length("\xe2\x82\xac", 3) == 3 &&
                        gitc_utf8_sequence_length("\xf0\x9f\x98\x80", 4) == 4 &&
                        gitc_utf8_sequence_length("\xc0\xaf", 2) == 0 &&     /* overlong */
                        gitc_utf8_sequence_length("\xed\xa0\x80", 3) == 0 && /* surrogate */
                        gitc_utf8_sequence_length("\xe2\x82", 2) == 0 &&     /* truncated */
                        gitc_utf8_sequence_length("\xff", 1) == 0 &&
                        gitc_utf8_sequence_length("", 0) == 0,
                    "gitc_utf8_sequence_length");
    char odd[4200];
    snprintf(odd, sizeof odd, "%s", tmp_path("odd-\xff-name.png"));
    copy_file(image_path(0), odd);
    check_run_gitc(&r, NULL, "caption", "--json", odd, NULL);
    cJSON *line = NULL;
    int n = parse_json_lines(r.out, &line, 1);
    ok &= check_true(r.status == 0 && n == 1 && strstr(ref_string(line, "file"), "odd-\xef\xbf\xbd-name"),
                     "an invalid UTF-8 file name becomes U+FFFD in JSON");
    free_lines(&line, n);
    report("21. one strict UTF-8 rule (library), used by the CLI's JSON", ok, &r);
    check_run_free(&r);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    gitc_bin = getenv("GITC_BIN");
    const char *tmp = getenv("GITC_TMP");
    if (!gitc_bin || access(gitc_bin, X_OK) != 0) {
        printf("FAIL: GITC_BIN (%s) is not an executable\n", gitc_bin ? gitc_bin : "unset");
        return 1;
    }
    gitc_bin = strdup(abs_path(gitc_bin)); /* some runs change folder */
    snprintf(tmp_dir, sizeof tmp_dir, "%s/cli_scripts", tmp && *tmp ? tmp : "/tmp");
    make_dir(tmp_dir);
    examples = check_load_json(check_path("tests/data/cli/examples.json"));
    if (!examples) return check_done("test_cli_scripts");

    test_write_errors();
    test_folders();
    test_finish_reason();
    test_null_list();
    test_settings_once();
    test_arguments();
    test_model_kind();
    test_pipes();
    test_synth_force();
    test_threads();
    test_questions_prompts();
    test_exif();
    test_sampling();
    test_messages();

    cJSON_Delete(examples);
    free((char *)gitc_bin);
    return check_done("test_cli_scripts");
}
