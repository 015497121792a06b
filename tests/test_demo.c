/* The embedded demo models end to end through the library: image files ->
 * processor -> generate -> text, against transformers' outputs
 * (greedy and 3-beam captions, VQA answers, video captions from frames). */
#include "check.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gitc_session *open_session(const char *model_rel, gitc_model **m)
{
    gitc_error err = {0};
    gitc_session *s = NULL;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    if (check_true(gitc_model_load(check_path(model_rel), NULL, m, &err) == GITC_OK, "load %s: %s", model_rel, err.message))
        check_true(gitc_session_create(*m, &sp, &s, &err) == GITC_OK, "session: %s", err.message);
    return s;
}

static void check_text(const char *what, const char *got, const char *want)
{
    printf("%-45s \"%s\"\n", what, got ? got : "(null)");
    check_true(got && want && strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", what, got ? got : "", want);
}

/* One example image: greedy caption, VQA answer, every beam of gitc_describe,
 * and the 3-beam ids and sequence score of gitc_generate. */
static void image_example(void *user, gitc_session *s, const gitc_model *m, const check_demo_input *in)
{
    (void)user;
    const cJSON *it = in->ref;
    const char *file = in->name;
    const gitc_image *img = &in->frames[0];
    gitc_generate_params p = gitc_model_generate_params(m);
    p.max_length = 30;
    gitc_error err = {0};
    char label[256];
    char *text = NULL;
    snprintf(label, sizeof label, "%s greedy", file);
    if (check_true(gitc_describe_image(s, img, NULL, &p, &text, &err) == GITC_OK, "%s: %s", label, err.message))
        check_text(label, text, cJSON_GetObjectItem(it, "greedy_text")->valuestring);
    gitc_free(text);
    text = NULL;
    const char *q = cJSON_GetObjectItem(it, "vqa_question")->valuestring;
    snprintf(label, sizeof label, "%s VQA", file);
    if (check_true(gitc_describe_image(s, img, q, &p, &text, &err) == GITC_OK, "%s: %s", label, err.message))
        check_text(label, text, cJSON_GetObjectItem(it, "vqa_answer")->valuestring);
    gitc_free(text);
    /* gitc_describe returns every beam: the best is the reference 3-beam caption. */
    gitc_generate_params b3 = p;
    b3.num_beams = 3;
    b3.num_return_sequences = 3;
    gitc_texts texts;
    snprintf(label, sizeof label, "%s describe, 3 sequences", file);
    if (check_true(gitc_describe(s, img, 1, NULL, &b3, &texts, &err) == GITC_OK, "%s: %s", label, err.message)) {
        check_true(texts.n == 3, "%s: %d texts", label, texts.n);
        check_text(label, texts.texts[0], cJSON_GetObjectItem(it, "beam3_text")->valuestring);
        check_true(texts.scores[0] >= texts.scores[1] && texts.scores[1] >= texts.scores[2], "%s: scores best first", label);
        gitc_texts_free(&texts);
    }
    /* 3 beams: ids and sequence score */
    gitc_generate_params b = p;
    b.num_beams = 3;
    gitc_generation gen = {0};
    const float *pp = in->pixels;
    snprintf(label, sizeof label, "%s beam 3", file);
    if (check_true(gitc_generate(s, &pp, in->n_pixels, NULL, NULL, 1, &b, &gen, &err) == GITC_OK, "%s: %s", label, err.message)) {
        int32_t ids[64];
        int n = check_json_ids(it, "beam3_ids", ids, 64);
        check_ids(label, gen.sequences[0].ids, gen.sequences[0].n_ids, ids, n);
        float want = (float)cJSON_GetObjectItem(it, "beam3_sequences_score")->valuedouble;
        snprintf(label, sizeof label, "%s beam 3 score", file);
        check_close(label, &gen.sequences[0].score, &want, 1, 1e-4);
        gitc_generation_free(&gen);
    }
}

/* One example clip of 4 frames: its greedy caption; 3 frames are refused. */
static void video_example(void *user, gitc_session *s, const gitc_model *m, const check_demo_input *in)
{
    (void)user;
    gitc_generate_params p = gitc_model_generate_params(m);
    p.max_length = 30;
    char label[64], *text = NULL;
    gitc_error err = {0};
    snprintf(label, sizeof label, "%s (4 frames)", in->name);
    if (check_true(gitc_describe_frames(s, in->frames, in->n_frames, &p, &text, &err) == GITC_OK, "%s: %s", label,
                   err.message))
        check_text(label, text, cJSON_GetObjectItem(in->ref, "greedy_text")->valuestring);
    gitc_free(text);
    /* The wrong number of frames is refused. */
    check_true(gitc_describe_frames(s, in->frames, 3, &p, &text, &err) == GITC_ERR_ARGUMENT, "3 frames refused");
}

/* Video files: FFmpeg decoding, 4 sampled frames, the processor and greedy decoding. */
static void video_files(void)
{
    cJSON *ref = check_load_json(check_path("tests/data/video/video_captions.json"));
    gitc_model *m = NULL;
    gitc_session *s = ref ? open_session("models/git-shapes-video", &m) : NULL;
    if (!s)
        goto done;
    gitc_generate_params p = gitc_model_generate_params(m);
    p.max_length = 30;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(ref, "videos"))
    {
        const char *file = cJSON_GetObjectItem(it, "file")->valuestring;
        char rel[256], *text = NULL;
        snprintf(rel, sizeof rel, "tests/data/video/%s", file);
        gitc_image frames[4] = {{0}};
        gitc_error err = {0};
        int total = 0;
        if (check_true(gitc_video_load(check_path(rel), 4, NULL, frames, &total, &err) == GITC_OK, "%s: %s", file, err.message)) {
            check_true(total == cJSON_GetObjectItem(it, "num_frames")->valueint, "%s: %d frames decoded", file, total);
            if (check_true(gitc_describe_frames(s, frames, 4, &p, &text, &err) == GITC_OK, "%s: %s", file, err.message))
                check_text(file, text, cJSON_GetObjectItem(it, "git_shapes_video_greedy_text")->valuestring);
            gitc_free(text);
        }
        for (int i = 0; i < 4; i++)
            gitc_image_free(&frames[i]);
    }
done:
    cJSON_Delete(ref);
    gitc_session_free(s);
    gitc_model_free(m);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    cJSON *ex = check_load_json(check_path("tests/data/cli/examples.json"));
    if (ex) {
        check_demo_run(ex, 0, NULL, image_example, NULL);
        check_demo_run(ex, 1, NULL, video_example, NULL);
    }
    video_files();
    cJSON_Delete(ex);
    return check_done("test_demo");
}
