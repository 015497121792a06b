/* Shared parts of the gitc subcommands: model lookup (folders, the
 * HuggingFace cache, the embedded default), decoding flags, input lists,
 * JSON strings, timing and the progress bar. */
#include "cli_common.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef GITC_DEFAULT_MODEL_DIR
#define GITC_DEFAULT_MODEL_DIR ""
#endif

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

/* errno of the first failed flush of stdout (0: none yet). */
static int stdout_errno;

int cli_flush_stdout(void)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    if (!stdout_errno) stdout_errno = errno ? errno : EIO;
    return -1;
}

int cli_finish_output(int status)
{
    errno = 0;
    int failed = ferror(stdout);
    if (fflush(stdout) != 0) failed = 1;
    int e = stdout_errno ? stdout_errno : errno;
    if (fclose(stdout) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    if (!failed) return status;
    cli_error("cannot write the output to stdout%s%s", e ? ": " : "", e ? strerror(e) : "");
    return CLI_EXIT_FAILED;
}

/* ------------------------------------------------------------------ */
/* Decoding flags                                                      */
/* ------------------------------------------------------------------ */

int cli_decode_option(cli_decode_flags *f, int code, const char *arg)
{
    gitc_generate_params *v = &f->value;
    long n = 0;
    switch (code) {
    case OPT_DTYPE:
        return cli_parse_dtype(arg) ? -1 : 1;
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

int cli_read_small_file(const char *path, size_t max_bytes, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) {
        cli_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max_bytes) {
        cli_error("%s: not a regular file of at most %zu bytes", path, max_bytes);
        fclose(f);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        cli_error("%s: %s", path, buf ? "read error" : "out of memory");
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* 1 when the folder's generation_config.json sets max_length or max_new_tokens. */
static int generation_config_sets_length(const char *model_dir)
{
    char *path = gitc_path_join(model_dir, "generation_config.json");
    char *text = NULL;
    size_t len = 0;
    int sets = 0;
    if (path && gitc_read_file(path, &text, &len, NULL) == GITC_OK) {
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

/* ------------------------------------------------------------------ */
/* Models                                                              */
/* ------------------------------------------------------------------ */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* malloc'd printf. */
static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

/* The folder holding the embedded models: $GITC_MODEL_DIR, the build's models
 * folder, or models/ beside the executable's folder (an install). */
static char *models_root(void)
{
    const char *env = getenv("GITC_MODEL_DIR");
    if (env && *env) return strdup(env);
    if (GITC_DEFAULT_MODEL_DIR[0] && is_dir(GITC_DEFAULT_MODEL_DIR))
        return strdup(GITC_DEFAULT_MODEL_DIR);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0'; /* bin folder */
        slash = strrchr(exe, '/');
        if (slash) *slash = '\0'; /* its parent */
        char *root = str_printf("%s/models", exe);
        if (root && is_dir(root)) return root;
        free(root);
        root = str_printf("%s/share/gitc/models", exe);
        if (root && is_dir(root)) return root;
        free(root);
    }
    return NULL;
}

static char *default_model(int video)
{
    const char *name = video ? "git-shapes-video" : "git-shapes";
    char *root = models_root();
    if (!root) {
        cli_error("no -m MODEL given and the embedded models folder is missing "
                  "(looked in $GITC_MODEL_DIR, %s, and ../models and ../share/gitc/models "
                  "beside the executable)",
                  GITC_DEFAULT_MODEL_DIR[0] ? GITC_DEFAULT_MODEL_DIR : "(no build folder)");
        return NULL;
    }
    char *dir = str_printf("%s/%s", root, name);
    if (dir && !is_dir(dir)) {
        cli_error("%s: embedded model folder not found (set GITC_MODEL_DIR or pass -m MODEL)",
                  dir);
        free(dir);
        dir = NULL;
    }
    free(root);
    return dir;
}

/* "org/name" or "name" made of [A-Za-z0-9._-], no leading '.', no "..". */
static int looks_like_hub_id(const char *s)
{
    int slashes = 0;
    if (!*s || *s == '.' || *s == '-' || strstr(s, "..") || strstr(s, "--")) return 0;
    for (const char *c = s; *c; c++) {
        if (*c == '/') {
            if (++slashes > 1 || c == s || c[1] == '\0' || c[1] == '.') return 0;
        } else if (!(*c == '.' || *c == '_' || *c == '-' || (*c >= '0' && *c <= '9') ||
                     (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) {
            return 0;
        }
    }
    return 1;
}

/* The hub cache folder as huggingface_hub computes it. */
static char *hub_cache_dir(void)
{
    const char *v = getenv("HF_HUB_CACHE");
    if (v && *v) return strdup(v);
    v = getenv("HUGGINGFACE_HUB_CACHE");
    if (v && *v) return strdup(v);
    v = getenv("HF_HOME");
    if (v && *v) return str_printf("%s/hub", v);
    v = getenv("XDG_CACHE_HOME");
    if (v && *v) return str_printf("%s/huggingface/hub", v);
    v = getenv("HOME");
    return str_printf("%s/.cache/huggingface/hub", v && *v ? v : ".");
}

/* --revision of the model commands (NULL: the main branch); set by the commands. */
const char *cli_revision = NULL;
/* The commit (snapshot name) of the last hub id resolved, for `gitc inspect`. */
static char resolved_revision[128];

const char *cli_resolved_revision(void) { return resolved_revision[0] ? resolved_revision : NULL; }

/* A revision names a branch, tag, refs/pr/N or commit: [A-Za-z0-9._/-], no "..", no leading '/'. */
static int valid_revision(const char *r)
{
    if (!*r || *r == '/' || *r == '.' || strstr(r, "..") || strstr(r, "//") || strlen(r) > 255) return 0;
    for (const char *c = r; *c; c++)
        if (!(*c == '.' || *c == '_' || *c == '-' || *c == '/' || (*c >= '0' && *c <= '9') ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            return 0;
    return 1;
}

/* The snapshot folder of `rev` (snapshots/REV, else the commit in refs/REV), or with
 * rev NULL of refs/main, else the only or newest snapshot; NULL when none. */
static char *hub_snapshot(const char *repo_dir, const char *rev)
{
    char *found = NULL;
    if (rev && !strchr(rev, '/')) {
        found = str_printf("%s/snapshots/%s", repo_dir, rev);
        if (found && is_dir(found)) return found;
        free(found);
        found = NULL;
    }
    char *ref_path = str_printf("%s/refs/%s", repo_dir, rev ? rev : "main");
    char *ref = NULL;
    size_t len = 0;
    if (ref_path && gitc_read_file(ref_path, &ref, &len, NULL) == GITC_OK) {
        while (len > 0 && (ref[len - 1] == '\n' || ref[len - 1] == '\r' || ref[len - 1] == ' '))
            ref[--len] = '\0';
        if (len > 0 && !strchr(ref, '/') && strcmp(ref, "..") != 0) {
            found = str_printf("%s/snapshots/%s", repo_dir, ref);
            if (found && !is_dir(found)) {
                free(found);
                found = NULL;
            }
        }
    }
    free(ref);
    free(ref_path);
    if (found || rev) return found;

    char *snaps = str_printf("%s/snapshots", repo_dir);
    DIR *d = snaps ? opendir(snaps) : NULL;
    time_t best_time = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *path = str_printf("%s/%s", snaps, e->d_name);
        struct stat st;
        if (path && stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
            (!found || st.st_mtime > best_time)) {
            free(found);
            found = path;
            best_time = st.st_mtime;
        } else {
            free(path);
        }
    }
    if (d) closedir(d);
    free(snaps);
    return found;
}

/* Finds a hub id (at revision rev, NULL for main) in the local cache; prints
 * the download command when absent. */
static char *hub_lookup(const char *id, const char *rev)
{
    char *cache = hub_cache_dir();
    /* "org/name" -> "models--org--name" */
    char *folder = malloc(2 * strlen(id) + 1);
    char *repo = NULL;
    char *snapshot = NULL;
    if (folder) {
        char *o = folder;
        for (const char *c = id; *c; c++) {
            if (*c == '/') {
                *o++ = '-';
                *o++ = '-';
            } else {
                *o++ = *c;
            }
        }
        *o = '\0';
        if (cache) repo = str_printf("%s/models--%s", cache, folder);
    }
    free(folder);
    if (repo && is_dir(repo)) snapshot = hub_snapshot(repo, rev);
    if (!snapshot) {
        if (rev)
            cli_error("model '%s' at revision '%s' is not in the local HuggingFace cache "
                      "(looked for %s/refs/%s and %s/snapshots/%s)", id, rev, repo ? repo : "?", rev,
                      repo ? repo : "?", rev);
        else
            cli_error("model '%s' is not a folder and is not in the local HuggingFace cache "
                      "(looked for %s)", id, repo ? repo : "?");
        fprintf(stderr,
                "gitc works offline. Download the model first:\n"
                "    hf download %s%s%s\n"
                "(with an older huggingface_hub: huggingface-cli download %s%s%s;\n"
                "or set HF_HUB_CACHE / HF_HOME to the cache that holds it, or pass a folder)\n",
                id, rev ? " --revision " : "", rev ? rev : "", id, rev ? " --revision " : "",
                rev ? rev : "");
        /* Microsoft's checkpoints are named without their org more often than not. */
        if (!strchr(id, '/') && !strncasecmp(id, "git-", 4))
            fprintf(stderr, "A hub id is ORG/NAME: did you mean microsoft/%s? (hf download microsoft/%s)\n", id, id);
    } else {
        const char *slash = strrchr(snapshot, '/');
        snprintf(resolved_revision, sizeof resolved_revision, "%s", slash ? slash + 1 : snapshot);
    }
    free(repo);
    free(cache);
    return snapshot;
}

char *cli_resolve_model(const char *arg, int video)
{
    if (!arg) return default_model(video);
    if (is_dir(arg)) return strdup(arg);
    if (access(arg, F_OK) == 0) {
        cli_error("%s: not a folder (a model is a folder with config.json and "
                  "model.safetensors)", arg);
        return NULL;
    }
    /* "org/name@REV" names a revision, as --revision REV does. */
    const char *at = strchr(arg, '@');
    if (at) {
        char *id = strndup(arg, (size_t)(at - arg));
        char *dir = NULL;
        if (id && looks_like_hub_id(id) && valid_revision(at + 1)) {
            if (cli_revision && strcmp(cli_revision, at + 1) != 0)
                cli_error("%s: the revision after '@' differs from --revision %s", arg, cli_revision);
            else
                dir = hub_lookup(id, at + 1);
            free(id);
            return dir;
        }
        free(id);
    }
    if (looks_like_hub_id(arg)) {
        if (cli_revision && !valid_revision(cli_revision)) {
            cli_error("--revision '%s' is not a branch, tag, refs/pr/N or commit name", cli_revision);
            return NULL;
        }
        return hub_lookup(arg, cli_revision);
    }
    cli_error("%s: no such model folder", arg);
    return NULL;
}

gitc_model *cli_open_model(const char *arg, int video, char **dir_out)
{
    char *dir = cli_resolve_model(arg, video);
    if (!dir) return NULL;
    gitc_model *model = NULL;
    gitc_error err = {0};
    gitc_model_params mp = gitc_model_default_params();
    mp.dtype = cli_dtype;
    if (gitc_model_load(dir, &mp, &model, &err) != GITC_OK) {
        cli_error_about("cannot load the model", dir, err.message);
        free(dir);
        return NULL;
    }
    if (dir_out) {
        *dir_out = dir;
    } else {
        free(dir);
    }
    return model;
}

int cli_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1 << 20 ? (int)n : 1;
}

gitc_session *cli_open_session(const gitc_model *model, int n_threads)
{
    /* More workers than CPUs only take turns (64 threads on 2 CPUs ran 5x slower). */
    int cpus = cli_cpu_count();
    if (n_threads > cpus) {
        fprintf(stderr, "gitc: warning: --threads %d is more than the %d CPU%s; using %d\n",
                n_threads, cpus, cpus == 1 ? "" : "s", cpus);
        n_threads = cpus;
    }
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = n_threads;
    gitc_session *session = NULL;
    gitc_error err = {0};
    if (gitc_session_create(model, &sp, &session, &err) != GITC_OK) {
        cli_error("cannot create a session: %s", err.message);
        return NULL;
    }
    return session;
}

/* ------------------------------------------------------------------ */
/* Inputs                                                              */
/* ------------------------------------------------------------------ */

static int push_path(cli_inputs *list, const char *path)
{
    if (list->n == list->cap) {
        int cap = list->cap ? list->cap * 2 : 16;
        char **p = realloc(list->paths, (size_t)cap * sizeof *p);
        if (!p) return -1;
        list->paths = p;
        list->cap = cap;
    }
    list->paths[list->n] = strdup(path);
    if (!list->paths[list->n]) return -1;
    list->n++;
    return 0;
}

static int has_extension(const char *name, const char *const *exts)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (int i = 0; exts[i]; i++)
        if (!strcasecmp(dot + 1, exts[i])) return 1;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Image file name extensions: what the library decodes, and the still-image
 * formats it may not (those are tried, so their failure is reported). */
static const char *const image_exts[] = {"jpg", "jpeg", "jpe", "jfif", "png", "webp", "bmp",
                                         "dib", "gif", "tif", "tiff", "avif", "heic", "heif",
                                         "jxl", "jp2", "ico", "psd", "dng", NULL};
static const char *const video_exts[] = {"mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg",
                                         "mpeg", "ts", "m2ts", "wmv", "flv", "3gp", "ogv",
                                         "gif", NULL};

/* 1 when the first bytes of a file are those of a still image (what PIL
 * would try to open); ISO-BMFF files count when their brand is HEIF/AVIF. */
static int sniff_image(const unsigned char *b, size_t n)
{
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return 1;         /* JPEG */
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return 1;                     /* PNG */
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return 1;  /* GIF */
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return 1;    /* WebP */
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return 1;                            /* BMP */
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4))) return 1;     /* TIFF */
    if (n >= 12 && !memcmp(b + 4, "ftyp", 4)) {                                    /* HEIF, AVIF */
        static const char *const brands[] = {"heic", "heix", "heim", "heis", "hevc", "hevx",
                                              "mif1", "msf1", "avif", "avis", NULL};
        for (int i = 0; brands[i]; i++)
            if (!memcmp(b + 8, brands[i], 4)) return 1;
    }
    return 0;
}

/* The first bytes of a regular file (0 when it cannot be read). */
static size_t file_head(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* Files a folder walk left out, named on stderr at the end of the walk. */
typedef struct skip_list {
    cli_inputs names;
    int n_folders; /* subfolders not entered (no --recursive) */
} skip_list;

/* Collects the input files of a folder (and, recursively, of its subfolders). */
static int walk_directory(cli_inputs *found, skip_list *skipped, const char *dir,
                          cli_input_kind kind, int recursive, int depth)
{
    const char *const *exts = kind == CLI_INPUT_VIDEOS ? video_exts : image_exts;
    DIR *d = opendir(dir);
    if (!d) {
        cli_error("%s: cannot open the folder: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    size_t n = strlen(dir);
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *path = str_printf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", e->d_name);
        struct stat st, lst;
        int oom = 0;
        if (!path) {
            oom = 1;
        } else if (stat(path, &st) != 0) {
            oom = push_path(&skipped->names, path) != 0; /* a dangling link */
        } else if (S_ISDIR(st.st_mode)) {
            /* Linked folders are not followed: a walk never loops. */
            if (!recursive) skipped->n_folders++;
            else if (lstat(path, &lst) == 0 && S_ISDIR(lst.st_mode) && depth < 64)
                rc = walk_directory(found, skipped, path, kind, recursive, depth + 1);
        } else {
            unsigned char head[16];
            size_t got = S_ISREG(st.st_mode) ? file_head(path, head, sizeof head) : 0;
            int take = S_ISREG(st.st_mode) &&
                       (has_extension(e->d_name, exts) ||
                        (kind == CLI_INPUT_IMAGES && sniff_image(head, got)));
            oom = push_path(take ? found : &skipped->names, path) != 0;
        }
        free(path);
        if (oom) {
            cli_error("out of memory");
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

/* Names the files a folder walk left out, on stderr. */
static void report_skipped(const char *dir, skip_list *sk, cli_input_kind kind)
{
    const char *what = kind == CLI_INPUT_VIDEOS ? " video file" : " image file";
    const char *plural = kind == CLI_INPUT_VIDEOS ? " video files" : " image files";
    if (sk->names.n) {
        qsort(sk->names.paths, (size_t)sk->names.n, sizeof *sk->names.paths, compare_names);
        int one = sk->names.n == 1;
        fprintf(stderr, "gitc: %s: skipped %d file%s that %s not%s%s:", dir, sk->names.n,
                one ? "" : "s", one ? "is" : "are", one ? " an" : "", one ? what : plural);
        for (int i = 0; i < sk->names.n && i < 20; i++)
            fprintf(stderr, " %s", sk->names.paths[i]);
        fputs(sk->names.n > 20 ? " ...\n" : "\n", stderr);
    }
    if (sk->n_folders)
        fprintf(stderr, "gitc: %s: skipped %d subfolder%s (-r/--recursive enters them)\n", dir,
                sk->n_folders, sk->n_folders == 1 ? "" : "s");
}

/* Adds the image (or video) files of a folder, sorted by path. */
static int add_directory(cli_inputs *list, const char *dir, cli_input_kind kind)
{
    cli_inputs found = {0};
    skip_list skipped = {0};
    int rc = walk_directory(&found, &skipped, dir, kind, list->recursive, 0);
    if (rc == 0) report_skipped(dir, &skipped, kind);
    if (found.n) qsort(found.paths, (size_t)found.n, sizeof *found.paths, compare_names);
    for (int i = 0; rc == 0 && i < found.n; i++) rc = push_path(list, found.paths[i]);
    if (rc == 0 && found.n == 0)
        cli_error("%s: no %s files in this folder", dir,
                  kind == CLI_INPUT_VIDEOS ? "video" : "image");
    else if (rc == 0 && (found.n || skipped.names.n)) list->listed = 1;
    cli_inputs_free(&found);
    cli_inputs_free(&skipped.names);
    return rc;
}

int cli_inputs_several(const cli_inputs *list) { return list->n_args > 1 || list->listed; }

/* Adds the paths of a list (newline- or NUL-separated), folders expanded. */
static int add_path_list(cli_inputs *list, char *text, size_t len, cli_input_kind kind)
{
    char sep = list->null_separated ? '\0' : '\n';
    int rc = 0;
    list->listed = 1;
    for (size_t i = 0; rc == 0 && i < len;) {
        char *line = text + i;
        char *end = memchr(line, sep, len - i);
        size_t n = end ? (size_t)(end - line) : len - i;
        i += n + 1;
        line[n] = '\0';
        if (!list->null_separated)
            while (n > 0 && line[n - 1] == '\r') line[--n] = '\0';
        if (n == 0) continue;
        if (strlen(line) != n) {
            cli_error("stdin: a path holds a NUL byte (use -0/--null for find -print0 lists)");
            return -1;
        }
        if (is_dir(line)) {
            rc = add_directory(list, line, kind);
        } else if (push_path(list, line)) {
            cli_error("out of memory");
            rc = -1;
        }
    }
    return rc;
}

/* Reads all of stdin without blocking forever (caller frees); -1 after a message. */
static int read_stdin(const cli_inputs *list, unsigned char **data, size_t *size)
{
    if (isatty(STDIN_FILENO)) {
        cli_error("stdin is a terminal: pipe an image or a list of paths into gitc "
                  "(find photos -name '*.jpg' | gitc caption -)");
        return -1;
    }
    /* stdin waits as long as its writer lives (as xargs does), unless --read-timeout. */
    gitc_error err = {0};
    if (cli_read_special("stdin", STDIN_FILENO, list->read_timeout, CLI_MAX_PIPE_BYTES, data,
                         size, &err)) {
        cli_error("%s", err.message);
        return -1;
    }
    return 0;
}

int cli_inputs_add(cli_inputs *list, const char *arg, cli_input_kind kind)
{
    list->n_args++;
    if (!strcmp(arg, "-")) {
        if (kind != CLI_INPUT_IMAGES) return cli_inputs_add_stdin(list, kind);
        unsigned char *data = NULL;
        size_t size = 0;
        if (read_stdin(list, &data, &size)) return -1;
        int rc = 0;
        if (sniff_image(data, size)) {
            if (list->stdin_image) {
                cli_error("-: stdin can be read once");
                rc = -1;
            } else if (push_path(list, CLI_STDIN_NAME)) {
                cli_error("out of memory");
                rc = -1;
            } else {
                list->stdin_image = data;
                list->stdin_image_size = size;
                return 0;
            }
        } else {
            rc = add_path_list(list, (char *)data, size, kind);
        }
        free(data);
        return rc;
    }
    if (is_dir(arg)) return add_directory(list, arg, kind);
    if (push_path(list, arg)) {
        cli_error("out of memory");
        return -1;
    }
    return 0;
}

int cli_inputs_add_stdin(cli_inputs *list, cli_input_kind kind)
{
    unsigned char *data = NULL;
    size_t size = 0;
    if (read_stdin(list, &data, &size)) return -1;
    int rc = add_path_list(list, (char *)data, size, kind);
    free(data);
    return rc;
}

void cli_inputs_free(cli_inputs *list)
{
    for (int i = 0; i < list->n; i++) free(list->paths[i]);
    free(list->paths);
    free(list->stdin_image);
    memset(list, 0, sizeof *list);
}

gitc_status cli_load_image(const cli_inputs *in, const char *path, int exif_transpose,
                           double timeout_s, gitc_image *image, gitc_error *err)
{
    gitc_image_params ip = gitc_image_default_params();
    ip.exif_transpose = exif_transpose;
    if (!strcmp(path, CLI_STDIN_NAME) && in->stdin_image)
        return gitc_image_decode(in->stdin_image, in->stdin_image_size, "stdin", &ip, image, err);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        /* A pipe or FIFO: the library's file reader would wait on it for ever. */
        unsigned char *data = NULL;
        size_t size = 0;
        double t = timeout_s > 0 ? timeout_s : CLI_DEFAULT_READ_TIMEOUT;
        if (cli_read_special(path, -1, t, CLI_MAX_PIPE_BYTES, &data, &size, err))
            return err->status;
        gitc_status s = gitc_image_decode(data, size, path, &ip, image, err);
        free(data);
        return s;
    }
    return gitc_image_load(path, &ip, image, err);
}

int cli_read_special(const char *path, int fd, double timeout_s, size_t max_bytes,
                     unsigned char **data, size_t *size, gitc_error *err)
{
    *data = NULL;
    *size = 0;
    int own = fd < 0;
    /* O_NONBLOCK: opening a FIFO that has no writer does not wait. */
    if (own && (fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        snprintf(err->message, sizeof err->message, "%s: cannot open: %s", path,
                 strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? 0 : -1;
    if (!buf) snprintf(err->message, sizeof err->message, "%s: out of memory", path);
    /* The wait restarts with each piece of data: a slow writer is fine, a silent one is not. */
    double deadline = cli_now_ms() + timeout_s * 1e3;
    while (rc == 0) {
        struct pollfd p = {fd, POLLIN, 0};
        double left = deadline - cli_now_ms();
        int ready = timeout_s <= 0 ? poll(&p, 1, -1)
                    : left > 0     ? poll(&p, 1, (int)(left < 1e9 ? left : 1e9))
                                   : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            if (ready < 0)
                snprintf(err->message, sizeof err->message, "%s: cannot wait for data: %s", path,
                         strerror(errno));
            else
                snprintf(err->message, sizeof err->message,
                         "%s: no data for %g s (a pipe or FIFO nobody writes to?); "
                         "--read-timeout sets the wait", path, timeout_s);
            rc = -1;
            break;
        }
        if (len == cap) {
            size_t nc = cap * 2;
            unsigned char *q = nc > cap ? realloc(buf, nc) : NULL;
            if (!q) {
                snprintf(err->message, sizeof err->message, "%s: out of memory", path);
                rc = -1;
                break;
            }
            buf = q;
            cap = nc;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) {
            snprintf(err->message, sizeof err->message, "%s: read error: %s", path,
                     strerror(errno));
            rc = -1;
        } else if (n == 0) {
            break; /* end of the data */
        } else if ((deadline = cli_now_ms() + timeout_s * 1e3, len += (size_t)n) > max_bytes) {
            snprintf(err->message, sizeof err->message, "%s: more than %zu bytes", path,
                     max_bytes);
            rc = -1;
        }
    }
    if (own) close(fd);
    if (rc) {
        free(buf);
        err->status = GITC_ERR_IO;
        return -1;
    }
    *data = buf;
    *size = len;
    return 0;
}

/* ------------------------------------------------------------------ */
/* JSON, time, progress                                                */
/* ------------------------------------------------------------------ */

void cli_json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    size_t left = strlen((const char *)s);
    fputc('"', f);
    while (*s) {
        size_t n = gitc_utf8_sequence_length((const char *)s, left);
        if (n == 0) {
            fputs("\\ufffd", f);
            s++;
            left--;
            continue;
        }
        if (n > 1) {
            fwrite(s, 1, n, f);
            s += n;
            left -= n;
            continue;
        }
        switch (*s) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (*s < 0x20 || *s == 0x7F) fprintf(f, "\\u%04x", *s);
            else fputc(*s, f);
        }
        s++;
        left--;
    }
    fputc('"', f);
}

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void cli_progress_start(cli_progress *p, int total)
{
    p->active = total > 1 && isatty(STDERR_FILENO);
    p->total = total;
    p->start_ms = cli_now_ms();
}

void cli_progress_update(cli_progress *p, int done, const char *name)
{
    if (!p->active) return;
    enum { WIDTH = 24 };
    int filled = p->total ? done * WIDTH / p->total : WIDTH;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    double secs = (cli_now_ms() - p->start_ms) / 1e3;
    fprintf(stderr, "\r\033[K[%s] %d/%d %.1fs %.40s", bar, done, p->total, secs, base);
    fflush(stderr);
}

void cli_progress_clear(cli_progress *p)
{
    if (!p->active) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* ------------------------------------------------------------------ */
/* Batch jobs: --shard I/N and --resume OUT.jsonl                      */
/* ------------------------------------------------------------------ */

int cli_parse_shard(const char *arg, int *index, int *count)
{
    char *end = NULL;
    errno = 0;
    long i = strtol(arg, &end, 10);
    long n = -1;
    if (end != arg && *end == '/' && end[1] >= '0' && end[1] <= '9') {
        const char *s = end + 1;
        n = strtol(s, &end, 10);
    }
    if (errno == ERANGE || n < 1 || *end || i < 0 || i >= n || n > INT_MAX) {
        cli_error("--shard: '%s' is not I/N with 0 <= I < N (as in --shard 0/4)", arg);
        return -1;
    }
    *index = (int)i;
    *count = (int)n;
    return 0;
}

void cli_inputs_shard(cli_inputs *list, int index, int count)
{
    int kept = 0;
    for (int i = 0; i < list->n; i++) {
        if (i % count == index) list->paths[kept++] = list->paths[i];
        else free(list->paths[i]);
    }
    list->n = kept;
}

/* A "file" already recorded in the --resume output; each record stands for one input. */
typedef struct recorded {
    char *file;
    int used;
} recorded;

static int compare_recorded(const void *a, const void *b)
{
    return strcmp(((const recorded *)a)->file, ((const recorded *)b)->file);
}

/* Marks one unused record of `file` as used; 1 when there was one. */
static int take_recorded(recorded *r, int n, const char *file)
{
    int lo = 0, hi = n;
    while (lo < hi) { /* first record >= file */
        int mid = lo + (hi - lo) / 2;
        if (strcmp(r[mid].file, file) < 0) lo = mid + 1;
        else hi = mid;
    }
    for (int i = lo; i < n && !strcmp(r[i].file, file); i++) {
        if (!r[i].used) {
            r[i].used = 1;
            return 1;
        }
    }
    return 0;
}

int cli_resume(const char *path, cli_inputs *list)
{
    char *text = NULL;
    size_t len = 0;
    recorded *recs = NULL;
    int n_recs = 0, rc = -1;
    gitc_error err = {0};
    if (access(path, F_OK) == 0 && gitc_read_file(path, &text, &len, &err) != GITC_OK) {
        cli_error("--resume: %s", err.message);
        return -1;
    }
    /* A last line without its newline is a record cut short by a crash: drop it. */
    size_t complete = len;
    while (complete > 0 && text[complete - 1] != '\n') complete--;
    if (complete < len && truncate(path, (off_t)complete) != 0) {
        cli_error("--resume: %s: cannot drop the unfinished last line: %s", path, strerror(errno));
        goto done;
    }
    size_t n_lines = 0;
    for (size_t i = 0; i < complete; i++) n_lines += text[i] == '\n';
    recs = calloc(n_lines ? n_lines : 1, sizeof *recs);
    if (!recs) {
        cli_error("out of memory");
        goto done;
    }
    int line_no = 0;
    for (size_t start = 0; start < complete;) {
        size_t end = start;
        while (text[end] != '\n') end++;
        line_no++;
        int blank = 1;
        for (size_t i = start; i < end; i++) blank &= text[i] == ' ' || text[i] == '\r' || text[i] == '\t';
        if (!blank) {
            cJSON *root = cJSON_ParseWithLength(text + start, end - start);
            cJSON *file = root ? cJSON_GetObjectItemCaseSensitive(root, "file") : NULL;
            if (cJSON_IsString(file)) recs[n_recs].file = strdup(file->valuestring);
            cJSON_Delete(root);
            if (!cJSON_IsString(file)) {
                cli_error("--resume: %s: line %d is not a gitc JSON record with a \"file\"", path,
                          line_no);
                goto done;
            }
            if (!recs[n_recs++].file) {
                cli_error("out of memory");
                goto done;
            }
        }
        start = end + 1;
    }
    qsort(recs, (size_t)n_recs, sizeof *recs, compare_recorded);
    int kept = 0;
    for (int i = 0; i < list->n; i++) {
        if (take_recorded(recs, n_recs, list->paths[i])) free(list->paths[i]);
        else list->paths[kept++] = list->paths[i];
    }
    list->n = kept;
    /* The records of the remaining inputs go after the others. */
    fflush(stdout);
    if (!freopen(path, "a", stdout)) {
        cli_error("--resume: %s: cannot open it for appending: %s", path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    for (int i = 0; i < n_recs; i++) free(recs[i].file);
    free(recs);
    free(text);
    return rc;
}
