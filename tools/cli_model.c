/* Finding and opening a model: folders, the embedded default, hub ids in the
 * local HuggingFace cache (revisions, snapshots), sessions. */
#include "cli_common.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool_files.h"

#ifndef GITC_DEFAULT_MODEL_DIR
#define GITC_DEFAULT_MODEL_DIR ""
#endif

/* ------------------------------------------------------------------ */
/* Models                                                              */
/* ------------------------------------------------------------------ */

/* The folder holding the embedded models: $GITC_MODEL_DIR, the build's models
 * folder, or models/ beside the executable's folder (an install). */
static char *models_root(void)
{
    const char *env = getenv("GITC_MODEL_DIR");
    if (env && *env) return strdup(env);
    if (GITC_DEFAULT_MODEL_DIR[0] && tool_is_dir(GITC_DEFAULT_MODEL_DIR))
        return strdup(GITC_DEFAULT_MODEL_DIR);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0'; /* bin folder */
        slash = strrchr(exe, '/');
        if (slash) *slash = '\0'; /* its parent */
        char *root = tool_printf_alloc("%s/models", exe);
        if (root && tool_is_dir(root)) return root;
        free(root);
        root = tool_printf_alloc("%s/share/gitc/models", exe);
        if (root && tool_is_dir(root)) return root;
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
    char *dir = tool_printf_alloc("%s/%s", root, name);
    if (dir && !tool_is_dir(dir)) {
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
    if (v && *v) return tool_printf_alloc("%s/hub", v);
    v = getenv("XDG_CACHE_HOME");
    if (v && *v) return tool_printf_alloc("%s/huggingface/hub", v);
    v = getenv("HOME");
    return tool_printf_alloc("%s/.cache/huggingface/hub", v && *v ? v : ".");
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
        found = tool_printf_alloc("%s/snapshots/%s", repo_dir, rev);
        if (found && tool_is_dir(found)) return found;
        free(found);
        found = NULL;
    }
    char *ref_path = tool_printf_alloc("%s/refs/%s", repo_dir, rev ? rev : "main");
    char *ref = NULL;
    size_t len = 0;
    if (ref_path && tool_read_file(ref_path, 4096, &ref, &len, NULL) == GITC_OK) {
        while (len > 0 && (ref[len - 1] == '\n' || ref[len - 1] == '\r' || ref[len - 1] == ' '))
            ref[--len] = '\0';
        if (len > 0 && !strchr(ref, '/') && strcmp(ref, "..") != 0) {
            found = tool_printf_alloc("%s/snapshots/%s", repo_dir, ref);
            if (found && !tool_is_dir(found)) {
                free(found);
                found = NULL;
            }
        }
    }
    free(ref);
    free(ref_path);
    if (found || rev) return found;

    char *snaps = tool_printf_alloc("%s/snapshots", repo_dir);
    DIR *d = snaps ? opendir(snaps) : NULL;
    time_t best_time = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *path = tool_printf_alloc("%s/%s", snaps, e->d_name);
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
        if (cache) repo = tool_printf_alloc("%s/models--%s", cache, folder);
    }
    free(folder);
    if (repo && tool_is_dir(repo)) snapshot = hub_snapshot(repo, rev);
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
    if (tool_is_dir(arg)) return strdup(arg);
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
