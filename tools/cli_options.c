/* Option parsing shared by the gitc subcommands: messages, numbers, the
 * model options (-m, --revision, --threads, --dtype) parsed in one place, and
 * the decoding flags applied over the model's generation settings. */
#include "cli_common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "tool_files.h"

const char cli_model_help[] =
    "Model:\n"
    "  -m, --model MODEL      a model folder (config.json, model.safetensors, ...), or a\n"
    "                         HuggingFace hub id such as microsoft/git-base-coco found in\n"
    "                         the local cache ($HF_HUB_CACHE, else $HF_HOME/hub, else\n"
    "                         ~/.cache/huggingface/hub); gitc never downloads.\n"
    "                         ID@REV or --revision REV picks a branch, tag, refs/pr/N\n"
    "                         or commit of a hub id.\n"
    "                         Default: the embedded shapes model (models/git-shapes, or\n"
    "                         models/git-shapes-video for `gitc video`); $GITC_MODEL_DIR\n"
    "                         names another folder holding those two.\n"
    "      --threads N        worker threads (default 0: one per CPU)\n"
    "      --dtype T          weight precision: f32 (default, exact), bf16 or int8\n";

const char cli_decode_help[] =
    "Decoding (defaults: the model's generation_config.json; max length 30 when it sets none):\n"
    "      --max-length N     text tokens including the prompt and [CLS]\n"
    "      --max-new-tokens N generated tokens (overrides --max-length)\n"
    "      --min-length N, --min-new-tokens N\n"
    "      --beams N          beam search with N beams (1: greedy)\n"
    "      --length-penalty X beam score = log-prob / length^X (default 1.0)\n"
    "      --early-stopping true|false|never\n"
    "      --sample           sample instead of taking the most likely token\n"
    "      --temperature X, --top-k N, --top-p X, --seed N   sampling settings\n"
    "      --repetition-penalty X, --no-repeat-ngram-size N\n"
    "      --num-return-sequences N  the N best beams (N <= --beams) or N samples,\n"
    "                         best first: N lines per input\n";

/* Prints "gitc: " + message to stderr. */
void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gitc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_error_about(const char *what, const char *name, const char *message)
{
    size_t n = strlen(name);
    int named = !strncmp(message, name, n) && (message[n] == ':' || message[n] == '/');
    if (named)
        cli_error("%s: %s", what, message);
    else
        cli_error("%s (%s): %s", what, name, message);
}

/* ------------------------------------------------------------------ */
/* Numbers                                                             */
/* ------------------------------------------------------------------ */

int cli_parse_int(const char *s, long lo, long hi, const char *what, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno == ERANGE) {
        cli_error("%s: '%s' is not an integer", what, s);
        return -1;
    }
    if (v < lo || v > hi) {
        cli_error("%s: %ld is out of range [%ld, %ld]", what, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses a finite decimal number in [lo, hi] (strict lower bound when lo_open). */
static int parse_float(const char *s, double lo, int lo_open, double hi, const char *what,
                       float *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(v)) {
        cli_error("%s: '%s' is not a number", what, s);
        return -1;
    }
    if ((lo_open ? v <= lo : v < lo) || v > hi) {
        cli_error("%s: %s is out of range %s%g, %g]", what, s, lo_open ? "(" : "[", lo, hi);
        return -1;
    }
    *out = (float)v;
    return 0;
}

gitc_dtype cli_dtype = GITC_DTYPE_F32;

int cli_parse_dtype(const char *arg)
{
    for (int d = GITC_DTYPE_F32; d <= GITC_DTYPE_INT8; d++)
        if (strcmp(arg, gitc_dtype_name((gitc_dtype)d)) == 0) {
            cli_dtype = (gitc_dtype)d;
            return 0;
        }
    cli_error("--dtype %s: expected f32, bf16 or int8", arg);
    return -1;
}

int cli_usage_error(const char *cmd)
{
    fprintf(stderr, "Run 'gitc %s --help' for the options.\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_option_error(const char *cmd, int code, char **argv)
{
    /* optopt is the letter of a bad short option; argv[optind - 1] is then
     * not necessarily the argument that holds it (a cluster like -dash.png). */
    if (code == ':' && optopt && optopt < 256)
        cli_error("%s: option '-%c' needs a value", cmd, optopt);
    else if (code == ':')
        cli_error("%s: option '%s' needs a value", cmd, argv[optind - 1]);
    else if (optopt && optopt < 256)
        cli_error("%s: unknown option '-%c' (a file name that starts with '-' goes after "
                  "'--' or as ./NAME)", cmd, optopt);
    else
        cli_error("%s: unknown option '%s'", cmd, argv[optind - 1]);
    return cli_usage_error(cmd);
}

int cli_model_option(cli_model_opts *o, int code, const char *arg)
{
    long n = 0;
    switch (code) {
    case 'm':
        o->model = arg;
        return 1;
    case OPT_REVISION:
        cli_revision = arg;
        return 1;
    case OPT_THREADS:
        /* More than the CPUs is allowed here: cli_open_session warns and caps it. */
        if (cli_parse_int(arg, 0, 4096, "--threads", &n))
            return -1;
        o->n_threads = (int)n;
        return 1;
    case OPT_DTYPE:
        return cli_parse_dtype(arg) ? -1 : 1;
    default:
        return 0;
    }
}

uint64_t cli_random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    return seed >> 11; /* 53 bits: exact in JSON readers that use doubles */
}

/* ------------------------------------------------------------------ */
/* Decoding flags                                                      */
/* ------------------------------------------------------------------ */

int cli_decode_option(cli_decode_flags *f, int code, const char *arg)
{
    gitc_generate_params *v = &f->value;
    long n = 0;
    switch (code) {
    case OPT_MAX_LENGTH:
        if (cli_parse_int(arg, 1, INT_MAX, "--max-length", &n)) return -1;
        v->max_length = (int)n;
        f->set |= CLI_SET_MAX_LENGTH;
        return 1;
    case OPT_MAX_NEW_TOKENS:
        if (cli_parse_int(arg, 1, INT_MAX, "--max-new-tokens", &n)) return -1;
        v->max_new_tokens = (int)n;
        f->set |= CLI_SET_MAX_NEW_TOKENS;
        return 1;
    case OPT_MIN_LENGTH:
        if (cli_parse_int(arg, 0, INT_MAX, "--min-length", &n)) return -1;
        v->min_length = (int)n;
        f->set |= CLI_SET_MIN_LENGTH;
        return 1;
    case OPT_MIN_NEW_TOKENS:
        if (cli_parse_int(arg, 0, INT_MAX, "--min-new-tokens", &n)) return -1;
        v->min_new_tokens = (int)n;
        f->set |= CLI_SET_MIN_NEW_TOKENS;
        return 1;
    case OPT_BEAMS:
        if (cli_parse_int(arg, 1, INT_MAX, "--beams", &n)) return -1;
        v->num_beams = (int)n;
        f->set |= CLI_SET_BEAMS;
        return 1;
    case OPT_LENGTH_PENALTY:
        if (parse_float(arg, -1e6, 0, 1e6, "--length-penalty", &v->length_penalty)) return -1;
        f->set |= CLI_SET_LENGTH_PENALTY;
        return 1;
    case OPT_EARLY_STOPPING:
        if (!strcasecmp(arg, "true") || !strcmp(arg, "1")) {
            v->early_stopping = GITC_EARLY_STOPPING_TRUE;
        } else if (!strcasecmp(arg, "false") || !strcmp(arg, "0")) {
            v->early_stopping = GITC_EARLY_STOPPING_FALSE;
        } else if (!strcasecmp(arg, "never")) {
            v->early_stopping = GITC_EARLY_STOPPING_NEVER;
        } else {
            cli_error("--early-stopping: '%s' is not one of true, false, never", arg);
            return -1;
        }
        f->set |= CLI_SET_EARLY_STOPPING;
        return 1;
    case OPT_SAMPLE:
        v->do_sample = 1;
        f->set |= CLI_SET_SAMPLE;
        return 1;
    case OPT_TEMPERATURE:
        if (parse_float(arg, 0.0, 1, 1e6, "--temperature", &v->temperature)) return -1;
        f->set |= CLI_SET_TEMPERATURE;
        return 1;
    case OPT_TOP_K:
        if (cli_parse_int(arg, 0, INT_MAX, "--top-k", &n)) return -1;
        v->top_k = (int)n;
        f->set |= CLI_SET_TOP_K;
        return 1;
    case OPT_TOP_P:
        if (parse_float(arg, 0.0, 0, 1.0, "--top-p", &v->top_p)) return -1;
        f->set |= CLI_SET_TOP_P;
        return 1;
    case OPT_SEED: {
        char *end = NULL;
        errno = 0;
        unsigned long long s = strtoull(arg, &end, 10);
        if (!*arg || *end || errno == ERANGE || arg[0] == '-') {
            cli_error("--seed: '%s' is not a non-negative integer", arg);
            return -1;
        }
        v->seed = (uint64_t)s;
        f->set |= CLI_SET_SEED;
        return 1;
    }
    case OPT_REPETITION_PENALTY:
        if (parse_float(arg, 0.0, 1, 1e6, "--repetition-penalty", &v->repetition_penalty))
            return -1;
        f->set |= CLI_SET_REPETITION_PENALTY;
        return 1;
    case OPT_NO_REPEAT_NGRAM:
        if (cli_parse_int(arg, 0, INT_MAX, "--no-repeat-ngram-size", &n)) return -1;
        v->no_repeat_ngram_size = (int)n;
        f->set |= CLI_SET_NO_REPEAT_NGRAM;
        return 1;
    case OPT_NUM_RETURN:
        if (cli_parse_int(arg, 1, INT_MAX, "--num-return-sequences", &n)) return -1;
        v->num_return_sequences = (int)n;
        f->set |= CLI_SET_NUM_RETURN;
        return 1;
    default:
        return 0;
    }
}

/* 1 when the folder's generation_config.json sets max_length or max_new_tokens. */
static int generation_config_sets_length(const char *model_dir)
{
    char *path = tool_path_join(model_dir, "generation_config.json");
    char *text = NULL;
    size_t len = 0;
    int sets = 0;
    if (path && tool_read_file(path, (size_t)16 << 20, &text, &len, NULL) == GITC_OK) {
        cJSON *root = cJSON_ParseWithLength(text, len);
        sets = root && (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "max_length")) ||
                        cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "max_new_tokens")));
        cJSON_Delete(root);
    }
    free(text);
    free(path);
    return sets;
}

int cli_generate_params(const gitc_model *model, const char *model_dir,
                        const cli_decode_flags *f, gitc_generate_params *out)
{
    gitc_generate_params p = gitc_model_generate_params(model);
    const gitc_generate_params *v = &f->value;
    if (!generation_config_sets_length(model_dir)) p.max_length = CLI_DEFAULT_MAX_LENGTH;
    if (f->set & CLI_SET_MAX_LENGTH) {
        p.max_length = v->max_length;
        if (!(f->set & CLI_SET_MAX_NEW_TOKENS)) p.max_new_tokens = 0;
    }
    if (f->set & CLI_SET_MAX_NEW_TOKENS) p.max_new_tokens = v->max_new_tokens;
    if (f->set & CLI_SET_MIN_LENGTH) p.min_length = v->min_length;
    if (f->set & CLI_SET_MIN_NEW_TOKENS) p.min_new_tokens = v->min_new_tokens;
    if (f->set & CLI_SET_BEAMS) p.num_beams = v->num_beams;
    if (f->set & CLI_SET_LENGTH_PENALTY) p.length_penalty = v->length_penalty;
    if (f->set & CLI_SET_EARLY_STOPPING) p.early_stopping = v->early_stopping;
    if (f->set & CLI_SET_SAMPLE) p.do_sample = v->do_sample;
    if (f->set & CLI_SET_TEMPERATURE) p.temperature = v->temperature;
    if (f->set & CLI_SET_TOP_K) p.top_k = v->top_k;
    if (f->set & CLI_SET_TOP_P) p.top_p = v->top_p;
    if (f->set & CLI_SET_SEED) p.seed = v->seed;
    if (f->set & CLI_SET_REPETITION_PENALTY) p.repetition_penalty = v->repetition_penalty;
    if (f->set & CLI_SET_NO_REPEAT_NGRAM) p.no_repeat_ngram_size = v->no_repeat_ngram_size;
    if (f->set & CLI_SET_NUM_RETURN) p.num_return_sequences = v->num_return_sequences;

    /* The library's own check, so the command line and gitc_generate agree. When
     * the settings fail but the model folder's own values fail alone too, the
     * fault is generation_config.json's: a model error naming it (-2), no flag blamed. */
    gitc_error err = {0};
    if (gitc_generate_params_check(&p, 0, model, &err) != GITC_OK) {
        gitc_generate_params own = gitc_model_generate_params(model);
        if (!generation_config_sets_length(model_dir)) own.max_length = CLI_DEFAULT_MAX_LENGTH;
        gitc_error own_err = {0};
        if (gitc_generate_params_check(&own, 0, model, &own_err) != GITC_OK) {
            cli_error("%s/generation_config.json: %s", model_dir, own_err.message);
            return -2;
        }
        cli_error("invalid decoding settings: %s", err.message);
        return -1;
    }
    *out = p;
    return 0;
}
