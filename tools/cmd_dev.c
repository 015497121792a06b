/* Developer commands: forward (every model level to a safetensors file),
 * synth (full-size synthetic model folders) and bench (timings). */
#include "cli_common.h"
#include "synth.h"
#include "tensor_file.h"
#include "tool_files.h"

#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- gitc forward ---- */

static const char forward_help[] =
    "Usage: gitc forward -m MODEL --inputs IN.safetensors --out OUT.safetensors [--max-length L]\n"
    "\n"
    "Runs GitVisionModel, GitModel and GitForCausalLM on the inputs and writes every level.\n"
    "IN holds pixel_values (F32 [B,3,S,S] for image models, [B,F,3,S,S] for video\n"
    "models; `gitc preprocess` writes it) and input_ids (I64 [B,T], T >= 2).\n"
    "With B samples, F frames per sample (1 for image models), P = (S/patch)^2 patches\n"
    "per frame, I = F*(P+1) image tokens, hidden sizes Dv (vision) and D (text) and V\n"
    "vocabulary entries, OUT receives:\n"
    "  vision_last_hidden_state  [B,I,Dv]   image encoder output (before temporal embeddings)\n"
    "  visual_projection         [B,I,D]    image tokens fed to the decoder\n"
    "  last_hidden_state         [B,I+T,D]  decoder output\n"
    "  text_logits               [B,T,V]    logits at the text positions\n"
    "  loss                      []         mean next-token cross-entropy of the text\n"
    "  greedy_ids                [B,L'] I64 with --max-length L: greedy ids from [CLS]\n"
    "                                       (L' <= L: the longest row), padded with the\n"
    "                                       pad id after [SEP]\n"
    "\n"
    "Options:\n"
    "  -m, --model MODEL    model folder or hub id\n"
    "      --inputs FILE    input safetensors\n"
    "      --out FILE       output safetensors (written atomically)\n"
    "      --max-length N   also generate greedily up to N text tokens\n"
    "      --threads N      worker threads (default: all CPUs)\n"
    "\n"
    "Example:\n"
    "  gitc preprocess -m models/git-shapes --out in.safetensors examples/shapes_0_224x224.png\n"
    "  (add input_ids [1,T] to in.safetensors, e.g. with the safetensors Python package)\n"
    "  gitc forward -m models/git-shapes --inputs in.safetensors --out out.safetensors --max-length 20\n";

/* Reads a float input tensor; returns a malloc'd float32 copy or NULL after an error message. */
static float *read_pixels(const tf_file *in, int *B, int *F, int *S)
{
    const tf_tensor *t = tf_find(in, "pixel_values");
    if (!t) {
        cli_error("%s: no tensor pixel_values", in->path);
        return NULL;
    }
    if (t->ndim == 4) {
        *B = (int)t->shape[0], *F = 1;
    } else if (t->ndim == 5) {
        *B = (int)t->shape[0], *F = (int)t->shape[1];
    } else {
        cli_error("%s: pixel_values must be [B,3,H,W] or [B,F,3,H,W]", in->path);
        return NULL;
    }
    int64_t h = t->shape[t->ndim - 2], w = t->shape[t->ndim - 1], ch = t->shape[t->ndim - 3];
    if (ch != 3 || h != w || *B < 1) {
        cli_error("%s: pixel_values must hold B >= 1 square 3-channel images", in->path);
        return NULL;
    }
    *S = (int)h;
    float *px = malloc((size_t)t->numel * sizeof(float) + 1);
    gitc_error err = {0};
    if (!px || tf_to_f32(in, t, px, &err) != GITC_OK) {
        cli_error("%s", px ? err.message : "out of memory");
        free(px);
        return NULL;
    }
    return px;
}

static int32_t *read_ids(const tf_file *in, int *B, int *T)
{
    const tf_tensor *t = tf_find(in, "input_ids");
    if (!t || t->ndim != 2 || (t->dtype != TF_I64 && t->dtype != TF_I32)) {
        cli_error("%s: input_ids must be an I64 (or I32) tensor [B,T]", in->path);
        return NULL;
    }
    *B = (int)t->shape[0];
    *T = (int)t->shape[1];
    int32_t *ids = malloc((size_t)t->numel * sizeof(int32_t) + 1);
    if (!ids) {
        cli_error("out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t v;
        if (t->dtype == TF_I64) {
            memcpy(&v, (const uint8_t *)t->data + 8 * i, 8);
        } else {
            int32_t v32;
            memcpy(&v32, (const uint8_t *)t->data + 4 * i, 4);
            v = v32;
        }
        if (v < 0 || v > INT32_MAX) {
            cli_error("%s: input_ids holds %lld, not a token id", in->path, (long long)v);
            free(ids);
            return NULL;
        }
        ids[i] = (int32_t)v;
    }
    return ids;
}

int cmd_forward(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"help", no_argument, NULL, 'h'},
        {"inputs", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'},
        {"max-length", required_argument, NULL, 'L'},
        {NULL, 0, NULL, 0},
    };
    cli_model_opts mo = {0};
    const char *in_path = NULL, *out_path = NULL;
    long max_length = 0;
    int c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        int handled = cli_model_option(&mo, c, optarg);
        if (handled < 0)
            return CLI_EXIT_USAGE;
        if (handled)
            continue;
        switch (c) {
        case 'i': in_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'L':
            if (cli_parse_int(optarg, 1, 1 << 16, "--max-length", &max_length) != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h': fputs(forward_help, stdout); return CLI_EXIT_OK;
        default: return cli_option_error("forward", c, argv);
        }
    }
    if (!mo.model || !in_path || !out_path || optind != argc) {
        cli_error("forward needs -m MODEL, --inputs FILE and --out FILE (see gitc forward --help)");
        return CLI_EXIT_USAGE;
    }
    int status = CLI_EXIT_FAILED;
    gitc_error err = {0};
    tf_file *in = NULL;
    tf_writer *w = NULL;
    float *px = NULL, *vis = NULL, *proj = NULL, *hidden = NULL, *logits = NULL;
    int32_t *ids = NULL;
    int64_t *greedy = NULL;
    gitc_session *s = NULL;
    gitc_model *m = cli_open_model(mo.model, 0, NULL);
    if (!m)
        return CLI_EXIT_FAILED;
    if (tf_open(in_path, &in, &err) != GITC_OK) {
        cli_error("%s", err.message);
        goto done;
    }
    const gitc_config *cfg = gitc_model_config(m);
    int B = 0, F = 0, S = 0, Bi = 0, T = 0;
    if (!(px = read_pixels(in, &B, &F, &S)) || !(ids = read_ids(in, &Bi, &T)))
        goto done;
    if (F != gitc_model_num_frames(m) || S != cfg->vision_image_size) {
        cli_error("%s: pixel_values has %d frame(s) of %dx%d; the model takes %d of %dx%d", in_path, F, S,
                  S, gitc_model_num_frames(m), cfg->vision_image_size, cfg->vision_image_size);
        goto done;
    }
    if (Bi != B || T < 2) {
        cli_error("%s: input_ids must be [%d,T] with T >= 2 (got [%d,%d])", in_path, B, Bi, T);
        goto done;
    }
    if (!(s = cli_open_session(m, mo.n_threads)))
        goto done;
    int n_img = gitc_model_num_image_tokens(m), D = cfg->hidden_size, V = cfg->vocab_size;
    int Dv = cfg->vision_hidden_size;
    size_t per_px = (size_t)F * 3 * S * S;
    /* Floats per sample of each output, as the library sizes them. */
    size_t n_vis = gitc_model_vision_floats(m), n_proj = gitc_model_projection_floats(m);
    size_t n_hidden = gitc_model_hidden_floats(m, T), n_logits = gitc_model_logits_floats(m, T);
    vis = malloc((size_t)B * n_vis * sizeof(float));
    proj = malloc((size_t)B * n_proj * sizeof(float));
    hidden = malloc((size_t)B * n_hidden * sizeof(float));
    logits = malloc((size_t)B * n_logits * sizeof(float));
    if (!vis || !proj || !hidden || !logits) {
        cli_error("out of memory");
        goto done;
    }
    float loss_sum = 0;
    for (int b = 0; b < B; b++) {
        float loss = 0;
        const float *pb = px + (size_t)b * per_px;
        if (gitc_encode_image(s, pb, per_px, vis + (size_t)b * n_vis, n_vis, proj + (size_t)b * n_proj, n_proj,
                              &err) != GITC_OK ||
            gitc_forward(s, pb, per_px, ids + (size_t)b * T, T, hidden + (size_t)b * n_hidden, n_hidden,
                         logits + (size_t)b * n_logits, n_logits, &loss, &err) != GITC_OK) {
            cli_error("%s: sample %d: %s", in_path, b, err.message);
            goto done;
        }
        loss_sum += loss;
    }
    float loss = loss_sum / (float)B;
    w = tf_writer_new();
    int64_t sv[3] = {B, n_img, Dv}, sp[3] = {B, n_img, D}, sh[3] = {B, n_img + T, D}, sl[3] = {B, T, V};
    if (!w || tf_writer_add(w, "vision_last_hidden_state", TF_F32, 3, sv, vis, &err) != GITC_OK ||
        tf_writer_add(w, "visual_projection", TF_F32, 3, sp, proj, &err) != GITC_OK ||
        tf_writer_add(w, "last_hidden_state", TF_F32, 3, sh, hidden, &err) != GITC_OK ||
        tf_writer_add(w, "text_logits", TF_F32, 3, sl, logits, &err) != GITC_OK ||
        tf_writer_add(w, "loss", TF_F32, 0, NULL, &loss, &err) != GITC_OK) {
        cli_error("%s", w ? err.message : "out of memory");
        goto done;
    }
    if (max_length > 0) {
        gitc_generate_params p = gitc_model_generate_params(m);
        p.max_length = (int)max_length;
        p.max_new_tokens = 0;
        const float **pxs = malloc((size_t)B * sizeof *pxs);
        greedy = calloc((size_t)B * (size_t)max_length, sizeof(int64_t));
        gitc_generation gen = {0};
        if (!pxs || !greedy) {
            free(pxs);
            cli_error("out of memory");
            goto done;
        }
        for (int b = 0; b < B; b++)
            pxs[b] = px + (size_t)b * per_px;
        gitc_status st = gitc_generate(s, pxs, per_px, NULL, NULL, B, &p, &gen, &err);
        free(pxs);
        if (st != GITC_OK) {
            cli_error("%s", err.message);
            goto done;
        }
        /* Rows padded to the longest with pad ids, as transformers returns them. */
        int longest = 0;
        for (int b = 0; b < B; b++)
            longest = gen.sequences[b].n_ids > longest ? gen.sequences[b].n_ids : longest;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < longest; j++)
                greedy[(size_t)b * longest + j] =
                    j < gen.sequences[b].n_ids ? gen.sequences[b].ids[j] : cfg->pad_token_id;
        gitc_generation_free(&gen);
        int64_t sg[2] = {B, longest};
        if (tf_writer_add(w, "greedy_ids", TF_I64, 2, sg, greedy, &err) != GITC_OK) {
            cli_error("%s", err.message);
            goto done;
        }
    }
    if (tf_writer_write(w, out_path, &err) != GITC_OK) {
        cli_error("%s", err.message);
        goto done;
    }
    status = CLI_EXIT_OK;
done:
    tf_writer_free(w);
    tf_close(in);
    free(px);
    free(ids);
    free(vis);
    free(proj);
    free(hidden);
    free(logits);
    free(greedy);
    gitc_session_free(s);
    gitc_model_free(m);
    return status;
}

/* ---- gitc synth ---- */

/* 1 when path exists and is not an empty folder (a file, or a folder with entries). */
static int folder_has_files(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return 1;
    DIR *d = opendir(path);
    if (!d) return 1;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL)
        found = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return found;
}

static const char synth_help[] =
    "Usage: gitc synth --config CONFIG.json --out DIR [--force]\n"
    "\n"
    "Writes a full-size model folder (config.json + F32 model.safetensors) whose\n"
    "weights follow gitc's synthetic-weight formula (tools/synth.c: each parameter is a\n"
    "splitmix64 stream seeded by the FNV-1a hash of its name, scaled by its shape),\n"
    "so the folder equals the reference models of tests/data/synthetic without any\n"
    "download. DIR must be new or empty unless --force is given.\n"
    "\n"
    "  -c, --config FILE    a GitConfig config.json (tests/data/synthetic/*/config.json)\n"
    "  -o, --out DIR        the folder to write\n"
    "      --force          overwrite config.json and model.safetensors in a non-empty DIR\n"
    "\n"
    "Example:\n"
    "  gitc synth --config tests/data/synthetic/git-base-shape/config.json --out /tmp/git-base-synth\n";

int cmd_synth(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *out = NULL;
    int c, force = 0;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":c:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'o': out = optarg; break;
        case OPT_FORCE: force = 1; break;
        case 'h': fputs(synth_help, stdout); return CLI_EXIT_OK;
        default: return cli_option_error("synth", c, argv);
        }
    }
    if (!config || !out || optind != argc) {
        cli_error("synth needs --config CONFIG.json and --out DIR (see gitc synth --help)");
        return CLI_EXIT_USAGE;
    }
    if (!force && folder_has_files(out)) {
        cli_error("synth: %s exists and is not an empty folder; pass --force to overwrite its "
                  "config.json and model.safetensors", out);
        return CLI_EXIT_USAGE;
    }
    gitc_error err = {0};
    char *json = NULL;
    size_t len = 0;
    if (tool_read_file(config, (size_t)16 << 20, &json, &len, &err) != GITC_OK ||
        gitc_synth_write(json, len, config, out, &err) != GITC_OK) {
        cli_error("%s", err.message);
        free(json);
        return CLI_EXIT_FAILED;
    }
    free(json);
    fprintf(stderr, "gitc: wrote %s/config.json and %s/model.safetensors\n", out, out);
    return CLI_EXIT_OK;
}

/* ---- gitc bench ---- */

static const char bench_help[] =
    "Usage: gitc bench [-m MODEL] [--threads N] [--dtype T] [--batch N] [--runs N] [--json]\n"
    "       gitc bench --train ... (training steps: gitc bench --train --help)\n"
    "\n"
    "Times gitc_generate on --batch N synthetic images (default 1): image encoding\n"
    "(vision encoder + the decoder's image rows, computed once per image, all images\n"
    "in one pass) and greedy decoding of 19 tokens per image (max_length 20) from\n"
    "[CLS], the images' rows decoded together. Without -m it uses the synthetic\n"
    "git-base shape, written once to $XDG_CACHE_HOME/gitc/git-base-synthetic (or\n"
    "~/.cache/gitc/...). Each field is the best of --runs runs (default 3) after one\n"
    "warm-up run; encode and decode times are measured within each run.\n"
    "\n"
    "Output with --json: {\"model\", \"cpu_features\", \"kernel_sets\", \"blocking\" (the CPU's\n"
    "cache sizes and the f32 linear's block sizes chosen from them), \"threads\",\n"
    "\"dtype\", \"kernels\", \"batch\",\n"
    "\"encode_ms\" (all images), \"decode_ms_per_token\" (one step of all rows),\n"
    "\"total_ms\", \"images_per_s\", \"encode_gflops\", \"peak_gflops\" (an FMA loop of\n"
    "the kernel set on the same threads, run before the timings),\n"
    "\"encode_fraction_of_peak\", \"decode_weight_mb\" (weights a decode step reads),\n"
    "\"read_gbs\" (streaming read rate over a buffer that size, measured after the\n"
    "timings), \"decode_bound_ms\" (their ratio: the step's bandwidth bound),\n"
    "\"decode_vs_bound\", \"load_ms\" (model load + weight preparation),\n"
    "\"weight_mb\" (prepared weights), \"rss_mb\" (peak resident memory), \"tokens\", \"runs\"}\n"
    "\n"
    "Examples:\n"
    "  gitc bench --threads 2\n"
    "  gitc bench --threads 2 --dtype bf16 --batch 8\n"
    "  gitc bench -m models/git-shapes --json\n";

static const char git_base_config[] =
    "{\"model_type\": \"git\", \"hidden_size\": 768, \"intermediate_size\": 3072,"
    " \"num_hidden_layers\": 6, \"num_attention_heads\": 12, \"vocab_size\": 30522,"
    " \"max_position_embeddings\": 1024, \"layer_norm_eps\": 1e-12, \"bos_token_id\": 101,"
    " \"eos_token_id\": 102, \"pad_token_id\": 0, \"num_image_with_embedding\": null,"
    " \"vision_config\": {\"model_type\": \"git_vision_model\"}}\n";

/* The cached synthetic git-base folder, written on first use. */
char *cli_synthetic_base_dir(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char root[4096];
    if (xdg && *xdg)
        snprintf(root, sizeof root, "%s/gitc", xdg);
    else
        snprintf(root, sizeof root, "%s/.cache/gitc", home && *home ? home : "/tmp");
    char *dir = malloc(strlen(root) + 32);
    if (!dir)
        return NULL;
    sprintf(dir, "%s/git-base-synthetic", root);
    char *weights = tool_path_join(dir, "model.safetensors");
    int have = weights && tool_file_exists(weights);
    free(weights);
    if (have)
        return dir;
    /* mkdir -p root */
    for (char *p = root + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(root, 0755);
            *p = '/';
        }
    mkdir(root, 0755);
    fprintf(stderr, "gitc: writing the synthetic git-base model to %s (once)...\n", dir);
    gitc_error err = {0};
    if (gitc_synth_write(git_base_config, sizeof git_base_config - 1, "built-in git-base config", dir, &err) != GITC_OK) {
        cli_error("%s", err.message);
        free(dir);
        return NULL;
    }
    return dir;
}

/* Multiply-adds of one linear layer of M rows, as FLOPs. */
static double linear_flops(int M, int N, int K) { return 2.0 * M * N * K; }

static double encode_flops(const gitc_model *m)
{
    const gitc_config *c = gitc_model_config(m);
    int T = gitc_model_num_image_tokens(m), F = gitc_model_num_frames(m), P = c->vision_patch_size;
    int Dv = c->vision_hidden_size, Iv = c->vision_intermediate_size, D = c->hidden_size, I = c->intermediate_size;
    double f = linear_flops(F * (c->image_tokens_per_frame - 1), Dv, 3 * P * P);
    int Tf = c->image_tokens_per_frame;
    f += c->vision_num_hidden_layers *
         (4 * linear_flops(T, Dv, Dv) + linear_flops(T, Iv, Dv) + linear_flops(T, Dv, Iv) + 4.0 * F * Tf * Tf * Dv);
    f += linear_flops(T, D, Dv);
    /* The decoder's image rows: full layers, then only the last layer's keys
     * and values (all generation reads of them). */
    int L = c->num_hidden_layers;
    if (L > 0)
        f += (L - 1) * (4 * linear_flops(T, D, D) + linear_flops(T, I, D) + linear_flops(T, D, I) + 4.0 * T * T * D) +
             2 * linear_flops(T, D, D);
    return f;
}

/* Deterministic pixel values in the normalized range of CLIP inputs. */
static void bench_pixels(float *px, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        px[i] = (float)(x >> 8) * (4.0f / 16777216.0f) - 1.8f;
    }
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"runs", required_argument, NULL, 'r'},
        {"batch", required_argument, NULL, OPT_BATCH},
        {NULL, 0, NULL, 0},
    };
    cli_model_opts mo = {0};
    long runs = 3, batch = 1;
    int json = 0, c;
    for (int i = 1; i < argc; i++) /* gitc bench --train times training steps (cmd_train.c) */
        if (!strcmp(argv[i], "--train"))
            return cmd_bench_train(argc, argv);
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        int handled = cli_model_option(&mo, c, optarg);
        if (handled < 0)
            return CLI_EXIT_USAGE;
        if (handled)
            continue;
        switch (c) {
        case 'r':
            if (cli_parse_int(optarg, 1, 1000, "--runs", &runs) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_BATCH:
            if (cli_parse_int(optarg, 1, 64, "--batch", &batch) != 0)
                return CLI_EXIT_USAGE;
            break;
        case OPT_JSON: json = 1; break;
        case 'h': fputs(bench_help, stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("bench");
        }
    }
    if (optind != argc)
        return cli_usage_error("bench");
    char *synth_dir = NULL;
    if (!mo.model) {
        synth_dir = cli_synthetic_base_dir();
        if (!synth_dir)
            return CLI_EXIT_FAILED;
        mo.model = synth_dir;
    }
    int status = CLI_EXIT_FAILED;
    int B = (int)batch;
    gitc_error err = {0};
    double tl = cli_now_ms();
    gitc_model *m = cli_open_model(mo.model, 0, NULL);
    double load_ms = cli_now_ms() - tl;
    gitc_session *s = m ? cli_open_session(m, mo.n_threads) : NULL;
    float *px = NULL;
    const float **pxs = NULL;
    if (!s)
        goto done;
    size_t npx = gitc_model_pixel_floats(m);
    px = malloc((size_t)B * npx * sizeof(float));
    pxs = malloc((size_t)B * sizeof *pxs);
    if (!px || !pxs) {
        cli_error("out of memory");
        goto done;
    }
    for (int b = 0; b < B; b++) {
        bench_pixels(px + (size_t)b * npx, npx, (uint32_t)b);
        pxs[b] = px + (size_t)b * npx;
    }
    double peak = gitc_session_peak_gflops(s, 200);
    gitc_generate_params p = gitc_generate_default_params();
    p.max_length = 20;
    p.min_length = 20; /* always 19 new tokens */
    double best_enc = INFINITY, best_total = INFINITY, best_tok = INFINITY;
    int tokens = 0;
    for (int r = 0; r <= runs; r++) { /* run 0 warms up */
        gitc_generation gen = {0};
        gitc_session_stats st;
        gitc_session_stats_reset(s);
        double t0 = cli_now_ms();
        if (gitc_generate(s, pxs, npx, NULL, NULL, B, &p, &gen, &err) != GITC_OK) {
            cli_error("%s", err.message);
            goto done;
        }
        double total = cli_now_ms() - t0;
        gitc_session_stats_get(s, &st);
        tokens = gen.sequences[0].n_ids - 1;
        gitc_generation_free(&gen);
        if (r > 0) {
            best_enc = fmin(best_enc, st.encode_ms);
            best_total = fmin(best_total, total);
            best_tok = fmin(best_tok, (total - st.encode_ms) / (tokens > 0 ? tokens : 1));
        }
    }
    double gflops = encode_flops(m) * B / (best_enc * 1e6);
    double ips = B / (best_total / 1e3);
    double rss = tool_peak_rss_mb(), wmb = (double)gitc_model_weight_bytes(m) / (1024.0 * 1024.0);
    /* The bandwidth bound of a decode step, measured after the peak RSS was
     * taken (its buffer is as large as the decoder's weights). */
    size_t dec_bytes = gitc_model_decode_weight_bytes(m);
    double read_gbs = gitc_session_read_gbs(s, dec_bytes);
    double bound_ms = read_gbs > 0 ? (double)dec_bytes / (read_gbs * 1e6) : 0.0;
    const char *dtype = gitc_dtype_name(gitc_model_dtype(m)), *kern = gitc_model_kernels(m);
    int nthreads = gitc_session_threads(s); /* after the cap to the CPU count */
    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, mo.model);
        printf(", \"cpu_features\": \"%s\", \"kernel_sets\": {\"f32\": \"%s\", \"bf16\": \"%s\","
               " \"int8\": \"%s\"}", gitc_model_cpu_features(m), gitc_model_kernel_set(m, GITC_DTYPE_F32),
               gitc_model_kernel_set(m, GITC_DTYPE_BF16), gitc_model_kernel_set(m, GITC_DTYPE_INT8));
        printf(", \"blocking\": %s", gitc_model_blocking_json(m));
        printf(", \"threads\": %d, \"dtype\": \"%s\", \"kernels\": \"%s\", \"batch\": %d,"
               " \"encode_ms\": %.2f, \"decode_ms_per_token\": %.3f, \"total_ms\": %.2f,"
               " \"images_per_s\": %.3f, \"encode_gflops\": %.1f, \"peak_gflops\": %.1f,"
               " \"encode_fraction_of_peak\": %.3f, \"decode_weight_mb\": %.1f, \"read_gbs\": %.1f,"
               " \"decode_bound_ms\": %.3f, \"decode_vs_bound\": %.3f,"
               " \"load_ms\": %.1f, \"weight_mb\": %.1f,"
               " \"rss_mb\": %.1f, \"tokens\": %d, \"runs\": %ld}\n",
               nthreads, dtype, kern, B, best_enc, best_tok, best_total, ips, gflops, peak,
               peak > 0 ? gflops / peak : 0.0, (double)dec_bytes / (1024.0 * 1024.0), read_gbs,
               bound_ms, bound_ms > 0 ? best_tok / bound_ms : 0.0, load_ms, wmb, rss, tokens, runs);
    } else {
        printf("model            %s (%s weights, %.1f MiB, loaded in %.0f ms)\n", mo.model, dtype, wmb, load_ms);
        printf("threads          %d (kernels: %s, peak %.1f GFLOP/s)\n", nthreads, kern, peak);
        printf("cpu              %s (sets: f32 %s, bf16 %s, int8 %s)\n", gitc_model_cpu_features(m),
               gitc_model_kernel_set(m, GITC_DTYPE_F32), gitc_model_kernel_set(m, GITC_DTYPE_BF16),
               gitc_model_kernel_set(m, GITC_DTYPE_INT8));
        printf("caches, blocks   %s\n", gitc_model_blocking_json(m));
        printf("image encoding   %.2f ms for %d image(s) (%.1f GFLOP/s, %.0f%% of peak)\n", best_enc, B,
               gflops, peak > 0 ? 100.0 * gflops / peak : 0.0);
        printf("decoding         %.3f ms per token (%d row(s) together); bandwidth bound %.3f ms "
               "(%.1f MiB of weights per step at %.1f GB/s read)\n", best_tok, B, bound_ms,
               (double)dec_bytes / (1024.0 * 1024.0), read_gbs);
        printf("total            %.2f ms (images + %d greedy tokens), %.2f images/s, %s%ld run%s\n",
               best_total, tokens, ips, runs == 1 ? "" : "best of ", runs, runs == 1 ? "" : "s");
        printf("peak memory      %.0f MiB resident\n", rss);
    }
    status = CLI_EXIT_OK;
done:
    free(px);
    free(pxs);
    gitc_session_free(s);
    gitc_model_free(m);
    free(synth_dir);
    return status;
}
