/* Bad model folders get a clear message naming the file and the problem and a
 * non-zero status, never a crash; sharded checkpoints load like single files. */
#include "check.h"
#include "tensor_file.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmp_root(void) { return getenv("GITC_TMP") ? getenv("GITC_TMP") : "/tmp"; }

static char *folder(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/bad-%s", tmp_root(), name);
    mkdir(b, 0755);
    return b;
}

static void write_bytes(const char *dir, const char *file, const void *data, size_t n)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static char *read_data(const char *rel, size_t *n)
{
    char *d = NULL;
    gitc_error err = {0};
    gitci_read_file(check_path(rel), &d, n, &err);
    return d;
}

/* A safetensors file from a header string and a data section. */
static void write_st(const char *dir, const char *header, size_t data_len)
{
    size_t hl = strlen(header);
    size_t n = 8 + hl + data_len;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    write_bytes(dir, "model.safetensors", buf, n);
    free(buf);
}

/* Writes dir/config.json: cfg with its first `from` replaced by `to`; 0 (a failed check) when absent. */
static int write_config_replacing(const char *dir, const char *cfg, const char *from, const char *to)
{
    const char *at = strstr(cfg, from);
    if (!check_true(at != NULL, "tiny config has %s", from))
        return 0;
    size_t pre = (size_t)(at - cfg), rest = strlen(at + strlen(from));
    char *out = malloc(pre + strlen(to) + rest + 1);
    memcpy(out, cfg, pre);
    strcpy(out + pre, to);
    strcat(out + pre, at + strlen(from));
    write_bytes(dir, "config.json", out, strlen(out));
    free(out);
    return 1;
}

/* Loads `dir` and expects `status` and a message containing both `part1` and `part2`. */
static void expect_fail(const char *what, const char *dir, gitc_status status, const char *part1,
                        const char *part2)
{
    gitc_model *m = NULL;
    gitc_error err = {0};
    gitc_status st = gitc_model_load(dir, NULL, &m, &err);
    printf("%-28s -> %s: %s\n", what, gitc_status_string(st), err.message);
    check_true(st == status, "%s: status %s, want %s", what, gitc_status_string(st), gitc_status_string(status));
    check_true(m == NULL, "%s: no model on failure", what);
    check_true(strstr(err.message, part1) != NULL, "%s: message lacks \"%s\"", what, part1);
    check_true(!part2 || strstr(err.message, part2) != NULL, "%s: message lacks \"%s\"", what, part2);
    gitc_model_free(m);
}

/* Rewrites the tiny model's tensors through the tools' safetensors writer: drops `drop`, adds `extra`,
 * relabels tensor `as_int` as I32, and with shard_split writes two shards and an index. */
static void rewrite_model(const char *dir, const char *drop, const char *extra, const char *as_int,
                          int shard_split)
{
    st_file *src = check_open_st(check_path("tests/data/tiny/tiny/model.safetensors"));
    if (!src)
        return;
    tf_writer *w[2] = {tf_writer_new(), tf_writer_new()};
    gitc_error err = {0};
    char index[65536];
    size_t k = (size_t)snprintf(index, sizeof index, "{\"metadata\": {}, \"weight_map\": {");
    for (int i = 0; i < src->n_tensors; i++) {
        const st_tensor *t = &src->tensors[i];
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        int part = shard_split && i >= src->n_tensors / 2;
        tf_dtype dt = TF_F32;
        check_true(tf_dtype_parse(gitci_st_dtype_name(t->dtype), &dt), "%s: dtype", t->name);
        if (as_int && strcmp(t->name, as_int) == 0)
            dt = TF_I32;
        tf_writer_add(w[part], t->name, dt, t->ndim, t->shape, t->data, &err);
        k += (size_t)snprintf(index + k, sizeof index - k, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"",
                              k > 40 ? ", " : "", t->name, part + 1);
    }
    if (extra) {
        float v[2] = {1, 2};
        int64_t shape[1] = {2};
        tf_writer_add(w[0], extra, TF_F32, 1, shape, v, &err);
    }
    char path[1200];
    if (shard_split) {
        snprintf(index + k, sizeof index - k, "}}");
        write_bytes(dir, "model.safetensors.index.json", index, strlen(index));
        for (int p = 0; p < 2; p++) {
            snprintf(path, sizeof path, "%s/model-0000%d-of-00002.safetensors", dir, p + 1);
            tf_writer_write(w[p], path, &err);
        }
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        tf_writer_write(w[0], path, &err);
    }
    tf_writer_free(w[0]);
    tf_writer_free(w[1]);
    gitci_st_close(src);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    size_t cfg_len = 0, st_len = 0;
    char *cfg = read_data("tests/data/tiny/tiny/config.json", &cfg_len);
    char *weights = read_data("tests/data/tiny/tiny/model.safetensors", &st_len);
    if (!check_true(cfg && weights, "tiny model files readable"))
        return check_done("test_bad_model");

    expect_fail("missing folder", "/nonexistent/gitc-model", GITC_ERR_IO, "/nonexistent/gitc-model", NULL);

    char *d = folder("no-config");
    write_bytes(d, "model.safetensors", weights, st_len);
    expect_fail("missing config.json", d, GITC_ERR_IO, "config.json", "missing");

    d = folder("malformed-json");
    write_bytes(d, "config.json", "{\"hidden_size\": 40,", 19);
    write_bytes(d, "model.safetensors", weights, st_len);
    expect_fail("malformed config.json", d, GITC_ERR_FORMAT, "config.json", "malformed JSON");

    d = folder("no-weights");
    write_bytes(d, "config.json", cfg, cfg_len);
    expect_fail("no weights", d, GITC_ERR_IO, "no model.safetensors", NULL);

    d = folder("truncated");
    write_bytes(d, "config.json", cfg, cfg_len);
    write_bytes(d, "model.safetensors", weights, st_len / 2);
    expect_fail("truncated safetensors", d, GITC_ERR_FORMAT, "model.safetensors", "past the end");

    d = folder("tiny-file");
    write_bytes(d, "config.json", cfg, cfg_len);
    write_bytes(d, "model.safetensors", weights, 5);
    expect_fail("5-byte safetensors", d, GITC_ERR_FORMAT, "model.safetensors", "truncated");

    d = folder("header-length");
    write_bytes(d, "config.json", cfg, cfg_len);
    unsigned char big[64] = {0x00, 0xca, 0x9a, 0x3b, 0, 0, 0, 0, '{', '}'};
    write_bytes(d, "model.safetensors", big, sizeof big);
    expect_fail("header length past the end", d, GITC_ERR_FORMAT, "model.safetensors", "header length");

    d = folder("bad-header-json");
    write_bytes(d, "config.json", cfg, cfg_len);
    write_st(d, "{\"a\": [1,2", 0);
    expect_fail("header not JSON", d, GITC_ERR_FORMAT, "model.safetensors", "JSON");

    d = folder("overlap");
    write_bytes(d, "config.json", cfg, cfg_len);
    write_st(d, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12);
    expect_fail("overlapping offsets", d, GITC_ERR_FORMAT, "model.safetensors", "overlap");

    d = folder("out-of-range");
    write_bytes(d, "config.json", cfg, cfg_len);
    write_st(d, "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8);
    expect_fail("out-of-range offsets", d, GITC_ERR_FORMAT, "tensor a", "past the end");

    d = folder("size-mismatch");
    write_bytes(d, "config.json", cfg, cfg_len);
    write_st(d, "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8);
    expect_fail("bytes vs shape", d, GITC_ERR_FORMAT, "tensor a", "expected 12");

    d = folder("unknown-dtype");
    write_bytes(d, "config.json", cfg, cfg_len);
    write_st(d, "{\"a\": {\"dtype\": \"F7\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8);
    expect_fail("unknown dtype", d, GITC_ERR_UNSUPPORTED, "model.safetensors", "unknown dtype \"F7\"");

    d = folder("wrong-shape");
    if (write_config_replacing(d, cfg, "\"vocab_size\": 1000", "\"vocab_size\": 1001")) {
        write_bytes(d, "model.safetensors", weights, st_len);
        expect_fail("wrong shape", d, GITC_ERR_SHAPE, "has shape [1000,40]", "config says [1001,40]");
    }

    d = folder("missing-tensor");
    write_bytes(d, "config.json", cfg, cfg_len);
    rewrite_model(d, "output.bias", NULL, NULL, 0);
    expect_fail("missing tensor", d, GITC_ERR_SHAPE, "missing tensor output.bias", NULL);

    d = folder("extra-tensor");
    write_bytes(d, "config.json", cfg, cfg_len);
    rewrite_model(d, NULL, "decoder.extra.weight", NULL, 0);
    expect_fail("extra tensor", d, GITC_ERR_SHAPE, "unexpected tensor decoder.extra.weight", NULL);

    d = folder("int-dtype");
    write_bytes(d, "config.json", cfg, cfg_len);
    rewrite_model(d, NULL, NULL, "output.bias", 0);
    expect_fail("integer parameter", d, GITC_ERR_UNSUPPORTED, "output.bias", "dtype I32");

    d = folder("unsupported-act");
    if (write_config_replacing(d, cfg, "\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\"")) {
        write_bytes(d, "model.safetensors", weights, st_len);
        expect_fail("unsupported hidden_act", d, GITC_ERR_UNSUPPORTED, "hidden_act", "relu");
    }

    /* Shards listed in model.safetensors.index.json load and compute the same logits. */
    d = folder("sharded");
    write_bytes(d, "config.json", cfg, cfg_len);
    rewrite_model(d, NULL, NULL, NULL, 1);
    gitc_model *a = NULL, *b = NULL;
    gitc_session *sa = NULL, *sb = NULL;
    gitc_error err = {0};
    if (check_true(gitc_model_load(d, NULL, &a, &err) == GITC_OK, "sharded load: %s", err.message) &&
        check_true(gitc_model_load(check_path("tests/data/tiny/tiny"), NULL, &b, &err) == GITC_OK, "load: %s", err.message)) {
        gitc_session_create(a, NULL, &sa, &err);
        gitc_session_create(b, NULL, &sb, &err);
        float px[3 * 30 * 30], la[5 * 1000], lb[5 * 1000];
        for (int i = 0; i < 3 * 30 * 30; i++)
            px[i] = (float)((i * 7919) % 200) / 100.0f - 1.0f;
        int32_t ids[5] = {101, 200, 300, 400, 500};
        if (check_true(sa && sb && gitc_forward(sa, px, sizeof px / sizeof px[0], ids, 5, NULL, 0, la, sizeof la / sizeof la[0], NULL, &err) == GITC_OK &&
                           gitc_forward(sb, px, sizeof px / sizeof px[0], ids, 5, NULL, 0, lb, sizeof lb / sizeof lb[0], NULL, &err) == GITC_OK,
                       "forward: %s", err.message))
            check_close("sharded vs single-file logits", la, lb, 5 * 1000, 0.0);
    }
    gitc_session_free(sa);
    gitc_session_free(sb);
    gitc_model_free(a);
    gitc_model_free(b);

    d = folder("shard-missing");
    write_bytes(d, "config.json", cfg, cfg_len);
    const char *idx = "{\"weight_map\": {\"output.bias\": \"model-00009-of-00009.safetensors\"}}";
    write_bytes(d, "model.safetensors.index.json", idx, strlen(idx));
    expect_fail("missing shard", d, GITC_ERR_IO, "model-00009-of-00009.safetensors", "cannot open");

    free(cfg);
    free(weights);
    return check_done("test_bad_model");
}
