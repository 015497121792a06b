/* The step API (gitc_batch_*): requests that join a running batch, mixed
 * greedy / sampling / beam / VQA rows and a cancelled row give exactly what
 * gitc_generate gives each request alone; events carry every token and the
 * finish reason; the row limit is enforced. Uses the embedded git-shapes model. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitc.h"

enum { N_REQ = 4, MAX_TOK = 64 };

/* Loads and preprocesses one example image into pixels [3, S, S] (caller frees). */
static float *pixels_of(const gitc_model *m, const char *file)
{
    char rel[256];
    snprintf(rel, sizeof rel, "examples/%s", file);
    gitc_image img = {0};
    gitc_error err = {0};
    int h = 0, w = 0;
    gitc_processor_output_size(gitc_model_processor(m), &h, &w);
    float *px = malloc((size_t)3 * h * w * sizeof(float));
    if (!check_true(gitc_image_load(check_path(rel), NULL, &img, &err) == GITC_OK, "%s: %s", file, err.message) ||
        !check_true(gitc_processor_run(gitc_model_processor(m), &img, px, (size_t)3 * h * w, &err) == GITC_OK, "%s: %s", file,
                    err.message)) {
        free(px);
        px = NULL;
    }
    gitc_image_free(&img);
    return px;
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    if (!check_true(gitc_model_load(check_path("models/git-shapes"), NULL, &m, &err) == GITC_OK, "load: %s",
                    err.message))
        return check_done("test_batch");
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    check_true(gitc_session_create(m, &sp, &s, &err) == GITC_OK, "session: %s", err.message);
    float *px[3] = {pixels_of(m, "shapes_0_224x224.png"), pixels_of(m, "shapes_1_320x240.jpg"),
                    pixels_of(m, "shapes_2_300x400.png")};
    if (!s || !px[0] || !px[1] || !px[2])
        return check_done("test_batch");
    size_t npx = gitc_model_pixel_floats(m); /* what pixels_of wrote for each */

    /* Four requests: greedy, sampling (2 sequences), beam search, VQA. */
    gitc_generate_params p[N_REQ];
    for (int i = 0; i < N_REQ; i++) {
        p[i] = gitc_model_generate_params(m);
        p[i].max_length = 30;
    }
    p[1].do_sample = 1, p[1].temperature = 1.5f, p[1].top_k = 10, p[1].seed = 7, p[1].num_return_sequences = 2;
    p[2].num_beams = 3;
    p[3].max_length = 12; /* short enough that one answer may be cut */
    const int32_t vqa_prompt[] = {101, 139, 112, 117, 133, 108, 142}; /* "what color is the background?" */
    const float *req_px[N_REQ] = {px[0], px[1], px[2], px[1]};
    const int32_t *req_prompt[N_REQ] = {NULL, NULL, NULL, vqa_prompt};
    int req_np[N_REQ] = {1, 1, 1, 7};

    /* Each request alone through gitc_generate. */
    gitc_generation alone[N_REQ];
    for (int i = 0; i < N_REQ; i++) {
        const int32_t *pr = req_prompt[i];
        check_true(gitc_generate(s, &req_px[i], npx, pr ? &pr : NULL, &req_np[i], 1, &p[i], &alone[i], &err) == GITC_OK,
                   "alone %d: %s", i, err.message);
    }
    /* Requests added together share one decoder pass per step, their
     * one-token prompts included: as many passes as the longest row has new
     * tokens (not one more per request for its prompt). */
    {
        const float *three[3] = {px[0], px[1], px[2]};
        gitc_generation g3 = {0};
        gitc_session_stats st;
        gitc_session_stats_reset(s);
        if (check_true(gitc_generate(s, three, npx, NULL, NULL, 3, &p[0], &g3, &err) == GITC_OK, "3 captions: %s",
                       err.message)) {
            int longest = 0;
            for (int i = 0; i < g3.n_sequences; i++)
                if (g3.sequences[i].n_ids - g3.sequences[i].n_prompt > longest)
                    longest = g3.sequences[i].n_ids - g3.sequences[i].n_prompt;
            gitc_session_stats_get(s, &st);
            check_true(st.decode_steps == longest, "3 captions together: %d decoder passes for %d new tokens",
                       st.decode_steps, longest);
            gitc_generation_free(&g3);
        }
    }
    /* The greedy caption is the reference one (tests/data/cli/examples.json). */
    const int32_t want0[] = {101, 104, 118, 127, 111, 123, 104, 140, 108, 102};
    check_ids("greedy shapes_0 vs transformers", alone[0].sequences[0].ids, alone[0].sequences[0].n_ids, want0, 10);

    /* The same requests joining one batch at different steps, plus one cancelled. */
    gitc_batch *b = NULL;
    check_true(gitc_batch_create(s, 8, &b, &err) == GITC_OK, "batch: %s", err.message);
    int id[N_REQ] = {-1, -1, -1, -1}, cancelled = -1, n_steps = 0, max_live = 0;
    int32_t streamed[N_REQ][2][MAX_TOK];
    int n_streamed[N_REQ][2] = {{0}}, stopped[N_REQ][2] = {{0}}, seq_done[N_REQ][2] = {{0}}, req_done[N_REQ] = {0};
    int join_at[N_REQ] = {0, 2, 3, 5};
    for (int step = 0; b; step++) {
        for (int i = 0; i < N_REQ; i++)
            if (join_at[i] == step) {
                check_true(gitc_batch_add(b, req_px[i], npx, req_prompt[i], req_np[i], &p[i], &id[i], &err) == GITC_OK,
                           "add %d: %s", i, err.message);
            }
        if (step == 1)
            check_true(gitc_batch_add(b, px[2], npx, NULL, 1, &p[0], &cancelled, &err) == GITC_OK, "add: %s", err.message);
        if (step == 4) {
            int before = gitc_batch_live_rows(b);
            check_true(gitc_batch_cancel(b, cancelled) == GITC_OK, "cancel a live request");
            check_true(gitc_batch_live_rows(b) == before - 1, "cancel frees its row (%d -> %d)", before,
                       gitc_batch_live_rows(b));
            check_true(gitc_batch_cancel(b, cancelled) == GITC_ERR_ARGUMENT, "cancel twice is an error");
        }
        if (gitc_batch_live_rows(b) == 0 && step > join_at[N_REQ - 1])
            break;
        max_live = gitc_batch_live_rows(b) > max_live ? gitc_batch_live_rows(b) : max_live;
        const gitc_batch_event *ev = NULL;
        int n_ev = 0;
        if (!check_true(gitc_batch_step(b, &ev, &n_ev, &err) == GITC_OK, "step %d: %s", step, err.message))
            break;
        n_steps++;
        for (int e = 0; e < n_ev; e++) {
            int r = -1;
            for (int i = 0; i < N_REQ; i++)
                if (id[i] == ev[e].request)
                    r = i;
            check_true(r >= 0 || ev[e].request == cancelled, "event for unknown request %d", ev[e].request);
            if (r < 0)
                continue;
            int q = ev[e].sequence < 0 ? 0 : ev[e].sequence;
            if (ev[e].token >= 0 && n_streamed[r][q] < MAX_TOK)
                streamed[r][q][n_streamed[r][q]++] = ev[e].token;
            if (ev[e].sequence_done) {
                seq_done[r][q]++;
                stopped[r][q] = ev[e].stopped;
            }
            req_done[r] += ev[e].request_done;
        }
    }
    check_true(max_live == 7, "rows decoded together at most: %d (want 1 + 2 + 3 + 1)", max_live);
    printf("batch: %d steps\n", n_steps);
    for (int i = 0; i < N_REQ && b; i++) {
        gitc_generation g = {0};
        check_true(req_done[i] == 1, "request %d: %d request_done events", i, req_done[i]);
        if (!check_true(gitc_batch_take(b, id[i], &g, &err) == GITC_OK, "take %d: %s", i, err.message))
            continue;
        check_true(g.n_sequences == alone[i].n_sequences, "request %d: %d sequences, alone %d", i, g.n_sequences,
                   alone[i].n_sequences);
        for (int q = 0; q < g.n_sequences && q < alone[i].n_sequences; q++) {
            char what[96];
            const gitc_sequence *a = &alone[i].sequences[q], *x = &g.sequences[q];
            snprintf(what, sizeof what, "request %d seq %d: batch vs alone", i, q);
            check_ids(what, x->ids, x->n_ids, a->ids, a->n_ids);
            check_true(x->score == a->score, "%s: score %.9g vs %.9g", what, x->score, a->score);
            int eos = x->n_ids > 0 && x->ids[x->n_ids - 1] == gitc_model_config(m)->eos_token_id;
            check_true(x->stopped == eos, "%s: stopped %d, ends with eos %d", what, x->stopped, eos);
            if (p[i].num_beams > 1) {
                check_true(seq_done[i][0] == 1 && stopped[i][0] == g.sequences[0].stopped,
                           "beam request: one done event with the best sequence's finish reason");
            } else {
                snprintf(what, sizeof what, "request %d seq %d: streamed tokens", i, q);
                check_ids(what, streamed[i][q], n_streamed[i][q], x->ids + x->n_prompt, x->n_ids - x->n_prompt);
                check_true(seq_done[i][q] == 1 && stopped[i][q] == x->stopped,
                           "request %d seq %d: done events %d, stopped %d vs %d", i, q, seq_done[i][q],
                           stopped[i][q], x->stopped);
            }
        }
        gitc_generation_free(&g);
    }
    check_true(gitc_batch_take(b, id[0], &(gitc_generation){0}, &err) == GITC_ERR_ARGUMENT,
               "take twice is an error: %s", err.message);
    /* Limits: a beam group of 3 does not fit in 2 rows; nothing changes. */
    gitc_batch *small = NULL;
    int dummy = 0;
    check_true(gitc_batch_create(s, 2, &small, &err) == GITC_OK, "small batch: %s", err.message);
    check_true(gitc_batch_add(small, px[0], npx, NULL, 1, &p[2], &dummy, &err) == GITC_ERR_LIMIT && dummy == -1,
               "beam 3 in a 2-row batch: %s", err.message);
    check_true(gitc_batch_live_rows(small) == 0, "a refused request leaves no rows");
    check_true(gitc_batch_create(s, 0, &(gitc_batch *){NULL}, &err) == GITC_ERR_ARGUMENT, "0 rows: %s", err.message);
    gitc_batch_free(small);
    /* gitc_generate with more rows than one batch takes (65 inputs x 64 samples > 4096 rows) runs
     * them in groups; the same input gives the same samples in either group. */
    {
        enum { N_IN = 65 };
        const float *many[N_IN];
        for (int i = 0; i < N_IN; i++)
            many[i] = px[0];
        gitc_generate_params ps = p[1];
        ps.num_return_sequences = 64;
        ps.max_length = 12;
        gitc_generation g = {0};
        if (check_true(gitc_generate(s, many, npx, NULL, NULL, N_IN, &ps, &g, &err) == GITC_OK, "65 x 64 rows: %s",
                       err.message) &&
            check_true(g.n_sequences == N_IN * 64, "65 x 64 rows: %d sequences", g.n_sequences)) {
            int same = 1;
            for (int q = 0; q < 64; q++) {
                const gitc_sequence *x = &g.sequences[q], *y = &g.sequences[(N_IN - 1) * 64 + q];
                same &= x->n_ids == y->n_ids && !memcmp(x->ids, y->ids, (size_t)x->n_ids * sizeof(int32_t)) &&
                        x->score == y->score;
            }
            check_true(same, "65 x 64 rows: input 64 (second group) equals input 0 (first group)");
        }
        gitc_generation_free(&g);
    }
    gitc_batch_free(b);
    for (int i = 0; i < N_REQ; i++)
        gitc_generation_free(&alone[i]);
    for (int i = 0; i < 3; i++)
        free(px[i]);
    gitc_session_free(s);
    gitc_model_free(m);
    return check_done("test_batch");
}
