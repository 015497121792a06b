/* The CPU backend seen through gitc.h on the embedded shapes model: the
 * kernel set and prepared weight bytes a load reports, a bad dtype refused,
 * two sessions sharing the model's pool from two threads at once, batched
 * description equal to one-by-one, and the session timing counters. */
#include "check.h"
#include "gitc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_IMAGES 4

static const char *image_files[N_IMAGES] = {
    "examples/shapes_0_224x224.png", "examples/shapes_1_320x240.jpg",
    "examples/shapes_2_300x400.png", "examples/shapes_4_500x300.png",
};

typedef struct worker {
    const gitc_model *model;
    const gitc_image *images;
    char *texts[N_IMAGES]; /* captions, one call each */
    int ok;
} worker;

/* Captions every image on a session of its own (2 threads, the model's shared pool). */
static void *caption_all(void *p)
{
    worker *w = p;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    gitc_session *s = NULL;
    gitc_error err = {0};
    w->ok = gitc_session_create(w->model, &sp, &s, &err) == GITC_OK;
    for (int rep = 0; rep < 3 && w->ok; rep++)
        for (int i = 0; i < N_IMAGES && w->ok; i++) {
            free(w->texts[i]);
            w->texts[i] = NULL;
            w->ok = gitc_describe_image(s, &w->images[i], NULL, NULL, &w->texts[i], &err) == GITC_OK;
        }
    gitc_session_free(s);
    return NULL;
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_model_params mp = gitc_model_default_params();

    mp.dtype = (gitc_dtype)7;
    gitc_status st = gitc_model_load(check_path("models/git-shapes"), &mp, &m, &err);
    printf("dtype 7: status %d, \"%s\"\n", (int)st, err.message);
    check_true(st == GITC_ERR_ARGUMENT && strstr(err.message, "dtype 7") && !m,
               "an unknown dtype is refused with a message naming it");

    mp.dtype = GITC_DTYPE_F32;
    if (!check_true(gitc_model_load(check_path("models/git-shapes"), &mp, &m, &err) == GITC_OK,
                    "load: %s", err.message))
        return check_done("test_backend");
    printf("f32: kernels %s, %zu weight bytes\n", gitc_model_kernels(m), gitc_model_weight_bytes(m));
    check_true(gitc_model_dtype(m) == GITC_DTYPE_F32 && !strcmp(gitc_dtype_name(GITC_DTYPE_BF16), "bf16") &&
                   gitc_dtype_name((gitc_dtype)9) == NULL,
               "dtype and its names");
    check_true(gitc_model_kernels(m)[0] != '\0' && gitc_model_weight_bytes(m) > 0,
               "a kernel set and prepared weights");

    gitc_image images[N_IMAGES] = {{0}};
    for (int i = 0; i < N_IMAGES; i++)
        check_true(gitc_image_load(check_path(image_files[i]), NULL, &images[i], &err) == GITC_OK,
                   "%s: %s", image_files[i], err.message);

    /* Two sessions, two threads, one pool: each caption equals the single-session one. */
    worker a = {m, images, {0}, 0}, b = {m, images, {0}, 0};
    pthread_t th;
    int started = pthread_create(&th, NULL, caption_all, &a) == 0;
    caption_all(&b);
    if (started)
        pthread_join(th, NULL);
    check_true(started && a.ok && b.ok, "two sessions captioned concurrently");
    for (int i = 0; i < N_IMAGES && a.ok && b.ok; i++) {
        printf("%s: \"%s\"\n", image_files[i], a.texts[i]);
        check_true(!strcmp(a.texts[i], b.texts[i]), "%s: concurrent sessions agree", image_files[i]);
    }

    /* Batched description equals one by one; the counters see the work. */
    gitc_session *s = NULL;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    if (check_true(gitc_session_create(m, &sp, &s, &err) == GITC_OK, "session: %s", err.message)) {
        gitc_texts texts[N_IMAGES];
        gitc_session_stats_reset(s);
        st = gitc_describe_batch(s, images, N_IMAGES, NULL, NULL, texts, &err);
        check_true(st == GITC_OK, "describe batch: %s", err.message);
        for (int i = 0; i < N_IMAGES && st == GITC_OK; i++) {
            check_true(texts[i].n == 1 && !strcmp(texts[i].texts[0], b.texts[i]),
                       "%s: batched caption \"%s\" equals the single one", image_files[i],
                       texts[i].n ? texts[i].texts[0] : "");
            gitc_texts_free(&texts[i]);
        }
        gitc_session_stats stats;
        gitc_session_stats_get(s, &stats);
        printf("stats: encode %.2f ms for %d images, decode %.2f ms in %d steps\n", stats.encode_ms,
               stats.images, stats.decode_ms, stats.decode_steps);
        check_true(stats.images == N_IMAGES && stats.encode_ms > 0 && stats.decode_ms > 0 &&
                       stats.decode_steps > 1,
                   "session counters");
        gitc_session_stats_reset(s);
        gitc_session_stats_get(s, &stats);
        check_true(stats.images == 0 && stats.decode_steps == 0, "counters reset");
        double peak = gitc_session_peak_gflops(s, 20);
        printf("peak FMA rate: %.1f GFLOP/s\n", peak);
        check_true(peak > 0, "peak measurement");
        double gbs = gitc_session_read_gbs(s, (size_t)4 << 20);
        printf("read rate over 4 MiB: %.1f GB/s\n", gbs);
        check_true(gbs > 0, "read rate measurement");
        check_true(gitc_session_read_gbs(s, 0) == 0.0, "no read rate over an empty buffer");
        size_t dec = gitc_model_decode_weight_bytes(m), all = gitc_model_weight_bytes(m);
        check_true(dec > 0 && dec < all, "decode weights (%zu bytes) are part of the weights (%zu)", dec, all);
        /* Bad batch argument. */
        st = gitc_describe_batch(s, images, 0, NULL, NULL, texts, &err);
        check_true(st == GITC_ERR_ARGUMENT, "an empty batch is refused");
    }
    gitc_session_free(s);
    for (int i = 0; i < N_IMAGES; i++) {
        free(a.texts[i]);
        free(b.texts[i]);
        gitc_image_free(&images[i]);
    }
    gitc_model_free(m);
    return check_done("test_backend");
}
