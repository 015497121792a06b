/* gitc train end to end on the embedded shapes model: a dataset with broken
 * records is refused with every bad line listed and nothing trained; an
 * unwritable --out fails before anything else; SIGINT and SIGTERM save a
 * checkpoint and exit 130 / 143, and --resume from it reaches the weights of
 * an uninterrupted run bit for bit; and the learning test: fine-tuned on
 * generated scenes whose captions follow a new sentence pattern, the model
 * captions held-out scenes with that pattern. Datasets come from
 * examples/c/make_shapes_dataset (built beside gitc). Scratch files go to
 * $GITC_TMP/train_cli. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static const char *gitc_bin;
static char make_shapes[4096], tmp_dir[2048];

/* dir/name in one of 64 rotating buffers (a test uses fewer paths than that). */
static const char *tmp(const char *name)
{
    static char buf[64][4096];
    static int k;
    char *p = buf[k++ & 63];
    snprintf(p, sizeof buf[0], "%s/%s", tmp_dir, name);
    return p;
}

/* Runs argv (NULL-terminated) through the tests' harness. With
 * signal_at_step > 0, sends `sig` once stdout has the --json record of that
 * step. */
static void run(check_run *r, const char *const *argv, int signal_at_step, int sig)
{
    char want[64];
    snprintf(want, sizeof want, "{\"step\": %d,", signal_at_step);
    check_run_io io = {.signal_when = signal_at_step > 0 ? want : NULL, .signal = sig};
    check_run_argv(r, &io, argv);
}

/* Prints a run's outputs when a check on it failed. */
static void show_on_failure(int ok, const check_run *r)
{
    check_run_show(ok, "gitc train", r);
}

/* 1 when two files have the same bytes. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    int same = stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_size == sb.st_size && sa.st_size > 0;
    if (same) {
        FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
        char p[65536], q[65536];
        size_t n;
        while (same && f && g && (n = fread(p, 1, sizeof p, f)) > 0)
            same = fread(q, 1, n, g) == n && memcmp(p, q, n) == 0;
        if (f)
            fclose(f);
        if (g)
            fclose(g);
    }
    return same;
}

/* Writes a dataset of n generated scenes to dir (seed picks them). */
static int make_dataset(const char *dir, int n, int seed)
{
    char ns[16], ss[16];
    snprintf(ns, sizeof ns, "%d", n);
    snprintf(ss, sizeof ss, "%d", seed);
    const char *argv[] = {make_shapes, dir, ns, ss, NULL};
    check_run r = {0};
    run(&r, argv, 0, 0);
    int ok = check_true(r.status == 0, "make_shapes_dataset %s %d", dir, n);
    show_on_failure(ok, &r);
    check_run_free(&r);
    return ok;
}

/* Writes text to path (best effort: the checks that follow fail otherwise). */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A dataset with broken records: every bad line listed, nothing trained; --skip-bad. */
static void test_bad_dataset(void)
{
    const char *dir = tmp("bad");
    if (!make_dataset(dir, 3, 5))
        return;
    char path[4200];
    snprintf(path, sizeof path, "%s/broken.bmp", dir);
    write_file(path, "BM not really");
    snprintf(path, sizeof path, "%s/metadata.jsonl", dir);
    write_file(path, "{\"file_name\": \"scene_00000.bmp\", \"text\": \"a red circle\"}\n"
                     "{\"file_name\": \"nowhere.bmp\", \"text\": \"a red circle\"}\n"
                     "{\"file_name\": \"scene_00001.bmp\", \"text\": \"\"}\n"
                     "{\"file_name\": \"broken.bmp\", \"text\": \"a red circle\"}\n"
                     "{\"file_name\": \"scene_00002.bmp\", \"text\": \"a red circle on a white background\"}\n"
                     "{\"file_name\": \"scene_00002.bmp\" \"text\": \"x\"}\n");
    const char *out = tmp("bad-out");
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    remove(path); /* left by an earlier run's --skip-bad */
    const char *argv[] = {gitc_bin, "train", "--data", dir, "--out", out, "--max-length", "8", "--steps", "1", NULL};
    check_run r = {0};
    run(&r, argv, 0, 0);
    int ok = check_true(r.status == 1, "bad dataset: exit %d, want 1", r.status);
    const char *want[] = {"metadata.jsonl:2: nowhere.bmp: image file not found", "metadata.jsonl:3: empty text",
                          "metadata.jsonl:4: unreadable image", "metadata.jsonl:5: text of 9 tokens, more than max_length 8",
                          "metadata.jsonl:6: not a JSON object", "5 bad records of 6", "--skip-bad"};
    for (int i = 0; i < 7; i++)
        ok &= check_true(strstr(r.err, want[i]) != NULL, "stderr lists \"%s\"", want[i]);
    ok &= check_true(!strstr(r.err, "metadata.jsonl:1:"), "the good line is not listed");
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    ok &= check_true(access(path, F_OK) != 0, "nothing was trained or written");
    show_on_failure(ok, &r);
    check_run_free(&r);
    /* --skip-bad trains on the rest and says how many were left out. */
    const char *argv2[] = {gitc_bin, "train", "--data", dir, "--out", out, "--max-length", "8", "--steps", "1",
                           "--batch", "1", "--threads", "2", "--skip-bad", NULL};
    run(&r, argv2, 0, 0);
    ok = check_true(r.status == 0, "--skip-bad: exit %d", r.status) &&
         check_true(strstr(r.err, "left out 5 bad records") != NULL, "--skip-bad says how many") &&
         check_true(access(path, F_OK) == 0, "--skip-bad wrote the model");
    show_on_failure(ok, &r);
    check_run_free(&r);
    printf("bad dataset: refused with every bad line; --skip-bad trains on the rest\n");
}

/* --out that cannot be created fails first; usage errors; --help. */
static void test_unwritable_out(void)
{
    /* A regular file as the parent: no mkdir can succeed, even as root. --data
     * does not exist, so an error about it would mean --out was checked later. */
    const char *file = tmp("plain-file");
    write_file(file, "x");
    char out[4200];
    snprintf(out, sizeof out, "%s/model", file);
    const char *argv[] = {gitc_bin, "train", "--data", tmp("no-such-data"), "--out", out, NULL};
    check_run r = {0};
    run(&r, argv, 0, 0);
    int ok = check_true(r.status == 1, "unwritable --out: exit %d, want 1", r.status) &&
             check_true(strstr(r.err, "--out") && !strstr(r.err, "no-such-data"),
                        "the error names --out before the data is looked at: %s", r.err);
    show_on_failure(ok, &r);
    check_run_free(&r);
    const char *argv2[] = {gitc_bin, "train", "--data", "x", "--out", "y", "--epochs", "2", "--steps", "3", NULL};
    run(&r, argv2, 0, 0);
    check_true(r.status == 2, "--epochs with --steps: usage error (exit %d)", r.status);
    check_run_free(&r);
    const char *argv3[] = {gitc_bin, "train", "--help", NULL};
    run(&r, argv3, 0, 0);
    check_true(r.status == 0 && strstr(r.out, "Examples:") && strstr(r.out, "--resume"), "--help with examples");
    check_run_free(&r);
}

/* SIGINT and SIGTERM checkpoints and two resumes reach the uninterrupted run's bytes. */
static void test_resume_after_signal(void)
{
    const char *data = tmp("resume-data");
    if (!make_dataset(data, 20, 9))
        return;
    const char *full = tmp("resume-full"), *part = tmp("resume-part");
    /* Accumulation 2: a signal can land between the two micro-batches of a step. */
    const char *common[] = {"--data", data, "--steps", "8", "--batch", "3", "--accumulate", "2", "--lr", "1e-3",
                            "--warmup", "2", "--seed", "5", "--threads", "2", "--json"};
    enum { NC = sizeof common / sizeof common[0] };
    const char *argv[NC + 8];
    int a = 0;
    argv[a++] = gitc_bin;
    argv[a++] = "train";
    for (int i = 0; i < NC; i++)
        argv[a++] = common[i];
    argv[a++] = "--out";
    int at_out = a;
    argv[a++] = full;
    argv[a] = NULL;
    check_run r = {0};
    run(&r, argv, 0, 0);
    int ok = check_true(r.status == 0 && strstr(r.out, "{\"step\": 8,"), "uninterrupted run: exit %d", r.status);
    show_on_failure(ok, &r);
    check_run_free(&r);

    /* SIGINT after step 3: a checkpoint, exit 130. */
    argv[at_out] = part;
    run(&r, argv, 3, SIGINT);
    ok = check_true(r.status == 130, "SIGINT: exit %d, want 130", r.status);
    const char *ck = strstr(r.err, "--resume ");
    char ckdir[4200] = "";
    if (ok && check_true(ck != NULL, "stderr says how to resume: %s", r.err)) {
        sscanf(ck + 9, "%4199s", ckdir);
        check_true(strstr(ckdir, "/checkpoint-") != NULL, "checkpoint folder %s", ckdir);
    }
    show_on_failure(ok, &r);
    check_run_free(&r);
    /* Resumed, then SIGTERM after step 5: exit 143; resumed again to the end. */
    argv[a] = "--resume";
    argv[a + 1] = ckdir;
    argv[a + 2] = NULL;
    run(&r, argv, 5, SIGTERM);
    ok = check_true(r.status == 143, "SIGTERM: exit %d, want 143", r.status);
    ck = strstr(r.err, "--resume ");
    if (ok && check_true(ck != NULL, "stderr says how to resume"))
        sscanf(ck + 9, "%4199s", ckdir);
    show_on_failure(ok, &r);
    check_run_free(&r);
    run(&r, argv, 0, 0);
    ok = check_true(r.status == 0 && strstr(r.out, "{\"step\": 8,"), "resumed run: exit %d", r.status);
    show_on_failure(ok, &r);
    check_run_free(&r);
    char fa[4200], fb[4200];
    snprintf(fa, sizeof fa, "%s/model.safetensors", full);
    snprintf(fb, sizeof fb, "%s/model.safetensors", part);
    check_true(same_file(fa, fb), "weights after SIGINT + SIGTERM + 2 resumes are bit-identical to the uninterrupted run");
    /* Another seed trains to other weights (the comparison can fail). */
    argv[at_out] = tmp("resume-seed6");
    argv[a] = NULL;
    for (int i = 0; argv[i]; i++)
        if (!strcmp(argv[i], "5") && !strcmp(argv[i - 1], "--seed"))
            argv[i] = "6";
    run(&r, argv, 0, 0);
    snprintf(fb, sizeof fb, "%s/model.safetensors", tmp("resume-seed6"));
    check_true(r.status == 0 && !same_file(fa, fb), "another --seed (data order) gives other weights");
    check_run_free(&r);
    printf("resume: SIGINT (130) and SIGTERM (143) checkpoints, resumed weights bit-identical\n");
}

#ifdef GITC_TEST_SANITIZED
/* Under the sanitizers (several times slower) the learning test is cut to 3
 * epochs over 32 scenes: the evaluation loss on 8 held-out scenes after each
 * epoch must fall. The full test below runs in the normal build. */
static void test_learning(void)
{
    const char *train = tmp("learn-train-s"), *test = tmp("learn-test-s"), *out = tmp("learn-out-s");
    if (!make_dataset(train, 32, 1) || !make_dataset(test, 8, 2))
        return;
    const char *argv[] = {gitc_bin, "train", "--data", train, "--eval", test, "--out", out, "--epochs", "3",
                          "--batch", "8", "--lr", "1e-3", "--freeze", "vision", "--threads", "2", "--json", NULL};
    check_run r = {0};
    run(&r, argv, 0, 0);
    int ok = check_true(r.status == 0, "fine-tuning: exit %d", r.status);
    double loss[3] = {0};
    int n = 0;
    for (const char *p = r.out; n < 3 && (p = strstr(p, "\"eval_loss\": ")); p++)
        loss[n++] = atof(p + 13);
    ok &= check_true(n == 3 && loss[1] < loss[0] && loss[2] < loss[1], "eval loss falls each epoch: %g %g %g",
                     loss[0], loss[1], loss[2]);
    show_on_failure(ok, &r);
    printf("learning (sanitizer build, cut short): eval loss %.4f -> %.4f -> %.4f\n", loss[0], loss[1], loss[2]);
    check_run_free(&r);
}
#else
/* Fine-tunes the shapes model to a new caption pattern and counts held-out
 * scenes captioned exactly with it. */
static void test_learning(void)
{
    const char *train = tmp("learn-train"), *test = tmp("learn-test"), *out = tmp("learn-out");
    if (!make_dataset(train, 120, 1) || !make_dataset(test, 40, 2))
        return;
    const char *argv[] = {gitc_bin, "train", "--data", train, "--out", out, "--epochs", "12", "--batch", "16",
                          "--lr", "1e-3", "--freeze", "vision", "--threads", "2", "--json", NULL};
    check_run r = {0};
    run(&r, argv, 0, 0);
    int ok = check_true(r.status == 0, "fine-tuning: exit %d", r.status);
    show_on_failure(ok, &r);
    check_run_free(&r);
    if (!ok)
        return;
    const char *cap[] = {gitc_bin, "caption", "-m", out, "--json", "--threads", "2", test, NULL};
    run(&r, cap, 0, 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/metadata.jsonl", test);
    char *meta = check_read_file(path, NULL);
    int n = 0, exact = 0;
    /* metadata.jsonl and the caption records are both in file-name order. */
    const char *m = meta, *c = r.out;
    while ((m = strstr(m, "\"text\": \"")) && (c = strstr(c, "\"text\": \""))) {
        m += 9;
        c += 9;
        const char *me = strchr(m, '"'), *ce = strchr(c, '"');
        if (!me || !ce)
            break;
        n++;
        exact += me - m == ce - c && strncmp(m, c, (size_t)(me - m)) == 0;
        if (n <= 3)
            printf("  held-out %d: \"%.*s\" (reference \"%.*s\")\n", n, (int)(ce - c), c, (int)(me - m), m);
    }
    free(meta);
    check_true(n == 40, "40 held-out captions, got %d", n);
    check_true(exact >= 28, "held-out scenes captioned exactly with the new pattern: %d of %d (want >= 70%%)", exact, n);
    printf("learning: %d of %d held-out scenes get the new caption pattern exactly\n", exact, n);
    check_run_free(&r);
}
#endif

int main(int argc, char **argv)
{
    check_init(argc, argv);
    gitc_bin = getenv("GITC_BIN");
    if (!gitc_bin || access(gitc_bin, X_OK) != 0) {
        printf("FAIL: GITC_BIN (%s) is not an executable\n", gitc_bin ? gitc_bin : "unset");
        return 1;
    }
    const char *ms = getenv("GITC_MAKE_SHAPES"); /* set where it needs an emulator (cross builds) */
    if (ms && *ms) {
        snprintf(make_shapes, sizeof make_shapes, "%s", ms);
    } else {
        snprintf(make_shapes, sizeof make_shapes, "%s", gitc_bin);
        char *slash = strrchr(make_shapes, '/');
        snprintf(slash ? slash + 1 : make_shapes,
                 sizeof make_shapes - (size_t)(slash ? slash + 1 - make_shapes : 0), "make_shapes_dataset");
    }
    if (access(make_shapes, X_OK) != 0) {
        printf("FAIL: %s (built beside gitc) is missing\n", make_shapes);
        return 1;
    }
    const char *t = getenv("GITC_TMP");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/train_cli", t && *t ? t : "/tmp");
    mkdir(tmp_dir, 0755);
    test_unwritable_out();
    test_bad_dataset();
    test_resume_after_signal();
    test_learning();
    return check_done("test_train_cli");
}
