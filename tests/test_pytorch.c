/* PyTorch checkpoints (pytorch_model.bin) without Python: every case of
 * tests/data/pytorch/cases.json (the reference fixtures written by torch.save)
 * through the library and through `gitc forward`; the folder rules; the
 * refused global that must never run; our own writer's files (ZIP64 too);
 * and the input limits of the ZIP, pickle and safetensors readers, each with
 * an input just over it. */
#include "check.h"
#include "tensor_file.h"
#include "model.h"
#include "pickle.h"
#include "ptwrite.h"
#include "pytorch.h"
#include "zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmp_dir(void) { return getenv("GITC_TMP") ? getenv("GITC_TMP") : "/tmp"; }

/* Loads dir and compares every stage with the tiny reference `ref` (tests/data/tiny/<ref>). */
static void check_outputs(const char *what, const char *dir, const char *ref)
{
    char rel[512], path[1024];
    snprintf(rel, sizeof rel, "tests/data/%s", ref);
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    if (!check_true(gitc_model_load(dir, NULL, &m, &err) == GITC_OK, "%s: load: %s", what, err.message))
        return;
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = 2;
    snprintf(path, sizeof path, "%s/reference.json", check_path(rel));
    cJSON *j = check_load_json(path);
    snprintf(path, sizeof path, "%s/reference.safetensors", check_path(rel));
    st_file *st = check_open_st(path);
    if (!j || !st || !check_true(gitc_session_create(m, &sp, &s, &err) == GITC_OK, "session: %s", err.message))
        goto done;
    const gitc_config *c = gitc_model_config(m);
    int32_t ids[64];
    int T = check_json_ids(j, "input_ids", ids, 64);
    int n_img = gitc_model_num_image_tokens(m), D = c->hidden_size, V = c->vocab_size;
    size_t n_px = 0;
    float *px = check_tensor_f32(st, "pixel_values", &n_px);
    float *want_proj = check_tensor_f32(st, "visual_projection", NULL);
    float *want_logits = check_tensor_f32(st, "text_logits", NULL);
    size_t n_vis = (size_t)n_img * c->vision_hidden_size, n_proj = (size_t)n_img * D, n_logits = (size_t)T * V;
    float *vis = malloc(n_vis * sizeof(float));
    float *proj = malloc(n_proj * sizeof(float));
    float *logits = malloc(n_logits * sizeof(float));
    char label[256];
    if (px && want_proj && want_logits) {
        if (check_true(gitc_encode_image(s, px, n_px, vis, n_vis, proj, n_proj, &err) == GITC_OK, "encode: %s", err.message)) {
            snprintf(label, sizeof label, "%s visual_projection", what);
            check_close(label, proj, want_proj, (size_t)n_img * D, 1e-4);
        }
        if (check_true(gitc_forward(s, px, n_px, ids, T, NULL, 0, logits, n_logits, NULL, &err) == GITC_OK, "forward: %s", err.message)) {
            snprintf(label, sizeof label, "%s text_logits", what);
            check_close(label, logits, want_logits, (size_t)T * V, 1e-4);
        }
        gitc_generate_params p = gitc_model_generate_params(m);
        p.max_length = 20;
        const float *pp = px;
        gitc_generation gen = {0};
        if (check_true(gitc_generate(s, &pp, n_px, NULL, NULL, 1, &p, &gen, &err) == GITC_OK, "greedy: %s", err.message)) {
            int32_t want[64];
            int nw = check_json_ids(j, "greedy_ids", want, 64);
            snprintf(label, sizeof label, "%s greedy ids", what);
            check_ids(label, gen.sequences[0].ids, gen.sequences[0].n_ids, want, nw);
        }
        gitc_generation_free(&gen);
    }
    free(px);
    free(want_proj);
    free(want_logits);
    free(vis);
    free(proj);
    free(logits);
done:
    cJSON_Delete(j);
    gitci_st_close(st);
    gitc_session_free(s);
    gitc_model_free(m);
}

/* `gitc forward` on dir: text_logits and greedy_ids equal the reference. */
static void check_cli_forward(const char *what, const char *dir, const char *ref)
{
    char rel[512], ref_path[1024], in_path[1024], out_path[1024];
    snprintf(rel, sizeof rel, "tests/data/%s", ref);
    snprintf(ref_path, sizeof ref_path, "%s/reference.safetensors", check_path(rel));
    snprintf(in_path, sizeof in_path, "%s/pt-forward-in.safetensors", tmp_dir());
    snprintf(out_path, sizeof out_path, "%s/pt-forward-out.safetensors", tmp_dir());
    st_file *st = check_open_st(ref_path);
    char jp[1024];
    snprintf(jp, sizeof jp, "%s/reference.json", check_path(rel));
    cJSON *j = check_load_json(jp);
    if (!st || !j)
        goto done;
    const st_tensor *px = gitci_st_find(st, "pixel_values");
    int32_t ids32[64];
    int T = check_json_ids(j, "input_ids", ids32, 64);
    int64_t ids[64], ishape[2] = {1, T};
    for (int i = 0; i < T; i++)
        ids[i] = ids32[i];
    gitc_error err = {0};
    tf_writer *w = tf_writer_new();
    tf_dtype px_dtype = TF_F32;
    check_true(tf_dtype_parse(gitci_st_dtype_name(px->dtype), &px_dtype), "pixel_values dtype");
    tf_writer_add(w, "pixel_values", px_dtype, px->ndim, px->shape, px->data, &err);
    tf_writer_add(w, "input_ids", TF_I64, 2, ishape, ids, &err);
    check_true(tf_writer_write(w, in_path, &err) == GITC_OK, "write inputs: %s", err.message);
    tf_writer_free(w);
    check_run r;
    check_run_gitc(&r, NULL, "forward", "-m", dir, "--inputs", in_path, "--out", out_path, "--max-length", "20",
                   "--threads", "2", NULL);
    int ran = check_true(r.status == 0, "%s: gitc forward -m %s failed: %s", what, dir, r.err);
    check_run_free(&r);
    if (!ran)
        goto done;
    st_file *out = check_open_st(out_path);
    if (out) {
        float *got = check_tensor_f32(out, "text_logits", NULL), *want = check_tensor_f32(st, "text_logits", NULL);
        char label[256];
        snprintf(label, sizeof label, "%s: gitc forward text_logits", what);
        if (got && want)
            check_close(label, got, want, (size_t)T * (size_t)(gitci_st_find(st, "text_logits")->numel / T), 1e-4);
        free(got);
        free(want);
        const st_tensor *g = gitci_st_find(out, "greedy_ids");
        if (check_true(g && g->dtype == ST_I64 && g->ndim == 2, "greedy_ids I64 [1,N]")) {
            int32_t gi[64], exp[64];
            int ne = check_json_ids(j, "greedy_ids", exp, 64), ng = (int)g->shape[1];
            for (int i = 0; i < ng && i < 64; i++) {
                int64_t v;
                memcpy(&v, (const char *)g->data + 8 * i, 8);
                gi[i] = (int32_t)v;
            }
            snprintf(label, sizeof label, "%s: gitc forward greedy_ids", what);
            check_ids(label, gi, ng, exp, ne);
        }
        gitci_st_close(out);
    }
done:
    cJSON_Delete(j);
    gitci_st_close(st);
    unlink(in_path);
    unlink(out_path);
}

/* Loading fails with a message holding `part` and no model. */
static void expect_error(const char *what, const char *dir, const char *part)
{
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_status s = gitc_model_load(dir, NULL, &m, &err);
    printf("%-22s -> %s: %s\n", what, gitc_status_string(s), err.message);
    check_true(s != GITC_OK && m == NULL, "%s: refused", what);
    check_true(strstr(err.message, part) != NULL, "%s: message lacks \"%s\"", what, part);
    gitc_model_free(m);
}

/* The parts the error message of each `error` case must name. */
static const char *error_part(const char *name)
{
    static const struct { const char *name, *part; } parts[] = {
        {"bad-evil-global", "posix.system"},
        {"bad-truncated", "end of central directory"},
        {"bad-storage-short", "the entry has"},
        {"bad-missing-tensor", "missing tensor output.weight"},
        {"bad-shape", "tensor output.weight has shape [1000,39]"},
        {"bad-legacy", "legacy PyTorch format"},
        {"bad-f64", "F64"},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (!strcmp(parts[i].name, name))
            return parts[i].part;
    return "";
}

static void run_cases(void)
{
    cJSON *cases = check_load_json(check_path("tests/data/pytorch/cases.json"));
    const cJSON *all = cJSON_GetObjectItem(cases, "cases");
    int n_load = 0, n_error = 0;
    for (const cJSON *c = all ? all->child : NULL; c; c = c->next) {
        const char *expect = cJSON_GetObjectItem(c, "expect")->valuestring;
        const cJSON *ref = cJSON_GetObjectItem(c, "reference");
        char rel[512], dir[1024];
        snprintf(rel, sizeof rel, "tests/data/pytorch/%s", c->string);
        snprintf(dir, sizeof dir, "%s", check_path(rel));
        printf("== %s (%s)\n", c->string, expect);
        if (!strcmp(expect, "load")) {
            check_outputs(c->string, dir, ref->valuestring);
            check_cli_forward(c->string, dir, ref->valuestring);
            n_load++;
        } else if (!strcmp(expect, "error")) {
            expect_error(c->string, dir, error_part(c->string));
            n_error++;
        } else {
            /* "error or load": either the outputs are right or the message names the problem. */
            gitc_error err = {0};
            gitc_model *m = NULL;
            if (gitc_model_load(dir, NULL, &m, &err) == GITC_OK) {
                gitc_model_free(m);
                check_outputs(c->string, dir, ref->valuestring);
            } else {
                expect_error(c->string, dir, error_part(c->string));
            }
        }
    }
    check_true(n_load == 8 && n_error == 5, "cases.json: %d load and %d error cases (want 8 and 5)", n_load, n_error);
    cJSON_Delete(cases);
}

/* The os.system case is refused through the library and the CLI, and its command never runs. */
static void evil_never_runs(void)
{
    char dir[1024], marker[1200];
    snprintf(dir, sizeof dir, "%s/pt-evil-cwd", tmp_dir());
    mkdir(dir, 0755);
    snprintf(marker, sizeof marker, "%s/pickle_code_ran", dir);
    unlink(marker);
    char old[1024];
    if (!getcwd(old, sizeof old) || chdir(dir) != 0) {
        check_true(0, "chdir %s", dir);
        return;
    }
    gitc_error err = {0};
    gitc_model *m = NULL;
    check_true(gitc_model_load(check_path("tests/data/pytorch/bad-evil-global"), NULL, &m, &err) != GITC_OK,
               "evil pickle refused by the library");
    check_true(access("pickle_code_ran", F_OK) != 0, "library: the pickle's command did not run");
    check_run r;
    check_run_gitc(&r, NULL, "caption", "-m", check_path("tests/data/pytorch/bad-evil-global"),
                   check_path("examples/shapes_0_224x224.png"), NULL);
    int rc = r.status;
    check_run_free(&r);
    check_true(rc != 0, "gitc caption on the evil pickle fails (status %d)", rc);
    check_true(access("pickle_code_ran", F_OK) != 0, "CLI: the pickle's command did not run");
    check_true(chdir(old) == 0, "chdir back");
    check_true(access(marker, F_OK) != 0, "no %s", marker);
    rmdir(dir);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

/* Folder rules: a folder without weights lists what it holds. */
static void folder_rules(void)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/pt-no-weights", tmp_dir());
    mkdir(dir, 0755);
    char *cfg = NULL;
    size_t len = 0;
    gitci_read_file(check_path("tests/data/tiny/tiny/config.json"), &cfg, &len, NULL);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, cfg, len);
    snprintf(path, sizeof path, "%s/tf_model.h5", dir);
    write_file(path, "x", 1);
    expect_error("folder without weights", dir, "tf_model.h5");
    expect_error("folder without weights", dir, "pytorch_model.bin");
    unlink(path);
    /* Our own writer: the tiny weights as pytorch_model.bin, plain and with ZIP64 records. */
    st_file *src = check_open_st(check_path("tests/data/tiny/tiny/model.safetensors"));
    for (int zip64 = 0; src && zip64 < 2; zip64++) {
        snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
        check_true(ptw_from_safetensors(src, path, zip64), "write %s", path);
        check_outputs(zip64 ? "own writer, ZIP64" : "own writer", dir, "tiny/tiny");
        unlink(path);
    }
    gitci_st_close(src);
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
    free(cfg);
}

/* ---- input limits: each with an input just over it ---- */

static void expect_msg(const char *what, gitc_status s, const gitc_error *err, int want_ok, const char *part)
{
    printf("%-34s -> %s: %s\n", what, gitc_status_string(s), s == GITC_OK ? "" : err->message);
    if (want_ok)
        check_true(s == GITC_OK, "%s: accepted (%s)", what, err->message);
    else
        check_true(s != GITC_OK && strstr(err->message, part), "%s: refused naming \"%s\"", what, part);
}

static void zip_limits(void)
{
    /* A ZIP64 end record claiming ZIP_MAX_ENTRIES + 1 entries (and, at the limit, exactly that many). */
    for (int over = 0; over < 2; over++) {
        ptw_buf b = {0};
        ptw_le(&b, 0x06064b50u, 4);
        ptw_le(&b, 44, 8);
        ptw_le(&b, 45, 4);
        ptw_le(&b, 0, 8);
        ptw_le(&b, (uint64_t)ZIP_MAX_ENTRIES + (uint64_t)over, 8);
        ptw_le(&b, (uint64_t)ZIP_MAX_ENTRIES + (uint64_t)over, 8);
        ptw_le(&b, 0, 8);
        ptw_le(&b, 0, 8);
        ptw_le(&b, 0x07064b50u, 4);
        ptw_le(&b, 0, 4);
        ptw_le(&b, 0, 8);
        ptw_le(&b, 1, 4);
        ptw_le(&b, 0x06054b50u, 4);
        ptw_le(&b, 0, 4);
        ptw_le(&b, 0xffffffffu, 4);
        ptw_le(&b, 0xffffffffu, 4);
        ptw_le(&b, 0xffffffffu, 4);
        ptw_le(&b, 0, 2);
        zip_archive z;
        gitc_error err = {0};
        gitc_status s = gitci_zip_open(b.p, b.n, "entries.zip", &z, &err);
        if (over)
            expect_msg("ZIP entries: limit + 1", s, &err, 0, "gitc reads at most");
        else
            check_true(s != GITC_OK && !strstr(err.message, "gitc reads at most"),
                       "ZIP entries at the limit pass the limit check (%s)", err.message);
        if (s == GITC_OK)
            gitci_zip_free(&z);
        free(b.p);
    }
    /* An entry name of ZIP_MAX_NAME + 1 bytes (and one of ZIP_MAX_NAME, which reads). */
    for (int over = 0; over < 2; over++) {
        size_t nlen = ZIP_MAX_NAME + (size_t)over;
        char *name = malloc(nlen);
        memset(name, 'n', nlen);
        ptw_buf b = {0};
        ptw_le(&b, 0x04034b50u, 4);
        ptw_le(&b, 20, 2);
        ptw_le(&b, 0, 8);
        ptw_le(&b, 0, 4);
        ptw_le(&b, 0, 4);
        ptw_le(&b, 0, 4);
        ptw_le(&b, nlen, 2);
        ptw_le(&b, 0, 2);
        ptw_put(&b, name, nlen);
        size_t cd = b.n;
        ptw_le(&b, 0x02014b50u, 4);
        ptw_le(&b, 20, 2);
        ptw_le(&b, 20, 2);
        ptw_le(&b, 0, 8);
        ptw_le(&b, 0, 4);
        ptw_le(&b, 0, 4);
        ptw_le(&b, 0, 4);
        ptw_le(&b, nlen, 2);
        ptw_le(&b, 0, 2);
        ptw_le(&b, 0, 2);
        ptw_le(&b, 0, 2);
        ptw_le(&b, 0, 2);
        ptw_le(&b, 0, 4);
        ptw_le(&b, 0, 4);
        ptw_put(&b, name, nlen);
        size_t cds = b.n - cd;
        ptw_le(&b, 0x06054b50u, 4);
        ptw_le(&b, 0, 4);
        ptw_le(&b, 1, 2);
        ptw_le(&b, 1, 2);
        ptw_le(&b, cds, 4);
        ptw_le(&b, cd, 4);
        ptw_le(&b, 0, 2);
        zip_archive z;
        gitc_error err = {0};
        gitc_status s = gitci_zip_open(b.p, b.n, "name.zip", &z, &err);
        expect_msg(over ? "ZIP entry name: limit + 1" : "ZIP entry name: at the limit", s, &err, !over, "name of");
        if (s == GITC_OK) {
            check_true(z.n_entries == 1 && strlen(z.entries[0].name) == ZIP_MAX_NAME, "name read whole");
            gitci_zip_free(&z);
        }
        free(name);
        free(b.p);
    }
}

/* A ZIP bomb: an entry whose central directory record declares ~2 GB in a
 * small archive is refused from the record (nothing is allocated for it). */
static void zip_declared_size(void)
{
    FILE *f = fopen(check_path("tests/data/pytorch/tiny/pytorch_model.bin"), "rb");
    if (!check_true(f != NULL, "open the tiny pytorch_model.bin"))
        return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!check_true(buf && got == (size_t)n, "read the tiny pytorch_model.bin")) {
        free(buf);
        return;
    }
    /* The first central directory record ("PK\1\2"): sizes at +20 and +24. */
    long at = -1;
    for (long i = 0; i + 46 <= n && at < 0; i++)
        if (buf[i] == 'P' && buf[i + 1] == 'K' && buf[i + 2] == 1 && buf[i + 3] == 2)
            at = i;
    if (check_true(at >= 0, "a central directory record")) {
        for (int k = 0; k < 4; k++)
            buf[at + 20 + k] = buf[at + 24 + k] = (uint8_t)(0x7ffffff0u >> (8 * k));
        zip_archive z = {0};
        gitc_error err = {0};
        gitc_status s = gitci_zip_open(buf, (uint64_t)n, "bomb.bin", &z, &err);
        expect_msg("ZIP entry declaring 2 GB in a small file", s, &err, 0, "past the end");
        if (s == GITC_OK)
            gitci_zip_free(&z);
    }
    free(buf);
}

static void pickle_limits(void)
{
    /* PICKLE_MAX_STACK + 1 values on the stack; at the limit the machine gets to STOP. */
    for (int over = 0; over < 2; over++) {
        size_t n = PICKLE_MAX_STACK + (size_t)over;
        uint8_t *p = malloc(n + 3);
        p[0] = 0x80, p[1] = 2;
        memset(p + 2, 'N', n);
        p[n + 2] = '.';
        pk_state_dict sd;
        gitc_error err = {0};
        gitc_status s = gitci_pickle_state_dict(p, n + 3, "stack.pkl", &sd, &err);
        if (over)
            expect_msg("pickle stack: limit + 1", s, &err, 0, "stack deeper than");
        else
            expect_msg("pickle stack: at the limit", s, &err, 0, "STOP with other than one value");
        free(p);
    }
    /* Marks: PICKLE_MAX_STACK + 1 nested marks. */
    {
        size_t n = PICKLE_MAX_STACK + 1;
        uint8_t *p = malloc(n + 3);
        p[0] = 0x80, p[1] = 2;
        memset(p + 2, '(', n);
        p[n + 2] = '.';
        pk_state_dict sd;
        gitc_error err = {0};
        gitc_status s = gitci_pickle_state_dict(p, n + 3, "marks.pkl", &sd, &err);
        expect_msg("pickle marks: limit + 1", s, &err, 0, "marks nested deeper");
        free(p);
    }
    /* Memo index PICKLE_MAX_MEMO (one past the last allowed) and PICKLE_MAX_MEMO - 1. */
    for (int over = 0; over < 2; over++) {
        uint32_t idx = PICKLE_MAX_MEMO - 1 + (uint32_t)over;
        uint8_t p[] = {0x80, 2, '}', 'r', (uint8_t)idx, (uint8_t)(idx >> 8), (uint8_t)(idx >> 16),
                       (uint8_t)(idx >> 24), '.'};
        pk_state_dict sd;
        gitc_error err = {0};
        gitc_status s = gitci_pickle_state_dict(p, sizeof p, "memo.pkl", &sd, &err);
        expect_msg(over ? "pickle memo index: limit + 1" : "pickle memo index: at the limit", s, &err, !over,
                   "memo index");
        if (s == GITC_OK) {
            check_true(sd.n_tensors == 0, "empty dict");
            gitci_pk_state_dict_free(&sd);
        }
    }
    /* Refused globals name themselves; nothing else than the allowlist passes. */
    const char *evil[] = {"os\nsystem\n", "builtins\neval\n", "posix\nsystem\n", "torch\nload\n"};
    for (int i = 0; i < 4; i++) {
        ptw_buf b = {0};
        ptw_u8(&b, 0x80);
        ptw_u8(&b, 2);
        ptw_u8(&b, 'c');
        ptw_put(&b, evil[i], strlen(evil[i]));
        ptw_str(&b, "echo hi");
        ptw_u8(&b, 0x85);
        ptw_u8(&b, 'R');
        ptw_u8(&b, '.');
        pk_state_dict sd;
        gitc_error err = {0};
        char want[64];
        snprintf(want, sizeof want, "global %s", evil[i]);
        *strchr(want, '\n') = '.';
        *strchr(want, '\n') = 0;
        gitc_status s = gitci_pickle_state_dict(b.p, b.n, "evil.pkl", &sd, &err);
        expect_msg(want, s, &err, 0, want);
        free(b.p);
    }
}

static void safetensors_header_limit(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/pt-header.safetensors", tmp_dir());
    for (int over = 0; over < 2; over++) {
        uint64_t h = (uint64_t)ST_MAX_HEADER_BYTES + (uint64_t)over;
        uint8_t b[16] = {0};
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(h >> (8 * i));
        b[8] = '{', b[9] = '}';
        write_file(path, b, sizeof b);
        /* Over the limit: a (sparse) file long enough that only the limit refuses it. */
        if (over && truncate(path, (off_t)(h + 8)) != 0)
            check_true(0, "truncate %s", path);
        st_file *f = NULL;
        gitc_error err = {0};
        gitc_status s = gitci_st_open(path, &f, &err);
        if (over)
            expect_msg("safetensors header: limit + 1", s, &err, 0, "over the limit");
        else
            expect_msg("safetensors header: at the limit", s, &err, 0, "runs past the end");
        gitci_st_close(f);
    }
    unlink(path);
}

/* Runs `gitc inspect --json ARGS` (ARGS split at spaces) with HF_HUB_CACHE=cache;
 * returns the exit status, stdout in the file `out`, stderr in `errf`. */
static int inspect(const char *cache, const char *args, const char *out, const char *errf)
{
    char words[1024], env_cache[1200];
    snprintf(words, sizeof words, "%s", args);
    snprintf(env_cache, sizeof env_cache, "HF_HUB_CACHE=%s", cache);
    const char *argv[32] = {check_gitc_bin(), "inspect", "--json"};
    int argc = 3;
    for (char *w = strtok(words, " "); w && argc < 31; w = strtok(NULL, " "))
        argv[argc++] = w;
    argv[argc] = NULL;
    const char *env[] = {env_cache, NULL};
    check_run r;
    check_run_argv(&r, &(check_run_io){.env = env, .stdout_path = out}, argv);
    check_write_file(errf, r.err, strlen(r.err));
    int rc = r.status;
    check_run_free(&r);
    return rc;
}

static void link_to(const char *target_rel, const char *dir, const char *name)
{
    char link[1400];
    snprintf(link, sizeof link, "%s/%s", dir, name);
    unlink(link);
    char target[1024];
    const char *t = check_path(target_rel);
    if (t[0] != '/') {
        char cwd[512];
        snprintf(target, sizeof target, "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : ".", t);
    } else {
        snprintf(target, sizeof target, "%s", t);
    }
    check_true(symlink(target, link) == 0, "symlink %s", link);
}

/* A fake HF cache: main holds only pytorch_model.bin, refs/pr/1 (and tag v1.0) model.safetensors. */
static void hub_revisions(void)
{
    const char *A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", *B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    char cache[1024], repo[1100], p[1400], out[1100], errf[1100];
    snprintf(cache, sizeof cache, "%s/pt-hub", tmp_dir());
    snprintf(repo, sizeof repo, "%s/models--microsoft--git-fake", cache);
    const char *dirs[] = {"", "/refs", "/refs/refs", "/refs/refs/pr", "/snapshots"};
    mkdir(cache, 0755);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s%s", repo, dirs[i]);
        mkdir(p, 0755);
    }
    snprintf(p, sizeof p, "%s/snapshots/%s", repo, A);
    mkdir(p, 0755);
    link_to("tests/data/pytorch/tiny/config.json", p, "config.json");
    link_to("tests/data/pytorch/tiny/pytorch_model.bin", p, "pytorch_model.bin");
    snprintf(p, sizeof p, "%s/snapshots/%s", repo, B);
    mkdir(p, 0755);
    link_to("tests/data/tiny/tiny/config.json", p, "config.json");
    link_to("tests/data/tiny/tiny/model.safetensors", p, "model.safetensors");
    snprintf(p, sizeof p, "%s/refs/main", repo);
    write_file(p, A, 40);
    snprintf(p, sizeof p, "%s/refs/refs/pr/1", repo);
    write_file(p, B, 40);
    snprintf(p, sizeof p, "%s/refs/v1.0", repo);
    write_file(p, B, 40);
    snprintf(out, sizeof out, "%s/pt-hub-out.json", tmp_dir());
    snprintf(errf, sizeof errf, "%s/pt-hub-err.txt", tmp_dir());
    static const struct { const char *args, *format, *snapshot; } ok[] = {
        {"-m microsoft/git-fake", "pytorch", "aaaa"},
        {"-m microsoft/git-fake@main", "pytorch", "aaaa"},
        {"-m microsoft/git-fake@refs/pr/1", "safetensors", "bbbb"},
        {"-m microsoft/git-fake --revision refs/pr/1", "safetensors", "bbbb"},
        {"-m microsoft/git-fake --revision v1.0", "safetensors", "bbbb"},
        {"-m microsoft/git-fake@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "safetensors", "bbbb"},
        {"--revision aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa -m microsoft/git-fake", "pytorch", "aaaa"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc = inspect(cache, ok[i].args, out, errf);
        char *text = NULL;
        size_t len = 0;
        gitci_read_file(out, &text, &len, NULL);
        cJSON *j = text ? cJSON_Parse(text) : NULL;
        const cJSON *f = cJSON_GetObjectItem(j, "format"), *r = cJSON_GetObjectItem(j, "revision");
        printf("inspect %-58s -> %s %s\n", ok[i].args, cJSON_IsString(f) ? f->valuestring : "?",
               cJSON_IsString(r) ? r->valuestring : "?");
        check_true(rc == 0 && cJSON_IsString(f) && !strcmp(f->valuestring, ok[i].format) && cJSON_IsString(r) &&
                       !strncmp(r->valuestring, ok[i].snapshot, 4),
                   "%s: format %s, snapshot %s...", ok[i].args, ok[i].format, ok[i].snapshot);
        cJSON_Delete(j);
        free(text);
    }
    /* A revision not in the cache, and a model not in the cache: the download command. */
    static const struct { const char *args, *want1, *want2; } bad[] = {
        {"-m microsoft/git-fake@nope", "hf download microsoft/git-fake --revision nope",
         "huggingface-cli download microsoft/git-fake --revision nope"},
        {"-m microsoft/git-fake --revision refs/pr/2", "hf download microsoft/git-fake --revision refs/pr/2",
         "huggingface-cli download microsoft/git-fake --revision refs/pr/2"},
        {"-m microsoft/git-other", "hf download microsoft/git-other\n", "huggingface-cli download microsoft/git-other;"},
        {"-m microsoft/git-fake --revision ../../x", "not a branch, tag", "--revision"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = inspect(cache, bad[i].args, out, errf);
        char *text = NULL;
        size_t len = 0;
        gitci_read_file(errf, &text, &len, NULL);
        printf("inspect %s -> status %d: %s", bad[i].args, rc, text ? text : "");
        check_true(rc != 0 && text && strstr(text, bad[i].want1) && strstr(text, bad[i].want2),
                   "%s: fails naming \"%s\" and \"%s\"", bad[i].args, bad[i].want1, bad[i].want2);
        free(text);
    }
    unlink(out);
    unlink(errf);
}

/* `gitc inspect` in text form names the format, the strided tensor and the ignored buffers. */
static void inspect_text(void)
{
    char out[1100];
    snprintf(out, sizeof out, "%s/pt-inspect.txt", tmp_dir());
    check_run r;
    check_run_gitc(&r, &(check_run_io){.stdout_path = out}, "inspect", "-m", check_path("tests/data/pytorch/tiny-views"),
                   "--run", "--threads", "2", NULL);
    int rc = r.status;
    check_run_free(&r);
    char *text = NULL;
    size_t len = 0;
    gitci_read_file(out, &text, &len, NULL);
    printf("%s", text ? text : "");
    const char *want[] = {"weight format:  pytorch", "pytorch_model.bin", "83 (81 F32, 2 I64)",
                          "ignored:        2 buffers", "strided:        1 tensor", "parameters:     126954",
                          "copied:         1 matrices", "forward pass:", "peak RSS:"};
    for (int i = 0; i < 9; i++)
        check_true(rc == 0 && text && strstr(text, want[i]), "gitc inspect prints \"%s\"", want[i]);
    free(text);
    unlink(out);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    run_cases();
    evil_never_runs();
    folder_rules();
    zip_limits();
    zip_declared_size();
    pickle_limits();
    safetensors_header_limit();
    hub_revisions();
    inspect_text();
    return check_done("test_pytorch");
}
