/* Helpers shared by the fuzz targets: input files in a private temporary
 * folder, repository data found through GITC_SOURCE_DIR (set by CMake), and a
 * trap when an invariant breaks. Each target reads its configuration lines
 * (FUZZ_SEEDS, FUZZ_DICT, FUZZ_MAX_LEN) from its header comment; see
 * scripts/fuzz.sh. */
#ifndef GITC_FUZZ_COMMON_H
#define GITC_FUZZ_COMMON_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitc.h"

#ifndef GITC_SOURCE_DIR
#define GITC_SOURCE_DIR "."
#endif

/* An invariant broke: print why and crash so libFuzzer records the input. */
#define FUZZ_CHECK(cond, ...)                                                                    \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz invariant failed: %s: ", #cond);                              \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
            __builtin_trap();                                                                    \
        }                                                                                        \
    } while (0)

/* A path inside the repository (static buffer, valid until the next call). */
static inline const char *fuzz_repo_path(const char *rel)
{
    static char buf[PATH_MAX];
    const char *root = getenv("GITC_FUZZ_ROOT");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : GITC_SOURCE_DIR, rel);
    return buf;
}

static char fuzz_dir[PATH_MAX];

/* Removes the private folder and the files the targets write there. */
static void fuzz_tmp_cleanup(void)
{
    static const char *const names[] = {"vocab.txt", "tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    char path[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir, names[i]);
        unlink(path);
    }
    rmdir(fuzz_dir);
}

/* A private folder for the input files of this process, created once in
 * $TMPDIR (scripts/fuzz.sh points it at /dev/shm: a file system in memory
 * makes the file-reading targets about 15 times faster) and removed at exit. */
static inline const char *fuzz_tmp_dir(void)
{
    if (!fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/gitc-fuzz-XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_tmp_cleanup);
    }
    return fuzz_dir;
}

/* Writes bytes to dir/name (replacing it); aborts when the disk refuses. */
static inline void fuzz_write(const char *dir, const char *name, const void *data, size_t size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* Removes dir/name if present. */
static inline void fuzz_remove(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* Copies a repository file into dir/name (once per process). */
static inline void fuzz_copy_repo_file(const char *rel, const char *dir, const char *name)
{
    FILE *f = fopen(fuzz_repo_path(rel), "rb");
    if (!f) {
        fprintf(stderr, "fuzz: cannot read %s (set GITC_FUZZ_ROOT to the repository)\n",
                fuzz_repo_path(rel));
        abort();
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    fuzz_write(dir, name, buf, n);
}

/* A failure must leave a message naming something. */
static inline void fuzz_check_error(gitc_status st, const gitc_error *err)
{
    FUZZ_CHECK(st == GITC_OK || err->message[0] != 0, "status %d without a message", (int)st);
    FUZZ_CHECK(st != GITC_ERR_ARGUMENT, "GITC_ERR_ARGUMENT for file input: %s", err->message);
}

#endif /* GITC_FUZZ_COMMON_H */
