/* Training copy of a GIT model (train_model.h): float32 parameters and
 * gradients, the forward pass that keeps its activations, and the backward
 * pass of GitForCausalLM's loss. Dimension letters as in train_model.h, plus:
 * F frames per sample (1 for image models), Np patches per frame, N = Np + 1
 * tokens per frame (I = F*N), Dv/Iv vision hidden/MLP, D/Id decoder
 * hidden/MLP, S = I + T decoder tokens per sample, Rv = B*F*N vision rows,
 * Rd = B*S decoder rows. */
#include "train_model.h"

#include "kernels.h"
#include "model.h"
#include "weights.h"
#include "train_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A linear layer's parameters: w [n_out, n_in], b [n_out] (b NULL: none);
 * gw/gb their gradients (NULL when frozen). */
typedef struct tlin {
    float *w, *b, *gw, *gb;
    int n_out, n_in;
} tlin;

/* A LayerNorm's parameters and gradients ([C] each). */
typedef struct tnorm {
    float *g, *b, *gg, *gb;
} tnorm;

typedef struct tvlayer {
    tnorm ln1, ln2;
    tlin q, k, v, o, fc1, fc2;
} tvlayer;

typedef struct tdlayer {
    tlin q, k, v, o, fc1, fc2;
    tnorm ln1, ln2;
} tdlayer;

/* What one vision layer keeps (rows Rv): a1/a2 the LayerNorm outputs (inputs
 * of q/k/v and fc1), h1 the residual after attention, u/g fc1's output
 * before/after quick_gelu. */
typedef struct vacts {
    float *mean1, *rstd1, *a1, *q, *k, *v, *probs, *ctx, *h1, *mean2, *rstd2, *a2, *u, *g;
} vacts;

/* What one decoder layer keeps (rows Rd; the top layer: q and everything
 * after the attention for the B*T text rows only, see forward()): r1/r2 the
 * LayerNorm inputs, a the attention block's output (input of fc1), u/g fc1's
 * output before/after GELU. */
typedef struct dacts {
    float *q, *k, *v, *probs, *ctx, *r1, *mean1, *rstd1, *a, *u, *g, *r2, *mean2, *rstd2;
} dacts;

struct gitc_tmodel {
    gitc_config cfg;
    unsigned frozen;
    int max_batch, max_text;
    int F, Np, N, I, P, Dv, Iv, Hv, Lv, D, Id, H, Ld, V;

    int n_params;
    gitc_tparam *params;
    float *values; /* every parameter, one block */
    float *grads;  /* every unfrozen parameter's gradient, one block */

    tlin patch;                 /* [Dv, 3*P*P], no bias */
    float *cls, *gcls;          /* [Dv] */
    float *vpos, *gvpos;        /* [N, Dv] */
    tnorm pre, post;
    tvlayer *vl;                /* [Lv] */
    float *temporal, *gtemporal; /* [F, tstride] (video), else NULL */
    size_t tstride;             /* floats from one frame's temporal embedding to the next */
    tlin proj;                  /* [D, Dv] */
    tnorm proj_ln;
    float *wte, *gwte;          /* [V, D] */
    float *wpe, *gwpe;          /* [max_pos, D] */
    tnorm emb_ln;
    tdlayer *dl;                /* [Ld] */
    tlin head;                  /* [V, D] */

    /* activations, sized for max_batch samples of max_text tokens */
    float *arena;
    float *patches;             /* [B*F*Np, 3*P*P] */
    float *vx0;                 /* [Rv, Dv] embeddings (pre-LN input) */
    float *pre_mean, *pre_rstd; /* [Rv] */
    float **vres;               /* [Lv+1][Rv, Dv]: input of each layer, then the post-LN input */
    vacts *va;                  /* [Lv] */
    float *post_mean, *post_rstd; /* [Rv] */
    float *vout;                /* [Rv, Dv] post-LN output (what the cache stores) */
    float *pin;                 /* [Rv, Dv] projection input (vout + temporal) */
    float *pl;                  /* [B*I, D] projection linear output */
    float *proj_mean, *proj_rstd; /* [B*I] */
    float *img;                 /* [B*I, D] projected image tokens */
    float *temb;                /* [B*T, D] word + position embeddings */
    float *emb_mean, *emb_rstd; /* [B*T] */
    float *txt;                 /* [B*T, D] embeddings after LayerNorm (and dropout) */
    float **dres;               /* [Ld+1][Rd, D]: input of each layer, then the final output */
    dacts *da;                  /* [Ld] */
    float *xtop, *dxtop;        /* [B*T, D] the top decoder layer's text input rows, their gradient */
    float *hsel;                /* [B*T, D] final hidden states of the target rows */
    float *logits;              /* [B*T, V], then their gradient */
    int32_t *tgt;               /* [B*T] target of each selected row */
    int32_t *sel;               /* [B*T] decoder row of each selected row */
    int32_t *pos;               /* [B*T] text positions */
    double *row_loss;           /* [B*T] */
    /* gradient scratch: rows max(Rv, Rd) x max(D, Dv), and the MLP width */
    float *s[8];
    float *sm;
    float *scratch;            /* attention and product scratch for the pool in use (grown on demand) */
    size_t scratch_len;        /* its floats */
};

/* ---- parameters ---- */

#define ALL_PARTS                                                                                  \
    ((unsigned)(GITC_TPART_VISION | GITC_TPART_PROJECTION | GITC_TPART_EMBEDDINGS |                \
                GITC_TPART_DECODER | GITC_TPART_HEAD))

typedef struct param_walk {
    gitc_tmodel *t;
    const gitc_model *m;
    int count;
    size_t floats;
    int frame;
    gitc_error *err;
    int fail;
} param_walk;

/* Floats a parameter takes in the blocks (rounded up to 16: 64-byte rows). */
static size_t padded(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* Part bit of a parameter from its name. */
static unsigned part_of(const char *name)
{
    if (strncmp(name, "git.image_encoder.", 18) == 0)
        return GITC_TPART_VISION;
    if (strncmp(name, "git.visual_projection.", 22) == 0 || strncmp(name, "git.img_temperal_embedding.", 27) == 0)
        return GITC_TPART_PROJECTION;
    if (strncmp(name, "git.embeddings.", 15) == 0)
        return GITC_TPART_EMBEDDINGS;
    if (strncmp(name, "git.encoder.", 12) == 0)
        return GITC_TPART_DECODER;
    return GITC_TPART_HEAD;
}

/* 1 when AdamW decays the parameter (transformers' Trainer: not biases, not LayerNorm weights). */
static int decays(const char *name)
{
    static const char *const ln[] = {"LayerNorm", "layer_norm1", "layer_norm2", "pre_layrnorm",
                                     "post_layernorm", "visual_projection.1"};
    if (strstr(name, "bias"))
        return 0;
    for (size_t i = 0; i < sizeof ln / sizeof ln[0]; i++)
        if (strstr(name, ln[i]))
            return 0;
    return 1;
}

/* Weight-table callback: counts the parameters (first walk) or fills them in (second). */
static int param_visit(void *user, const weight_spec *w)
{
    param_walk *pw = user;
    size_t numel = 1;
    for (int d = 0; d < w->ndim; d++)
        numel *= (size_t)w->shape[d];
    if (!pw->t->params) {
        pw->count++;
        pw->floats += padded(numel);
        return 1;
    }
    gitc_tparam *p = &pw->t->params[pw->count++];
    snprintf(p->name, sizeof p->name, "%s", w->name);
    p->ndim = w->ndim;
    for (int d = 0; d < w->ndim; d++)
        p->shape[d] = w->shape[d];
    p->numel = numel;
    p->value = pw->t->values + pw->floats;
    p->part = part_of(p->name);
    p->decay = decays(p->name);
    if (pw->t->grads && !(pw->t->frozen & p->part))
        p->grad = pw->t->grads + pw->floats;
    pw->floats += padded(numel);
    if (w->kind == WEIGHT_MATRIX || w->kind == WEIGHT_EMBEDDING) {
        const gitc_matrix *mx = w->matrix;
        if (!mx || !mx->data || (size_t)mx->n_out * (size_t)mx->n_in != numel) {
            gitci_fail(pw->err, GITC_ERR_SHAPE, "train: weight %s is not bound as a [%zu] matrix", p->name, numel);
            pw->fail = 1;
            return 0;
        }
        for (int r = 0; r < mx->n_out; r++)
            gitci_matrix_row(mx, r, p->value + (size_t)r * (size_t)mx->n_in);
    } else {
        const float *src = w->vector ? *w->vector : NULL;
        if (strncmp(p->name, "git.img_temperal_embedding.", 27) == 0)
            src = pw->m->temporal ? pw->m->temporal + (size_t)pw->frame++ * numel : NULL;
        if (!src) {
            gitci_fail(pw->err, GITC_ERR_SHAPE, "train: weight %s is not bound", p->name);
            pw->fail = 1;
            return 0;
        }
        memcpy(p->value, src, numel * sizeof(float));
    }
    return 1;
}

/* Layer index of a parameter of a layer stack (vision 1, decoder 2) into
 * *stack and the name's offset after the layer number; -1 outside the stacks. */
static int stack_layer(const char *name, int *stack, size_t *rest)
{
    static const char *const pre[2] = {"git.image_encoder.vision_model.encoder.layers.", "git.encoder.layer."};
    for (int s = 0; s < 2; s++) {
        size_t n = strlen(pre[s]);
        if (strncmp(name, pre[s], n) == 0) {
            char *end;
            long l = strtol(name + n, &end, 10);
            *stack = s + 1;
            *rest = (size_t)(end - name);
            return (int)l;
        }
    }
    *stack = 0;
    *rest = 0;
    return -1;
}

/* Where a parameter goes in state-dict order (see state_dict_order). */
typedef struct order_key {
    long block, layer, row;
    gitc_tparam p;
} order_key;

/* qsort order of order_key: block, then layer, then row. */
static int order_cmp(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->block != y->block)
        return x->block < y->block ? -1 : 1;
    if (x->layer != y->layer)
        return x->layer < y->layer ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Puts the parameters in state-dict order: the weight table walks a layer
 * stack row by row (every layer's k_proj, then every layer's v_proj...);
 * transformers lists layer by layer. Returns 0 when out of memory. */
static int state_dict_order(gitc_tmodel *t)
{
    int n = t->n_params;
    order_key *k = calloc((size_t)n, sizeof *k);
    if (!k)
        return 0;
    long first[3] = {-1, -1, -1};
    for (int i = 0; i < n; i++) {
        int stack;
        size_t rest;
        int l = stack_layer(t->params[i].name, &stack, &rest);
        if (stack && first[stack] < 0)
            first[stack] = i;
        k[i].p = t->params[i];
        k[i].block = stack ? first[stack] : i;
        k[i].layer = stack ? l : 0;
        k[i].row = i;
        if (stack) /* the row of the same name in layer 0 (walked first) */
            for (int j = (int)first[stack]; j < i; j++) {
                int sj;
                size_t rj;
                if (stack_layer(t->params[j].name, &sj, &rj) == 0 && sj == stack &&
                    strcmp(t->params[j].name + rj, t->params[i].name + rest) == 0) {
                    k[i].row = j;
                    break;
                }
            }
    }
    qsort(k, (size_t)n, sizeof *k, order_cmp);
    for (int i = 0; i < n; i++)
        t->params[i] = k[i].p;
    free(k);
    return 1;
}

/* The parameter named `name` (NULL when absent). */
static gitc_tparam *find_param(gitc_tmodel *t, const char *name)
{
    for (int i = 0; i < t->n_params; i++)
        if (strcmp(t->params[i].name, name) == 0)
            return &t->params[i];
    return NULL;
}

/* The value of parameter `prefix` + `suffix` and (in *grad) its gradient;
 * NULLs when absent (bind_all checks). */
static float *bind(gitc_tmodel *t, float **grad, const char *prefix, const char *suffix)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    gitc_tparam *p = find_param(t, name);
    *grad = p ? p->grad : NULL;
    return p ? p->value : NULL;
}

/* Binds linear layer `prefix` ([n_out, n_in] weight and a bias); 1 when both exist. */
static int bind_lin(gitc_tmodel *t, tlin *L, const char *prefix, int n_out, int n_in)
{
    L->w = bind(t, &L->gw, prefix, ".weight");
    L->b = bind(t, &L->gb, prefix, ".bias");
    L->n_out = n_out;
    L->n_in = n_in;
    return L->w && L->b;
}

/* Binds LayerNorm `prefix`'s weight and bias; 1 when both exist. */
static int bind_norm(gitc_tmodel *t, tnorm *n, const char *prefix)
{
    n->g = bind(t, &n->gg, prefix, ".weight");
    n->b = bind(t, &n->gb, prefix, ".bias");
    return n->g && n->b;
}

/* One linear layer of a layer struct: its offset, name and shape (d/i: the
 * stack's hidden and MLP widths). */
typedef struct lin_row {
    size_t off;
    const char *name;
    char n_out, n_in;
} lin_row;

/* Binds the linear layers of one layer struct from a table; 1 when all exist. */
static int bind_lins(gitc_tmodel *t, void *layer, const char *prefix, const lin_row *rows, size_t n, int d,
                     int i)
{
    int ok = 1;
    for (size_t r = 0; r < n; r++) {
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, rows[r].name);
        ok &= bind_lin(t, (tlin *)((char *)layer + rows[r].off), name, rows[r].n_out == 'd' ? d : i,
                       rows[r].n_in == 'd' ? d : i);
    }
    return ok;
}

/* Binds every named field; returns 0 (with err) when a parameter is missing. */
static int bind_all(gitc_tmodel *t, gitc_error *err)
{
    static const lin_row vlins[] = {
        {offsetof(tvlayer, q), "self_attn.q_proj", 'd', 'd'},
        {offsetof(tvlayer, k), "self_attn.k_proj", 'd', 'd'},
        {offsetof(tvlayer, v), "self_attn.v_proj", 'd', 'd'},
        {offsetof(tvlayer, o), "self_attn.out_proj", 'd', 'd'},
        {offsetof(tvlayer, fc1), "mlp.fc1", 'i', 'd'},
        {offsetof(tvlayer, fc2), "mlp.fc2", 'd', 'i'},
    };
    static const lin_row dlins[] = {
        {offsetof(tdlayer, q), "attention.self.query", 'd', 'd'},
        {offsetof(tdlayer, k), "attention.self.key", 'd', 'd'},
        {offsetof(tdlayer, v), "attention.self.value", 'd', 'd'},
        {offsetof(tdlayer, o), "attention.output.dense", 'd', 'd'},
        {offsetof(tdlayer, fc1), "intermediate.dense", 'i', 'd'},
        {offsetof(tdlayer, fc2), "output.dense", 'd', 'i'},
    };
    const char *V = "git.image_encoder.vision_model.";
    char name[160];
    t->tstride = padded((size_t)t->Dv);
    t->cls = bind(t, &t->gcls, V, "embeddings.class_embedding");
    t->patch = (tlin){.n_out = t->Dv, .n_in = 3 * t->P * t->P};
    t->patch.w = bind(t, &t->patch.gw, V, "embeddings.patch_embedding.weight");
    t->vpos = bind(t, &t->gvpos, V, "embeddings.position_embedding.weight");
    int ok = t->cls && t->patch.w && t->vpos;
    ok &= bind_norm(t, &t->pre, "git.image_encoder.vision_model.pre_layrnorm");
    ok &= bind_norm(t, &t->post, "git.image_encoder.vision_model.post_layernorm");
    for (int l = 0; l < t->Lv; l++) {
        tvlayer *L = &t->vl[l];
        snprintf(name, sizeof name, "%sencoder.layers.%d.", V, l);
        ok &= bind_lins(t, L, name, vlins, sizeof vlins / sizeof vlins[0], t->Dv, t->Iv);
        char ln[200];
        snprintf(ln, sizeof ln, "%slayer_norm1", name);
        ok &= bind_norm(t, &L->ln1, ln);
        snprintf(ln, sizeof ln, "%slayer_norm2", name);
        ok &= bind_norm(t, &L->ln2, ln);
    }
    if (t->cfg.num_image_with_embedding > 0) { /* frames follow frame 0, tstride apart */
        t->temporal = bind(t, &t->gtemporal, "git.img_temperal_embedding.0", "");
        ok &= t->temporal != NULL;
    }
    ok &= bind_lin(t, &t->proj, "git.visual_projection.visual_projection.0", t->D, t->Dv);
    ok &= bind_norm(t, &t->proj_ln, "git.visual_projection.visual_projection.1");
    t->wte = bind(t, &t->gwte, "git.embeddings.word_embeddings.weight", "");
    t->wpe = bind(t, &t->gwpe, "git.embeddings.position_embeddings.weight", "");
    ok &= t->wte && t->wpe;
    ok &= bind_norm(t, &t->emb_ln, "git.embeddings.LayerNorm");
    for (int l = 0; l < t->Ld; l++) {
        tdlayer *L = &t->dl[l];
        snprintf(name, sizeof name, "git.encoder.layer.%d.", l);
        ok &= bind_lins(t, L, name, dlins, sizeof dlins / sizeof dlins[0], t->D, t->Id);
        char ln[200];
        snprintf(ln, sizeof ln, "%sattention.output.LayerNorm", name);
        ok &= bind_norm(t, &L->ln1, ln);
        snprintf(ln, sizeof ln, "%soutput.LayerNorm", name);
        ok &= bind_norm(t, &L->ln2, ln);
    }
    ok &= bind_lin(t, &t->head, "output", t->V, t->D);
    if (!ok)
        gitci_fail(err, GITC_ERR_SHAPE, "train: the model lacks a parameter the training pass needs");
    return ok;
}

/* ---- activation layout ---- */

typedef struct arena_cursor {
    float *base;
    size_t used;
} arena_cursor;

/* n floats from the arena (64-byte aligned); NULL while only counting. */
static float *take(arena_cursor *c, size_t n)
{
    float *p = c->base ? c->base + c->used : NULL;
    c->used += padded(n);
    return p;
}

/* Lays out every activation buffer in c (counting when c->base is NULL). */
static void layout(gitc_tmodel *t, arena_cursor *c)
{
    size_t B = (size_t)t->max_batch, T = (size_t)t->max_text;
    size_t Rv = B * (size_t)t->F * (size_t)t->N, nf = B * (size_t)t->F;
    size_t S = (size_t)t->I + T, Rd = B * S, BI = B * (size_t)t->I;
    size_t Dv = (size_t)t->Dv, D = (size_t)t->D;
    t->patches = take(c, nf * (size_t)t->Np * 3 * (size_t)t->P * (size_t)t->P);
    t->vx0 = take(c, Rv * Dv);
    t->pre_mean = take(c, Rv);
    t->pre_rstd = take(c, Rv);
    for (int l = 0; l <= t->Lv; l++)
        t->vres[l] = take(c, Rv * Dv);
    for (int l = 0; l < t->Lv; l++) {
        vacts *a = &t->va[l];
        a->mean1 = take(c, Rv), a->rstd1 = take(c, Rv), a->a1 = take(c, Rv * Dv);
        a->q = take(c, Rv * Dv), a->k = take(c, Rv * Dv), a->v = take(c, Rv * Dv);
        a->probs = take(c, nf * (size_t)t->Hv * (size_t)t->N * (size_t)t->N);
        a->ctx = take(c, Rv * Dv), a->h1 = take(c, Rv * Dv);
        a->mean2 = take(c, Rv), a->rstd2 = take(c, Rv), a->a2 = take(c, Rv * Dv);
        a->u = take(c, Rv * (size_t)t->Iv), a->g = take(c, Rv * (size_t)t->Iv);
    }
    t->post_mean = take(c, Rv);
    t->post_rstd = take(c, Rv);
    t->vout = take(c, Rv * Dv);
    t->pin = take(c, Rv * Dv);
    t->pl = take(c, BI * D);
    t->proj_mean = take(c, BI);
    t->proj_rstd = take(c, BI);
    t->img = take(c, BI * D);
    t->temb = take(c, B * T * D);
    t->emb_mean = take(c, B * T);
    t->emb_rstd = take(c, B * T);
    t->txt = take(c, B * T * D);
    for (int l = 0; l <= t->Ld; l++)
        t->dres[l] = take(c, Rd * D);
    for (int l = 0; l < t->Ld; l++) {
        dacts *a = &t->da[l];
        a->q = take(c, Rd * D), a->k = take(c, Rd * D), a->v = take(c, Rd * D);
        a->probs = take(c, B * (size_t)t->H * S * S);
        a->ctx = take(c, Rd * D), a->r1 = take(c, Rd * D);
        a->mean1 = take(c, Rd), a->rstd1 = take(c, Rd), a->a = take(c, Rd * D);
        a->u = take(c, Rd * (size_t)t->Id), a->g = take(c, Rd * (size_t)t->Id);
        a->r2 = take(c, Rd * D), a->mean2 = take(c, Rd), a->rstd2 = take(c, Rd);
    }
    t->xtop = take(c, B * T * D);
    t->dxtop = take(c, B * T * D);
    t->hsel = take(c, B * T * D);
    t->logits = take(c, B * T * (size_t)t->V);
    t->tgt = (int32_t *)take(c, B * T);
    t->sel = (int32_t *)take(c, B * T);
    t->pos = (int32_t *)take(c, B * T);
    t->row_loss = (double *)take(c, 2 * B * T);
    size_t R = Rv > Rd ? Rv : Rd, W = Dv > D ? Dv : D;
    size_t Wm = t->Iv > t->Id ? (size_t)t->Iv : (size_t)t->Id;
    for (int i = 0; i < 8; i++)
        t->s[i] = take(c, R * W);
    t->sm = take(c, R * Wm);
}

void gitci_tmodel_free(gitc_tmodel *t)
{
    if (!t)
        return;
    free(t->params);
    gitci_free_large(t->values);
    gitci_free_large(t->grads);
    free(t->vl);
    free(t->dl);
    free(t->va);
    free(t->da);
    free(t->vres);
    free(t->dres);
    gitci_free_large(t->arena);
    gitci_free_large(t->scratch);
    free(t);
}

/* n zero floats from gitci_calloc_large (huge pages: a step streams
 * gigabytes of activations; free with gitci_free_large; NULL on failure or
 * overflow). */
static float *alloc_floats(size_t n)
{
    if (n == 0 || n > SIZE_MAX / sizeof(float))
        return NULL;
    return gitci_calloc_large(n * sizeof(float));
}

gitc_status gitci_tmodel_create(const gitc_model *m, unsigned frozen, int max_batch, int max_text,
                               gitc_tmodel **out, gitc_error *err)
{
    if (!out)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: out is NULL");
    *out = NULL;
    if (!m)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: model is NULL");
    const gitc_config *c = &m->cfg;
    if (frozen & ~ALL_PARTS)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: frozen has unknown part bits 0x%x", frozen);
    if (max_batch < 1 || max_batch > 4096)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: max_batch %d is outside 1..4096", max_batch);
    if (max_text < 2 || max_text > c->max_position_embeddings)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                         "train: max_text %d is outside 2..%d (max_position_embeddings)", max_text,
                         c->max_position_embeddings);
    int F = c->num_image_with_embedding > 0 ? c->num_image_with_embedding : 1;
    int I = F * c->image_tokens_per_frame;
    if (I + max_text > GITC_TK_MAX_S)
        return gitci_fail(err, GITC_ERR_LIMIT, "train: %d image + %d text tokens exceed %d", I, max_text,
                         GITC_TK_MAX_S);
    if (c->vision_num_channels != 3)
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "train: vision num_channels %d (3 supported)",
                         c->vision_num_channels);
    gitc_tmodel *t = calloc(1, sizeof *t);
    if (!t)
        return gitci_fail(err, GITC_ERR_MEMORY, "train: out of memory");
    t->cfg = *c;
    t->frozen = frozen;
    t->max_batch = max_batch;
    t->max_text = max_text;
    t->F = F;
    t->N = c->image_tokens_per_frame;
    t->Np = t->N - 1;
    t->I = I;
    t->P = c->vision_patch_size;
    t->Dv = c->vision_hidden_size;
    t->Iv = c->vision_intermediate_size;
    t->Hv = c->vision_num_attention_heads;
    t->Lv = c->vision_num_hidden_layers;
    t->D = c->hidden_size;
    t->Id = c->intermediate_size;
    t->H = c->num_attention_heads;
    t->Ld = c->num_hidden_layers;
    t->V = c->vocab_size;

    gitc_status st = GITC_OK;
    param_walk pw = {.t = t, .m = m, .err = err};
    gitci_weights_for_each(c, (gitc_model *)m, param_visit, &pw);
    t->n_params = pw.count;
    size_t floats = pw.floats;
    t->params = calloc((size_t)t->n_params, sizeof *t->params);
    t->values = alloc_floats(floats);
    if (frozen != ALL_PARTS)
        t->grads = alloc_floats(floats);
    t->vl = calloc((size_t)t->Lv, sizeof *t->vl);
    t->dl = calloc((size_t)t->Ld, sizeof *t->dl);
    t->va = calloc((size_t)t->Lv, sizeof *t->va);
    t->da = calloc((size_t)t->Ld, sizeof *t->da);
    t->vres = calloc((size_t)t->Lv + 1, sizeof *t->vres);
    t->dres = calloc((size_t)t->Ld + 1, sizeof *t->dres);
    if (!t->params || !t->values || (!t->grads && frozen != ALL_PARTS) || !t->vl || !t->dl || !t->va ||
        !t->da || !t->vres || !t->dres) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "train: out of memory for %zu parameter floats", floats);
        goto fail;
    }
    pw = (param_walk){.t = t, .m = m, .err = err};
    if (!gitci_weights_for_each(c, (gitc_model *)m, param_visit, &pw) || pw.fail) {
        st = err ? err->status : GITC_ERR_SHAPE;
        goto fail;
    }
    if (!state_dict_order(t)) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "train: out of memory");
        goto fail;
    }
    if (!bind_all(t, err)) {
        st = GITC_ERR_SHAPE;
        goto fail;
    }
    arena_cursor cur = {NULL, 0};
    layout(t, &cur);
    t->arena = alloc_floats(cur.used);
    if (!t->arena) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "train: out of memory for %zu MB of activations",
                       cur.used * sizeof(float) >> 20);
        goto fail;
    }
    cur = (arena_cursor){t->arena, 0};
    layout(t, &cur);
    *out = t;
    return GITC_OK;
fail:
    gitci_tmodel_free(t);
    return st;
}

int gitci_tmodel_params(gitc_tmodel *t, gitc_tparam **params)
{
    *params = t->params;
    return t->n_params;
}

size_t gitci_tmodel_vision_floats(const gitc_tmodel *t)
{
    return (size_t)t->I * (size_t)t->Dv;
}

/* ---- forward ---- */

/* y[M, n_out] = x[M, n_in] · Wᵀ + b (the training products: packed per call,
 * since the weights change every step). */
static void lin_fwd(gitc_pool *pool, float *scratch, float *y, const float *x, const tlin *L, int M)
{
    gitci_tk_linear(pool, scratch, y, x, L->w, L->b, M, L->n_out, L->n_in);
}

/* Dropout sites (the kind in the high bits, the layer below). */
enum { SITE_EMB = 1, SITE_DEC_PROBS, SITE_DEC_ATTN, SITE_DEC_FFN, SITE_VIS_PROBS };

/* The dropout of one site of one step (rate 0 when d is NULL). */
static gitci_tk_drop drop_site(const gitc_dropout *d, float rate, int kind, int layer)
{
    gitci_tk_drop s = {0};
    if (d && rate > 0.0f) {
        s.rate = rate;
        s.seed = d->seed;
        s.site = ((uint64_t)kind << 32) | (uint64_t)layer;
    }
    return s;
}

/* A decoder site of layer l whose rows are the text rows alone when `top`
 * (B x T rows of D standing for rows I.. of each sample's S): they get the
 * masks of those rows. */
static gitci_tk_drop dec_drop_site(const gitc_tmodel *t, const gitc_dropout *d, int kind, int l, int top, int T)
{
    gitci_tk_drop s = drop_site(d, d ? d->hidden : 0.0f, kind, l);
    if (top)
        s.cols = t->D, s.group = T, s.skip = t->I;
    return s;
}

/* The attention of decoder layer l (text queries only when `top`). */
static gitci_tk_attn dec_attn(const gitc_tmodel *t, const gitc_dropout *d, int l, int B, int T, int top)
{
    return (gitci_tk_attn){.n_seq = B, .S = t->I + T, .H = t->H, .E = t->D / t->H, .n_full = t->I,
                           .q0 = top ? t->I : 0, .scale = 1.0f / sqrtf((float)(t->D / t->H)),
                           .drop = drop_site(d, d ? d->attention : 0.0f, SITE_DEC_PROBS, l)};
}

/* Copies the text rows of x [B*S, D] to xt [B*T, D] (dir > 0) or back into
 * the text rows of x (dir < 0). */
static void text_rows(const gitc_tmodel *t, float *x, float *xt, int B, int T, int dir)
{
    size_t D = (size_t)t->D, S = (size_t)t->I + (size_t)T, bytes = (size_t)T * D * sizeof(float);
    for (size_t b = 0; b < (size_t)B; b++) {
        float *full = x + (b * S + (size_t)t->I) * D, *text = xt + b * (size_t)T * D;
        if (dir > 0)
            memcpy(text, full, bytes);
        else
            memcpy(full, text, bytes);
    }
}

/* Vision encoder over nf frames (pixels [nf, 3, Sz, Sz]): fills every vision
 * activation and vout [nf*N, Dv]. */
static void vision_fwd(gitc_tmodel *t, gitc_pool *pool, const float *pixels, int nf,
                       const gitc_dropout *drop)
{
    int P = t->P, G = t->cfg.vision_image_size / P, Sz = t->cfg.vision_image_size, N = t->N;
    int Dv = t->Dv, Rv = nf * N, KP = 3 * P * P;
    float eps = (float)t->cfg.vision_layer_norm_eps;
    for (int f = 0; f < nf; f++)
        for (int p = 0; p < t->Np; p++) {
            float *row = t->patches + ((size_t)f * (size_t)t->Np + (size_t)p) * (size_t)KP;
            int py = p / G, px = p % G;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(row + (ch * P + ky) * P,
                           pixels + (((size_t)f * 3 + (size_t)ch) * (size_t)Sz + (size_t)(py * P + ky)) * (size_t)Sz +
                               (size_t)(px * P),
                           (size_t)P * sizeof(float));
        }
    float *pe = t->s[0];
    lin_fwd(pool, t->scratch, pe, t->patches, &t->patch, nf * t->Np);
    for (int f = 0; f < nf; f++)
        for (int n = 0; n < N; n++) {
            float *dst = t->vx0 + ((size_t)f * (size_t)N + (size_t)n) * (size_t)Dv;
            const float *src = n == 0 ? t->cls : pe + ((size_t)f * (size_t)t->Np + (size_t)(n - 1)) * (size_t)Dv;
            const float *pos = t->vpos + (size_t)n * (size_t)Dv;
            for (int i = 0; i < Dv; i++)
                dst[i] = src[i] + pos[i];
        }
    gitci_tk_layernorm(pool, t->vres[0], t->pre_mean, t->pre_rstd, t->vx0, t->pre.g, t->pre.b, Rv, Dv, eps);
    for (int l = 0; l < t->Lv; l++) {
        tvlayer *L = &t->vl[l];
        vacts *a = &t->va[l];
        const float *x = t->vres[l];
        gitci_tk_layernorm(pool, a->a1, a->mean1, a->rstd1, x, L->ln1.g, L->ln1.b, Rv, Dv, eps);
        lin_fwd(pool, t->scratch, a->q, a->a1, &L->q, Rv);
        lin_fwd(pool, t->scratch, a->k, a->a1, &L->k, Rv);
        lin_fwd(pool, t->scratch, a->v, a->a1, &L->v, Rv);
        gitci_tk_attn at = {.n_seq = nf, .S = N, .H = t->Hv, .E = Dv / t->Hv, .n_full = N,
                           .scale = 1.0f / sqrtf((float)(Dv / t->Hv)),
                           .drop = drop_site(drop, drop ? drop->vision_attention : 0.0f, SITE_VIS_PROBS, l)};
        gitci_tk_attention(pool, &at, a->ctx, a->probs, a->q, a->k, a->v, t->scratch);
        lin_fwd(pool, t->scratch, a->h1, a->ctx, &L->o, Rv);
        gitci_add(pool, a->h1, x, (size_t)Rv * (size_t)Dv);
        gitci_tk_layernorm(pool, a->a2, a->mean2, a->rstd2, a->h1, L->ln2.g, L->ln2.b, Rv, Dv, eps);
        lin_fwd(pool, t->scratch, a->u, a->a2, &L->fc1, Rv);
        gitci_tk_quick_gelu(pool, a->g, a->u, (size_t)Rv * (size_t)t->Iv);
        lin_fwd(pool, t->scratch, t->vres[l + 1], a->g, &L->fc2, Rv);
        gitci_add(pool, t->vres[l + 1], a->h1, (size_t)Rv * (size_t)Dv);
    }
    gitci_tk_layernorm(pool, t->vout, t->post_mean, t->post_rstd, t->vres[t->Lv], t->post.g, t->post.b, Rv,
                      Dv, eps);
}

/* Makes sure the kernels' scratch (attention, then the products: never both at
 * once) fits a pool of gitci_pool_size(pool) threads (allocated once per pool
 * size, before any work). */
static gitc_status kernel_scratch(gitc_tmodel *t, gitc_pool *pool, gitc_error *err)
{
    gitci_tk_attn v = {.S = t->N, .E = t->Dv / t->Hv}, d = {.S = t->I + t->max_text, .E = t->D / t->H};
    int nth = gitci_pool_size(pool);
    size_t need = GITC_MAX(gitci_tk_attention_scratch(nth, &v), gitci_tk_attention_scratch(nth, &d));
    need = GITC_MAX(need, gitci_tk_linear_scratch(nth));
    if (need <= t->scratch_len)
        return GITC_OK;
    float *p = alloc_floats(need);
    if (!p)
        return gitci_fail(err, GITC_ERR_MEMORY, "train: out of memory for the kernels' scratch (%d threads)", nth);
    gitci_free_large(t->scratch);
    t->scratch = p;
    t->scratch_len = need;
    return GITC_OK;
}

/* Checks the inputs of a step or loss pass; GITC_OK or the error. */
static gitc_status check_inputs(const gitc_tmodel *t, const float *pixels, const float *vision,
                                size_t input_floats, int B, const int32_t *ids,
                                const int32_t *labels, int T, int any_vision, gitc_error *err)
{
    if (!!pixels == !!vision)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: give exactly one of pixels and vision features");
    if (B < 1 || B > t->max_batch)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: batch %d is outside 1..%d (max_batch)", B, t->max_batch);
    if (T < 2 || T > t->max_text)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: text length %d is outside 2..%d (max_text)", T,
                         t->max_text);
    if (!ids || !labels)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: ids and labels are required");
    size_t Sz = (size_t)t->cfg.vision_image_size;
    size_t want = pixels ? (size_t)B * (size_t)t->F * 3 * Sz * Sz : (size_t)B * gitci_tmodel_vision_floats(t);
    if (input_floats != want)
        return gitci_fail(err, GITC_ERR_SHAPE, "train: %s: %zu floats given, a batch of %d needs %zu",
                         pixels ? "pixels" : "vision features", input_floats, B, want);
    if (vision && !any_vision && !(t->frozen & GITC_TPART_VISION))
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                         "train: cached vision features need a frozen vision part (it trains here)");
    for (size_t i = 0; i < (size_t)B * (size_t)T; i++) {
        if (ids[i] < 0 || ids[i] >= t->V)
            return gitci_fail(err, GITC_ERR_ARGUMENT, "train: ids[%zu] = %d is outside 0..%d", i, ids[i], t->V - 1);
        if (labels[i] != -100 && (labels[i] < 0 || labels[i] >= t->V))
            return gitci_fail(err, GITC_ERR_ARGUMENT, "train: labels[%zu] = %d is neither -100 nor in 0..%d", i,
                             labels[i], t->V - 1);
    }
    return GITC_OK;
}

/* The whole forward pass and the loss; leaves the logits' gradient (scaled by
 * grad_scale / targets) in t->logits. Returns the number of targets. */
static int forward(gitc_tmodel *t, gitc_pool *pool, const float *pixels, const float *vision, int B,
                   const int32_t *ids, const int32_t *labels, int T, float grad_scale,
                   const gitc_dropout *drop, double *loss)
{
    int F = t->F, N = t->N, I = t->I, D = t->D, Dv = t->Dv, S = I + T, Rd = B * S, Rv = B * F * N;
    float veps = (float)t->cfg.vision_layer_norm_eps, eps = (float)t->cfg.layer_norm_eps;
    if (pixels)
        vision_fwd(t, pool, pixels, B * F, drop);
    else
        memcpy(t->vout, vision, (size_t)Rv * (size_t)Dv * sizeof(float));
    memcpy(t->pin, t->vout, (size_t)Rv * (size_t)Dv * sizeof(float));
    if (t->temporal)
        for (int r = 0; r < Rv; r++) {
            const float *te = t->temporal + (size_t)((r / N) % F) * t->tstride;
            float *x = t->pin + (size_t)r * (size_t)Dv;
            for (int i = 0; i < Dv; i++)
                x[i] += te[i];
        }
    lin_fwd(pool, t->scratch, t->pl, t->pin, &t->proj, B * I);
    gitci_tk_layernorm(pool, t->img, t->proj_mean, t->proj_rstd, t->pl, t->proj_ln.g, t->proj_ln.b, B * I, D,
                      veps);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            int r = b * T + i;
            const float *w = t->wte + (size_t)ids[r] * (size_t)D, *p = t->wpe + (size_t)i * (size_t)D;
            float *e = t->temb + (size_t)r * (size_t)D;
            for (int c = 0; c < D; c++)
                e[c] = w[c] + p[c];
            t->pos[r] = i;
        }
    gitci_tk_layernorm(pool, t->txt, t->emb_mean, t->emb_rstd, t->temb, t->emb_ln.g, t->emb_ln.b, B * T, D, eps);
    gitci_tk_drop de = drop_site(drop, drop ? drop->hidden : 0.0f, SITE_EMB, 0);
    gitci_tk_dropout(pool, t->txt, (size_t)B * (size_t)T * (size_t)D, &de);
    for (int b = 0; b < B; b++) {
        memcpy(t->dres[0] + (size_t)b * (size_t)S * (size_t)D, t->img + (size_t)b * (size_t)I * (size_t)D,
               (size_t)I * (size_t)D * sizeof(float));
        memcpy(t->dres[0] + ((size_t)b * (size_t)S + (size_t)I) * (size_t)D,
               t->txt + (size_t)b * (size_t)T * (size_t)D, (size_t)T * (size_t)D * sizeof(float));
    }
    /* The top layer's image rows feed nothing but its keys and values (the
     * loss reads text rows): it computes its queries and everything after the
     * attention for the B*T text rows alone (t->xtop holds its text input),
     * and dres[Ld] holds those rows. */
    for (int l = 0; l < t->Ld; l++) {
        tdlayer *L = &t->dl[l];
        dacts *a = &t->da[l];
        int top = l == t->Ld - 1, R = top ? B * T : Rd;
        size_t RD = (size_t)R * (size_t)D;
        const float *x = t->dres[l], *xq = x;
        if (top) {
            text_rows(t, t->dres[l], t->xtop, B, T, 1);
            xq = t->xtop;
        }
        lin_fwd(pool, t->scratch, a->q, xq, &L->q, R);
        lin_fwd(pool, t->scratch, a->k, x, &L->k, Rd);
        lin_fwd(pool, t->scratch, a->v, x, &L->v, Rd);
        gitci_tk_attn at = dec_attn(t, drop, l, B, T, top);
        gitci_tk_attention(pool, &at, a->ctx, a->probs, a->q, a->k, a->v, t->scratch);
        lin_fwd(pool, t->scratch, a->r1, a->ctx, &L->o, R);
        gitci_tk_drop d1 = dec_drop_site(t, drop, SITE_DEC_ATTN, l, top, T);
        gitci_tk_dropout(pool, a->r1, RD, &d1);
        gitci_add(pool, a->r1, xq, RD);
        gitci_tk_layernorm(pool, a->a, a->mean1, a->rstd1, a->r1, L->ln1.g, L->ln1.b, R, D, eps);
        lin_fwd(pool, t->scratch, a->u, a->a, &L->fc1, R);
        gitci_tk_gelu(pool, a->g, a->u, (size_t)R * (size_t)t->Id);
        lin_fwd(pool, t->scratch, a->r2, a->g, &L->fc2, R);
        gitci_tk_drop d2 = dec_drop_site(t, drop, SITE_DEC_FFN, l, top, T);
        gitci_tk_dropout(pool, a->r2, RD, &d2);
        gitci_add(pool, a->r2, a->a, RD);
        gitci_tk_layernorm(pool, t->dres[l + 1], a->mean2, a->rstd2, a->r2, L->ln2.g, L->ln2.b, R, D, eps);
    }
    /* transformers: logits of text rows 0..T-2 against labels 1..T-1, -100 ignored */
    int nt = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i + 1 < T; i++) {
            int32_t y = labels[b * T + i + 1];
            if (y == -100)
                continue;
            t->tgt[nt] = y;
            t->sel[nt] = t->Ld > 0 ? b * T + i : b * S + I + i; /* the row in dres[Ld] */
            memcpy(t->hsel + (size_t)nt * (size_t)D, t->dres[t->Ld] + (size_t)t->sel[nt] * (size_t)D,
                   (size_t)D * sizeof(float));
            nt++;
        }
    *loss = 0.0;
    if (nt == 0)
        return 0;
    lin_fwd(pool, t->scratch, t->logits, t->hsel, &t->head, nt);
    gitci_tk_cross_entropy(pool, t->row_loss, t->logits, t->tgt, nt, t->V, grad_scale / (float)nt);
    double sum = 0.0;
    for (int i = 0; i < nt; i++)
        sum += t->row_loss[i];
    *loss = sum / nt;
    return nt;
}

/* ---- backward ---- */

/* dx += dy · W and W's gradients from dy and the layer's input x (M rows). */
static void lin_bwd(gitc_pool *pool, float *scratch, float *dx, const float *dy, const float *x, const tlin *L,
                    int M)
{
    if (dx)
        gitci_tk_linear_dx(pool, scratch, dx, dy, L->w, M, L->n_out, L->n_in);
    if (L->gw)
        gitci_tk_linear_dw(pool, scratch, L->gw, L->gb, dy, x, M, L->n_out, L->n_in);
}

/* lin_bwd with dx = dy · W (dx only written: no zeroing pass first). */
static void lin_bwd_new(gitc_pool *pool, float *scratch, float *dx, const float *dy, const float *x, const tlin *L,
                        int M)
{
    if (dx)
        gitci_tk_linear_dx_store(pool, scratch, dx, dy, L->w, M, L->n_out, L->n_in);
    lin_bwd(pool, scratch, NULL, dy, x, L, M);
}

/* The key projection's backward without its bias gradient: that gradient is
 * exactly zero (q·b_k is added to every score of a row and softmax ignores
 * it), and summing dK would only add up rounding noise, which AdamW would
 * turn into steps of a sizeable fraction of the learning rate. */
static void key_bwd(gitc_pool *pool, float *scratch, float *dx, const float *dk, const float *x, const tlin *L,
                    int M)
{
    tlin k = *L;
    k.gb = NULL;
    lin_bwd(pool, scratch, dx, dk, x, &k, M);
}

/* x[0..n) = 0. */
static void zero(float *x, size_t n)
{
    memset(x, 0, n * sizeof(float));
}

/* Backward of the vision encoder from d(vout) [Rv, Dv] in dv (destroyed). */
static void vision_bwd(gitc_tmodel *t, gitc_pool *pool, float *dvout, int nf, const gitc_dropout *drop)
{
    int N = t->N, Dv = t->Dv, Rv = nf * N, Iv = t->Iv;
    size_t RD = (size_t)Rv * (size_t)Dv;
    float *dcur = t->s[0], *dh1 = t->s[1], *da = t->s[2], *dc = t->s[3], *dq = t->s[4], *dk = t->s[5],
          *dvv = t->s[6], *dnext = t->s[7], *dm = t->sm;
    zero(dcur, RD);
    gitci_tk_layernorm_bwd(pool, dcur, t->post.gg, t->post.gb, dvout, t->vres[t->Lv], t->post_mean, t->post_rstd,
                          t->post.g, Rv, Dv);
    for (int l = t->Lv - 1; l >= 0; l--) {
        tvlayer *L = &t->vl[l];
        vacts *a = &t->va[l];
        memcpy(dh1, dcur, RD * sizeof(float));
        lin_bwd_new(pool, t->scratch, dm, dcur, a->g, &L->fc2, Rv);
        gitci_tk_quick_gelu_bwd(pool, dm, dm, a->u, (size_t)Rv * (size_t)Iv);
        lin_bwd_new(pool, t->scratch, da, dm, a->a2, &L->fc1, Rv);
        gitci_tk_layernorm_bwd(pool, dh1, L->ln2.gg, L->ln2.gb, da, a->h1, a->mean2, a->rstd2, L->ln2.g, Rv, Dv);
        lin_bwd_new(pool, t->scratch, dc, dh1, a->ctx, &L->o, Rv);
        gitci_tk_attn at = {.n_seq = nf, .S = N, .H = t->Hv, .E = Dv / t->Hv, .n_full = N,
                           .scale = 1.0f / sqrtf((float)(Dv / t->Hv)),
                           .drop = drop_site(drop, drop ? drop->vision_attention : 0.0f, SITE_VIS_PROBS, l)};
        gitci_tk_attention_bwd(pool, &at, dq, dk, dvv, dc, a->probs, a->q, a->k, a->v, t->scratch);
        lin_bwd_new(pool, t->scratch, da, dq, a->a1, &L->q, Rv);
        key_bwd(pool, t->scratch, da, dk, a->a1, &L->k, Rv);
        lin_bwd(pool, t->scratch, da, dvv, a->a1, &L->v, Rv);
        memcpy(dnext, dh1, RD * sizeof(float));
        gitci_tk_layernorm_bwd(pool, dnext, L->ln1.gg, L->ln1.gb, da, t->vres[l], a->mean1, a->rstd1, L->ln1.g, Rv,
                              Dv);
        float *tmp = dcur;
        dcur = dnext;
        dnext = tmp;
    }
    /* pre-LN, then the class, position and patch embeddings */
    zero(dnext, RD);
    gitci_tk_layernorm_bwd(pool, dnext, t->pre.gg, t->pre.gb, dcur, t->vx0, t->pre_mean, t->pre_rstd, t->pre.g, Rv,
                          Dv);
    if (t->gcls)
        gitci_tk_sum_rows(pool, t->gcls, dnext, nf, Dv, N * Dv);
    if (t->gvpos)
        gitci_tk_sum_rows(pool, t->gvpos, dnext, nf, N * Dv, N * Dv);
    if (t->patch.gw) {
        for (int f = 0; f < nf; f++)
            memcpy(dcur + (size_t)f * (size_t)t->Np * (size_t)Dv, dnext + ((size_t)f * (size_t)N + 1) * (size_t)Dv,
                   (size_t)t->Np * (size_t)Dv * sizeof(float));
        lin_bwd(pool, t->scratch, NULL, dcur, t->patches, &t->patch, nf * t->Np);
    }
}

/* The backward pass after forward(): every unfrozen gradient += its share. */
static void backward(gitc_tmodel *t, gitc_pool *pool, int have_pixels, int B, int T, int nt,
                     const int32_t *ids, const gitc_dropout *drop)
{
    int F = t->F, N = t->N, I = t->I, D = t->D, Dv = t->Dv, S = I + T, Rd = B * S;
    size_t RD = (size_t)Rd * (size_t)D;
    int vis = have_pixels && !(t->frozen & GITC_TPART_VISION);
    int proj = vis || !(t->frozen & GITC_TPART_PROJECTION);
    int emb = !(t->frozen & GITC_TPART_EMBEDDINGS);
    int dec = proj || emb || !(t->frozen & GITC_TPART_DECODER);
    float *dcur = t->s[0], *da = t->s[1], *dr = t->s[2], *dc = t->s[3], *dq = t->s[4], *dk = t->s[5],
          *dv = t->s[6], *dnext = t->s[7], *dm = t->sm;
    lin_bwd(pool, t->scratch, NULL, t->logits, t->hsel, &t->head, nt);
    if (!dec)
        return;
    /* d(hidden) of the target rows, scattered into the rows of dres[Ld] (the
     * top layer's text rows, see forward()) */
    gitci_tk_linear_dx_store(pool, t->scratch, dr, t->logits, t->head.w, nt, t->V, D);
    zero(dcur, t->Ld > 0 ? (size_t)B * (size_t)T * (size_t)D : RD);
    for (int i = 0; i < nt; i++)
        memcpy(dcur + (size_t)t->sel[i] * (size_t)D, dr + (size_t)i * (size_t)D, (size_t)D * sizeof(float));
    for (int l = t->Ld - 1; l >= 0; l--) {
        tdlayer *L = &t->dl[l];
        dacts *a = &t->da[l];
        int top = l == t->Ld - 1, R = top ? B * T : Rd;
        size_t RDl = (size_t)R * (size_t)D;
        zero(dr, RDl);
        gitci_tk_layernorm_bwd(pool, dr, L->ln2.gg, L->ln2.gb, dcur, a->r2, a->mean2, a->rstd2, L->ln2.g, R, D);
        memcpy(da, dr, RDl * sizeof(float));
        gitci_tk_drop d2 = dec_drop_site(t, drop, SITE_DEC_FFN, l, top, T);
        gitci_tk_dropout(pool, dr, RDl, &d2);
        lin_bwd_new(pool, t->scratch, dm, dr, a->g, &L->fc2, R);
        gitci_tk_gelu_bwd(pool, dm, dm, a->u, (size_t)R * (size_t)t->Id);
        lin_bwd(pool, t->scratch, da, dm, a->a, &L->fc1, R);
        zero(dr, RDl);
        gitci_tk_layernorm_bwd(pool, dr, L->ln1.gg, L->ln1.gb, da, a->r1, a->mean1, a->rstd1, L->ln1.g, R, D);
        /* d(layer input) of the rows the queries came from: every row, or the top layer's text rows */
        float *dxq = top ? t->dxtop : dnext;
        memcpy(dxq, dr, RDl * sizeof(float));
        gitci_tk_drop d1 = dec_drop_site(t, drop, SITE_DEC_ATTN, l, top, T);
        gitci_tk_dropout(pool, dr, RDl, &d1);
        lin_bwd_new(pool, t->scratch, dc, dr, a->ctx, &L->o, R);
        gitci_tk_attn at = dec_attn(t, drop, l, B, T, top);
        gitci_tk_attention_bwd(pool, &at, dq, dk, dv, dc, a->probs, a->q, a->k, a->v, t->scratch);
        const float *x = t->dres[l];
        lin_bwd(pool, t->scratch, dxq, dq, top ? t->xtop : x, &L->q, R);
        if (top) { /* the image rows' gradient so far is zero */
            zero(dnext, RD);
            text_rows(t, dnext, t->dxtop, B, T, -1);
        }
        key_bwd(pool, t->scratch, dnext, dk, x, &L->k, Rd);
        lin_bwd(pool, t->scratch, dnext, dv, x, &L->v, Rd);
        float *tmp = dcur;
        dcur = dnext;
        dnext = tmp;
    }
    /* dcur = d(decoder input): text rows to the embeddings, image rows to the projection */
    if (emb) {
        float *dt = dr, *de = dc;
        for (int b = 0; b < B; b++)
            memcpy(dt + (size_t)b * (size_t)T * (size_t)D, dcur + ((size_t)b * (size_t)S + (size_t)I) * (size_t)D,
                   (size_t)T * (size_t)D * sizeof(float));
        gitci_tk_drop de0 = drop_site(drop, drop ? drop->hidden : 0.0f, SITE_EMB, 0);
        gitci_tk_dropout(pool, dt, (size_t)B * (size_t)T * (size_t)D, &de0);
        zero(de, (size_t)B * (size_t)T * (size_t)D);
        gitci_tk_layernorm_bwd(pool, de, t->emb_ln.gg, t->emb_ln.gb, dt, t->temb, t->emb_mean, t->emb_rstd,
                              t->emb_ln.g, B * T, D);
        if (t->gwte)
            gitci_tk_embedding_bwd(pool, t->gwte, de, ids, B * T, D);
        if (t->gwpe)
            gitci_tk_embedding_bwd(pool, t->gwpe, de, t->pos, B * T, D);
    }
    if (!proj)
        return;
    float *di = dr, *dpl = dc, *dpin = dnext;
    for (int b = 0; b < B; b++)
        memcpy(di + (size_t)b * (size_t)I * (size_t)D, dcur + (size_t)b * (size_t)S * (size_t)D,
               (size_t)I * (size_t)D * sizeof(float));
    zero(dpl, (size_t)B * (size_t)I * (size_t)D);
    gitci_tk_layernorm_bwd(pool, dpl, t->proj_ln.gg, t->proj_ln.gb, di, t->pl, t->proj_mean, t->proj_rstd,
                          t->proj_ln.g, B * I, D);
    lin_bwd_new(pool, t->scratch, vis ? dpin : NULL, dpl, t->pin, &t->proj, B * I);
    if (t->gtemporal) {
        /* d(temporal[f]) = Σ over samples and tokens of frame f of d(pin) */
        float *dpin_t = dpin;
        if (!vis) {
            dpin_t = dq;
            gitci_tk_linear_dx_store(pool, t->scratch, dpin_t, dpl, t->proj.w, B * I, D, Dv);
        }
        for (int b = 0; b < B; b++)
            for (int f = 0; f < F; f++)
                gitci_tk_sum_rows(pool, t->gtemporal + (size_t)f * t->tstride,
                                 dpin_t + ((size_t)b * (size_t)F + (size_t)f) * (size_t)N * (size_t)Dv, N, Dv, Dv);
    }
    if (vis)
        vision_bwd(t, pool, dpin, B * F, drop); /* reads dpin before it reuses s[7] */
}

gitc_status gitci_tmodel_step(gitc_tmodel *t, gitc_pool *pool, const float *pixels,
                             const float *vision, size_t input_floats, int B, const int32_t *ids,
                             const int32_t *labels, int T, float grad_scale,
                             const gitc_dropout *dropout, double *loss, int *n_targets,
                             gitc_error *err)
{
    if (!t || !loss || !n_targets)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: model, loss and n_targets are required");
    gitc_status st = check_inputs(t, pixels, vision, input_floats, B, ids, labels, T, 0, err);
    if (st == GITC_OK)
        st = kernel_scratch(t, pool, err);
    if (st != GITC_OK)
        return st;
    if (!t->grads)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: every part is frozen: nothing to train");
    int nt = forward(t, pool, pixels, vision, B, ids, labels, T, grad_scale, dropout, loss);
    *n_targets = nt;
    if (nt > 0)
        backward(t, pool, pixels != NULL, B, T, nt, ids, dropout);
    return GITC_OK;
}

gitc_status gitci_tmodel_loss(gitc_tmodel *t, gitc_pool *pool, const float *pixels,
                             const float *vision, size_t input_floats, int B, const int32_t *ids,
                             const int32_t *labels, int T, double *loss, int *n_targets,
                             gitc_error *err)
{
    if (!t || !loss || !n_targets)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: model, loss and n_targets are required");
    /* cached vision features are welcome in evaluation whatever trains */
    gitc_status st = check_inputs(t, pixels, vision, input_floats, B, ids, labels, T, 1, err);
    if (st == GITC_OK)
        st = kernel_scratch(t, pool, err);
    if (st != GITC_OK)
        return st;
    *n_targets = forward(t, pool, pixels, vision, B, ids, labels, T, 1.0f, NULL, loss);
    return GITC_OK;
}

gitc_status gitci_tmodel_vision(gitc_tmodel *t, gitc_pool *pool, float *out, size_t out_floats,
                               const float *pixels, size_t pixel_floats, int B, gitc_error *err)
{
    if (!t || !out || !pixels)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: model, out and pixels are required");
    if (B < 1)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: batch %d is below 1", B);
    size_t Sz = (size_t)t->cfg.vision_image_size, per_px = (size_t)t->F * 3 * Sz * Sz;
    size_t per_out = gitci_tmodel_vision_floats(t);
    if (pixel_floats != (size_t)B * per_px)
        return gitci_fail(err, GITC_ERR_SHAPE, "train: pixels have %zu floats, %d images need %zu", pixel_floats,
                         B, (size_t)B * per_px);
    if (out_floats != (size_t)B * per_out)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "train: out has room for %zu floats, %d images need %zu",
                         out_floats, B, (size_t)B * per_out);
    gitc_status st = kernel_scratch(t, pool, err);
    if (st != GITC_OK)
        return st;
    for (int b0 = 0; b0 < B; b0 += t->max_batch) {
        int n = B - b0 < t->max_batch ? B - b0 : t->max_batch;
        vision_fwd(t, pool, pixels + (size_t)b0 * per_px, n * t->F, NULL);
        memcpy(out + (size_t)b0 * per_out, t->vout, (size_t)n * per_out * sizeof(float));
    }
    return GITC_OK;
}
