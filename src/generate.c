/* Generation as transformers 4.39's GitForCausalLM.generate does it: greedy,
 * sampling and beam search with the logits processors, for batches whose rows
 * keep their own positions. Image keys/values are computed once per input and
 * shared by all of its rows (beams, samples). */
#include "model.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One sequence being generated. */
typedef struct row {
    int input;     /* index of its input (image) */
    int32_t *ids;  /* [max_len] prompt + generated */
    int len;
    int n_prompt;
    int max_len;
    int done;
    int ended_eos; /* finished by emitting eos */
    double score;  /* sum of log-probabilities (greedy / sampling) */
    uint64_t rng;  /* sampling state */
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
    float lse = gitc_log_sum_exp(x, V);
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

/* ---- shared pieces ---- */

typedef struct gen_state {
    gitc_session *s;
    const gitc_generate_params *p;
    const gitc_config *c;
    image_kv *img;  /* [n_inputs] */
    int n_inputs;
    float *hidden;  /* [rows, D] */
    float *logits;  /* [rows, V] */
    float *tmp;     /* [V] */
} gen_state;

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
    if (!r->ids)
        return gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
    memcpy(r->ids, prompt, (size_t)n_prompt * sizeof(int32_t));
    r->len = r->n_prompt = n_prompt;
    r->max_len = max_len;
    gitc_status st = text_kv_init(&r->kv, c, cap, err);
    if (st != GITC_OK) {
        free(r->ids);
        r->ids = NULL;
    }
    return st;
}

static void row_free(row *r)
{
    free(r->ids);
    text_kv_free(&r->kv);
}

/* Runs the prompt of `r` through the decoder; the next-token logits go to `logits`. */
static gitc_status prefill(gen_state *g, row *r, float *logits, gitc_error *err)
{
    const image_kv *img = &g->img[r->input];
    text_kv *txt = &r->kv;
    size_t D = (size_t)g->c->hidden_size;
    float *hidden = malloc((size_t)r->len * D * sizeof(float));
    if (!hidden)
        return gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
    gitc_status st = gitc_decoder_text(g->s, r->ids, r->len, 1, &img, &txt, hidden, err);
    if (st == GITC_OK)
        gitc_lm_head(g->s, hidden + (size_t)(r->len - 1) * D, 1, logits);
    free(hidden);
    return st;
}

/* One decoder step for the given rows (their last token each); logits [n, V]. */
static gitc_status step_rows(gen_state *g, row **rows, int n, gitc_error *err)
{
    const image_kv *imgs[64];
    text_kv *txts[64];
    int32_t ids[64];
    for (int done = 0; done < n;) {
        int k = GITC_MIN(n - done, 64);
        for (int i = 0; i < k; i++) {
            row *r = rows[done + i];
            imgs[i] = &g->img[r->input];
            txts[i] = &r->kv;
            ids[i] = r->ids[r->len - 1];
        }
        gitc_status st = gitc_decoder_text(g->s, ids, 1, k, imgs, txts, g->hidden, err);
        if (st != GITC_OK)
            return st;
        gitc_lm_head(g->s, g->hidden, k, g->logits + (size_t)done * g->c->vocab_size);
        done += k;
    }
    return GITC_OK;
}

/* ---- greedy and sampling ---- */

static gitc_status run_simple(gen_state *g, row *rows, int n_rows, gitc_error *err)
{
    const gitc_config *c = g->c;
    int V = c->vocab_size;
    row **active = malloc((size_t)n_rows * sizeof *active);
    if (!active)
        return gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
    gitc_status st = GITC_OK;
    /* Prefill: rows of one input with one prompt share the result. */
    for (int i = 0; i < n_rows && st == GITC_OK; i++) {
        if (i > 0 && rows[i].input == rows[i - 1].input) {
            text_kv_copy(&rows[i].kv, &rows[i - 1].kv, c);
            memcpy(g->logits + (size_t)i * V, g->logits + (size_t)(i - 1) * V, (size_t)V * sizeof(float));
        } else {
            st = prefill(g, &rows[i], g->logits + (size_t)i * V, err);
        }
        active[i] = &rows[i];
    }
    int n_active = n_rows;
    while (st == GITC_OK && n_active > 0) {
        if (gitc_session_aborted(g->s)) {
            st = gitc_fail(err, GITC_ERR_ABORTED, "generation aborted");
            break;
        }
        int kept = 0;
        for (int i = 0; i < n_active; i++) {
            row *r = active[i];
            float *scores = g->logits + (size_t)i * V;
            process_logits(g->p, c, r->ids, r->len, r->n_prompt, scores);
            int tok;
            if (g->p->do_sample) {
                memcpy(g->tmp, scores, (size_t)V * sizeof(float));
                tok = sample_token(g->p, scores, V, g->hidden, &r->rng);
                r->score += g->tmp[tok] - gitc_log_sum_exp(g->tmp, V);
            } else {
                tok = argmax(scores, V);
                r->score += scores[tok] - gitc_log_sum_exp(scores, V);
            }
            r->ids[r->len++] = tok;
            if (tok == c->eos_token_id) {
                r->done = r->ended_eos = 1;
            } else if (r->len >= r->max_len) {
                r->done = 1;
            } else {
                active[kept++] = r;
            }
        }
        n_active = kept;
        if (n_active > 0)
            st = step_rows(g, active, n_active, err);
    }
    free(active);
    return st;
}

/* ---- beam search (BeamSearchScorer of transformers 4.39) ---- */

typedef struct hypothesis {
    double score;
    int32_t *ids;
    int len;
    int ended_eos;
} hypothesis;

typedef struct beam_hyps {
    hypothesis *h; /* up to num_beams kept */
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
        return gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
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

/* Beam search for one input; its K rows are `beams`, `spare` K more rows for reordering. */
static gitc_status run_beams(gen_state *g, row *beams, row *spare, gitc_sequence *out, gitc_error *err)
{
    const gitc_generate_params *p = g->p;
    const gitc_config *c = g->c;
    int K = p->num_beams, V = c->vocab_size, n_prompt = beams[0].n_prompt, max_len = beams[0].max_len;
    float *beam_scores = calloc((size_t)K, sizeof(float));
    candidate *cand = malloc((size_t)2 * K * sizeof *cand);
    beam_hyps bh = {calloc((size_t)K + 1, sizeof(hypothesis)), 0, 1e9};
    row **ptrs = malloc((size_t)K * sizeof *ptrs);
    gitc_status st = GITC_OK;
    if (!beam_scores || !cand || !bh.h || !ptrs) {
        st = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    for (int b = 1; b < K; b++)
        beam_scores[b] = -1e9f;
    st = prefill(g, &beams[0], g->logits, err);
    for (int b = 1; b < K && st == GITC_OK; b++) {
        text_kv_copy(&beams[b].kv, &beams[0].kv, c);
        memcpy(g->logits + (size_t)b * V, g->logits, (size_t)V * sizeof(float));
    }
    int cur_len = n_prompt, is_done = 0;
    while (st == GITC_OK) {
        if (gitc_session_aborted(g->s)) {
            st = gitc_fail(err, GITC_ERR_ABORTED, "generation aborted");
            break;
        }
        /* Scores of every (beam, token): log_softmax, processors, plus the beam's sum. */
        int n_cand = 0;
        for (int b = 0; b < K; b++) {
            float *sc = g->logits + (size_t)b * V;
            log_softmax(sc, V);
            process_logits(p, c, beams[b].ids, beams[b].len, n_prompt, sc);
            for (int v = 0; v < V; v++) {
                float total = sc[v] + beam_scores[b];
                /* keep the 2K best (ties: lower beam, then lower token first) */
                candidate cd = {total, b, v};
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
        /* BeamSearchScorer.process */
        int next = 0;
        int src_beam[64], next_tok[64];
        float next_score[64];
        for (int rank = 0; rank < n_cand && next < K; rank++) {
            const candidate *cd = &cand[rank];
            if (cd->token == c->eos_token_id) {
                if (rank >= K)
                    continue;
                /* transformers 4.39 counts the eos in the generated length */
                st = hyps_add(&bh, K, beams[cd->beam].ids, beams[cd->beam].len, cd->score,
                              cur_len + 1 - n_prompt, p->length_penalty, 1, err);
                if (st != GITC_OK)
                    goto done;
            } else {
                src_beam[next] = cd->beam;
                next_tok[next] = cd->token;
                next_score[next] = cd->score;
                next++;
            }
        }
        if (next < K) {
            st = gitc_fail(err, GITC_ERR_ARGUMENT, "beam search: fewer than %d candidates (vocabulary too small)", K);
            break;
        }
        is_done = hyps_done(&bh, p, cand[0].score, cur_len + 1, n_prompt, max_len);
        /* Reorder: new beam b continues old beam src_beam[b] with next_tok[b]. */
        for (int b = 0; b < K; b++) {
            row *src = &beams[src_beam[b]], *dst = &spare[b];
            text_kv_copy(&dst->kv, &src->kv, c);
            memcpy(dst->ids, src->ids, (size_t)src->len * sizeof(int32_t));
            dst->len = src->len;
            dst->ids[dst->len++] = next_tok[b];
            beam_scores[b] = next_score[b];
        }
        for (int b = 0; b < K; b++) {
            row t = beams[b];
            beams[b] = spare[b];
            spare[b] = t;
        }
        cur_len++;
        if (is_done || cur_len >= max_len)
            break;
        for (int b = 0; b < K; b++)
            ptrs[b] = &beams[b];
        st = step_rows(g, ptrs, K, err);
    }
    if (st != GITC_OK)
        goto done;
    /* finalize: unfinished beams join the hypotheses when the search did not end early. */
    if (!is_done)
        for (int b = 0; b < K && st == GITC_OK; b++)
            st = hyps_add(&bh, K, beams[b].ids, beams[b].len, beam_scores[b], beams[b].len - n_prompt,
                          p->length_penalty, 0, err);
    for (int j = 0; j < p->num_return_sequences && st == GITC_OK; j++) {
        int best = -1;
        for (int i = 0; i < bh.n; i++)
            if (bh.h[i].ids && (best < 0 || bh.h[i].score > bh.h[best].score))
                best = i;
        hypothesis *h = &bh.h[best];
        gitc_sequence *sq = &out[j];
        sq->ids = malloc((size_t)(h->len + 1) * sizeof(int32_t));
        if (!sq->ids) {
            st = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
            break;
        }
        memcpy(sq->ids, h->ids, (size_t)h->len * sizeof(int32_t));
        sq->n_ids = h->len;
        if (h->ended_eos)
            sq->ids[sq->n_ids++] = c->eos_token_id;
        sq->n_prompt = n_prompt;
        sq->score = (float)h->score;
        free(h->ids);
        h->ids = NULL;
    }
done:
    if (bh.h)
        for (int i = 0; i < bh.n; i++)
            free(bh.h[i].ids);
    free(bh.h);
    free(beam_scores);
    free(cand);
    free(ptrs);
    return st;
}

/* ---- public entry ---- */

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

gitc_status gitc_generate(gitc_session *s, const float *const *pixel_values,
                          const int32_t *const *prompts, const int *n_prompt, int n_inputs,
                          const gitc_generate_params *params, gitc_generation *out, gitc_error *err)
{
    memset(out, 0, sizeof *out);
    if (!s || !pixel_values || n_inputs < 1)
        return gitc_fail(err, GITC_ERR_ARGUMENT, "gitc_generate: no inputs");
    const gitc_model *m = s->model;
    const gitc_config *c = &m->cfg;
    gitc_generate_params p = params ? *params : m->gen_defaults;
    gitc_status st = gitc_generate_params_check(&p, 0, m, err);
    if (st != GITC_OK)
        return st;
    int per_input = p.num_beams > 1 ? p.num_beams : p.num_return_sequences;
    int n_rows = n_inputs * per_input;
    int V = c->vocab_size, D = c->hidden_size, n_img = gitc_model_num_image_tokens(m);
    int32_t bos = c->bos_token_id;
    for (int i = 0; i < n_inputs; i++) {
        int np = prompts && prompts[i] ? n_prompt[i] : 1;
        if (!pixel_values[i])
            return gitc_fail(err, GITC_ERR_ARGUMENT, "input %d has no pixel values", i);
        if (np < 1 || np >= c->max_position_embeddings)
            return gitc_fail(err, GITC_ERR_ARGUMENT, "input %d: prompt of %d tokens (1..%d allowed)", i,
                             np, c->max_position_embeddings - 1);
        if (row_max_len(&p, np) > c->max_position_embeddings)
            return gitc_fail(err, GITC_ERR_ARGUMENT,
                             "input %d: %d prompt tokens + %d new tokens exceed max_position_embeddings (%d)",
                             i, np, p.max_new_tokens, c->max_position_embeddings);
    }
    gen_state g = {s, &p, c, calloc((size_t)n_inputs, sizeof(image_kv)), n_inputs, NULL, NULL, NULL};
    /* Rows decoded together: one input's beams, or every row of greedy/sampling.
     * Beam search keeps twice as many rows for reordering. */
    int n_live = p.num_beams > 1 ? p.num_beams : n_rows;
    row *rows = calloc((size_t)(p.num_beams > 1 ? 2 * n_live : n_live), sizeof(row));
    image_kv **img_ptrs = malloc((size_t)n_inputs * sizeof *img_ptrs);
    g.hidden = malloc((size_t)GITC_MIN(n_live, 64) * GITC_MAX(D, V) * sizeof(float));
    g.logits = malloc((size_t)n_live * V * sizeof(float));
    g.tmp = malloc((size_t)V * sizeof(float));
    out->sequences = calloc((size_t)n_inputs * p.num_return_sequences, sizeof(gitc_sequence));
    if (!g.img || !rows || !img_ptrs || !g.hidden || !g.logits || !g.tmp || !out->sequences) {
        st = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    out->n_sequences = n_inputs * p.num_return_sequences;
    /* Image keys and values once per input, the inputs encoded together. */
    for (int i = 0; i < n_inputs && st == GITC_OK; i++) {
        st = image_kv_init(&g.img[i], c, n_img, err);
        img_ptrs[i] = &g.img[i];
    }
    if (st == GITC_OK)
        st = gitc_encode_batch(s, pixel_values, n_inputs, img_ptrs, err);
    if (st != GITC_OK)
        goto done;
    if (p.num_beams > 1) {
        int K = p.num_beams;
        for (int i = 0; i < n_inputs && st == GITC_OK; i++) {
            const int32_t *pr = prompts && prompts[i] ? prompts[i] : &bos;
            int np = prompts && prompts[i] ? n_prompt[i] : 1;
            for (int b = 0; b < 2 * K && st == GITC_OK; b++) {
                st = row_init(&rows[b], c, pr, np, row_max_len(&p, np), err);
                rows[b].input = i;
            }
            if (st == GITC_OK)
                st = run_beams(&g, rows, rows + K, out->sequences + (size_t)i * p.num_return_sequences, err);
            for (int b = 0; b < 2 * K; b++)
                row_free(&rows[b]);
            memset(rows, 0, (size_t)2 * K * sizeof(row));
        }
    } else {
        for (int i = 0; i < n_inputs && st == GITC_OK; i++) {
            const int32_t *pr = prompts && prompts[i] ? prompts[i] : &bos;
            int np = prompts && prompts[i] ? n_prompt[i] : 1;
            for (int j = 0; j < per_input && st == GITC_OK; j++) {
                row *r = &rows[i * per_input + j];
                st = row_init(r, c, pr, np, row_max_len(&p, np), err);
                r->input = i;
                /* Each sample j has its own stream, the same whatever the batch. */
                r->rng = p.seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(j + 1));
            }
        }
        if (st == GITC_OK)
            st = run_simple(&g, rows, n_rows, err);
        for (int i = 0; i < n_rows && st == GITC_OK; i++) {
            gitc_sequence *sq = &out->sequences[i];
            sq->ids = malloc((size_t)rows[i].len * sizeof(int32_t));
            if (!sq->ids) {
                st = gitc_fail(err, GITC_ERR_MEMORY, "out of memory");
                break;
            }
            memcpy(sq->ids, rows[i].ids, (size_t)rows[i].len * sizeof(int32_t));
            sq->n_ids = rows[i].len;
            sq->n_prompt = rows[i].n_prompt;
            sq->score = (float)rows[i].score;
        }
        for (int i = 0; i < n_rows; i++)
            row_free(&rows[i]);
    }
done:
    if (g.img)
        for (int i = 0; i < n_inputs; i++)
            image_kv_free(&g.img[i]);
    free(g.img);
    free(rows);
    free(img_ptrs);
    free(g.hidden);
    free(g.logits);
    free(g.tmp);
    if (st != GITC_OK)
        gitc_generation_free(out);
    return st;
}
