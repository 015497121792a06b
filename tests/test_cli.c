/* End-to-end tests of the gitc command-line tool: runs the built binary
 * ($GITC_BIN) on the embedded shapes models and the images of examples/, and
 * compares its texts with tests/data/cli/examples.json (copied from
 * shared/reference/demo/examples.json: transformers 4.39.3 generate() with
 * max_length=30). Scratch files go to $GITC_TMP/cli. */
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
#include <unistd.h>

#define MAX_ARGS 64
#define N_IMAGES 8

static const char *gitc_bin;
static char tmp_dir[2048];

/* The reference: examples.json's "images" and "videos". */
static cJSON *examples;

static char *tmp_path(const char *name)
{
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", tmp_dir, name);
    return p;
}

/* ------------------------------------------------------------------ */
/* Reference data                                                      */
/* ------------------------------------------------------------------ */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The images[] entry of a file name, or NULL. */
static const cJSON *image_ref(const char *file)
{
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(examples, "images");
    const cJSON *e;
    cJSON_ArrayForEach(e, images)
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "file");
        if (cJSON_IsString(f) && !strcmp(f->valuestring, base_name(file))) return e;
    }
    return NULL;
}

static const char *ref_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The i-th demo image's path under examples/ (static storage). */
static const char *image_path(int i)
{
    static char paths[N_IMAGES][4096];
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(examples, "images");
    const cJSON *e = cJSON_GetArrayItem(images, i);
    snprintf(paths[i], sizeof paths[i], "%s/examples/%s", check_root, ref_string(e, "file"));
    return paths[i];
}

/* Splits stdout into JSON objects, one per line; returns how many parsed
 * (all must). Frees with free_lines. */
static int parse_json_lines(const char *out, cJSON **objs, int max)
{
    int n = 0;
    const char *line = out;
    while (*line && n < max) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 0) {
            cJSON *o = cJSON_ParseWithLength(line, len);
            if (!check_true(cJSON_IsObject(o), "JSON line %d parses as an object: %.*s", n + 1,
                            (int)len, line)) {
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

/* Compares the "text" (or another key) of each JSON line with the reference key of its file. */
static void check_json_texts(const char *what, const char *out, int want_lines,
                             const char *out_key, const char *ref_key)
{
    cJSON *lines[64];
    int n = parse_json_lines(out, lines, 64);
    check_true(n == want_lines, "%s: %d JSON lines, want %d", what, n, want_lines);
    int same = 0;
    for (int i = 0; i < n; i++) {
        const char *file = ref_string(lines[i], "file");
        const cJSON *ref = image_ref(file);
        const char *got = ref_string(lines[i], out_key);
        const char *want = ref ? ref_string(ref, ref_key) : "?";
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(lines[i], "timings_ms");
        check_true(cJSON_IsObject(t) &&
                       cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "total")),
                   "%s: %s has timings_ms.total", what, file);
        if (check_true(ref && !strcmp(got, want), "%s: %s: got \"%s\", want \"%s\"", what,
                       base_name(file), got, want))
            same++;
    }
    printf("%-60s %d/%d texts identical\n", what, same, want_lines);
    free_lines(lines, n);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void test_help(void)
{
    static const char *const cmds[] = {"caption", "ask", "video", "preprocess", "tokenize",
                                       "detokenize", "forward", "synth", "bench"};
    check_run r;
    check_run_gitc(&r, NULL, "--help", NULL);
    check_true(r.status == 0 && strstr(r.out, "caption") && strstr(r.out, "Example"),
               "gitc --help: exit 0 and lists the commands with examples (exit %d)", r.status);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "--version", NULL);
    check_true(r.status == 0 && strstr(r.out, GITC_VERSION), "gitc --version prints %s",
               GITC_VERSION);
    check_run_free(&r);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        check_run_gitc(&r, NULL, cmds[i], "--help", NULL);
        int ok = check_true(r.status == 0 && strstr(r.out, "Usage: gitc") &&
                                strstr(r.out, "Example"),
                            "gitc %s --help: exit 0, usage and an example", cmds[i]);
        check_run_show(ok, cmds[i], &r);
        check_run_free(&r);
    }
    check_run_gitc(&r, NULL, "nosuchcommand", NULL);
    check_true(r.status == 2, "unknown command: exit %d, want 2", r.status);
    check_run_free(&r);
    printf("%-60s done\n", "help, version, unknown command");
}

/* Greedy captions of the 8 demo images in one batch (JSON Lines), and one image in plain text. */
static void test_caption(void)
{
    const char *argv[MAX_ARGS] = {gitc_bin, "caption", "--max-length", "30", "--json"};
    int argc = 5;
    for (int i = 0; i < N_IMAGES; i++) argv[argc++] = image_path(i);
    argv[argc] = NULL;
    check_run r;
    check_run_argv(&r, NULL, argv);
    check_run_show(check_true(r.status == 0, "caption --json batch: exit %d", r.status),
                    "caption batch", &r);
    check_json_texts("caption greedy max_length 30 (8 images, --json)", r.out, N_IMAGES, "text",
                     "greedy_text");
    check_run_free(&r);

    /* Beam search. */
    const char *beam_argv[MAX_ARGS] = {gitc_bin, "caption", "--beams", "3", "--max-length",
                                       "30", "--json"};
    argc = 7;
    for (int i = 0; i < N_IMAGES; i++) beam_argv[argc++] = image_path(i);
    beam_argv[argc] = NULL;
    check_run_argv(&r, NULL, beam_argv);
    check_true(r.status == 0, "caption --beams 3 batch: exit %d", r.status);
    check_json_texts("caption 3 beams max_length 30 (8 images, --json)", r.out, N_IMAGES, "text",
                     "beam3_text");
    check_run_free(&r);

    /* Three beams returned: the best one first, equal to the single beam-search caption. */
    check_run_gitc(&r, NULL, "caption", "--beams", "3", "--num-return-sequences", "3",
             "--max-length", "30", "--json", image_path(1), NULL);
    cJSON *line = NULL;
    int nl = parse_json_lines(r.out, &line, 1);
    const cJSON *texts = nl ? cJSON_GetObjectItemCaseSensitive(line, "texts") : NULL;
    const cJSON *first = cJSON_GetArrayItem(texts, 0);
    const cJSON *scores = nl ? cJSON_GetObjectItemCaseSensitive(line, "scores") : NULL;
    int ok3 = check_true(r.status == 0 && cJSON_GetArraySize(texts) == 3 &&
                             cJSON_GetArraySize(scores) == 3 && cJSON_IsString(first) &&
                             !strcmp(first->valuestring,
                                     ref_string(image_ref(image_path(1)), "beam3_text")),
                         "caption --num-return-sequences 3: 3 texts, the first = beam3_text");
    check_run_show(ok3, "num-return-sequences", &r);
    printf("%-60s %s\n", "caption --beams 3 --num-return-sequences 3", ok3 ? "ok" : "FAILED");
    free_lines(&line, nl);
    check_run_free(&r);

    /* One image, plain text: the caption alone. No -m: the embedded model. */
    const cJSON *ref = image_ref(image_path(0));
    char want[512];
    snprintf(want, sizeof want, "%s\n", ref_string(ref, "greedy_text"));
    check_run_gitc(&r, NULL, "caption", "--max-length", "30", image_path(0), NULL);
    int ok = check_true(r.status == 0 && !strcmp(r.out, want),
                        "caption one image: \"%s\", want \"%s\"", r.out, want);
    check_run_show(ok, "caption one", &r);
    printf("%-60s %s\n", "caption one image, plain output", ok ? "identical" : "DIFFERENT");
    check_run_free(&r);

    /* Two images, plain text: "FILE: caption" lines. */
    check_run_gitc(&r, NULL, "caption", "--max-length", "30", "--threads", "1", image_path(1),
             image_path(2), NULL);
    char want2[2048];
    snprintf(want2, sizeof want2, "%s: %s\n%s: %s\n", image_path(1),
             ref_string(image_ref(image_path(1)), "greedy_text"), image_path(2),
             ref_string(image_ref(image_path(2)), "greedy_text"));
    ok = check_true(r.status == 0 && !strcmp(r.out, want2), "caption two images: FILE: text lines");
    check_run_show(ok, "caption two", &r);
    printf("%-60s %s\n", "caption two images, FILE: text lines", ok ? "identical" : "DIFFERENT");
    check_run_free(&r);
}

/* VQA answers of the 8 images to the reference question. */
static void test_ask(void)
{
    const char *question = "what color is the background?";
    const char *argv[MAX_ARGS] = {gitc_bin, "ask", "--max-length", "30", "--json"};
    int argc = 5;
    for (int i = 0; i < N_IMAGES; i++) argv[argc++] = image_path(i);
    argv[argc++] = question;
    argv[argc] = NULL;
    check_run r;
    check_run_argv(&r, NULL, argv);
    check_true(r.status == 0, "ask --json batch: exit %d", r.status);
    check_json_texts("ask \"what color is the background?\" (8 images)", r.out, N_IMAGES,
                     "answer", "vqa_answer");
    cJSON *lines[N_IMAGES];
    int n = parse_json_lines(r.out, lines, N_IMAGES);
    for (int i = 0; i < n; i++)
        check_true(!strcmp(ref_string(lines[i], "question"), question) &&
                       !strcmp(ref_string(lines[i], "text"), ref_string(lines[i], "answer")),
                   "ask --json line %d has the question and text = answer", i + 1);
    free_lines(lines, n);
    check_run_free(&r);

    const cJSON *ref = image_ref(image_path(3));
    char want[256];
    snprintf(want, sizeof want, "%s\n", ref_string(ref, "vqa_answer"));
    check_run_gitc(&r, NULL, "ask", image_path(3), question, NULL);
    int ok = check_true(r.status == 0 && !strcmp(r.out, want), "ask one image: \"%s\", want \"%s\"",
                        r.out, want);
    check_run_show(ok, "ask one", &r);
    check_run_free(&r);
}

/* The three 4-frame clips with --frames, and the H.264 file. */
static void test_video(void)
{
    const cJSON *videos = cJSON_GetObjectItemCaseSensitive(examples, "videos");
    const cJSON *v;
    int same = 0, n = 0;
    cJSON_ArrayForEach(v, videos)
    {
        const char *argv[MAX_ARGS] = {gitc_bin, "video", "--max-length", "30", "--frames"};
        int argc = 5;
        static char frames[8][4096];
        const cJSON *f;
        int k = 0;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(v, "frames"))
        {
            snprintf(frames[k], sizeof frames[k], "%s/examples/%s", check_root, f->valuestring);
            argv[argc++] = frames[k++];
        }
        argv[argc] = NULL;
        check_run r;
        check_run_argv(&r, NULL, argv);
        char want[256];
        snprintf(want, sizeof want, "%s\n", ref_string(v, "greedy_text"));
        int ok = check_true(r.status == 0 && !strcmp(r.out, want),
                            "video --frames clip %d: \"%s\", want \"%s\"", n, r.out, want);
        check_run_show(ok, "video --frames", &r);
        same += ok;
        n++;
        check_run_free(&r);
    }
    printf("%-60s %d/%d texts identical\n", "video --frames (3 clips of 4 PNG frames)", same, n);

    /* Too few frames: a usage error that says how many the model takes. */
    check_run r;
    check_run_gitc(&r, NULL, "video", "--frames", check_path("examples/clip0_frame0.png"), NULL);
    check_true(r.status == 2 && strstr(r.err, "4"),
               "video --frames with 1 frame: exit %d (want 2), message names 4 frames", r.status);
    check_run_free(&r);

    /* git_shapes_video_greedy_text of moving_square_h264.mp4 in
     * shared/reference/video/video_refs.json. */
    const char *want = "a blue square moving to the right on a white background\n";
    check_run_gitc(&r, NULL, "video", "--max-length", "30",
             check_path("examples/moving_square_h264.mp4"), NULL);
    int ok = check_true(r.status == 0 && !strcmp(r.out, want),
                        "video moving_square_h264.mp4: \"%s\", want \"%s\"", r.out, want);
    check_run_show(ok, "video mp4", &r);
    printf("%-60s %s\n", "video examples/moving_square_h264.mp4", ok ? "identical" : "DIFFERENT");
    check_run_free(&r);
}

/* A batch with a truncated JPEG and a non-image goes on and exits 1. */
static void test_bad_inputs(void)
{
    char *good = NULL;
    size_t n = 0;
    FILE *f = fopen(check_path("examples/shapes_1_320x240.jpg"), "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        n = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        good = malloc(n);
        n = fread(good, 1, n, f);
        fclose(f);
    }
    char *truncated = strdup(tmp_path("truncated.jpg"));
    char *garbage = strdup(tmp_path("not_an_image.png"));
    check_true(good && check_write_file(truncated, good, n / 2) == 0, "write a truncated JPEG");
    const char text[] = "this is not a PNG file\n";
    check_true(check_write_file(garbage, text, sizeof text - 1) == 0, "write a non-image file");
    free(good);

    check_run r;
    check_run_gitc(&r, NULL, "caption", "--max-length", "30", "--json", image_path(0), truncated,
             garbage, image_path(2), NULL);
    cJSON *lines[8];
    int nl = parse_json_lines(r.out, lines, 8);
    int ok = check_true(r.status == 1, "batch with bad files: exit %d, want 1", r.status);
    ok &= check_true(nl == 4, "batch with bad files: %d JSON lines, want 4", nl);
    for (int i = 0; i < nl; i++) {
        const char *file = ref_string(lines[i], "file");
        int bad = !strcmp(file, truncated) || !strcmp(file, garbage);
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(lines[i], "error");
        if (bad) {
            ok &= check_true(cJSON_IsString(err) && err->valuestring[0] &&
                                 !cJSON_GetObjectItemCaseSensitive(lines[i], "text"),
                             "%s: reported with \"error\"", base_name(file));
        } else {
            const char *want = ref_string(image_ref(file), "greedy_text");
            ok &= check_true(!err && !strcmp(ref_string(lines[i], "text"), want),
                             "%s: still captioned (\"%s\")", base_name(file),
                             ref_string(lines[i], "text"));
        }
    }
    check_run_show(ok, "bad inputs --json", &r);
    free_lines(lines, nl);
    check_run_free(&r);

    /* Plain output: the errors on stderr, the captions on stdout. */
    check_run_gitc(&r, NULL, "caption", "--max-length", "30", truncated, image_path(0), NULL);
    ok = check_true(r.status == 1 && strstr(r.err, "truncated.jpg") &&
                        strstr(r.out, ref_string(image_ref(image_path(0)), "greedy_text")) &&
                        !strstr(r.out, "truncated.jpg"),
                    "plain batch with a truncated JPEG: error on stderr, caption on stdout");
    check_run_show(ok, "bad inputs plain", &r);
    printf("%-60s %s\n", "batches with a truncated JPEG and a non-image", ok ? "ok" : "FAILED");
    check_run_free(&r);
    free(truncated);
    free(garbage);
}

/* Folders (sorted image files) and a path list on stdin. */
static void test_dir_and_stdin(void)
{
    char *dir = strdup(tmp_path("imgdir"));
    mkdir(dir, 0755);
    char a[4096], b[4096], txt[4096];
    snprintf(a, sizeof a, "%s/a.png", dir);
    snprintf(b, sizeof b, "%s/b.jpg", dir);
    snprintf(txt, sizeof txt, "%s/notes.txt", dir);
    unlink(a);
    unlink(b);
    check_true(symlink(image_path(0), b) == 0 && symlink(image_path(2), a) == 0,
               "make a folder of two images");
    check_write_file(txt, "not an image\n", 13);

    check_run r;
    check_run_gitc(&r, NULL, "caption", "--max-length", "30", "--json", dir, NULL);
    cJSON *lines[8];
    int n = parse_json_lines(r.out, lines, 8);
    int ok = check_true(r.status == 0 && n == 2, "caption FOLDER: exit %d, %d lines (want 0, 2)",
                        r.status, n);
    if (n == 2) {
        ok &= check_true(!strcmp(base_name(ref_string(lines[0], "file")), "a.png") &&
                             !strcmp(base_name(ref_string(lines[1], "file")), "b.jpg"),
                         "folder inputs sorted by name");
        ok &= check_true(
            !strcmp(ref_string(lines[0], "text"),
                    ref_string(image_ref(image_path(2)), "greedy_text")) &&
                !strcmp(ref_string(lines[1], "text"),
                        ref_string(image_ref(image_path(0)), "greedy_text")),
            "folder captions match the reference");
    }
    check_run_show(ok, "caption folder", &r);
    free_lines(lines, n);
    check_run_free(&r);

    char list[8192];
    snprintf(list, sizeof list, "%s\n\n%s\n", image_path(4), image_path(5));
    check_run_gitc(&r, &(check_run_io){.input = list}, "caption", "--max-length", "30", "-", NULL);
    char want[8192];
    snprintf(want, sizeof want, "%s: %s\n%s: %s\n", image_path(4),
             ref_string(image_ref(image_path(4)), "greedy_text"), image_path(5),
             ref_string(image_ref(image_path(5)), "greedy_text"));
    ok = check_true(r.status == 0 && !strcmp(r.out, want), "caption - (paths on stdin)");
    check_run_show(ok, "caption stdin", &r);
    printf("%-60s %s\n", "caption of a folder and of a stdin list", ok ? "ok" : "FAILED");
    check_run_free(&r);
    free(dir);
}

/* Symlinks every file of models/git-shapes into `dir`. */
static int link_model_files(const char *dir)
{
    static const char *const files[] = {"config.json", "generation_config.json",
                                        "model.safetensors", "preprocessor_config.json",
                                        "special_tokens_map.json", "tokenizer.json",
                                        "tokenizer_config.json", "vocab.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char src[4096], dst[4096];
        snprintf(src, sizeof src, "%s/models/git-shapes/%s", check_root, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        unlink(dst);
        if (src[0] != '/') {
            char cwd[2048];
            if (getcwd(cwd, sizeof cwd)) {
                char abs[4096 + 2048];
                snprintf(abs, sizeof abs, "%s/%s", cwd, src);
                if (symlink(abs, dst) != 0) return -1;
                continue;
            }
        }
        if (symlink(src, dst) != 0) return -1;
    }
    return 0;
}

static void make_dirs(const char *path)
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

/* Hub ids: missing from an empty cache (download hint), found in a fake cache. */
static void test_hub_cache(void)
{
    char *empty = strdup(tmp_path("hub-empty"));
    make_dirs(empty);
    char env_empty[4200];
    snprintf(env_empty, sizeof env_empty, "HF_HUB_CACHE=%s", empty);
    const char *env1[] = {env_empty, NULL};
    check_run r;
    check_run_gitc(&r, &(check_run_io){.env = env1}, "caption", "-m", "microsoft/git-base-coco", image_path(0), NULL);
    int ok = check_true(r.status != 0 &&
                            strstr(r.err, "huggingface-cli download microsoft/git-base-coco"),
                        "missing hub model: exit %d, download hint on stderr", r.status);
    check_run_show(ok, "missing hub model", &r);
    printf("%-60s %s\n", "missing hub id: download hint", ok ? "ok" : "FAILED");
    check_run_free(&r);

    /* models--x--y with refs/main = abc and an older snapshot beside it. */
    char *hub = strdup(tmp_path("hub"));
    char path[4400];
    snprintf(path, sizeof path, "%s/models--x--y/snapshots/abc", hub);
    make_dirs(path);
    check_true(link_model_files(path) == 0, "fake cache snapshot abc");
    snprintf(path, sizeof path, "%s/models--x--y/snapshots/old", hub);
    make_dirs(path); /* empty: a wrong pick fails to load */
    snprintf(path, sizeof path, "%s/models--x--y/refs", hub);
    make_dirs(path);
    snprintf(path, sizeof path, "%s/models--x--y/refs/main", hub);
    check_write_file(path, "abc", 3);
    /* models--x--z: a single snapshot and no refs. */
    snprintf(path, sizeof path, "%s/models--x--z/snapshots/only", hub);
    make_dirs(path);
    check_true(link_model_files(path) == 0, "fake cache snapshot only");

    char env_hub[4200];
    snprintf(env_hub, sizeof env_hub, "HF_HUB_CACHE=%s", hub);
    const char *env2[] = {env_hub, NULL};
    const char *want = ref_string(image_ref(image_path(0)), "greedy_text");
    char want_line[512];
    snprintf(want_line, sizeof want_line, "%s\n", want);
    check_run_gitc(&r, &(check_run_io){.env = env2}, "caption", "-m", "x/y", "--max-length", "30", image_path(0), NULL);
    ok = check_true(r.status == 0 && !strcmp(r.out, want_line),
                    "hub id x/y from a fake cache (refs/main): \"%s\"", r.out);
    check_run_show(ok, "fake cache x/y", &r);
    check_run_free(&r);
    check_run_gitc(&r, &(check_run_io){.env = env2}, "caption", "-m", "x/z", "--max-length", "30", image_path(0), NULL);
    ok &= check_true(r.status == 0 && !strcmp(r.out, want_line),
                     "hub id x/z from a fake cache (one snapshot): \"%s\"", r.out);
    check_run_show(ok, "fake cache x/z", &r);
    check_run_free(&r);

    /* HF_HOME/hub is the cache when HF_HUB_CACHE is unset. */
    char *home = strdup(tmp_path("hfhome"));
    make_dirs(home);
    snprintf(path, sizeof path, "%s/hub", home);
    unlink(path);
    check_true(symlink(hub, path) == 0 || errno == EEXIST, "HF_HOME/hub link");
    char env_home[4200];
    snprintf(env_home, sizeof env_home, "HF_HOME=%s", home);
    const char *env3[] = {env_home, NULL};
    check_run_gitc(&r, &(check_run_io){.env = env3}, "caption", "-m", "x/y", "--max-length", "30", image_path(0), NULL);
    ok &= check_true(r.status == 0 && !strcmp(r.out, want_line), "hub id via HF_HOME/hub");
    check_run_show(ok, "HF_HOME", &r);
    printf("%-60s %s\n", "hub ids from a fake cache (refs/main, one snapshot, HF_HOME)",
           ok ? "ok" : "FAILED");
    check_run_free(&r);

    /* GITC_MODEL_DIR replaces the embedded models folder. */
    char *models = strdup(tmp_path("models"));
    make_dirs(models);
    snprintf(path, sizeof path, "%s/git-shapes", models);
    make_dirs(path);
    check_true(link_model_files(path) == 0, "GITC_MODEL_DIR folder");
    char env_models[4200];
    snprintf(env_models, sizeof env_models, "GITC_MODEL_DIR=%s", models);
    const char *env4[] = {env_models, NULL};
    check_run_gitc(&r, &(check_run_io){.env = env4}, "caption", "--max-length", "30", image_path(0), NULL);
    ok = check_true(r.status == 0 && !strcmp(r.out, want_line), "GITC_MODEL_DIR default model");
    check_run_show(ok, "GITC_MODEL_DIR", &r);
    check_run_free(&r);
    snprintf(env_models, sizeof env_models, "GITC_MODEL_DIR=%s", empty);
    check_run_gitc(&r, &(check_run_io){.env = env4}, "caption", image_path(0), NULL);
    ok &= check_true(r.status == 1 && strstr(r.err, "git-shapes"),
                     "GITC_MODEL_DIR without git-shapes: exit %d, message names it", r.status);
    check_run_show(ok, "GITC_MODEL_DIR empty", &r);
    printf("%-60s %s\n", "GITC_MODEL_DIR", ok ? "ok" : "FAILED");
    check_run_free(&r);

    /* Neither a folder nor a hub id. */
    check_run_gitc(&r, NULL, "caption", "-m", "./no/such/folder", image_path(0), NULL);
    check_true(r.status == 1 && strstr(r.err, "no/such/folder"),
               "-m ./no/such/folder: exit %d, message names it", r.status);
    check_run_free(&r);
    free(empty);
    free(hub);
    free(home);
    free(models);
}

/* Invalid settings are usage errors (exit 2) with a message. */
static void test_usage_errors(void)
{
    static const char *const cases[][4] = {
        {"--beams", "0", NULL, NULL},
        {"--temperature", "-1", "--sample", NULL},
        {"--temperature", "0", NULL, NULL},
        {"--max-length", "abc", NULL, NULL},
        {"--max-length", "100000", NULL, NULL},
        {"--max-length", "0", NULL, NULL},
        {"--top-p", "1.5", NULL, NULL},
        {"--threads", "-3", NULL, NULL},
        {"--beams", "2x", NULL, NULL},
        {"--no-such-flag", NULL, NULL, NULL},
        {"--num-return-sequences", "2", NULL, NULL},
        {"--max-length", NULL, NULL, NULL},
    };
    int good = 0, n = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n; i++) {
        const char *argv[MAX_ARGS] = {gitc_bin, "caption"};
        int argc = 2;
        for (int k = 0; k < 4 && cases[i][k]; k++) argv[argc++] = cases[i][k];
        if (cases[i][1] || strcmp(cases[i][0], "--max-length")) argv[argc++] = image_path(0);
        argv[argc] = NULL;
        check_run r;
        check_run_argv(&r, NULL, argv);
        int ok = check_true(r.status == 2 && strlen(r.err) > 10,
                            "caption %s %s: exit %d (want 2) with a message", cases[i][0],
                            cases[i][1] ? cases[i][1] : "", r.status);
        check_run_show(ok, cases[i][0], &r);
        good += ok;
        check_run_free(&r);
    }
    check_run r;
    check_run_gitc(&r, NULL, "ask", image_path(0), NULL);
    good += check_true(r.status == 2, "ask without a question: exit %d, want 2", r.status);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "caption", NULL);
    good += check_true(r.status == 2, "caption without inputs: exit %d, want 2", r.status);
    check_run_free(&r);
    printf("%-60s %d/%d exit 2\n", "usage errors", good, n + 2);
}

/* tokenize / detokenize round trip against the reference ids. */
static void test_tokenize(void)
{
    const cJSON *ref = image_ref(image_path(0));
    const char *text = ref_string(ref, "greedy_text");
    int32_t want[64];
    int n_want = check_json_ids(ref, "greedy_ids", want, 64);
    check_run r;
    check_run_gitc(&r, NULL, "tokenize", text, NULL);
    int32_t got[64];
    int n_got = 0;
    for (char *s = r.out, *end; n_got < 64; s = end) {
        long v = strtol(s, &end, 10);
        if (end == s) break;
        got[n_got++] = (int32_t)v;
    }
    check_true(r.status == 0, "tokenize: exit %d", r.status);
    check_ids("tokenize greedy_text == greedy_ids", got, n_got, want, n_want);
    check_run_free(&r);

    check_run_gitc(&r, NULL, "tokenize", "--json", "--no-special", text, NULL);
    cJSON *o = cJSON_Parse(r.out);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(o, "ids");
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(o, "tokens");
    n_got = check_json_ids(o, "ids", got, 64);
    check_true(r.status == 0 && cJSON_IsArray(ids) && cJSON_IsArray(toks) &&
                   cJSON_GetArraySize(toks) == cJSON_GetArraySize(ids),
               "tokenize --json: {\"ids\", \"tokens\"} of equal length");
    check_ids("tokenize --no-special == greedy_ids without [CLS]/[SEP]", got, n_got, want + 1,
              n_want - 2);
    const cJSON *t1 = cJSON_GetArrayItem(toks, 1);
    check_true(cJSON_IsString(t1) && !strcmp(t1->valuestring, "large"),
               "tokenize --json: tokens[1] is \"large\"");
    cJSON_Delete(o);

    /* Round trip: the ids back to the text, with and without the special tokens. */
    char ids_text[1024] = "";
    for (int i = 0; i < n_want; i++)
        snprintf(ids_text + strlen(ids_text), sizeof ids_text - strlen(ids_text), "%s%d",
                 i ? " " : "", (int)want[i]);
    check_run_free(&r);
    check_run_gitc(&r, &(check_run_io){.input = ids_text}, "detokenize", NULL);
    char line[512];
    snprintf(line, sizeof line, "%s\n", text);
    int ok = check_true(r.status == 0 && !strcmp(r.out, line), "detokenize (stdin): \"%s\"", r.out);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "detokenize", "--keep-special", "[101, 104, 118, 102]", NULL);
    ok &= check_true(r.status == 0 && !strcmp(r.out, "[CLS] a large [SEP]\n"),
                     "detokenize --keep-special: \"%s\"", r.out);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "detokenize", "1000000", NULL);
    ok &= check_true(r.status == 1, "detokenize of an unknown id: exit %d, want 1", r.status);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "detokenize", "12abc", NULL);
    ok &= check_true(r.status == 2, "detokenize of a non-number: exit %d, want 2", r.status);
    check_run_free(&r);
    printf("%-60s %s\n", "tokenize / detokenize round trip", ok ? "ok" : "FAILED");
}

/* preprocess writes pixel_values [2,3,224,224] equal to the library's processor. */
static void test_preprocess(void)
{
    char *out = strdup(tmp_path("pixels.safetensors"));
    unlink(out);
    check_run r;
    check_run_gitc(&r, NULL, "preprocess", "--out", out, image_path(1), image_path(7), NULL);
    check_run_show(check_true(r.status == 0, "preprocess: exit %d", r.status), "preprocess", &r);
    check_run_free(&r);
    st_file *f = NULL;
    gitc_error err = {0};
    if (!check_true(gitci_st_open(out, &f, &err) == GITC_OK, "preprocess output opens: %s",
                    err.message)) {
        free(out);
        return;
    }
    const st_tensor *t = gitci_st_find(f, "pixel_values");
    int shape_ok = t && t->dtype == ST_F32 && t->ndim == 4 && t->shape[0] == 2 &&
                   t->shape[1] == 3 && t->shape[2] == 224 && t->shape[3] == 224;
    check_true(shape_ok, "pixel_values is F32 [2,3,224,224]");
    gitc_processor *proc = NULL;
    if (shape_ok &&
        check_true(gitc_processor_load(check_path("models/git-shapes"), &proc, &err) == GITC_OK,
                   "processor loads: %s", err.message)) {
        size_t per = (size_t)3 * 224 * 224;
        float *want = malloc(2 * per * sizeof *want);
        const int which[2] = {1, 7};
        for (int i = 0; i < 2; i++) {
            gitc_image img = {0};
            check_true(gitc_image_load(image_path(which[i]), NULL, &img, &err) == GITC_OK &&
                           gitc_processor_run(proc, &img, want + (size_t)i * per, per, &err) ==
                               GITC_OK,
                       "library processor on %s: %s", image_path(which[i]), err.message);
            gitc_image_free(&img);
        }
        check_close("preprocess pixel_values vs gitc_processor_run", (const float *)t->data, want,
                    2 * per, 0.0);
        free(want);
    }
    gitc_processor_free(proc);
    gitci_st_close(f);

    /* A bad image: reported, nothing written. */
    char *bad = strdup(tmp_path("not_an_image.png"));
    unlink(out);
    check_run_gitc(&r, NULL, "preprocess", "-o", out, image_path(0), bad, NULL);
    check_true(r.status == 1 && access(out, F_OK) != 0 && strstr(r.err, "not_an_image.png"),
               "preprocess with a bad image: exit %d (want 1), no file written", r.status);
    check_run_free(&r);
    check_run_gitc(&r, NULL, "preprocess", image_path(0), NULL);
    check_true(r.status == 2, "preprocess without --out: exit %d, want 2", r.status);
    check_run_free(&r);
    free(bad);
    free(out);
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
    snprintf(tmp_dir, sizeof tmp_dir, "%s/cli", tmp && *tmp ? tmp : "/tmp");
    make_dirs(tmp_dir);
    examples = check_load_json(check_path("tests/data/cli/examples.json"));
    if (!examples) return check_done("test_cli");

    test_help();
    test_usage_errors();
    test_tokenize();
    test_bad_inputs(); /* writes the not_an_image.png that test_preprocess uses */
    test_preprocess();
    test_caption();
    test_ask();
    test_video();
    test_dir_and_stdin();
    test_hub_cache();

    cJSON_Delete(examples);
    return check_done("test_cli");
}
