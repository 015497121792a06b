/* Limits on untrusted input, each tried with an input just over it, and the
 * decompression bombs (tiny files declaring huge images or video frames), which
 * must be refused with GITC_ERR_LIMIT before the allocation; plus the
 * regression inputs of the fuzzing campaign (issue 14: data_offsets beyond
 * uint64_t, generation_config.json values reported as flags). Inputs that are
 * small live in tests/data/limits; large ones are written at run time (sparse
 * files where only the declared size matters). */
#include "check.h"
#include "config.h"
#include "model.h"
#include "safetensors.h"
#include "video_internal.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *tmp_root(void) { return getenv("GITC_TMP") ? getenv("GITC_TMP") : "/tmp"; }

/* A fresh folder under the test temporary directory (static buffer rotation). */
static char *folder(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/limits-%s", tmp_root(), name);
    mkdir(b, 0755);
    return b;
}

static const char *in_dir(const char *dir, const char *file)
{
    static char buf[4][1200];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", dir, file);
    return b;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!check_true(f != NULL, "create %s", path))
        return;
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
}

static void write_text(const char *path, const char *text) { write_file(path, text, strlen(text)); }

/* A sparse file of `size` bytes starting with `head`. */
static void write_sparse(const char *path, const void *head, size_t n, off_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!check_true(fd >= 0, "create %s", path))
        return;
    check_true(write(fd, head, n) == (ssize_t)n && ftruncate(fd, size) == 0, "write %s", path);
    close(fd);
}

/* Checks a status and that the message contains each of the NULL-terminated strings. */
static void expect(const char *what, gitc_status got, gitc_status want, const gitc_error *err, ...)
{
    int ok = got == want;
    va_list ap;
    va_start(ap, err);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        ok = ok && strstr(err->message, s) != NULL;
    va_end(ap);
    check_true(ok, "%s: status %d (want %d), message: %s", what, (int)got, (int)want, err->message);
    printf("%-58s %s\n", what, ok ? "ok" : "FAILED");
}

static void link_file(const char *src_rel, const char *dst)
{
    char abs[4096];
    const char *src = check_path(src_rel);
    if (src[0] != '/' && getcwd(abs, sizeof abs)) {
        size_t n = strlen(abs);
        snprintf(abs + n, sizeof abs - n, "/%s", src);
        src = abs;
    }
    unlink(dst);
    check_true(symlink(src, dst) == 0, "link %s", dst);
}

/* ---- issue 14, item 1: data_offsets outside uint64_t ---- */

static void safetensors_offsets(void)
{
    static const char *const files[] = {"tests/data/limits/st_offsets_1e20.safetensors",
                                        "tests/data/limits/st_offsets_0_1e20.safetensors"};
    for (int i = 0; i < 2; i++) {
        gitc_error err = {0};
        st_file *f = NULL;
        gitc_status s = gitci_st_open(check_path(files[i]), &f, &err);
        expect(files[i], s, GITC_ERR_FORMAT, &err, "tensor a", "1e+20", "past the end", NULL);
        gitci_st_close(f);
    }
    /* Through the model loader, with an empty config. */
    char *d = folder("offsets");
    write_text(in_dir(d, "config.json"), "{}");
    link_file("tests/data/limits/st_offsets_1e20.safetensors", in_dir(d, "model.safetensors"));
    gitc_error err = {0};
    gitc_model *m = NULL;
    gitc_model_params mp = gitc_model_default_params();
    gitc_status s = gitc_model_load(d, &mp, &m, &err);
    expect("model with data_offsets 1e20", s, GITC_ERR_FORMAT, &err, "model.safetensors", "data_offsets", NULL);
    gitc_model_free(m);
}

/* ---- issue 14, item 2: generation_config.json values are model errors ---- */

static void generation_values(void)
{
    static const struct {
        const char *json, *key, *shown;
    } cases[] = {
        {"{\"max_new_tokens\": 1000000000}", "max_new_tokens", "1000000000"},
        {"{\"max_length\": 1e10}", "max_length", "1e10"},
        {"{\"num_beams\": 0}", "num_beams", "0"},
        {"{\"num_beams\": 4.5}", "num_beams", "4.5"},
        {"{\"top_k\": -1}", "top_k", "-1"},
        {"{\"temperature\": -1e39}", "temperature", "-1e39"},
        {"{\"length_penalty\": 1e400}", "length_penalty", "1e400"},
        {"{\"repetition_penalty\": 0}", "repetition_penalty", "0"},
        {"{\"top_p\": 1.5}", "top_p", "1.5"},
        {"{\"a\": {\"max_length\": 1}, \"max_length\" :\n 7e5 }", "max_length", "7e5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gitc_generate_params p = gitc_generate_default_params();
        gitc_error err = {0};
        gitc_status s = gitci_generation_config_parse(cases[i].json, strlen(cases[i].json),
                                                      "m/generation_config.json", &p, &err);
        char what[96];
        snprintf(what, sizeof what, "generation_config %s = %s", cases[i].key, cases[i].shown);
        char shown[64];
        snprintf(shown, sizeof shown, "= %s ", cases[i].shown);
        expect(what, s, GITC_ERR_FORMAT, &err, "m/generation_config.json", cases[i].key, shown, NULL);
    }
    /* In range: accepted, converted. */
    const char *ok = "{\"max_new_tokens\": 65536, \"temperature\": 3.4e38, \"top_p\": 0}";
    gitc_generate_params p = gitc_generate_default_params();
    gitc_error err = {0};
    gitc_status s = gitci_generation_config_parse(ok, strlen(ok), "g", &p, &err);
    check_true(s == GITC_OK && p.max_new_tokens == 65536 && p.temperature == 3.4e38f,
               "in-range generation values are accepted: %s", err.message);
}

/* Runs $GITC_BIN with args (NULL-terminated, at most 14); returns the exit
 * status, stderr in `errbuf`. */
static int run_gitc(char *errbuf, size_t size, const char *const *args)
{
    const char *argv[16] = {check_gitc_bin()};
    for (int i = 0; args[i] && i < 14; i++)
        argv[i + 1] = args[i];
    check_run r;
    check_run_argv(&r, &(check_run_io){.stdout_path = "/dev/null"}, argv);
    snprintf(errbuf, size, "%s", r.err);
    int status = r.status;
    check_run_free(&r);
    return status;
}

/* The CLI: a generation_config.json value the model cannot use is exit 1, names
 * the file and the key, and blames no flag. */
static void generation_cli(void)
{
    static const char *const files[] = {"config.json", "model.safetensors", "preprocessor_config.json",
                                        "special_tokens_map.json", "tokenizer.json",
                                        "tokenizer_config.json", "vocab.txt"};
    static const struct {
        const char *json, *key, *value;
    } cases[] = {
        {"{\"max_new_tokens\": 1000000000}", "max_new_tokens", "1000000000"}, /* refused at load */
        {"{\"temperature\": -1e39}", "temperature", "-1e39"},                 /* refused at load */
        {"{\"max_new_tokens\": 600}", "max_new_tokens", "600"},               /* > 512 positions */
        {"{\"max_length\": 1000}", "max_length", "1000"},                     /* > 512 positions */
        {"{\"num_return_sequences\": 3}", "num_return_sequences", "3"},       /* greedy: 1 beam */
    };
    char *d = folder("gen-cli");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "models/git-shapes/%s", files[i]);
        link_file(rel, in_dir(d, files[i]));
    }
    const char *image = check_path("examples/shapes_0_224x224.png");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(in_dir(d, "generation_config.json"), cases[i].json);
        char err[8192];
        const char *args[] = {"caption", "-m", d, image, NULL};
        int rc = run_gitc(err, sizeof err, args);
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", cases[i].key);
        for (char *c = flag + 2; *c; c++)
            if (*c == '_')
                *c = '-';
        int ok = rc == 1 && strstr(err, "generation_config.json") && strstr(err, cases[i].key) &&
                 strstr(err, cases[i].value) && !strstr(err, flag) && !strstr(err, "--help");
        check_true(ok, "gitc caption with %s: exit %d, stderr: %s", cases[i].json, rc, err);
        printf("%-58s %s\n", cases[i].json, ok ? "ok" : "FAILED");
    }
    unlink(in_dir(d, "generation_config.json"));
}

/* ---- JSON size and depth ---- */

static void json_limits(void)
{
    /* Depth: 64 nested arrays parse (and fail as a config for other reasons), 65 do not. */
    for (int depth = GITC_JSON_MAX_DEPTH; depth <= GITC_JSON_MAX_DEPTH + 1; depth++) {
        char json[512];
        int k = snprintf(json, sizeof json, "{\"a\":");
        for (int i = 1; i < depth; i++)
            json[k++] = '[';
        for (int i = 1; i < depth; i++)
            json[k++] = ']';
        json[k++] = '}';
        json[k] = 0;
        gitc_config c;
        gitc_error err = {0};
        gitc_status s = gitc_config_from_json(json, (size_t)k, "config.json", &c, &err);
        if (depth == GITC_JSON_MAX_DEPTH) {
            check_true(s == GITC_OK, "config nested %d deep parses: %s", depth, err.message);
        } else {
            expect("config.json nested 65 deep", s, GITC_ERR_LIMIT, &err, "config.json", "deeper than 64", NULL);
            gitc_processor *p = NULL;
            s = gitc_processor_from_json(json, (size_t)k, "preprocessor_config.json", &p, &err);
            expect("preprocessor_config.json nested 65 deep", s, GITC_ERR_LIMIT, &err, "deeper than 64", NULL);
            gitc_processor_free(p);
            gitc_generate_params gp = gitc_generate_default_params();
            s = gitci_generation_config_parse(json, (size_t)k, "generation_config.json", &gp, &err);
            expect("generation_config.json nested 65 deep", s, GITC_ERR_LIMIT, &err, "deeper than 64", NULL);
        }
    }
    /* Size: GITC_CONFIG_MAX_BYTES + 1 bytes of text (a valid object padded with spaces). */
    size_t n = GITC_CONFIG_MAX_BYTES + 1;
    char *big = malloc(n);
    if (!check_true(big != NULL, "allocate %zu bytes", n))
        return;
    memset(big, ' ', n);
    memcpy(big, "{}", 2);
    gitc_config c;
    gitc_error err = {0};
    expect("config.json text of 16 MiB + 1", gitc_config_from_json(big, n, "config.json", &c, &err),
           GITC_ERR_LIMIT, &err, "config.json", "limit", NULL);
    check_true(gitc_config_from_json(big, n - 1, "config.json", &c, &err) == GITC_OK,
               "16 MiB of config text is accepted: %s", err.message);
    gitc_processor *p = NULL;
    expect("preprocessor text of 16 MiB + 1",
           gitc_processor_from_json(big, n, "preprocessor_config.json", &p, &err), GITC_ERR_LIMIT,
           &err, "limit", NULL);
    gitc_generate_params gp = gitc_generate_default_params();
    expect("generation_config text of 16 MiB + 1",
           gitci_generation_config_parse(big, n, "generation_config.json", &gp, &err),
           GITC_ERR_LIMIT, &err, "limit", NULL);
    free(big);

    /* Files: refused from their size, before they are read. */
    char *d = folder("big-config");
    write_sparse(in_dir(d, "config.json"), "{}", 2, (off_t)GITC_CONFIG_MAX_BYTES + 1);
    gitc_model *m = NULL;
    gitc_model_params mp = gitc_model_default_params();
    expect("config.json file of 16 MiB + 1", gitc_model_load(d, &mp, &m, &err), GITC_ERR_LIMIT, &err,
           "config.json", "limit", NULL);
    gitc_model_free(m);
    d = folder("big-preprocessor");
    write_sparse(in_dir(d, "preprocessor_config.json"), "{}", 2, (off_t)GITC_CONFIG_MAX_BYTES + 1);
    expect("preprocessor_config.json file of 16 MiB + 1", gitc_processor_load(d, &p, &err),
           GITC_ERR_LIMIT, &err, "preprocessor_config.json", "limit", NULL);
}

/* ---- safetensors header size and tensor count ---- */

static void safetensors_limits(void)
{
    char *d = folder("st");
    const char *path = in_dir(d, "big-header.safetensors");
    uint64_t hl = (uint64_t)ST_MAX_HEADER_BYTES + 1;
    unsigned char head[10];
    for (int i = 0; i < 8; i++)
        head[i] = (unsigned char)(hl >> (8 * i));
    head[8] = '{';
    head[9] = '}';
    write_sparse(path, head, sizeof head, (off_t)(8 + hl));
    gitc_error err = {0};
    st_file *f = NULL;
    expect("safetensors header of 100 MB + 1", gitci_st_open(path, &f, &err), GITC_ERR_LIMIT, &err,
           "big-header.safetensors", "limit", NULL);
    gitci_st_close(f);

    /* ST_MAX_TENSORS + 1 entries (refused by count) and ST_MAX_TENSORS (then refused as entries). */
    for (int n = ST_MAX_TENSORS; n <= ST_MAX_TENSORS + 1; n++) {
        size_t cap = (size_t)n * 16 + 16;
        char *h = malloc(8 + cap);
        if (!check_true(h != NULL, "allocate"))
            return;
        size_t k = 8;
        h[k++] = '{';
        for (int i = 0; i < n; i++)
            k += (size_t)snprintf(h + k, cap + 8 - k, "%s\"t%d\":0", i ? "," : "", i);
        h[k++] = '}';
        uint64_t len = k - 8;
        for (int i = 0; i < 8; i++)
            h[i] = (char)(len >> (8 * i));
        path = in_dir(d, "many.safetensors");
        write_file(path, h, k);
        free(h);
        f = NULL;
        gitc_status s = gitci_st_open(path, &f, &err);
        if (n > ST_MAX_TENSORS)
            expect("safetensors with 65537 tensors", s, GITC_ERR_LIMIT, &err, "65537", "limit", NULL);
        else
            check_true(s == GITC_ERR_FORMAT && strstr(err.message, "needs dtype"),
                       "65536 entries pass the count and fail as entries: %s", err.message);
        gitci_st_close(f);
    }
}

/* ---- tokenizer vocabulary size and token length ---- */

static void tokenizer_limits(void)
{
    gitc_error err = {0};
    gitc_tokenizer *t = NULL;
    /* vocab.txt: 2^22 + 1 lines. */
    char *d = folder("tok-vocab");
    size_t lines = ((size_t)1 << 22) + 1;
    char *v = malloc(lines * 2);
    if (!check_true(v != NULL, "allocate"))
        return;
    for (size_t i = 0; i < lines; i++)
        v[2 * i] = 'a', v[2 * i + 1] = '\n';
    write_file(in_dir(d, "vocab.txt"), v, lines * 2);
    free(v);
    expect("vocab.txt of 2^22 + 1 tokens", gitc_tokenizer_load(d, &t, &err), GITC_ERR_LIMIT, &err,
           "vocab.txt", "4194305 tokens", NULL);
    gitc_tokenizer_free(t);
    t = NULL;

    /* vocab.txt: a token of 1025 bytes; 1024 bytes passes that check. */
    for (int len = 1024; len <= 1025; len++) {
        char *s = malloc((size_t)len + 16);
        memcpy(s, "[PAD]\n", 6);
        memset(s + 6, 'x', (size_t)len);
        s[6 + len] = '\n';
        write_file(in_dir(d, "vocab.txt"), s, (size_t)len + 7);
        free(s);
        gitc_status st = gitc_tokenizer_load(d, &t, &err);
        if (len == 1025)
            expect("vocab.txt token of 1025 bytes", st, GITC_ERR_LIMIT, &err, "line 2", "1025 bytes", NULL);
        else
            check_true(st != GITC_ERR_LIMIT, "a token of 1024 bytes is within the limit: %s", err.message);
        gitc_tokenizer_free(t);
        t = NULL;
    }

    /* tokenizer.json: a token of 1025 bytes. */
    d = folder("tok-json");
    char *j = malloc(2048);
    int k = snprintf(j, 2048, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[PAD]\": 0, \"");
    memset(j + k, 'y', 1025);
    k += 1025;
    k += snprintf(j + k, 2048 - (size_t)k, "\": 1}}}");
    write_file(in_dir(d, "tokenizer.json"), j, (size_t)k);
    free(j);
    expect("tokenizer.json token of 1025 bytes", gitc_tokenizer_load(d, &t, &err), GITC_ERR_LIMIT, &err,
           "tokenizer.json", "1025 bytes", NULL);
    gitc_tokenizer_free(t);
    t = NULL;

    /* File sizes: tokenizer.json over 64 MiB, tokenizer_config.json over 16 MiB. */
    write_sparse(in_dir(d, "tokenizer.json"), "{}", 2, (off_t)GITC_TOKENIZER_MAX_BYTES + 1);
    expect("tokenizer.json file of 64 MiB + 1", gitc_tokenizer_load(d, &t, &err), GITC_ERR_LIMIT, &err,
           "tokenizer.json", "limit", NULL);
    gitc_tokenizer_free(t);
    t = NULL;
    d = folder("tok-config");
    link_file("tests/data/tokenizer/bert-base-uncased/vocab.txt", in_dir(d, "vocab.txt"));
    write_sparse(in_dir(d, "tokenizer_config.json"), "{}", 2, (off_t)GITC_CONFIG_MAX_BYTES + 1);
    expect("tokenizer_config.json file of 16 MiB + 1", gitc_tokenizer_load(d, &t, &err), GITC_ERR_LIMIT,
           &err, "tokenizer_config.json", "limit", NULL);
    gitc_tokenizer_free(t);
    t = NULL;
    /* JSON depth in tokenizer_config.json. */
    char deep[256];
    int n = snprintf(deep, sizeof deep, "{\"x\":");
    for (int i = 0; i < GITC_JSON_MAX_DEPTH; i++)
        deep[n++] = '[';
    for (int i = 0; i < GITC_JSON_MAX_DEPTH; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    write_file(in_dir(d, "tokenizer_config.json"), deep, (size_t)n);
    expect("tokenizer_config.json nested 65 deep", gitc_tokenizer_load(d, &t, &err), GITC_ERR_LIMIT, &err,
           "tokenizer_config.json", "deeper than 64", NULL);
    gitc_tokenizer_free(t);
}

/* ---- decompression bombs: images ---- */

static void image_bombs(void)
{
    static const char *const files[] = {"tests/data/limits/bomb_100000x100000.png", "tests/data/limits/bomb_16384x16384.webp",
                                        "tests/data/limits/bomb_65535x65535.gif"};
    for (int i = 0; i < 3; i++) {
        gitc_image im = {0};
        gitc_error err = {0};
        gitc_status s = gitc_image_load(check_path(files[i]), NULL, &im, &err);
        expect(files[i], s, GITC_ERR_LIMIT, &err, strrchr(files[i], '/') + 1, NULL);
        check_true(im.rgb == NULL, "%s: no image", files[i]);
        gitc_image_free(&im);
    }
}

/* ---- video: declared frame size, frame count ---- */

static void video_limits(void)
{
    gitc_image frames[2];
    gitc_error err = {0};
    int total = 0;
    const char *bomb = check_path("tests/data/limits/bomb_15000x15000.y4m");
    gitc_status s = gitc_video_load(bomb, 2, NULL, frames, &total, &err);
    expect("y4m declaring 15000x15000 frames", s, GITC_ERR_LIMIT, &err, "bomb_15000x15000.y4m",
           "15000x15000", NULL);

    /* Frame size just over max_pixels: the 64x64 test clip with max_pixels 64*64 - 1, from memory. */
    char *data = NULL;
    size_t size = 0;
    if (!check_true(gitci_read_file(check_path("tests/data/video/moving_square_h264.mp4"), &data, &size, &err) == GITC_OK,
                    "read the test clip: %s", err.message))
        return;
    s = gitci_video_load_memory(data, size, "clip.mp4", 0, 2, NULL, frames, &total, &err);
    check_true(s == GITC_OK && total > 2, "the clip decodes from memory: %s", err.message);
    int n_frames = total, w = s == GITC_OK ? frames[0].width : 0, h = s == GITC_OK ? frames[0].height : 0;
    if (s == GITC_OK)
        for (int i = 0; i < 2; i++)
            gitc_image_free(&frames[i]);
    gitc_image_params p = gitc_image_default_params();
    p.max_pixels = (uint64_t)w * (uint64_t)h - 1;
    s = gitci_video_load_memory(data, size, "clip.mp4", 0, 2, &p, frames, &total, &err);
    expect("video frames 1 pixel over max_pixels", s, GITC_ERR_LIMIT, &err, "clip.mp4", "max_pixels", NULL);
    /* Frame count: a limit one below the clip's frames refuses it, the exact count passes. */
    s = gitci_video_load_memory(data, size, "clip.mp4", n_frames - 1, 2, NULL, frames, &total, &err);
    expect("video with one frame more than the frame limit", s, GITC_ERR_LIMIT, &err, "clip.mp4",
           "video frames", NULL);
    s = gitci_video_load_memory(data, size, "clip.mp4", n_frames, 2, NULL, frames, &total, &err);
    check_true(s == GITC_OK, "a clip of exactly the frame limit decodes: %s", err.message);
    if (s == GITC_OK)
        for (int i = 0; i < 2; i++)
            gitc_image_free(&frames[i]);
    free(data);
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    safetensors_offsets();
    generation_values();
    generation_cli();
    json_limits();
    safetensors_limits();
    tokenizer_limits();
    image_bombs();
    video_limits();
    return check_done("test_limits");
}
