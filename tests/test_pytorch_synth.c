/* The full-size synthetic git-base and git-large shapes (`gitc synth`),
 * converted at test time to pytorch_model.bin by our own writer
 * (tests/ptwrite.h: stored ZIP, protocol-2 pickle; no Python), give the same
 * outputs as their safetensors form. The .bin stores every text layer's
 * query/key/value as views into one fused storage (used in place) and the
 * first vision fc1 weight transposed (strides of a transposed matrix, copied
 * at load), as real checkpoints may. */
#include "check.h"
#include "model.h"
#include "ptwrite.h"
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes src as pytorch_model.bin with fused q/k/v storages and one transposed matrix. */
static int write_bin(const st_file *src, const char *path)
{
    int n = src->n_tensors;
    ptw_tensor *t = calloc((size_t)n, sizeof *t);
    ptw_storage *s = calloc((size_t)n, sizeof *s);
    void **owned = calloc((size_t)n, sizeof *owned);
    int ns = 0, no = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *x = &src->tensors[i];
        t[i].name = x->name;
        t[i].dtype = x->dtype;
        t[i].ndim = x->ndim;
        memcpy(t[i].shape, x->shape, sizeof t[i].shape);
        int layer;
        char rest[64];
        if (sscanf(x->name, "git.encoder.layer.%d.attention.self.%63s", &layer, rest) == 2 &&
            !strcmp(rest, "query.weight")) {
            /* One storage [q; k; v]; the three tensors are views at offsets 0, D*D, 2*D*D. */
            char kn[128], vn[128];
            snprintf(kn, sizeof kn, "git.encoder.layer.%d.attention.self.key.weight", layer);
            snprintf(vn, sizeof vn, "git.encoder.layer.%d.attention.self.value.weight", layer);
            const st_tensor *k = gitci_st_find(src, kn), *v = gitci_st_find(src, vn);
            uint8_t *fused = malloc(3 * x->nbytes);
            memcpy(fused, x->data, x->nbytes);
            memcpy(fused + x->nbytes, k->data, x->nbytes);
            memcpy(fused + 2 * x->nbytes, v->data, x->nbytes);
            owned[no++] = fused;
            s[ns] = (ptw_storage){fused, 3 * x->nbytes, x->dtype};
            for (int j = 0; j < n; j++) {
                const char *nm = src->tensors[j].name;
                int64_t off = !strcmp(nm, x->name) ? 0 : !strcmp(nm, kn) ? 1 : !strcmp(nm, vn) ? 2 : -1;
                if (off >= 0) {
                    t[j].storage = ns;
                    t[j].offset = off * x->numel;
                }
            }
            ns++;
            continue;
        }
        if (sscanf(x->name, "git.encoder.layer.%d.attention.self.%63s", &layer, rest) == 2 &&
            (!strcmp(rest, "key.weight") || !strcmp(rest, "value.weight")))
            continue; /* placed with its query */
        if (!strcmp(x->name, "git.image_encoder.vision_model.encoder.layers.0.mlp.fc1.weight")) {
            /* Stored as the transpose: storage [K, N] row-major, tensor [N, K] with strides [1, N]. */
            int64_t N = x->shape[0], K = x->shape[1];
            float *tr = malloc(x->nbytes);
            const float *w = x->data;
            for (int64_t r = 0; r < N; r++)
                for (int64_t c = 0; c < K; c++)
                    tr[c * N + r] = w[r * K + c];
            owned[no++] = tr;
            s[ns] = (ptw_storage){tr, x->nbytes, x->dtype};
            t[i].stride[0] = 1;
            t[i].stride[1] = N;
            t[i].storage = ns++;
            continue;
        }
        s[ns] = (ptw_storage){x->data, x->nbytes, x->dtype};
        t[i].storage = ns++;
    }
    int ok = ptw_write(path, "pytorch_model", t, n, s, ns, 0);
    for (int i = 0; i < no; i++)
        free(owned[i]);
    free(owned);
    free(t);
    free(s);
    return ok;
}

static int keep; /* argv[3] "keep": leave the two folders for measuring (gitc inspect) */

static void run(const char *name)
{
    printf("== %s\n", name);
    const char *tmp = getenv("GITC_TMP") ? getenv("GITC_TMP") : "/tmp";
    char rel[256], st_dir[1024], pt_dir[1024], cmd[4096], path[1200], path2[1200];
    snprintf(rel, sizeof rel, "tests/data/synthetic/%s", name);
    snprintf(st_dir, sizeof st_dir, "%s/ptsynth-st-%s", tmp, name);
    snprintf(pt_dir, sizeof pt_dir, "%s/ptsynth-pt-%s", tmp, name);
    snprintf(path, sizeof path, "%s/config.json", check_path(rel));
    check_run r;
    check_run_gitc(&r, NULL, "synth", "--config", path, "--out", st_dir, NULL);
    int ran = check_true(r.status == 0, "gitc synth --config %s --out %s failed: %s", path, st_dir, r.err);
    check_run_free(&r);
    if (!ran)
        return;
    mkdir(pt_dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", st_dir);
    st_file *src = check_open_st(path);
    snprintf(path2, sizeof path2, "%s/pytorch_model.bin", pt_dir);
    int written = src && check_true(write_bin(src, path2), "write %s", path2);
    if (keep && src) {
        /* For measuring: also a plain conversion (every tensor its own contiguous storage). */
        char plain[1100];
        snprintf(plain, sizeof plain, "%s/ptsynth-plain-%s", tmp, name);
        mkdir(plain, 0755);
        snprintf(cmd, sizeof cmd, "%s/pytorch_model.bin", plain);
        check_true(ptw_from_safetensors(src, cmd, 0), "write %s", cmd);
        snprintf(path, sizeof path, "%s/config.json", st_dir);
        snprintf(path2, sizeof path2, "%s/config.json", plain);
        check_true(check_copy_file(path, path2) == 0, "copy %s to %s", path, path2);
    }
    gitci_st_close(src);
    snprintf(path, sizeof path, "%s/config.json", st_dir);
    snprintf(path2, sizeof path2, "%s/config.json", pt_dir);
    written = written && check_true(check_copy_file(path, path2) == 0, "copy %s to %s", path, path2);
    gitc_error err = {0};
    gitc_model *a = NULL, *b = NULL;
    gitc_session *sa = NULL, *sb = NULL;
    float *px = NULL, *la = NULL, *lb = NULL;
    gitc_generation ga = {0}, gb = {0};
    if (!written ||
        !check_true(gitc_model_load(st_dir, NULL, &a, &err) == GITC_OK, "load safetensors: %s", err.message) ||
        !check_true(gitc_model_load(pt_dir, NULL, &b, &err) == GITC_OK, "load .bin: %s", err.message))
        goto done;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    if (!check_true(gitc_session_create(a, &sp, &sa, &err) == GITC_OK && gitc_session_create(b, &sp, &sb, &err) == GITC_OK,
                    "sessions: %s", err.message))
        goto done;
    const gitc_config *c = gitc_model_config(a);
    size_t npx = gitc_model_pixel_floats(a);
    int32_t ids[6] = {101, 1037, 2158, 3899, 2006, 1996};
    px = malloc(npx * sizeof(float));
    la = malloc(6 * (size_t)c->vocab_size * sizeof(float));
    lb = malloc(6 * (size_t)c->vocab_size * sizeof(float));
    gitc_synth_pixels("pixel_values", npx, px);
    if (check_true(gitc_forward(sa, px, npx, ids, 6, NULL, 0, la, 6 * (size_t)c->vocab_size, NULL, &err) == GITC_OK &&
                       gitc_forward(sb, px, npx, ids, 6, NULL, 0, lb, 6 * (size_t)c->vocab_size, NULL, &err) == GITC_OK,
                   "forward: %s", err.message))
        check_close(".bin vs safetensors text_logits", lb, la, 6 * (size_t)c->vocab_size, 0.0);
    gitc_generate_params p = gitc_model_generate_params(a);
    p.max_length = 20;
    const float *pp = px;
    if (check_true(gitc_generate(sa, &pp, npx, NULL, NULL, 1, &p, &ga, &err) == GITC_OK &&
                       gitc_generate(sb, &pp, npx, NULL, NULL, 1, &p, &gb, &err) == GITC_OK,
                   "generate: %s", err.message))
        check_ids(".bin vs safetensors greedy ids", gb.sequences[0].ids, gb.sequences[0].n_ids,
                  ga.sequences[0].ids, ga.sequences[0].n_ids);
done:
    gitc_generation_free(&ga);
    gitc_generation_free(&gb);
    free(px);
    free(la);
    free(lb);
    gitc_session_free(sa);
    gitc_session_free(sb);
    gitc_model_free(a);
    gitc_model_free(b);
    const char *files[] = {"model.safetensors", "pytorch_model.bin", "config.json"};
    for (int i = 0; i < 3 && !keep; i++) {
        snprintf(path, sizeof path, "%s/%s", st_dir, files[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s", pt_dir, files[i]);
        unlink(path);
    }
    if (!keep) {
        rmdir(st_dir);
        rmdir(pt_dir);
    }
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const char *only = argc > 2 ? argv[2] : NULL;
    keep = argc > 3 && !strcmp(argv[3], "keep");
    const char *names[] = {"git-base-shape", "git-large-shape"};
    for (int i = 0; i < 2; i++)
        if (!only || strcmp(only, names[i]) == 0)
            run(names[i]);
    return check_done("test_pytorch_synth");
}
