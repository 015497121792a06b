/* gitc inspect: what a model folder (or hub id) holds and what gitc would
 * load from it: files, weight format, dtypes, parameters, bytes, config,
 * tokenizer, processor, the hub revision resolved, and the load time. With
 * --run, one forward pass pages every weight in and the peak RSS is reported.
 * Uses the public API only (gitc_model_describe_json). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"

static const char inspect_help[] =
    "Usage: gitc inspect [-m MODEL] [--revision REV] [--run] [--json]\n"
    "Shows what gitc finds in a model folder and would load: the weight files and\n"
    "their format (safetensors or pytorch_model.bin), dtypes, parameter count,\n"
    "bytes, a config summary, the tokenizer and processor, and for a hub id the\n"
    "snapshot (commit) the revision resolved to. Loading is done in full, so every\n"
    "tensor is checked; the load time is reported.\n"
    "\n"
    "      --run              also run one forward pass (all weights paged in) and\n"
    "                         report its time and the process's peak RSS\n"
    "      --json             one JSON object instead of text\n"
    "\n";

/* Peak resident set size of this process (VmHWM), in bytes; 0 when unknown. */
static double peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = strtod(line + 6, NULL);
    if (f)
        fclose(f);
    return kb * 1024.0;
}

/* One forward pass over a zero image and [CLS]: returns its time in ms, or -1. */
static double run_once(const gitc_model *m, int threads)
{
    gitc_session *s = cli_open_session(m, threads);
    if (!s)
        return -1;
    const gitc_config *c = gitc_model_config(m);
    size_t npx = gitc_model_pixel_floats(m);
    size_t n_logits = gitc_model_logits_floats(m, 1);
    float *px = calloc(npx, sizeof(float)), *logits = malloc(n_logits * sizeof(float));
    int32_t ids[1] = {c->bos_token_id};
    gitc_error err = {0};
    double t0 = cli_now_ms(), ms = -1;
    if (px && logits && gitc_forward(s, px, npx, ids, 1, NULL, 0, logits, n_logits, NULL, &err) == GITC_OK)
        ms = cli_now_ms() - t0;
    else
        cli_error("forward pass: %s", err.message[0] ? err.message : "out of memory");
    free(px);
    free(logits);
    gitc_session_free(s);
    return ms;
}

static void print_text(const cJSON *o)
{
    const cJSON *it;
    printf("model folder:   %s\n", cJSON_GetObjectItem(o, "folder")->valuestring);
    if ((it = cJSON_GetObjectItem(o, "revision")) && cJSON_IsString(it))
        printf("hub revision:   %s (snapshot %s)\n", cJSON_GetObjectItem(o, "revision_asked")->valuestring,
               it->valuestring);
    printf("weight format:  %s\n", cJSON_GetObjectItem(o, "format")->valuestring);
    printf("files:\n");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "files"))
        printf("  %-40s %.0f bytes\n", cJSON_GetObjectItem(it, "name")->valuestring,
               cJSON_GetObjectItem(it, "bytes")->valuedouble);
    printf("tensors:        %d (", cJSON_GetObjectItem(o, "tensors")->valueint);
    int first = 1;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "dtypes")) {
        printf("%s%d %s", first ? "" : ", ", it->valueint, it->string);
        first = 0;
    }
    printf(")\n");
    int n_ign = cJSON_GetArraySize(cJSON_GetObjectItem(o, "ignored"));
    if (n_ign)
        printf("ignored:        %d buffer%s (position_ids)\n", n_ign, n_ign > 1 ? "s" : "");
    printf("strided:        %d tensor%s (copied to row-major)\n", cJSON_GetObjectItem(o, "strided_tensors")->valueint,
           cJSON_GetObjectItem(o, "strided_tensors")->valueint == 1 ? "" : "s");
    printf("parameters:     %.0f\n", cJSON_GetObjectItem(o, "parameters")->valuedouble);
    printf("weight bytes:   %.0f (files: %.0f)\n", cJSON_GetObjectItem(o, "weight_bytes")->valuedouble,
           cJSON_GetObjectItem(o, "file_bytes")->valuedouble);
    printf("copied:         %d matrices (the rest used in place from the mapping)\n",
           cJSON_GetObjectItem(o, "copied_matrices")->valueint);
    const cJSON *c = cJSON_GetObjectItem(o, "config");
    printf("config:         text %d layers x %d hidden, %d heads, vocab %d; vision %d layers x %d hidden, "
           "image %d, patch %d, frames %d\n",
           cJSON_GetObjectItem(c, "num_hidden_layers")->valueint, cJSON_GetObjectItem(c, "hidden_size")->valueint,
           cJSON_GetObjectItem(c, "num_attention_heads")->valueint, cJSON_GetObjectItem(c, "vocab_size")->valueint,
           cJSON_GetObjectItem(c, "vision_num_hidden_layers")->valueint,
           cJSON_GetObjectItem(c, "vision_hidden_size")->valueint, cJSON_GetObjectItem(c, "image_size")->valueint,
           cJSON_GetObjectItem(c, "patch_size")->valueint,
           cJSON_GetObjectItem(c, "num_image_with_embedding")->valueint);
    printf("tokenizer:      %s\n", cJSON_GetObjectItem(o, "tokenizer")->valuestring);
    printf("processor:      %s\n", cJSON_GetObjectItem(o, "processor")->valuestring);
    printf("load time:      %.1f ms\n", cJSON_GetObjectItem(o, "load_ms")->valuedouble);
    printf("cpu features:   %s\n", cJSON_GetObjectItem(o, "cpu_features")->valuestring);
    const cJSON *sets = cJSON_GetObjectItem(o, "kernel_sets");
    printf("kernel sets:    f32 %s, bf16 %s, int8 %s\n", cJSON_GetObjectItem(sets, "f32")->valuestring,
           cJSON_GetObjectItem(sets, "bf16")->valuestring, cJSON_GetObjectItem(sets, "int8")->valuestring);
    if ((it = cJSON_GetObjectItem(o, "run_ms")))
        printf("forward pass:   %.1f ms\n", it->valuedouble);
    printf("peak RSS:       %.0f bytes (%.3fx the weight bytes)\n",
           cJSON_GetObjectItem(o, "peak_rss_bytes")->valuedouble,
           cJSON_GetObjectItem(o, "peak_rss_bytes")->valuedouble /
               cJSON_GetObjectItem(o, "weight_bytes")->valuedouble);
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"run", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    cli_model_opts mo = {0};
    int json = 0, run = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        int handled = cli_model_option(&mo, c, optarg);
        if (handled < 0)
            return CLI_EXIT_USAGE;
        if (handled)
            continue;
        switch (c) {
        case 'r': run = 1; break;
        case OPT_JSON: json = 1; break;
        case 'h':
            fputs(inspect_help, stdout);
            fputs(cli_model_help, stdout);
            return CLI_EXIT_OK;
        default: return cli_usage_error("inspect");
        }
    }
    if (optind != argc) {
        cli_error("inspect takes no arguments besides options (see gitc inspect --help)");
        return CLI_EXIT_USAGE;
    }
    gitc_model *m = cli_open_model(mo.model, 0, NULL);
    if (!m)
        return CLI_EXIT_FAILED;
    char *text = gitc_model_describe_json(m);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    gitc_free(text);
    int status = CLI_EXIT_FAILED;
    if (!o) {
        cli_error("out of memory");
        goto done;
    }
    if (cli_resolved_revision()) {
        cJSON_AddStringToObject(o, "revision_asked", cli_revision ? cli_revision
                                                     : strchr(mo.model, '@') ? strchr(mo.model, '@') + 1
                                                                               : "main");
        cJSON_AddStringToObject(o, "revision", cli_resolved_revision());
    }
    if (run) {
        double ms = run_once(m, mo.n_threads);
        if (ms < 0)
            goto done;
        cJSON_AddNumberToObject(o, "run_ms", ms);
    }
    cJSON_AddNumberToObject(o, "peak_rss_bytes", peak_rss_bytes());
    if (json) {
        char *s = cJSON_PrintUnformatted(o);
        if (s)
            puts(s);
        free(s);
    } else {
        print_text(o);
    }
    status = CLI_EXIT_OK;
done:
    cJSON_Delete(o);
    gitc_model_free(m);
    return status;
}
