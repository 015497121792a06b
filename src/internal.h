/* Internal helpers shared by the library's source files (not installed). */
#ifndef GITC_INTERNAL_H
#define GITC_INTERNAL_H

#include "gitc.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define GITC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GITC_MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define GITC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GITC_PRINTF(f, a)
#endif

/* Sets err (when not NULL) to status and a formatted message; returns status. */
gitc_status gitci_fail(gitc_error *err, gitc_status status, const char *fmt, ...) GITC_PRINTF(3, 4);

/* Prefixes an existing error message with "prefix: ". */
void gitci_error_prefix(gitc_error *err, const char *prefix);

/* Checks the `size` field of a caller's params struct against the struct this
 * library was built with: GITC_ERR_ARGUMENT naming `type` when they differ
 * (never initialized, or built against another gitc.h). */
gitc_status gitci_params_size_check(size_t size, size_t want, const char *type, gitc_error *err);

/* Fills `size` bytes at dst (a caller's params struct) from `defaults` (the
 * library's struct of `full` bytes) and records `size` in its first field. */
void gitci_params_fill(void *dst, size_t size, const void *defaults, size_t full);

/* GITC_ERR_ARGUMENT (naming `fn`) unless pixel_values is not NULL and holds
 * exactly gitc_model_pixel_floats(model) floats; checked before it is read. */
gitc_status gitci_pixel_check(const char *fn, const gitc_model *model, const float *pixel_values,
                              size_t pixel_floats, gitc_error *err);

/* Reads a whole file into a NUL-terminated buffer (caller frees). */
gitc_status gitci_read_file(const char *path, char **data, size_t *size, gitc_error *err);

/* Large buffers: aligned_alloc to 64 bytes, or, from 2 MiB on, to 2 MiB and
 * marked for transparent huge pages (512x fewer page faults when first
 * touched, fewer TLB misses when streamed). Contents undefined; free() it.
 * NULL on failure or when the rounded size overflows. */
void *gitci_alloc_large(size_t bytes);

/* Zeroed large buffers: fresh pages (2 MiB aligned, marked for transparent
 * huge pages), taken only when first touched, so that a buffer used later
 * adds nothing to the memory of what is freed before. Free with
 * gitci_free_large (NULL is fine). NULL on failure. Under AddressSanitizer:
 * gitci_alloc_large and memset, so that it watches their bounds. */
void *gitci_calloc_large(size_t bytes);
void gitci_free_large(void *p);

/* Joins a folder and a file name into a newly allocated path (caller frees); NULL on OOM. */
char *gitci_path_join(const char *dir, const char *name);

/* 1 when path names an existing regular file. */
int gitci_file_exists(const char *path);

/* Limits on untrusted JSON, checked before the parser allocates anything:
 * file sizes (the safetensors header has its own, ST_MAX_HEADER_BYTES) and
 * nesting depth (cJSON's own limit is 1000 and recursive). */
#define GITC_JSON_MAX_DEPTH 64
#define GITC_CONFIG_MAX_BYTES ((size_t)16 << 20)    /* config, generation, preprocessor, tokenizer_config, special_tokens_map */
#define GITC_TOKENIZER_MAX_BYTES ((size_t)64 << 20) /* tokenizer.json and vocab.txt */

struct cJSON;

/* gitci_read_file with a size limit checked before the buffer is allocated
 * (GITC_ERR_LIMIT naming the file, its size and the limit). */
gitc_status gitci_read_file_max(const char *path, size_t max_bytes, char **data, size_t *size,
                                gitc_error *err);

/* Parses untrusted JSON text named `name` after checking its nesting depth
 * (GITC_ERR_LIMIT past GITC_JSON_MAX_DEPTH); malformed JSON is GITC_ERR_FORMAT
 * naming the byte offset. Caller frees *out with cJSON_Delete. */
gitc_status gitci_json_parse(const char *text, size_t len, const char *name, struct cJSON **out,
                             gitc_error *err);

/* gitci_json_parse for a model folder's small JSON files (config, generation,
 * preprocessor): text over GITC_CONFIG_MAX_BYTES is GITC_ERR_LIMIT. */
gitc_status gitci_json_parse_config(const char *text, size_t len, const char *name,
                                    struct cJSON **out, gitc_error *err);

/* Copies the literal text of the value of `key` (in the object `parent` when
 * not NULL, else at the top level) from JSON text into buf, as written in the
 * file, so messages can show "1e400" rather than the converted inf. Returns 1
 * when found, else 0 (buf then holds ""). */
int gitci_json_literal(const char *text, size_t len, const char *parent, const char *key, char *buf,
                       size_t size);

/* IEEE half and bfloat16 to float32 (exact). */
float gitci_f16_to_f32(uint16_t h);
float gitci_bf16_to_f32(uint16_t b);

#endif /* GITC_INTERNAL_H */
