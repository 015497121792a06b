/* Generation as transformers 4.39's GitForCausalLM.generate does it: greedy,
 * sampling and beam search with the logits processors, for batches whose rows
 * keep their own positions. Image keys/values are computed once per input and
 * shared by all of its rows (beams, samples).
 *
 * The primitive is the step API (gitc_batch_*): requests join a batch at any
 * time, every live row advances one token per step in one decoder pass, and
 * finished requests leave. gitc_generate is a loop over it. */
#include "decoder.h"
#include "encode.h"
#include "model.h"
#include "session.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One sequence being generated. */
typedef struct row {
    int32_t *ids;  /* [cap] prompt + generated */
    int len;
    int n_prompt;
    int max_len;
    int finished;  /* greedy / sampling: no more tokens for this row */
    int ended_eos; /* finished by emitting eos */
    double score;  /* sum of log-probabilities (greedy / sampling) */
    uint64_t rng;  /* sampling state */
    float *logits; /* [V] next-token logits, computed by the last forward */
    const image_kv *img; /* the image context of its input (owned by its request) */
    text_kv kv;
} row;

/* ---- logits processors (transformers' order) ---- */

/* Applies repetition penalty, n-gram ban, bad words and min-length rules to scores [V]. */
static void process_logits(const gitc_generate_params *p, const gitc_config *c, const int32_t *ids,
                           int len, int n_prompt, float *scores)
{
    int V = c->vocab_size;
    if (p->repetition_penalty != 1.0f) {
        /* Each distinct id once: a penalized score is not penalized again. */
        for (int i = 0; i < len; i++) {
            int id = ids[i], seen = 0;
            for (int j = 0; j < i && !seen; j++)
                seen = ids[j] == id;
            if (seen)
                continue;
            float s = scores[id];
            scores[id] = s < 0 ? s * p->repetition_penalty : s / p->repetition_penalty;
        }
    }
    int n = p->no_repeat_ngram_size;
    if (n > 0 && len + 1 >= n) {
        /* Ban tokens that would complete an n-gram already in the sequence. */
        for (int start = 0; start + n <= len; start++) {
            int match = 1;
            for (int k = 0; k < n - 1 && match; k++)
                match = ids[start + k] == ids[len - (n - 1) + k];
            if (match)
                scores[ids[start + n - 1]] = -INFINITY;
        }
    }
    for (int b = 0; b < p->n_bad_words; b++) {
        const int32_t *w = p->bad_words_ids + p->bad_words_offsets[b];
        int wl = p->bad_words_offsets[b + 1] - p->bad_words_offsets[b];
        int match = wl - 1 <= len;
        for (int k = 0; match && k < wl - 1; k++)
            match = ids[len - (wl - 1) + k] == w[k];
        if (match)
            scores[w[wl - 1]] = -INFINITY;
    }
    int eos = c->eos_token_id;
    if (eos >= 0 && eos < V) {
        if (len < p->min_length)
            scores[eos] = -INFINITY;
        if (len - n_prompt < p->min_new_tokens)
            scores[eos] = -INFINITY;
    }
}

/* In place log_softmax over V scores (float32 result, double accumulation). */
static void log_softmax(float *x, int V)
{
    float lse = gitci_log_sum_exp(x, V);
    for (int v = 0; v < V; v++)
        x[v] = x[v] - lse;
}

static int argmax(const float *x, int V)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        if (x[v] > x[best])
            best = v;
    return best;
}

/* ---- sampling ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) { return (double)(splitmix64(state) >> 11) * 0x1.0p-53; }

static int cmp_float_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Temperature, top-k and top-p as transformers' warpers, then a draw. `tmp` has V floats. */
static int sample_token(const gitc_generate_params *p, float *scores, int V, float *tmp, uint64_t *rng)
{
    if (p->temperature != 1.0f)
        for (int v = 0; v < V; v++)
            scores[v] /= p->temperature;
    if (p->top_k > 0 && p->top_k < V) {
        memcpy(tmp, scores, (size_t)V * sizeof(float));
        qsort(tmp, (size_t)V, sizeof(float), cmp_float_desc);
        float kth = tmp[p->top_k - 1];
        for (int v = 0; v < V; v++)
            if (scores[v] < kth)
                scores[v] = -INFINITY;
    }
    if (p->top_p < 1.0f) {
        /* Remove the smallest tokens whose cumulative probability stays <= 1 - top_p. */
        memcpy(tmp, scores, (size_t)V * sizeof(float));
        qsort(tmp, (size_t)V, sizeof(float), cmp_float_desc);
        float mx = tmp[0];
        double total = 0.0;
        for (int v = 0; v < V; v++)
            total += exp((double)tmp[v] - mx);
        double cum = 0.0;
        float cutoff = -INFINITY; /* scores below are removed */
        for (int v = V - 1; v > 0; v--) { /* ascending order; the top token always stays */
            cum += exp((double)tmp[v] - mx) / total;
            if (cum > 1.0 - p->top_p)
                break;
            cutoff = tmp[v];
        }
        if (cutoff > -INFINITY)
            for (int v = 0; v < V; v++)
                if (scores[v] <= cutoff)
                    scores[v] = -INFINITY;
    }
    float mx = scores[argmax(scores, V)];
    double total = 0.0;
    for (int v = 0; v < V; v++)
        total += exp((double)scores[v] - mx);
    double u = uniform01(rng) * total, cum = 0.0;
    int last = 0;
    for (int v = 0; v < V; v++) {
        double w = exp((double)scores[v] - mx);
        if (w > 0)
            last = v;
        cum += w;
        if (cum > u)
            return v;
    }
    return last;
}

/* ---- beam search bookkeeping (BeamSearchScorer of transformers 4.39) ---- */

typedef struct hypothesis {
    double score;
    int32_t *ids;
    int len;
    int ended_eos;
} hypothesis;

typedef struct beam_hyps {
    hypothesis *h; /* [num_beams + 1]: up to num_beams kept, one more while adding */
    int n;
    double worst;
} beam_hyps;

/* BeamHypotheses.add: keeps the num_beams best scores. */
static gitc_status hyps_add(beam_hyps *bh, int num_beams, const int32_t *ids, int len, double sum_logprobs,
                            int generated_len, float length_penalty, int ended_eos, gitc_error *err)
{
    double score = sum_logprobs / pow((double)generated_len, (double)length_penalty);
    if (bh->n >= num_beams && !(score > bh->worst))
        return GITC_OK;
    int32_t *copy = malloc((size_t)(len > 0 ? len : 1) * sizeof(int32_t));
    if (!copy)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    memcpy(copy, ids, (size_t)len * sizeof(int32_t));
    bh->h[bh->n++] = (hypothesis){score, copy, len, ended_eos};
    if (bh->n > num_beams) {
        int worst = 0, second = -1;
        for (int i = 1; i < bh->n; i++)
            if (bh->h[i].score < bh->h[worst].score)
                worst = i;
        free(bh->h[worst].ids);
        bh->h[worst] = bh->h[--bh->n];
        for (int i = 0; i < bh->n; i++)
            if (second < 0 || bh->h[i].score < bh->h[second].score)
                second = i;
        bh->worst = bh->h[second].score;
    } else {
        bh->worst = GITC_MIN(score, bh->worst);
    }
    return GITC_OK;
}

/* BeamHypotheses.is_done. */
static int hyps_done(const beam_hyps *bh, const gitc_generate_params *p, double best_sum, int cur_len,
                     int n_prompt, int max_len)
{
    if (bh->n < p->num_beams)
        return 0;
    if (p->early_stopping == GITC_EARLY_STOPPING_TRUE)
        return 1;
    int len = cur_len - n_prompt;
    if (p->early_stopping == GITC_EARLY_STOPPING_NEVER && p->length_penalty > 0)
        len = max_len - n_prompt;
    double best = best_sum / pow((double)len, (double)p->length_penalty);
    return bh->worst >= best;
}

typedef struct candidate {
    float score;
    int beam;
    int token;
} candidate;

static int cmp_candidate(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    if (x->beam != y->beam)
        return x->beam - y->beam;
    return x->token - y->token;
}

/* ---- requests and the batch ---- */

/* Rows per decoder call: the session's workspace is sized for this many;
 * bigger batches take several calls per step. */
enum { STEP_CHUNK = GITC_STEP_ROWS_MAX };

/* One request: an input with its greedy/sampling rows or its beam group. */
typedef struct request {
    int id;
    gitc_generate_params p;  /* bad-words pointers refer to the copies below */
    int32_t *bad_ids;
    int *bad_offsets;
    image_kv img;            /* the input's image keys and values, shared by its rows */
    int beams;               /* 1: greedy or sampling; K > 1: beam search */
    int n_rows;              /* rows allocated: num_return_sequences, or 2K (K beams + K spare) */
    row *rows;               /* [n_rows] */
    int n_live;              /* rows decoding (beam search: K until the group is done) */
    int done;                /* finished: `out` holds the sequences */
    int stale;               /* its rows' last tokens have not been through the decoder yet */
    gitc_sequence *out;      /* [n_out] */
    int n_out;
    /* beam search state */
    float *beam_scores;      /* [K] */
    candidate *cand;         /* [2K] */
    beam_hyps bh;
    int *src_beam;           /* [K] */
    int *next_tok;           /* [K] */
    float *next_score;       /* [K] */
    int cur_len;
} request;

struct gitc_batch {
    gitc_session *s;
    const gitc_config *c;
    int max_rows;            /* rows decoded together at most */
    int live_rows;
    request **req;           /* [cap_req], n_req in use, in the order they were added */
    int n_req, cap_req;
    int next_id;
    float *hidden;           /* [chunk, D] */
    float *logits;           /* [chunk, V] */
    float *sort_tmp;         /* [V] sampling: the scores sorted */
    float *logprobs;         /* [V] sampling: log-softmax of the processed scores */
    row **fwd;               /* [max_rows] rows of the next decoder pass */
    const image_kv **imgs;   /* [chunk] */
    text_kv **txts;          /* [chunk] */
    int32_t *ids;            /* [chunk] */
    gitc_batch_event *events; /* [max_rows] events of the last step */
    int n_events;
};

static int row_max_len(const gitc_generate_params *p, int n_prompt)
{
    return p->max_new_tokens > 0 ? n_prompt + p->max_new_tokens : p->max_length;
}

static gitc_status row_init(row *r, const gitc_config *c, const int32_t *prompt, int n_prompt,
                            int max_len, gitc_error *err)
{
    memset(r, 0, sizeof *r);
    int cap = GITC_MAX(max_len, n_prompt + 1);
    r->ids = malloc((size_t)cap * sizeof(int32_t));
    r->logits = malloc((size_t)c->vocab_size * sizeof(float));
    if (!r->ids || !r->logits) {
        free(r->ids);
        free(r->logits);
        memset(r, 0, sizeof *r);
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    memcpy(r->ids, prompt, (size_t)n_prompt * sizeof(int32_t));
    r->len = r->n_prompt = n_prompt;
    r->max_len = max_len;
    gitc_status st = gitci_text_kv_init(&r->kv, c, cap, err);
    if (st != GITC_OK) {
        free(r->ids);
        free(r->logits);
        memset(r, 0, sizeof *r);
    }
    return st;
}

static void row_free(row *r)
{
    free(r->ids);
    free(r->logits);
    gitci_text_kv_free(&r->kv);
    memset(r, 0, sizeof *r);
}

int gitc_generate_rows(const gitc_generate_params *p)
{
    return p->num_beams > 1 ? p->num_beams : p->num_return_sequences;
}

/* Releases what a request holds while it decodes (rows, image keys, beam state). */
static void request_release_work(request *q)
{
    for (int i = 0; i < q->n_rows; i++)
        row_free(&q->rows[i]);
    free(q->rows);
    q->rows = NULL;
    q->n_rows = 0;
    gitci_image_kv_free(&q->img);
    if (q->bh.h)
        for (int i = 0; i < q->bh.n; i++)
            free(q->bh.h[i].ids);
    free(q->bh.h);
    q->bh.h = NULL;
    free(q->beam_scores);
    free(q->cand);
    free(q->src_beam);
    free(q->next_tok);
    free(q->next_score);
    q->beam_scores = NULL;
    q->cand = NULL;
    q->src_beam = q->next_tok = NULL;
    q->next_score = NULL;
}

static void request_free(request *q)
{
    if (!q)
        return;
    request_release_work(q);
    for (int i = 0; i < q->n_out; i++)
        free(q->out[i].ids);
    free(q->out);
    free(q->bad_ids);
    free(q->bad_offsets);
    free(q);
}

/* Runs the prompt of `r` through the decoder; the next-token logits go to r->logits. */
static gitc_status prefill(gitc_batch *b, const image_kv *img, row *r, gitc_error *err)
{
    text_kv *txt = &r->kv;
    size_t D = (size_t)b->c->hidden_size;
    float *hidden = malloc((size_t)r->len * D * sizeof(float));
    if (!hidden)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    gitc_status st = gitci_decoder_text(b->s, r->ids, r->len, 1, &img, &txt, hidden, err);
    if (st == GITC_OK)
        gitci_lm_head(b->s, hidden + (size_t)(r->len - 1) * D, 1, r->logits);
    free(hidden);
    return st;
}

/* Checks a prompt length against the model; `input` >= 0 names the input in the message. */
static gitc_status check_prompt(const gitc_generate_params *p, const gitc_config *c, int np, int input,
                                gitc_error *err)
{
    char who[32] = "";
    if (input >= 0)
        snprintf(who, sizeof who, "input %d: ", input);
    if (np < 1 || np >= c->max_position_embeddings)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "%sprompt of %d tokens (1..%d allowed)", who, np,
                          c->max_position_embeddings - 1);
    if (row_max_len(p, np) > c->max_position_embeddings)
        return gitci_fail(err, GITC_ERR_ARGUMENT,
                          "%s%d prompt tokens + %d new tokens exceed max_position_embeddings (%d)", who, np,
                          p->max_new_tokens, c->max_position_embeddings);
    return GITC_OK;
}

gitc_status gitc_batch_create(gitc_session *s, int max_rows, gitc_batch **out, gitc_error *err)
{
    *out = NULL;
    if (!s)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_batch_create: no session");
    if (max_rows < 1 || max_rows > GITC_BATCH_MAX_ROWS)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "batch of %d rows: must be 1..%d", max_rows,
                          GITC_BATCH_MAX_ROWS);
    const gitc_config *c = &s->model->cfg;
    gitc_batch *b = calloc(1, sizeof *b);
    if (!b)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    b->s = s;
    b->c = c;
    b->max_rows = max_rows;
    int chunk = GITC_MIN(max_rows, STEP_CHUNK);
    size_t V = (size_t)c->vocab_size, D = (size_t)c->hidden_size;
    b->hidden = malloc((size_t)chunk * D * sizeof(float));
    b->logits = malloc((size_t)chunk * V * sizeof(float));
    b->sort_tmp = malloc(V * sizeof(float));
    b->logprobs = malloc(V * sizeof(float));
    b->fwd = malloc((size_t)max_rows * sizeof *b->fwd);
    b->imgs = malloc((size_t)chunk * sizeof *b->imgs);
    b->txts = malloc((size_t)chunk * sizeof *b->txts);
    b->ids = malloc((size_t)chunk * sizeof *b->ids);
    b->events = malloc((size_t)max_rows * sizeof *b->events);
    if (!b->hidden || !b->logits || !b->sort_tmp || !b->logprobs || !b->fwd || !b->imgs ||
        !b->txts || !b->ids || !b->events) {
        gitc_batch_free(b);
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    *out = b;
    return GITC_OK;
}

void gitc_batch_free(gitc_batch *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->n_req; i++)
        request_free(b->req[i]);
    free(b->req);
    free(b->hidden);
    free(b->logits);
    free(b->sort_tmp);
    free(b->logprobs);
    free(b->fwd);
    free(b->imgs);
    free(b->txts);
    free(b->ids);
    free(b->events);
    free(b);
}

int gitc_batch_live_rows(const gitc_batch *b) { return b ? b->live_rows : 0; }

int gitc_batch_max_rows(const gitc_batch *b) { return b ? b->max_rows : 0; }

/* Copies the bad-words lists so the request does not depend on the caller's arrays. */
static gitc_status copy_bad_words(request *q, gitc_error *err)
{
    int n = q->p.n_bad_words;
    if (n == 0)
        return GITC_OK;
    int n_ids = q->p.bad_words_offsets[n];
    q->bad_offsets = malloc((size_t)(n + 1) * sizeof(int));
    q->bad_ids = malloc((size_t)n_ids * sizeof(int32_t));
    if (!q->bad_offsets || !q->bad_ids)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    memcpy(q->bad_offsets, q->p.bad_words_offsets, (size_t)(n + 1) * sizeof(int));
    memcpy(q->bad_ids, q->p.bad_words_ids, (size_t)n_ids * sizeof(int32_t));
    q->p.bad_words_offsets = q->bad_offsets;
    q->p.bad_words_ids = q->bad_ids;
    return GITC_OK;
}

/* Allocates the beam search state of a request with K beams. */
static gitc_status beam_init(request *q, int K, gitc_error *err)
{
    q->beam_scores = calloc((size_t)K, sizeof(float));
    q->cand = malloc((size_t)2 * K * sizeof *q->cand);
    q->bh = (beam_hyps){calloc((size_t)K + 1, sizeof(hypothesis)), 0, 1e9};
    q->src_beam = malloc((size_t)K * sizeof(int));
    q->next_tok = malloc((size_t)K * sizeof(int));
    q->next_score = malloc((size_t)K * sizeof(float));
    if (!q->beam_scores || !q->cand || !q->bh.h || !q->src_beam || !q->next_tok || !q->next_score)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    for (int k = 1; k < K; k++)
        q->beam_scores[k] = -1e9f;
    return GITC_OK;
}

/* Encodes the image (or takes over `encoded`, the image context computed by
 * the caller, leaving it empty), sets up the rows and runs the prompt once for
 * all of them. */
static gitc_status request_start(gitc_batch *b, request *q, const float *pixel_values, image_kv *encoded,
                                 const int32_t *prompt, int n_prompt, gitc_error *err)
{
    const gitc_config *c = b->c;
    int V = c->vocab_size, K = q->beams;
    gitc_status st = GITC_OK;
    if (encoded) {
        q->img = *encoded;
        memset(encoded, 0, sizeof *encoded);
    } else {
        image_kv *kv = &q->img;
        st = gitci_image_kv_init(kv, c, gitc_model_num_image_tokens(b->s->model), err);
        if (st == GITC_OK)
            st = gitci_encode(b->s, &pixel_values, 1, &kv, NULL, NULL, NULL, err);
    }
    if (st != GITC_OK)
        return st;
    int live = gitc_generate_rows(&q->p);
    int n_rows = K > 1 ? 2 * K : live;
    q->rows = calloc((size_t)n_rows, sizeof(row));
    if (!q->rows)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    for (int j = 0; j < n_rows; j++) {
        st = row_init(&q->rows[j], c, prompt, n_prompt, row_max_len(&q->p, n_prompt), err);
        if (st != GITC_OK)
            return st;
        q->n_rows = j + 1;
        q->rows[j].img = &q->img;
        /* Each sample j has its own stream, the same whatever the batch. */
        q->rows[j].rng = q->p.seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(j + 1));
    }
    if (K > 1 && (st = beam_init(q, K, err)) != GITC_OK)
        return st;
    q->cur_len = n_prompt;
    /* A one-token prompt of greedy or sampling rows goes through the decoder
     * with the next step's pass (one pass for every request added since, not
     * one each); longer prompts and beam groups are run here. */
    if (K == 1 && n_prompt == 1) {
        q->stale = 1;
        return GITC_OK;
    }
    /* The rows of one input and prompt share the prompt's keys, values and logits. */
    st = prefill(b, &q->img, &q->rows[0], err);
    for (int j = 1; j < live && st == GITC_OK; j++) {
        gitci_text_kv_copy(&q->rows[j].kv, &q->rows[0].kv, c);
        memcpy(q->rows[j].logits, q->rows[0].logits, (size_t)V * sizeof(float));
    }
    return st;
}

/* gitc_batch_add with an optional image context already computed (see request_start). */
static gitc_status batch_add(gitc_batch *b, const float *pixel_values, image_kv *encoded,
                             const int32_t *prompt, int n_prompt, const gitc_generate_params *params,
                             int *id, gitc_error *err)
{
    if (id)
        *id = -1;
    if (!b || !pixel_values || !id)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_batch_add: batch, pixel values and id are required");
    const gitc_config *c = b->c;
    gitc_status size_st = params ? gitci_params_size_check(params->size, sizeof *params, "gitc_generate_params", err)
                                 : GITC_OK;
    if (size_st != GITC_OK)
        return size_st;
    gitc_generate_params p = params ? *params : b->s->model->gen_defaults;
    gitc_status st = gitc_generate_params_check(&p, 0, b->s->model, err);
    if (st != GITC_OK)
        return st;
    int32_t bos = c->bos_token_id;
    if (!prompt) {
        prompt = &bos;
        n_prompt = 1;
    }
    if ((st = check_prompt(&p, c, n_prompt, -1, err)) != GITC_OK)
        return st;
    int need = gitc_generate_rows(&p);
    if (need > b->max_rows - b->live_rows)
        return gitci_fail(err, GITC_ERR_LIMIT, "the batch has room for %d more rows; the request needs %d",
                          b->max_rows - b->live_rows, need);
    if (b->n_req == b->cap_req) {
        int cap = b->cap_req ? 2 * b->cap_req : 8;
        request **grown = realloc(b->req, (size_t)cap * sizeof *grown);
        if (!grown)
            return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        b->req = grown;
        b->cap_req = cap;
    }
    request *q = calloc(1, sizeof *q);
    if (!q)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    q->p = p;
    q->beams = p.num_beams > 1 ? p.num_beams : 1;
    st = copy_bad_words(q, err);
    if (st == GITC_OK)
        st = request_start(b, q, pixel_values, encoded, prompt, n_prompt, err);
    if (st != GITC_OK) {
        request_free(q);
        return st;
    }
    q->id = b->next_id;
    b->next_id = b->next_id == INT32_MAX ? 0 : b->next_id + 1;
    q->n_live = need;
    b->live_rows += need;
    b->req[b->n_req++] = q;
    *id = q->id;
    return GITC_OK;
}

gitc_status gitc_batch_add(gitc_batch *b, const float *pixel_values, size_t pixel_floats,
                           const int32_t *prompt, int n_prompt, const gitc_generate_params *params, int *id,
                           gitc_error *err)
{
    if (id)
        *id = -1;
    if (b) {
        gitc_status st = gitci_pixel_check("gitc_batch_add", b->s->model, pixel_values, pixel_floats, err);
        if (st != GITC_OK)
            return st;
    }
    return batch_add(b, pixel_values, NULL, prompt, n_prompt, params, id, err);
}

static void push_event(gitc_batch *b, int request_id, int sequence, int32_t token, int sequence_done,
                       int stopped, int request_done)
{
    b->events[b->n_events++] = (gitc_batch_event){request_id, sequence, token, sequence_done, stopped,
                                                  request_done};
}

/* A greedy/sampling request whose rows are all done: its rows become its sequences. */
static gitc_status finish_simple(request *q, gitc_error *err)
{
    q->out = calloc((size_t)q->n_rows, sizeof *q->out);
    if (!q->out)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    for (int j = 0; j < q->n_rows; j++) {
        row *r = &q->rows[j];
        gitc_sequence *sq = &q->out[j];
        sq->ids = r->ids; /* handed over */
        r->ids = NULL;
        sq->n_ids = r->len;
        sq->n_prompt = r->n_prompt;
        sq->score = (float)r->score;
        sq->stopped = r->ended_eos;
        q->n_out++;
    }
    q->done = 1;
    request_release_work(q);
    return GITC_OK;
}

/* Greedy and sampling: every unfinished row picks its next token from its logits. */
static gitc_status choose_simple(gitc_batch *b, request *q, gitc_error *err)
{
    const gitc_config *c = b->c;
    int V = c->vocab_size;
    for (int j = 0; j < q->n_rows; j++) {
        row *r = &q->rows[j];
        if (r->finished)
            continue;
        float *scores = r->logits;
        process_logits(&q->p, c, r->ids, r->len, r->n_prompt, scores);
        int tok;
        if (q->p.do_sample) {
            memcpy(b->logprobs, scores, (size_t)V * sizeof(float));
            tok = sample_token(&q->p, scores, V, b->sort_tmp, &r->rng);
            log_softmax(b->logprobs, V);
            r->score += b->logprobs[tok];
        } else {
            tok = argmax(scores, V);
            log_softmax(scores, V);
            r->score += scores[tok];
        }
        r->ids[r->len++] = tok;
        if (tok == c->eos_token_id)
            r->finished = r->ended_eos = 1;
        else if (r->len >= r->max_len)
            r->finished = 1;
        if (r->finished) {
            q->n_live--;
            b->live_rows--;
        }
        push_event(b, q->id, j, tok, r->finished, r->ended_eos, q->n_live == 0);
    }
    return q->n_live == 0 ? finish_simple(q, err) : GITC_OK;
}

/* The end of a beam search: the best hypotheses become the request's sequences. */
static gitc_status finish_beams(gitc_batch *b, request *q, int is_done, gitc_error *err)
{
    const gitc_generate_params *p = &q->p;
    int K = q->beams, n_prompt = q->rows[0].n_prompt;
    row *beams = q->rows;
    gitc_status st = GITC_OK;
    /* Unfinished beams join the hypotheses when the search did not end early. */
    if (!is_done)
        for (int k = 0; k < K && st == GITC_OK; k++)
            st = hyps_add(&q->bh, K, beams[k].ids, beams[k].len, q->beam_scores[k], beams[k].len - n_prompt,
                          p->length_penalty, 0, err);
    if (st != GITC_OK)
        return st;
    q->out = calloc((size_t)p->num_return_sequences, sizeof *q->out);
    if (!q->out)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    for (int j = 0; j < p->num_return_sequences; j++) {
        int best = -1;
        for (int i = 0; i < q->bh.n; i++)
            if (q->bh.h[i].ids && (best < 0 || q->bh.h[i].score > q->bh.h[best].score))
                best = i;
        hypothesis *h = &q->bh.h[best];
        gitc_sequence *sq = &q->out[j];
        sq->ids = malloc((size_t)(h->len + 1) * sizeof(int32_t));
        if (!sq->ids)
            return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        q->n_out++;
        memcpy(sq->ids, h->ids, (size_t)h->len * sizeof(int32_t));
        sq->n_ids = h->len;
        if (h->ended_eos)
            sq->ids[sq->n_ids++] = b->c->eos_token_id;
        sq->n_prompt = n_prompt;
        sq->score = (float)h->score;
        sq->stopped = h->ended_eos;
        free(h->ids);
        h->ids = NULL;
    }
    q->done = 1;
    q->n_live = 0;
    b->live_rows -= K;
    push_event(b, q->id, -1, -1, 1, q->out[0].stopped, 1);
    request_release_work(q);
    return GITC_OK;
}

/* One BeamSearchScorer.process step of a beam group: scores every (beam, token),
 * keeps the K best continuations and reorders the beams' rows. */
static gitc_status choose_beams(gitc_batch *b, request *q, gitc_error *err)
{
    const gitc_generate_params *p = &q->p;
    const gitc_config *c = b->c;
    int K = q->beams, V = c->vocab_size;
    row *beams = q->rows, *spare = q->rows + K;
    int n_prompt = beams[0].n_prompt, max_len = beams[0].max_len;
    candidate *cand = q->cand;
    /* Scores of every (beam, token): log_softmax, processors, plus the beam's sum. */
    int n_cand = 0;
    for (int k = 0; k < K; k++) {
        float *sc = beams[k].logits;
        log_softmax(sc, V);
        process_logits(p, c, beams[k].ids, beams[k].len, n_prompt, sc);
        for (int v = 0; v < V; v++) {
            float total = sc[v] + q->beam_scores[k];
            /* keep the 2K best (ties: lower beam, then lower token first) */
            candidate cd = {total, k, v};
            if (n_cand < 2 * K) {
                cand[n_cand++] = cd;
                if (n_cand == 2 * K)
                    qsort(cand, (size_t)n_cand, sizeof *cand, cmp_candidate);
            } else if (cmp_candidate(&cd, &cand[2 * K - 1]) < 0) {
                int i = 2 * K - 1;
                while (i > 0 && cmp_candidate(&cd, &cand[i - 1]) < 0) {
                    cand[i] = cand[i - 1];
                    i--;
                }
                cand[i] = cd;
            }
        }
    }
    if (n_cand < 2 * K)
        qsort(cand, (size_t)n_cand, sizeof *cand, cmp_candidate);
    int next = 0;
    for (int rank = 0; rank < n_cand && next < K; rank++) {
        const candidate *cd = &cand[rank];
        if (cd->token == c->eos_token_id) {
            if (rank >= K)
                continue;
            /* transformers 4.39 counts the eos in the generated length */
            gitc_status st = hyps_add(&q->bh, K, beams[cd->beam].ids, beams[cd->beam].len, cd->score,
                                      q->cur_len + 1 - n_prompt, p->length_penalty, 1, err);
            if (st != GITC_OK)
                return st;
        } else {
            q->src_beam[next] = cd->beam;
            q->next_tok[next] = cd->token;
            q->next_score[next] = cd->score;
            next++;
        }
    }
    if (next < K)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "beam search: fewer than %d candidates (vocabulary too small)", K);
    int is_done = hyps_done(&q->bh, p, cand[0].score, q->cur_len + 1, n_prompt, max_len);
    /* Reorder: new beam k continues old beam src_beam[k] with next_tok[k]. */
    for (int k = 0; k < K; k++) {
        row *src = &beams[q->src_beam[k]], *dst = &spare[k];
        gitci_text_kv_copy(&dst->kv, &src->kv, c);
        memcpy(dst->ids, src->ids, (size_t)src->len * sizeof(int32_t));
        dst->len = src->len;
        dst->ids[dst->len++] = q->next_tok[k];
        q->beam_scores[k] = q->next_score[k];
    }
    for (int k = 0; k < K; k++) {
        row t = beams[k];
        beams[k] = spare[k];
        spare[k] = t;
    }
    q->cur_len++;
    if (is_done || q->cur_len >= max_len)
        return finish_beams(b, q, is_done, err);
    return GITC_OK;
}

/* One decoder pass over the rows in b->fwd: each gets the logits of its next token. */
static gitc_status forward_rows(gitc_batch *b, int n, gitc_error *err)
{
    const gitc_config *c = b->c;
    size_t V = (size_t)c->vocab_size;
    int chunk = GITC_MIN(b->max_rows, STEP_CHUNK);
    for (int done = 0; done < n;) {
        int k = GITC_MIN(n - done, chunk);
        for (int i = 0; i < k; i++) {
            row *r = b->fwd[done + i];
            b->imgs[i] = r->img;
            b->txts[i] = &r->kv;
            b->ids[i] = r->ids[r->len - 1];
        }
        gitc_status st = gitci_decoder_text(b->s, b->ids, 1, k, b->imgs, b->txts, b->hidden, err);
        if (st != GITC_OK)
            return st;
        gitci_lm_head(b->s, b->hidden, k, b->logits);
        for (int i = 0; i < k; i++)
            memcpy(b->fwd[done + i]->logits, b->logits + (size_t)i * V, V * sizeof(float));
        done += k;
    }
    return GITC_OK;
}

gitc_status gitc_batch_step(gitc_batch *b, const gitc_batch_event **events, int *n_events, gitc_error *err)
{
    if (events)
        *events = NULL;
    if (n_events)
        *n_events = 0;
    if (!b)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_batch_step: no batch");
    b->n_events = 0;
    if (gitci_session_aborted(b->s))
        return gitci_fail(err, GITC_ERR_ABORTED, "generation aborted");
    /* One decoder pass over every row whose last token has not been through
     * the decoder (the tokens chosen by the last step, the prompts of requests
     * added since), in the order the requests came; then every request picks
     * its rows' next tokens from their logits. */
    int n = 0;
    for (int i = 0; i < b->n_req; i++) {
        request *q = b->req[i];
        if (q->done || !q->stale)
            continue;
        int k_rows = q->beams > 1 ? q->beams : q->n_rows;
        for (int j = 0; j < k_rows; j++)
            if (!q->rows[j].finished)
                b->fwd[n++] = &q->rows[j];
    }
    gitc_status st = n > 0 ? forward_rows(b, n, err) : GITC_OK;
    for (int i = 0; i < b->n_req && st == GITC_OK; i++) {
        request *q = b->req[i];
        if (q->done)
            continue;
        st = q->beams > 1 ? choose_beams(b, q, err) : choose_simple(b, q, err);
        q->stale = !q->done;
    }
    if (events)
        *events = b->events;
    if (n_events)
        *n_events = b->n_events;
    return st;
}

/* The position of request `id` in b->req, or -1. */
static int find_request(const gitc_batch *b, int id)
{
    for (int i = 0; i < b->n_req; i++)
        if (b->req[i]->id == id)
            return i;
    return -1;
}

/* Drops b->req[i], keeping the order of the others. */
static void remove_request(gitc_batch *b, int i)
{
    request *q = b->req[i];
    if (!q->done)
        b->live_rows -= q->n_live;
    request_free(q);
    memmove(b->req + i, b->req + i + 1, (size_t)(b->n_req - i - 1) * sizeof *b->req);
    b->n_req--;
}

gitc_status gitc_batch_take(gitc_batch *b, int id, gitc_generation *out, gitc_error *err)
{
    memset(out, 0, sizeof *out);
    int i = b ? find_request(b, id) : -1;
    if (i < 0)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_batch_take: no request %d in the batch", id);
    request *q = b->req[i];
    if (!q->done)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_batch_take: request %d is still decoding", id);
    out->sequences = q->out;
    out->n_sequences = q->n_out;
    q->out = NULL;
    q->n_out = 0;
    remove_request(b, i);
    return GITC_OK;
}

gitc_status gitc_batch_cancel(gitc_batch *b, int id)
{
    int i = b ? find_request(b, id) : -1;
    if (i < 0)
        return GITC_ERR_ARGUMENT;
    remove_request(b, i);
    return GITC_OK;
}

/* ---- gitc_generate: a loop over the step API ---- */

void gitc_generation_free(gitc_generation *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_sequences; i++)
        free(g->sequences[i].ids);
    free(g->sequences);
    g->sequences = NULL;
    g->n_sequences = 0;
}

gitc_status gitc_generate(gitc_session *s, const float *const *pixel_values, size_t pixel_floats,
                          const int32_t *const *prompts, const int *n_prompt, int n_inputs,
                          const gitc_generate_params *params, gitc_generation *out, gitc_error *err)
{
    memset(out, 0, sizeof *out);
    if (!s || !pixel_values || n_inputs < 1)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_generate: no inputs");
    const gitc_model *m = s->model;
    const gitc_config *c = &m->cfg;
    gitc_status st = params ? gitci_params_size_check(params->size, sizeof *params, "gitc_generate_params", err)
                            : GITC_OK;
    if (st != GITC_OK)
        return st;
    gitc_generate_params p = params ? *params : m->gen_defaults;
    if ((st = gitc_generate_params_check(&p, 0, m, err)) != GITC_OK)
        return st;
    int per_input = gitc_generate_rows(&p);
    for (int i = 0; i < n_inputs; i++) {
        int np = prompts && prompts[i] ? n_prompt[i] : 1;
        if (!pixel_values[i])
            return gitci_fail(err, GITC_ERR_ARGUMENT, "input %d has no pixel values", i);
        if ((st = gitci_pixel_check("gitc_generate", m, pixel_values[i], pixel_floats, err)) != GITC_OK)
            return st;
        if ((st = check_prompt(&p, c, np, i, err)) != GITC_OK)
            return st;
    }
    out->sequences = calloc((size_t)n_inputs * p.num_return_sequences, sizeof(gitc_sequence));
    int *ids = malloc((size_t)n_inputs * sizeof(int));
    if (!out->sequences || !ids) {
        free(ids);
        gitc_generation_free(out);
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    /* All inputs in one batch, or in groups when they have more rows than a batch takes. */
    int group = GITC_BATCH_MAX_ROWS / per_input;
    gitc_batch *b = NULL;
    for (int first = 0; first < n_inputs && st == GITC_OK; first += group) {
        int n = GITC_MIN(group, n_inputs - first);
        gitc_batch_free(b);
        b = NULL;
        st = gitc_batch_create(s, n * per_input, &b, err);
        /* The images are encoded GITC_ENCODE_BATCH_MAX at a time, in one pass each
         * (M = images x tokens rows: better matrix efficiency), then join the batch. */
        for (int e = first; e < first + n && st == GITC_OK; e += GITC_ENCODE_BATCH_MAX) {
            int k = GITC_MIN(GITC_ENCODE_BATCH_MAX, first + n - e);
            image_kv kv[GITC_ENCODE_BATCH_MAX] = {{0}};
            image_kv *kv_ptrs[GITC_ENCODE_BATCH_MAX];
            for (int j = 0; j < k && st == GITC_OK; j++) {
                st = gitci_image_kv_init(&kv[j], c, gitc_model_num_image_tokens(m), err);
                kv_ptrs[j] = &kv[j];
            }
            if (st == GITC_OK)
                st = gitci_encode(s, pixel_values + e, k, kv_ptrs, NULL, NULL, NULL, err);
            for (int j = 0; j < k && st == GITC_OK; j++) {
                int i = e + j;
                st = batch_add(b, pixel_values[i], &kv[j], prompts && prompts[i] ? prompts[i] : NULL,
                               prompts && prompts[i] ? n_prompt[i] : 1, &p, &ids[i], err);
            }
            for (int j = 0; j < k; j++)
                gitci_image_kv_free(&kv[j]); /* those not taken over by a request */
        }
        while (st == GITC_OK && gitc_batch_live_rows(b) > 0)
            st = gitc_batch_step(b, NULL, NULL, err);
        for (int i = first; i < first + n && st == GITC_OK; i++) {
            gitc_generation one;
            st = gitc_batch_take(b, ids[i], &one, err);
            if (st != GITC_OK)
                break;
            memcpy(out->sequences + out->n_sequences, one.sequences,
                   (size_t)one.n_sequences * sizeof(gitc_sequence));
            out->n_sequences += one.n_sequences;
            free(one.sequences);
        }
    }
    gitc_batch_free(b);
    free(ids);
    if (st != GITC_OK)
        gitc_generation_free(out);
    return st;
}
