/* The trainer object of gitc.h: a training copy of the model
 * (train_model.h), AdamW moments beside its parameters, the frozen-vision
 * cache, the step counters that make runs reproducible, and saving in the
 * layout transformers loads (model folders and checkpoints). */
#include "model.h"
#include "optim.h"
#include "safetensors.h"
#include "train_model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest settings a caller may ask for (checked before allocating). */
#define TRAINER_MAX_BATCH 4096
#define TRAINER_MAX_ACCUMULATE 1000000
#define TRAINER_MAX_CACHE 100000000

/* Files of a model folder copied into every saved folder when present. */
static const char *const processor_files[] = {
    "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
    "special_tokens_map.json", "added_tokens.json",
};

struct gitc_trainer {
    gitc_train_params p;
    gitc_config cfg;
    char *model_dir;          /* the input folder (config and processor files come from it) */
    gitc_tmodel *tm;
    gitc_tparam *params;      /* [n_params], owned by tm */
    int n_params;
    float *moments;           /* per trainable parameter: m then v, [2 * numel] each, one block */
    float **m, **v;           /* [n_params] views into moments; NULL for frozen parameters */
    gitc_pool *pool;
    gitc_adamw opt;
    float rates[4];           /* dropout: hidden, attention, vision, vision attention */
    long step;                /* optimizer steps done */
    long micro;               /* micro-batches done */
    int pending;              /* micro-batches accumulated since the last optimizer step */
    double last_lr, last_norm;
    size_t pixel_floats;      /* one sample's pixel_values */
    size_t vision_floats;     /* one image's vision features */
    float *vision_buf;        /* [max_batch, vision_floats] with a frozen vision encoder */
    float **cache;            /* [cache_images] per-key vision features (lazily allocated) */
};

void gitc_train_params_init(gitc_train_params *params, size_t size)
{
    gitc_train_params p;
    memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.lr = 5e-5;
    p.beta1 = 0.9;
    p.beta2 = 0.999;
    p.eps = 1e-8;
    p.weight_decay = 0.01;
    p.clip = 1.0;
    p.schedule = GITC_SCHEDULE_LINEAR;
    p.accumulate = 1;
    p.dropout = 1;
    p.seed = 42;
    p.max_batch = 8;
    gitci_params_fill(params, size, &p, sizeof p);
}

/* Copies the caller's params (params->size bytes) over the defaults and checks them. */
static gitc_status train_params(const gitc_train_params *in, const gitc_config *cfg, gitc_train_params *p,
                                gitc_error *err)
{
    gitc_train_params_init(p, sizeof *p);
    if (in) {
        gitc_status st = gitci_params_size_check(in->size, sizeof *p, "gitc_train_params", err);
        if (st != GITC_OK)
            return st;
        *p = *in;
    }
    if (!(p->lr > 0 && isfinite(p->lr)))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "learning rate %g: must be positive", p->lr);
    if (!(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "betas %g, %g: each must be in [0, 1)", p->beta1, p->beta2);
    if (!(p->eps > 0 && isfinite(p->eps)))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "eps %g: must be positive", p->eps);
    if (!(p->weight_decay >= 0 && isfinite(p->weight_decay)))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "weight decay %g: must be >= 0", p->weight_decay);
    if (!(p->clip >= 0 && isfinite(p->clip)))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "clip %g: must be >= 0 (0: no clipping)", p->clip);
    if ((unsigned)p->schedule > GITC_SCHEDULE_CONSTANT)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "unknown schedule %d", (int)p->schedule);
    if (p->warmup_steps < 0 || p->total_steps < 0)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "warm-up %ld and total steps %ld: must be >= 0", p->warmup_steps,
                         p->total_steps);
    if (p->accumulate < 1 || p->accumulate > TRAINER_MAX_ACCUMULATE)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "accumulate %d: must be 1..%d", p->accumulate,
                         TRAINER_MAX_ACCUMULATE);
    if (p->freeze & ~(GITC_FREEZE_VISION | GITC_FREEZE_PROJECTION | GITC_FREEZE_EMBEDDINGS))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "freeze: unknown bits 0x%x", p->freeze);
    if (p->n_threads < 0 || p->n_threads > 1024)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "threads %d: must be 0..1024", p->n_threads);
    if (p->max_batch < 1 || p->max_batch > TRAINER_MAX_BATCH)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "max_batch %d: must be 1..%d", p->max_batch, TRAINER_MAX_BATCH);
    if (p->max_text == 0)
        p->max_text = cfg->max_position_embeddings;
    if (p->max_text < 2 || p->max_text > cfg->max_position_embeddings)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "max_text %d: must be 2..%d (max_position_embeddings)",
                         p->max_text, cfg->max_position_embeddings);
    if (p->cache_images < 0 || p->cache_images > TRAINER_MAX_CACHE)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "cache_images %d: must be 0..%d", p->cache_images,
                         TRAINER_MAX_CACHE);
    return GITC_OK;
}

/* A number from config.json (`sub` names a nested object or is NULL), or `fallback`. */
static double config_number(const cJSON *root, const char *sub, const char *key, double fallback)
{
    const cJSON *o = sub ? cJSON_GetObjectItemCaseSensitive(root, sub) : root;
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* Reads the dropout rates of config.json (GitConfig's defaults 0.1 / 0.1,
 * GitVisionConfig's 0 / 0 when a key is absent). */
static gitc_status read_dropout(gitc_trainer *t, gitc_error *err)
{
    char *path = gitci_path_join(t->model_dir, "config.json"), *text = NULL;
    size_t len = 0;
    if (!path)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    gitc_status st = gitci_read_file_max(path, GITC_CONFIG_MAX_BYTES, &text, &len, err);
    cJSON *root = NULL;
    if (st == GITC_OK)
        st = gitci_json_parse_config(text, len, path, &root, err);
    if (st == GITC_OK) {
        t->rates[0] = (float)config_number(root, NULL, "hidden_dropout_prob", 0.1);
        t->rates[1] = (float)config_number(root, NULL, "attention_probs_dropout_prob", 0.1);
        t->rates[2] = (float)config_number(root, "vision_config", "dropout", 0.0);
        t->rates[3] = (float)config_number(root, "vision_config", "attention_dropout", 0.0);
        for (int i = 0; i < 4; i++)
            if (!(t->rates[i] >= 0.0f && t->rates[i] < 1.0f))
                st = gitci_fail(err, GITC_ERR_FORMAT, "%s: a dropout probability is %g (it must be in [0, 1))",
                               path, t->rates[i]);
    }
    cJSON_Delete(root);
    free(text);
    free(path);
    return st;
}

gitc_status gitc_trainer_create(const gitc_model *model, const gitc_train_params *params, gitc_trainer **out,
                                gitc_error *err)
{
    if (out)
        *out = NULL;
    if (!model || !out)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_trainer_create: NULL argument");
    gitc_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    t->cfg = *gitc_model_config(model);
    gitc_status st = train_params(params, &t->cfg, &t->p, err);
    if (st != GITC_OK)
        goto fail;
    t->model_dir = strdup(model->dir);
    if (!t->model_dir) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto fail;
    }
    if ((st = read_dropout(t, err)) != GITC_OK)
        goto fail;
    t->opt = (gitc_adamw){t->p.beta1, t->p.beta2, t->p.eps, t->p.weight_decay};
    if ((st = gitci_tmodel_create(model, t->p.freeze, t->p.max_batch, t->p.max_text, &t->tm, err)) != GITC_OK)
        goto fail;
    t->n_params = gitci_tmodel_params(t->tm, &t->params);
    t->m = calloc((size_t)t->n_params, sizeof *t->m);
    t->v = calloc((size_t)t->n_params, sizeof *t->v);
    size_t n_train = 0;
    for (int i = 0; i < t->n_params; i++)
        n_train += t->params[i].grad ? t->params[i].numel : 0;
    /* huge pages: the moments are 2 x the trained parameters, streamed by every step */
    t->moments = n_train ? gitci_calloc_large(2 * n_train * sizeof *t->moments) : NULL;
    if (!t->m || !t->v || (n_train && !t->moments)) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory for the AdamW moments (%zu MB)",
                       2 * n_train * sizeof(float) >> 20);
        goto fail;
    }
    size_t at = 0;
    for (int i = 0; i < t->n_params; i++) {
        if (!t->params[i].grad)
            continue;
        t->m[i] = t->moments + at;
        t->v[i] = t->moments + at + t->params[i].numel;
        at += 2 * t->params[i].numel;
    }
    int n_threads = t->p.n_threads ? t->p.n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    t->pool = gitci_pool_create(n_threads > 0 ? n_threads : 1);
    if (!t->pool) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "cannot start %d threads", n_threads);
        goto fail;
    }
    t->pixel_floats = gitc_model_pixel_floats(model);
    t->vision_floats = gitci_tmodel_vision_floats(t->tm);
    if (t->p.freeze & GITC_FREEZE_VISION) {
        t->vision_buf = malloc((size_t)t->p.max_batch * t->vision_floats * sizeof(float));
        t->cache = t->p.cache_images ? calloc((size_t)t->p.cache_images, sizeof *t->cache) : NULL;
        if (!t->vision_buf || (t->p.cache_images && !t->cache)) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory for the vision features");
            goto fail;
        }
    }
    *out = t;
    return GITC_OK;
fail:
    gitc_trainer_free(t);
    return st;
}

void gitc_trainer_free(gitc_trainer *t)
{
    if (!t)
        return;
    if (t->cache)
        for (int i = 0; i < t->p.cache_images; i++)
            free(t->cache[i]);
    free(t->cache);
    free(t->vision_buf);
    gitci_pool_free(t->pool);
    gitci_free_large(t->moments);
    free(t->m);
    free(t->v);
    gitci_tmodel_free(t->tm);
    free(t->model_dir);
    free(t);
}

long gitc_trainer_steps(const gitc_trainer *t) { return t ? t->step : 0; }
long gitc_trainer_micro_steps(const gitc_trainer *t) { return t ? t->micro : 0; }

/* Checks the inputs of a step or an evaluation. */
static gitc_status check_batch(const gitc_trainer *t, const float *px, size_t pixel_floats, const int64_t *keys,
                               int B, const int32_t *ids, const int32_t *labels, int T, gitc_error *err)
{
    if (!px || !ids || !labels)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "trainer: NULL pixel_values, ids or labels");
    if (B < 1 || B > t->p.max_batch)
        return gitci_fail(err, GITC_ERR_LIMIT, "trainer: batch of %d images (max_batch is %d)", B, t->p.max_batch);
    if (pixel_floats != (size_t)B * t->pixel_floats)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "trainer: %zu pixel_values floats for %d images of %zu", pixel_floats,
                         B, t->pixel_floats);
    if (T < 2 || T > t->p.max_text)
        return gitci_fail(err, GITC_ERR_LIMIT, "trainer: %d text tokens (2..%d)", T, t->p.max_text);
    int targets = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            int32_t id = ids[(size_t)b * T + i], l = labels[(size_t)b * T + i];
            if (id < 0 || id >= t->cfg.vocab_size)
                return gitci_fail(err, GITC_ERR_ARGUMENT, "trainer: id %d at [%d, %d] outside the vocabulary of %d",
                                 id, b, i, t->cfg.vocab_size);
            if (l != -100 && (l < 0 || l >= t->cfg.vocab_size))
                return gitci_fail(err, GITC_ERR_ARGUMENT, "trainer: label %d at [%d, %d] is neither -100 nor an id",
                                 l, b, i);
            targets += i > 0 && l != -100;
        }
    if (!targets)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "trainer: the batch has no targets (labels[:, 1:] are all -100)");
    if (keys)
        for (int b = 0; b < B; b++)
            if (keys[b] < 0)
                return gitci_fail(err, GITC_ERR_ARGUMENT, "trainer: image key %" PRId64 " is negative", keys[b]);
    return GITC_OK;
}

/* With a frozen vision encoder: fills vision_buf with the batch's vision
 * features, from the cache where a key has them, else computed one image at a
 * time (so a feature never depends on which images share its batch). */
static gitc_status batch_vision(gitc_trainer *t, const float *px, const int64_t *keys, int B, gitc_error *err)
{
    size_t vf = t->vision_floats;
    for (int b = 0; b < B; b++) {
        float *dst = t->vision_buf + (size_t)b * vf;
        int64_t k = keys ? keys[b] : -1;
        float **slot = k >= 0 && k < t->p.cache_images ? &t->cache[k] : NULL;
        if (slot && *slot) {
            memcpy(dst, *slot, vf * sizeof *dst);
            continue;
        }
        gitc_status st = gitci_tmodel_vision(t->tm, t->pool, dst, vf, px + (size_t)b * t->pixel_floats,
                                            t->pixel_floats, 1, err);
        if (st != GITC_OK)
            return st;
        if (slot) {
            *slot = malloc(vf * sizeof **slot);
            if (*slot) /* out of memory: simply not cached */
                memcpy(*slot, dst, vf * sizeof *dst);
        }
    }
    return GITC_OK;
}

/* The learning rate of optimizer step `step` (0-based). */
static double step_lr(const gitc_trainer *t, long step)
{
    gitc_schedule s = t->p.total_steps > 0 ? t->p.schedule : GITC_SCHEDULE_CONSTANT;
    return t->p.lr * gitci_schedule_factor(s, step, t->p.warmup_steps, t->p.total_steps);
}

/* Clips the accumulated gradients and takes one AdamW step. */
static gitc_status optimizer_step(gitc_trainer *t, gitc_error *err)
{
    double lr = step_lr(t, t->step);
    double norm = gitci_optim_step(t->params, t->n_params, t->m, t->v, &t->opt, t->p.clip, lr, t->step + 1, t->pool);
    if (!isfinite(norm))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "trainer: the gradient norm is %g at step %ld; weights left "
                         "unchanged (lower the learning rate?)", norm, t->step + 1);
    t->step++;
    t->last_lr = lr;
    t->last_norm = norm;
    return GITC_OK;
}

/* A 64-bit mix (splitmix64's finalizer): the dropout seed of micro-batch k. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* The input of the training model for a batch: the batch checked, then its
 * pixels, or with the vision part frozen the features of its images (from
 * the cache or computed), and their floats. */
static gitc_status batch_input(gitc_trainer *t, const float *px, size_t pixel_floats, const int64_t *keys, int B,
                               const int32_t *ids, const int32_t *labels, int T, const float **pixels,
                               const float **vision, size_t *floats, gitc_error *err)
{
    gitc_status st = check_batch(t, px, pixel_floats, keys, B, ids, labels, T, err);
    if (st != GITC_OK)
        return st;
    int frozen_vision = (t->p.freeze & GITC_FREEZE_VISION) != 0;
    if (frozen_vision && (st = batch_vision(t, px, keys, B, err)) != GITC_OK)
        return st;
    *pixels = frozen_vision ? NULL : px;
    *vision = frozen_vision ? t->vision_buf : NULL;
    *floats = (size_t)B * (frozen_vision ? t->vision_floats : t->pixel_floats);
    return GITC_OK;
}

gitc_status gitc_trainer_step(gitc_trainer *t, const float *px, size_t pixel_floats, const int64_t *keys, int B,
                              const int32_t *ids, const int32_t *labels, int T, gitc_train_stats *stats,
                              gitc_error *err)
{
    if (!t)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_trainer_step: NULL trainer");
    const float *pixels, *vision;
    size_t floats;
    gitc_status st = batch_input(t, px, pixel_floats, keys, B, ids, labels, T, &pixels, &vision, &floats, err);
    if (st != GITC_OK)
        return st;
    if (t->pending == 0)
        for (int i = 0; i < t->n_params; i++)
            if (t->params[i].grad)
                memset(t->params[i].grad, 0, t->params[i].numel * sizeof(float));
    gitc_dropout drop = {t->rates[0], t->rates[1], t->rates[2], t->rates[3],
                         mix64(t->p.seed ^ mix64((uint64_t)t->micro))};
    int use_dropout = t->p.dropout && (drop.hidden > 0 || drop.attention > 0 || drop.vision > 0 ||
                                       drop.vision_attention > 0);
    double loss = 0.0;
    int n_targets = 0;
    st = gitci_tmodel_step(t->tm, t->pool, pixels, vision, floats, B, ids, labels, T, 1.0f / (float)t->p.accumulate,
                          use_dropout ? &drop : NULL, &loss, &n_targets, err);
    if (st != GITC_OK)
        return st;
    if (!isfinite(loss))
        return gitci_fail(err, GITC_ERR_ARGUMENT, "trainer: the loss is %g at micro-batch %ld", loss, t->micro + 1);
    t->micro++;
    t->pending++;
    int stepped = 0;
    if (t->pending == t->p.accumulate) {
        t->pending = 0;
        if ((st = optimizer_step(t, err)) != GITC_OK)
            return st;
        stepped = 1;
    }
    if (stats) {
        stats->loss = loss;
        stats->n_targets = n_targets;
        stats->stepped = stepped;
        stats->step = t->step;
        stats->lr = t->step ? t->last_lr : step_lr(t, 0);
        stats->grad_norm = t->last_norm;
    }
    return GITC_OK;
}

gitc_status gitc_trainer_evaluate(gitc_trainer *t, const float *px, size_t pixel_floats, const int64_t *keys, int B,
                                  const int32_t *ids, const int32_t *labels, int T, double *loss, int *n_targets,
                                  gitc_error *err)
{
    if (!t)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_trainer_evaluate: NULL trainer");
    const float *pixels, *vision;
    size_t floats;
    gitc_status st = batch_input(t, px, pixel_floats, keys, B, ids, labels, T, &pixels, &vision, &floats, err);
    if (st != GITC_OK)
        return st;
    double l = 0.0;
    int n = 0;
    st = gitci_tmodel_loss(t->tm, t->pool, pixels, vision, floats, B, ids, labels, T, &l, &n, err);
    if (st != GITC_OK)
        return st;
    if (loss)
        *loss = l;
    if (n_targets)
        *n_targets = n;
    return GITC_OK;
}

/* ---- saving ---- */

/* Creates a folder and its parents (mkdir -p). */
static gitc_status make_dirs(const char *dir, gitc_error *err)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        struct stat sb;
        if (stat(p, &sb) != 0) {
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                gitc_status st = gitci_fail(err, GITC_ERR_IO, "%s: cannot create the folder: %s", p, strerror(errno));
                free(p);
                return st;
            }
        } else if (!S_ISDIR(sb.st_mode)) {
            gitc_status st = gitci_fail(err, GITC_ERR_IO, "%s: exists and is not a folder", p);
            free(p);
            return st;
        }
        p[i] = c;
    }
    free(p);
    return GITC_OK;
}

/* Writes `size` bytes to `path` atomically: a temporary file renamed into place. */
static gitc_status write_file_atomic(const char *path, const void *data, size_t size, gitc_error *err)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    if (!tmp)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        gitc_status s = gitci_fail(err, GITC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        return s;
    }
    int ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        gitc_status s = gitci_fail(err, GITC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return GITC_OK;
}

/* Writes text to dir/name atomically. */
static gitc_status write_text(const char *dir, const char *name, const char *text, gitc_error *err)
{
    char *path = gitci_path_join(dir, name);
    if (!path)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    gitc_status st = write_file_atomic(path, text, strlen(text), err);
    free(path);
    return st;
}

/* config.json of the input folder with torch_dtype "float32" (the saved weights). */
static gitc_status save_config(const gitc_trainer *t, const char *dir, gitc_error *err)
{
    char *path = gitci_path_join(t->model_dir, "config.json"), *text = NULL, *out = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    gitc_status st = path ? gitci_read_file_max(path, GITC_CONFIG_MAX_BYTES, &text, &len, err)
                          : gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    if (st == GITC_OK)
        st = gitci_json_parse_config(text, len, path, &root, err);
    if (st == GITC_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "torch_dtype");
        if (!cJSON_AddStringToObject(root, "torch_dtype", "float32") || !(out = cJSON_Print(root)))
            st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    if (st == GITC_OK)
        st = write_text(dir, "config.json", out, err);
    cJSON_free(out);
    cJSON_Delete(root);
    free(text);
    free(path);
    return st;
}

/* Copies dir_from/name to dir_to/name when the source exists (atomically). */
static gitc_status copy_if_present(const char *from_dir, const char *to_dir, const char *name, gitc_error *err)
{
    char *from = gitci_path_join(from_dir, name), *to = gitci_path_join(to_dir, name), *data = NULL;
    size_t len = 0;
    gitc_status st = GITC_OK;
    if (!from || !to)
        st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    else if (gitci_file_exists(from) && (st = gitci_read_file_max(from, GITC_TOKENIZER_MAX_BYTES, &data, &len, err)) == GITC_OK)
        st = write_file_atomic(to, data, len, err);
    free(data);
    free(from);
    free(to);
    return st;
}

/* generation_config.json: the input folder's, else the ids transformers writes from the config. */
static gitc_status save_generation_config(const gitc_trainer *t, const char *dir, gitc_error *err)
{
    char *src = gitci_path_join(t->model_dir, "generation_config.json");
    if (!src)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    int present = gitci_file_exists(src);
    free(src);
    if (present)
        return copy_if_present(t->model_dir, dir, "generation_config.json", err);
    char text[256];
    snprintf(text, sizeof text,
             "{\n  \"_from_model_config\": true,\n  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n"
             "  \"pad_token_id\": %d,\n  \"transformers_version\": \"4.39.3\"\n}\n",
             t->cfg.bos_token_id, t->cfg.eos_token_id, t->cfg.pad_token_id);
    return write_text(dir, "generation_config.json", text, err);
}

/* What a safetensors writer streams: one float array per declared tensor. */
typedef struct fill_ctx {
    const float **arrays;
} fill_ctx;

/* Copies tensor `index` of a fill_ctx into the writer's buffer. */
static gitc_status fill_tensor(void *user, int index, void *buf, size_t nbytes, gitc_error *err)
{
    const fill_ctx *c = user;
    memcpy(buf, c->arrays[index], nbytes);
    return GITC_OK;
}

/* Writes the named float arrays (shapes of the parameters `which` selects) to
 * dir/file with {"format": "pt"}. kind: 0 weights, 1 exp_avg + exp_avg_sq, 2 grads. */
static gitc_status save_tensors(const gitc_trainer *t, const char *dir, const char *file, int kind, gitc_error *err)
{
    st_writer *w = gitci_st_writer_new();
    const float **arrays = calloc(2 * (size_t)t->n_params + 1, sizeof *arrays);
    char *path = gitci_path_join(dir, file);
    gitc_status st = GITC_OK;
    if (!w || !arrays || !path) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    if ((st = gitci_st_writer_set_format(w, "pt", err)) != GITC_OK)
        goto done;
    int n = 0;
    for (int i = 0; i < t->n_params && st == GITC_OK; i++) {
        const gitc_tparam *p = &t->params[i];
        char name[160];
        if (kind == 0) {
            st = gitci_st_writer_add(w, p->name, ST_F32, p->ndim, p->shape, NULL, err);
            arrays[n++] = p->value;
        } else if (kind == 1 && t->m[i]) {
            snprintf(name, sizeof name, "exp_avg.%s", p->name);
            st = gitci_st_writer_add(w, name, ST_F32, p->ndim, p->shape, NULL, err);
            arrays[n++] = t->m[i];
            snprintf(name, sizeof name, "exp_avg_sq.%s", p->name);
            if (st == GITC_OK)
                st = gitci_st_writer_add(w, name, ST_F32, p->ndim, p->shape, NULL, err);
            arrays[n++] = t->v[i];
        } else if (kind == 2 && p->grad) {
            snprintf(name, sizeof name, "grad.%s", p->name);
            st = gitci_st_writer_add(w, name, ST_F32, p->ndim, p->shape, NULL, err);
            arrays[n++] = p->grad;
        }
    }
    fill_ctx ctx = {arrays};
    if (st == GITC_OK)
        st = gitci_st_writer_write_stream(w, path, fill_tensor, &ctx, err);
done:
    free(path);
    free(arrays);
    gitci_st_writer_free(w);
    return st;
}

gitc_status gitc_trainer_save(gitc_trainer *t, const char *dir, gitc_error *err)
{
    if (!t || !dir)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_trainer_save: NULL argument");
    gitc_status st = make_dirs(dir, err);
    if (st == GITC_OK)
        st = save_config(t, dir, err);
    if (st == GITC_OK)
        st = save_generation_config(t, dir, err);
    for (size_t i = 0; st == GITC_OK && i < sizeof processor_files / sizeof processor_files[0]; i++)
        st = copy_if_present(t->model_dir, dir, processor_files[i], err);
    if (st == GITC_OK)
        st = save_tensors(t, dir, "model.safetensors", 0, err);
    return st;
}

/* The settings a checkpoint records and a resume checks or takes. */
static cJSON *state_json(const gitc_trainer *t, const char *user_json, gitc_error *err)
{
    cJSON *root = cJSON_CreateObject(), *user = NULL;
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, t->p.seed);
    if (user_json && gitci_json_parse(user_json, strlen(user_json), "user_json", &user, err) != GITC_OK) {
        cJSON_Delete(root);
        return NULL;
    }
    int ok = root && cJSON_AddNumberToObject(root, "step", (double)t->step) &&
             cJSON_AddNumberToObject(root, "micro_step", (double)t->micro) &&
             cJSON_AddNumberToObject(root, "pending_micro_batches", t->pending) &&
             cJSON_AddStringToObject(root, "seed", seed) && cJSON_AddNumberToObject(root, "lr", t->p.lr) &&
             cJSON_AddNumberToObject(root, "last_lr", t->last_lr) &&
             cJSON_AddNumberToObject(root, "last_grad_norm", t->last_norm) &&
             cJSON_AddNumberToObject(root, "accumulate", t->p.accumulate) &&
             cJSON_AddNumberToObject(root, "freeze", t->p.freeze) &&
             cJSON_AddNumberToObject(root, "dropout", t->p.dropout) &&
             cJSON_AddStringToObject(root, "rng", "dropout masks of micro-batch k are drawn from mix(seed, k)");
    if (ok && user)
        ok = cJSON_AddItemToObject(root, "user", user) != 0;
    else
        cJSON_Delete(user);
    if (!ok) {
        cJSON_Delete(root);
        gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        return NULL;
    }
    return root;
}

gitc_status gitc_trainer_save_checkpoint(gitc_trainer *t, const char *dir, const char *user_json, gitc_error *err)
{
    if (!t || !dir)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_trainer_save_checkpoint: NULL argument");
    cJSON *state = state_json(t, user_json, err);
    if (!state)
        return err ? err->status : GITC_ERR_MEMORY;
    char *text = cJSON_Print(state);
    cJSON_Delete(state);
    if (!text)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    gitc_status st = gitc_trainer_save(t, dir, err);
    if (st == GITC_OK)
        st = save_tensors(t, dir, "optimizer.safetensors", 1, err);
    if (st == GITC_OK && t->pending)
        st = save_tensors(t, dir, "gradients.safetensors", 2, err);
    /* trainer_state.json last: a folder without it is not a complete checkpoint. */
    if (st == GITC_OK)
        st = write_text(dir, "trainer_state.json", text, err);
    cJSON_free(text);
    return st;
}

/* Copies the F32 tensor `name` of f into dst (numel floats, the shape checked). */
static gitc_status load_tensor(const st_file *f, const char *name, const gitc_tparam *p, float *dst, gitc_error *err)
{
    const st_tensor *x = gitci_st_find(f, name);
    if (!x)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: no tensor %s", f->path, name);
    int same = x->dtype == ST_F32 && x->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++)
        same = x->shape[d] == p->shape[d];
    if (!same)
        return gitci_fail(err, GITC_ERR_SHAPE, "%s: tensor %s is not F32 of the model's shape", f->path, name);
    memcpy(dst, x->data, p->numel * sizeof(float));
    return GITC_OK;
}

/* Reads one safetensors file of a checkpoint into the trainer. */
static gitc_status load_tensors(gitc_trainer *t, const char *dir, const char *file, int kind, gitc_error *err)
{
    char *path = gitci_path_join(dir, file);
    if (!path)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    st_file *f = NULL;
    gitc_status st = gitci_st_open(path, &f, err);
    free(path);
    for (int i = 0; st == GITC_OK && i < t->n_params; i++) {
        gitc_tparam *p = &t->params[i];
        char name[160];
        if (kind == 0) {
            st = load_tensor(f, p->name, p, p->value, err);
        } else if (kind == 1 && t->m[i]) {
            snprintf(name, sizeof name, "exp_avg.%s", p->name);
            st = load_tensor(f, name, p, t->m[i], err);
            snprintf(name, sizeof name, "exp_avg_sq.%s", p->name);
            if (st == GITC_OK)
                st = load_tensor(f, name, p, t->v[i], err);
        } else if (kind == 2 && p->grad) {
            snprintf(name, sizeof name, "grad.%s", p->name);
            st = load_tensor(f, name, p, p->grad, err);
        }
    }
    gitci_st_close(f);
    return st;
}

gitc_status gitc_trainer_resume(gitc_trainer *t, const char *dir, char **user_json, gitc_error *err)
{
    if (user_json)
        *user_json = NULL;
    if (!t || !dir)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_trainer_resume: NULL argument");
    char *path = gitci_path_join(dir, "trainer_state.json"), *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    if (!path)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    gitc_status st = gitci_read_file_max(path, GITC_CONFIG_MAX_BYTES, &text, &len, err);
    if (st == GITC_OK)
        st = gitci_json_parse_config(text, len, path, &root, err);
    long step = 0, micro = 0, pending = 0, freeze = -1;
    if (st == GITC_OK) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "step");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "micro_step");
        const cJSON *pm = cJSON_GetObjectItemCaseSensitive(root, "pending_micro_batches");
        const cJSON *fz = cJSON_GetObjectItemCaseSensitive(root, "freeze");
        if (!cJSON_IsNumber(s) || !cJSON_IsNumber(m) || !cJSON_IsNumber(pm) || !cJSON_IsNumber(fz) ||
            s->valuedouble < 0 || m->valuedouble < 0 || pm->valuedouble < 0 || s->valuedouble > 1e15 ||
            m->valuedouble > 1e15)
            st = gitci_fail(err, GITC_ERR_FORMAT, "%s: step, micro_step, pending_micro_batches or freeze missing "
                           "or out of range", path);
        else {
            step = (long)s->valuedouble;
            micro = (long)m->valuedouble;
            pending = (long)pm->valuedouble;
            freeze = (long)fz->valuedouble;
        }
    }
    if (st == GITC_OK && freeze != (long)t->p.freeze)
        st = gitci_fail(err, GITC_ERR_ARGUMENT, "%s: the checkpoint froze parts 0x%lx, this run freezes 0x%x "
                       "(resume with the same --freeze)", path, freeze, t->p.freeze);
    if (st == GITC_OK && pending >= t->p.accumulate)
        st = gitci_fail(err, GITC_ERR_ARGUMENT, "%s: %ld micro-batches were accumulated, this run steps every %d "
                       "(resume with the same --accumulate)", path, pending, t->p.accumulate);
    if (st == GITC_OK)
        st = load_tensors(t, dir, "model.safetensors", 0, err);
    if (st == GITC_OK)
        st = load_tensors(t, dir, "optimizer.safetensors", 1, err);
    if (st == GITC_OK && pending)
        st = load_tensors(t, dir, "gradients.safetensors", 2, err);
    if (st == GITC_OK) {
        t->step = step;
        t->micro = micro;
        t->pending = (int)pending;
        const cJSON *ll = cJSON_GetObjectItemCaseSensitive(root, "last_lr");
        const cJSON *ln = cJSON_GetObjectItemCaseSensitive(root, "last_grad_norm");
        t->last_lr = cJSON_IsNumber(ll) ? ll->valuedouble : 0.0;
        t->last_norm = cJSON_IsNumber(ln) ? ln->valuedouble : 0.0;
        const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
        if (user_json && user && !(*user_json = cJSON_PrintUnformatted(user)))
            st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    cJSON_Delete(root);
    free(text);
    free(path);
    return st;
}
