/* Shared parts of the gitc subcommands: model lookup (folders, the
 * HuggingFace cache, the embedded default), decoding flags, input lists,
 * JSON strings, timing and the progress bar. */
#include "cli_common.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
        if (cli_parse_int(arg, 1, 1024, "--beams", &n)) return -1;
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
        if (cli_parse_int(arg, 1, 1024, "--num-return-sequences", &n)) return -1;
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

    /* Text positions 0 .. length-1 index the position embedding table. */
    int max_pos = gitc_model_config(model)->max_position_embeddings;
    if (p.max_new_tokens > 0 && p.max_new_tokens >= max_pos) {
        cli_error("--max-new-tokens %d: the model has %d text positions ([CLS] takes one)",
                  p.max_new_tokens, max_pos);
        return -1;
    }
    if (p.max_new_tokens <= 0 && p.max_length > max_pos) {
        cli_error("--max-length %d is beyond the model's max_position_embeddings (%d)",
                  p.max_length, max_pos);
        return -1;
    }
    if (p.num_beams < 1) {
        cli_error("the number of beams must be at least 1 (got %d)", p.num_beams);
        return -1;
    }
    if (!p.do_sample && p.num_return_sequences > p.num_beams) {
        cli_error("--num-return-sequences %d needs --sample or at least as many --beams (got %d)",
                  p.num_return_sequences, p.num_beams);
        return -1;
    }
    if (p.do_sample && !(p.temperature > 0.0f)) {
        cli_error("sampling needs a positive temperature (got %g)", p.temperature);
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
                  "(looked in $GITC_MODEL_DIR, %s and models/ beside the executable)",
                  GITC_DEFAULT_MODEL_DIR[0] ? GITC_DEFAULT_MODEL_DIR : "(none)");
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

/* The snapshot of refs/main, else the only or newest snapshot; NULL when none. */
static char *hub_snapshot(const char *repo_dir)
{
    char *ref_path = str_printf("%s/refs/main", repo_dir);
    char *ref = NULL;
    size_t len = 0;
    char *found = NULL;
    if (ref_path && gitc_read_file(ref_path, &ref, &len, NULL) == GITC_OK) {
        while (len > 0 && (ref[len - 1] == '\n' || ref[len - 1] == '\r' || ref[len - 1] == ' '))
            ref[--len] = '\0';
        if (len > 0 && !strchr(ref, '/')) {
            found = str_printf("%s/snapshots/%s", repo_dir, ref);
            if (found && !is_dir(found)) {
                free(found);
                found = NULL;
            }
        }
    }
    free(ref);
    free(ref_path);
    if (found) return found;

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

/* Finds a hub id in the local cache; prints the download command when absent. */
static char *hub_lookup(const char *id)
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
    if (repo && is_dir(repo)) snapshot = hub_snapshot(repo);
    if (!snapshot) {
        cli_error("model '%s' is not a folder and is not in the local HuggingFace cache "
                  "(looked for %s)", id, repo ? repo : "?");
        fprintf(stderr,
                "gitc works offline. Download the model first:\n"
                "    huggingface-cli download %s\n"
                "(or set HF_HUB_CACHE / HF_HOME to the cache that holds it, or pass a folder)\n",
                id);
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
    if (looks_like_hub_id(arg)) return hub_lookup(arg);
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
        cli_error("cannot load the model in %s: %s", dir, err.message);
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

gitc_model *cli_load_model(const char *arg, int video) { return cli_open_model(arg, video, NULL); }

gitc_session *cli_open_session(const gitc_model *model, int n_threads)
{
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

/* Adds the image (or video) files of a folder, sorted by name. */
static int add_directory(cli_inputs *list, const char *dir, cli_input_kind kind)
{
    static const char *const image_exts[] = {"jpg", "jpeg", "png", "webp", "bmp", "gif", NULL};
    static const char *const video_exts[] = {"mp4", "m4v", "mov", "avi", "mkv", "webm",
                                             "mpg", "mpeg", "gif", NULL};
    const char *const *exts = kind == CLI_INPUT_VIDEOS ? video_exts : image_exts;
    DIR *d = opendir(dir);
    if (!d) {
        cli_error("%s: cannot open the folder: %s", dir, strerror(errno));
        return -1;
    }
    cli_inputs found = {0};
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_extension(e->d_name, exts)) continue;
        size_t n = strlen(dir);
        char *path = str_printf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", e->d_name);
        struct stat st;
        if (!path) rc = -1;
        else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) rc = push_path(&found, path);
        free(path);
    }
    closedir(d);
    if (found.n) qsort(found.paths, (size_t)found.n, sizeof *found.paths, compare_names);
    for (int i = 0; rc == 0 && i < found.n; i++) rc = push_path(list, found.paths[i]);
    if (rc == 0 && found.n == 0)
        cli_error("%s: no %s files in this folder", dir,
                  kind == CLI_INPUT_VIDEOS ? "video" : "image");
    if (rc) cli_error("out of memory");
    cli_inputs_free(&found);
    return rc;
}

int cli_inputs_add(cli_inputs *list, const char *arg, cli_input_kind kind)
{
    if (!strcmp(arg, "-")) return cli_inputs_add_stdin(list, kind);
    if (is_dir(arg)) return add_directory(list, arg, kind);
    if (push_path(list, arg)) {
        cli_error("out of memory");
        return -1;
    }
    return 0;
}

int cli_inputs_add_stdin(cli_inputs *list, cli_input_kind kind)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0) continue;
        if (is_dir(line)) {
            rc = add_directory(list, line, kind);
        } else if (push_path(list, line)) {
            cli_error("out of memory");
            rc = -1;
        }
    }
    free(line);
    return rc;
}

void cli_inputs_free(cli_inputs *list)
{
    for (int i = 0; i < list->n; i++) free(list->paths[i]);
    free(list->paths);
    memset(list, 0, sizeof *list);
}

/* ------------------------------------------------------------------ */
/* JSON, time, progress                                                */
/* ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static int utf8_length(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void cli_json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    fputc('"', f);
    while (*s) {
        int n = utf8_length(s);
        if (n == 0) {
            fputs("\\ufffd", f);
            s++;
            continue;
        }
        if (n > 1) {
            fwrite(s, 1, (size_t)n, f);
            s += n;
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
