/* Training datasets: metadata.jsonl / metadata.csv parsing, the check of
 * every record before training, and batches of pixel_values, ids and labels. */
#include "dataset.h"
#include "model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- problem list ---- */

gitc_status gitci_meta_problem(gitc_meta *meta, const char *name, int line, const char *fmt, ...)
{
    meta->n_problems++;
    if (meta->n_problems > GITC_META_MAX_PROBLEMS)
        return GITC_OK;
    char msg[640];
    int k = snprintf(msg, sizeof msg, "%s:%d: ", name, line);
    if (k < 0 || (size_t)k >= sizeof msg)
        k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    size_t n = strlen(msg);
    char *p = realloc(meta->problems, meta->problems_len + n + 2);
    if (!p)
        return GITC_ERR_MEMORY;
    memcpy(p + meta->problems_len, msg, n);
    p[meta->problems_len + n] = '\n';
    p[meta->problems_len + n + 1] = '\0';
    meta->problems = p;
    meta->problems_len += n + 1;
    return GITC_OK;
}

void gitci_meta_free(gitc_meta *meta)
{
    if (!meta)
        return;
    for (int i = 0; i < meta->n_records; i++) {
        free(meta->records[i].file_name);
        free(meta->records[i].text);
        free(meta->records[i].question);
    }
    free(meta->records);
    free(meta->problems);
    memset(meta, 0, sizeof *meta);
}

/* Adds a record (the strings are copied; question may be NULL). */
static gitc_status meta_add(gitc_meta *meta, int *cap, int line, const char *file_name,
                            const char *text, const char *question, gitc_error *err)
{
    if (meta->n_records >= GITC_META_MAX_RECORDS)
        return gitci_fail(err, GITC_ERR_LIMIT, "more than %d records", GITC_META_MAX_RECORDS);
    if (meta->n_records == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        gitc_meta_record *r = realloc(meta->records, (size_t)nc * sizeof *r);
        if (!r)
            return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        meta->records = r;
        *cap = nc;
    }
    gitc_meta_record rec = {line, strdup(file_name), strdup(text), question ? strdup(question) : NULL};
    if (!rec.file_name || !rec.text || (question && !rec.question)) {
        free(rec.file_name);
        free(rec.text);
        free(rec.question);
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    meta->records[meta->n_records++] = rec;
    return GITC_OK;
}

const char *gitci_meta_bad_file_name(const char *f)
{
    if (!f[0])
        return "empty file_name";
    if (f[0] == '/')
        return "file_name is an absolute path (it must be relative to the dataset folder)";
    for (const unsigned char *p = (const unsigned char *)f; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "file_name holds a control character";
    for (const char *p = f; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return "file_name has a \"..\" component (it must stay inside the dataset folder)";
        p += n + (e != NULL);
    }
    return NULL;
}

/* Skips a UTF-8 byte-order mark. */
static size_t skip_bom(const char *text, size_t len)
{
    return len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
                   (unsigned char)text[2] == 0xBF
               ? 3
               : 0;
}

/* The string member `key` of a JSON object: *out the value, or NULL when absent.
 * Returns 0 when present but not a string. */
static int json_string(const cJSON *o, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 1;
    if (!cJSON_IsString(v) || !v->valuestring)
        return 0;
    *out = v->valuestring;
    return 1;
}

/* ---- metadata.jsonl ---- */

/* Parses one non-blank line; a bad line becomes a problem. */
static gitc_status jsonl_line(gitc_meta *meta, int *cap, const char *name, int line, const char *s,
                              size_t n, gitc_error *err)
{
    cJSON *o = NULL;
    gitc_error perr = {0};
    const char *end = NULL;
    if (gitci_json_parse(s, n, name, &o, &perr) != GITC_OK)
        return gitci_meta_problem(meta, name, line, "not a JSON object (%s)",
                                 strstr(perr.message, ": ") ? strstr(perr.message, ": ") + 2 : perr.message);
    cJSON_Delete(o);
    o = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    gitc_status st = GITC_OK;
    const char *fn, *text, *q, *a;
    if (!o) {
        st = gitci_meta_problem(meta, name, line, "not a JSON object");
        goto done;
    }
    for (const char *e = end; e && e < s + n; e++)
        if (*e != ' ' && *e != '\t' && *e != '\r') {
            st = gitci_meta_problem(meta, name, line, "text after the JSON object");
            goto done;
        }
    if (!cJSON_IsObject(o)) {
        st = gitci_meta_problem(meta, name, line, "not a JSON object");
        goto done;
    }
    if (!json_string(o, "file_name", &fn) || !fn) {
        st = gitci_meta_problem(meta, name, line, "no \"file_name\" string");
        goto done;
    }
    if (!json_string(o, "text", &text) || !json_string(o, "question", &q) || !json_string(o, "answer", &a)) {
        st = gitci_meta_problem(meta, name, line, "\"text\", \"question\" and \"answer\" must be strings");
        goto done;
    }
    if (q || a) {
        if (!q || !a) {
            st = gitci_meta_problem(meta, name, line, "a VQA record needs both \"question\" and \"answer\"");
            goto done;
        }
        st = meta_add(meta, cap, line, fn, a, q, err);
    } else if (!text) {
        st = gitci_meta_problem(meta, name, line, "no \"text\" (or \"question\" and \"answer\")");
    } else {
        st = meta_add(meta, cap, line, fn, text, NULL, err);
    }
done:
    cJSON_Delete(o);
    if (st == GITC_ERR_MEMORY && err && !err->message[0])
        gitci_fail(err, st, "out of memory");
    return st;
}

gitc_status gitci_meta_parse_jsonl(const char *text, size_t len, const char *name, gitc_meta *out,
                                  gitc_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > GITC_META_MAX_BYTES)
        return gitci_fail(err, GITC_ERR_LIMIT, "%s: %zu bytes, more than the limit of %zu", name, len,
                         GITC_META_MAX_BYTES);
    int cap = 0, line = 0;
    size_t i = skip_bom(text, len);
    while (i < len) {
        line++;
        const char *e = memchr(text + i, '\n', len - i);
        size_t n = e ? (size_t)(e - (text + i)) : len - i;
        size_t b = 0;
        while (b < n && (text[i + b] == ' ' || text[i + b] == '\t' || text[i + b] == '\r'))
            b++;
        if (b < n) {
            gitc_status st = GITC_OK;
            if (n > GITC_META_MAX_FIELD)
                st = gitci_meta_problem(out, name, line, "line of %zu bytes, more than the limit of %zu",
                                       n, GITC_META_MAX_FIELD);
            else
                st = jsonl_line(out, &cap, name, line, text + i, n, err);
            if (st != GITC_OK) {
                if (st == GITC_ERR_MEMORY)
                    gitci_fail(err, st, "%s: out of memory", name);
                else
                    gitci_error_prefix(err, name);
                gitci_meta_free(out);
                return st;
            }
        }
        i += n + 1;
    }
    return GITC_OK;
}

/* ---- metadata.csv ---- */

/* One CSV record's fields, each NUL-terminated inside `buf`. */
typedef struct csv_row {
    char *buf;
    size_t buf_len, buf_cap;
    size_t *starts; /* offsets of the fields in buf */
    int n, cap;
} csv_row;

/* Appends a byte to the current field. */
static int csv_put(csv_row *r, char c)
{
    if (r->buf_len + 1 >= r->buf_cap) {
        size_t nc = r->buf_cap ? r->buf_cap * 2 : 256;
        char *b = realloc(r->buf, nc);
        if (!b)
            return -1;
        r->buf = b;
        r->buf_cap = nc;
    }
    r->buf[r->buf_len++] = c;
    return 0;
}

/* Ends the current field and starts the next. */
static int csv_next_field(csv_row *r)
{
    if (csv_put(r, '\0') != 0)
        return -1;
    if (r->n == r->cap) {
        int nc = r->cap ? r->cap * 2 : 8;
        size_t *s = realloc(r->starts, (size_t)nc * sizeof *s);
        if (!s)
            return -1;
        r->starts = s;
        r->cap = nc;
    }
    r->starts[r->n++] = r->buf_len;
    return 0;
}

/* Reads one record starting at text[*pos] (not at the end), counting the
 * newlines it crosses into *line. Returns 0 and the fields (the last one not
 * yet terminated: the caller's csv_put('\0') ends it), 1 for a broken record
 * with *why set (the rest of its line skipped), -1 out of memory. */
static int csv_record(const char *text, size_t len, size_t *pos, int *line, csv_row *r,
                      const char **why)
{
    r->buf_len = 0;
    r->n = 0;
    if (csv_next_field(r) != 0)
        return -1;
    r->starts[0] = 0;
    r->buf_len = 0;
    size_t i = *pos, field_bytes = 0;
    int broken = 0;
    while (i < len) {
        char c = text[i];
        if (c == '\n' || (c == '\r' && i + 1 < len && text[i + 1] == '\n')) {
            i += c == '\r' ? 2 : 1;
            (*line)++;
            break;
        }
        if (c == ',') {
            if (csv_next_field(r) != 0)
                return -1;
            field_bytes = 0;
            i++;
            continue;
        }
        if (c == '"' && field_bytes == 0) { /* a quoted field */
            int start_line = *line;
            i++;
            for (;;) {
                if (i >= len) {
                    *why = "a quoted field is not closed before the end of the file";
                    *line = start_line;
                    *pos = len;
                    return 1;
                }
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        if (csv_put(r, '"') != 0)
                            return -1;
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (text[i] == '\n')
                    (*line)++;
                if (csv_put(r, text[i]) != 0)
                    return -1;
                if (++field_bytes > GITC_META_MAX_FIELD && !broken) {
                    broken = 1;
                    *why = "a field longer than the limit of 1 MiB";
                }
                i++;
            }
            field_bytes++;
            if (i < len && text[i] != ',' && text[i] != '\n' &&
                !(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')) {
                if (!broken) {
                    broken = 1;
                    *why = "text after a closing quote (a quote inside a quoted field is written \"\")";
                }
                while (i < len && text[i] != '\n')
                    i++;
            }
            continue;
        }
        if (csv_put(r, c) != 0)
            return -1;
        if (++field_bytes > GITC_META_MAX_FIELD && !broken) {
            broken = 1;
            *why = "a field longer than the limit of 1 MiB";
        }
        i++;
    }
    *pos = i;
    if (csv_put(r, '\0') != 0)
        return -1;
    return broken;
}

gitc_status gitci_meta_parse_csv(const char *text, size_t len, const char *name, gitc_meta *out,
                                gitc_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > GITC_META_MAX_BYTES)
        return gitci_fail(err, GITC_ERR_LIMIT, "%s: %zu bytes, more than the limit of %zu", name, len,
                         GITC_META_MAX_BYTES);
    csv_row r = {0};
    gitc_status st = GITC_OK;
    size_t pos = skip_bom(text, len);
    int line = 1, cap = 0, col_file = -1, col_text = -1, col_q = -1, col_a = -1, n_cols = 0;
    int header = 1;
    while (pos < len) {
        int start = line;
        const char *why = NULL;
        int rc = csv_record(text, len, &pos, &line, &r, &why);
        if (rc < 0) {
            st = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", name);
            goto fail;
        }
        if (r.n == 1 && r.buf[0] == '\0' && rc == 0)
            continue; /* a blank line */
        if (header) {
            if (rc != 0) {
                st = gitci_fail(err, GITC_ERR_FORMAT, "%s:%d: header: %s", name, start, why);
                goto fail;
            }
            n_cols = r.n;
            for (int c = 0; c < r.n; c++) {
                const char *h = r.buf + r.starts[c];
                int *slot = !strcmp(h, "file_name") ? &col_file
                            : !strcmp(h, "text")    ? &col_text
                            : !strcmp(h, "question") ? &col_q
                            : !strcmp(h, "answer")  ? &col_a
                                                    : NULL;
                if (slot && *slot >= 0) {
                    st = gitci_fail(err, GITC_ERR_FORMAT, "%s:%d: header names column \"%s\" twice", name,
                                   start, h);
                    goto fail;
                }
                if (slot)
                    *slot = c;
            }
            if (col_file < 0 || (col_text < 0 && (col_q < 0 || col_a < 0))) {
                st = gitci_fail(err, GITC_ERR_FORMAT,
                               "%s:%d: the header must name the columns file_name and text (or file_name, "
                               "question and answer)",
                               name, start);
                goto fail;
            }
            header = 0;
            continue;
        }
        if (rc != 0) {
            st = gitci_meta_problem(out, name, start, "%s", why);
        } else if (r.n != n_cols) {
            st = gitci_meta_problem(out, name, start, "%d fields, the header has %d", r.n, n_cols);
        } else {
            const char *fn = r.buf + r.starts[col_file];
            const char *q = col_q >= 0 ? r.buf + r.starts[col_q] : NULL;
            const char *a = col_a >= 0 ? r.buf + r.starts[col_a] : NULL;
            const char *t = col_text >= 0 ? r.buf + r.starts[col_text] : NULL;
            /* With every column present, a row with a question is VQA. */
            if (q && a && (q[0] || !t))
                st = meta_add(out, &cap, start, fn, a, q, err);
            else
                st = meta_add(out, &cap, start, fn, t, NULL, err);
            if (st != GITC_OK)
                gitci_error_prefix(err, name);
        }
        if (st != GITC_OK) {
            if (st == GITC_ERR_MEMORY)
                gitci_fail(err, st, "%s: out of memory", name);
            goto fail;
        }
    }
    if (header) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: empty (no header line)", name);
        goto fail;
    }
    free(r.buf);
    free(r.starts);
    return GITC_OK;
fail:
    free(r.buf);
    free(r.starts);
    gitci_meta_free(out);
    return st;
}

/* The line number after "NAME:" at the start of a problem line. */
static long problem_line(const char *s, const char *name)
{
    size_t n = strlen(name);
    return strncmp(s, name, n) == 0 && s[n] == ':' ? strtol(s + n + 1, NULL, 10) : 0;
}

typedef struct problem_ref {
    const char *text;
    long line;
    int order;
} problem_ref;

/* qsort order of problems: by line, then as found. */
static int problem_cmp(const void *a, const void *b)
{
    const problem_ref *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->order - y->order;
}

/* Sorts the problem list by line number (parse problems and record checks
 * are found in two passes). Leaves it as it is when out of memory. */
static void sort_problems(gitc_meta *meta, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < meta->problems_len; i++)
        n += meta->problems[i] == '\n';
    problem_ref *refs = n > 1 ? malloc((size_t)n * sizeof *refs) : NULL;
    char *sorted = refs ? malloc(meta->problems_len + 1) : NULL;
    if (!sorted) {
        free(refs);
        return;
    }
    const char *p = meta->problems;
    for (int k = 0; k < n; k++) {
        refs[k] = (problem_ref){p, problem_line(p, name), k};
        p = strchr(p, '\n') + 1;
    }
    qsort(refs, (size_t)n, sizeof *refs, problem_cmp);
    size_t at = 0;
    for (int k = 0; k < n; k++) {
        size_t len = (size_t)(strchr(refs[k].text, '\n') - refs[k].text) + 1;
        memcpy(sorted + at, refs[k].text, len);
        at += len;
    }
    sorted[at] = '\0';
    free(meta->problems);
    meta->problems = sorted;
    free(refs);
}

/* ---- the dataset ---- */

typedef struct ds_record {
    char *path;     /* dir/file_name */
    char *text;     /* caption or answer */
    char *question; /* NULL for captions */
    int32_t *ids;   /* [n_ids] */
    int32_t *labels; /* [n_ids] */
    int n_ids;
} ds_record;

struct gitc_dataset {
    gitc_processor *processor; /* the model folder's, owned: the model may be freed after loading */
    size_t pixel_floats;       /* one sample's pixel_values */
    ds_record *records;
    int n;
    int skipped;
    int max_tokens;
    int pad_id;
    gitc_dataset_params params;
};

void gitc_dataset_params_init(gitc_dataset_params *params, size_t size)
{
    gitc_dataset_params d = {.size = sizeof d, .max_length = 0, .skip_bad = 0, .check_images = 1,
                             .exif_transpose = 1};
    gitci_params_fill(params, size, &d, sizeof d);
}

/* Frees one record's strings and arrays. */
static void record_free(ds_record *r)
{
    free(r->path);
    free(r->text);
    free(r->question);
    free(r->ids);
    free(r->labels);
}

void gitc_dataset_free(gitc_dataset *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++)
        record_free(&d->records[i]);
    free(d->records);
    gitc_processor_free(d->processor);
    free(d);
}

/* Tokenizes a record into ids and labels ([CLS] text [SEP], labels = ids; or
 * [CLS] question answer [SEP], labels -100 but on the answer and [SEP]).
 * Returns GITC_OK, or a problem text in `why` (GITC_ERR_FORMAT), or another error. */
static gitc_status record_tokens(const gitc_tokenizer *tok, const gitc_meta_record *m, ds_record *r,
                                 char *why, size_t why_size, gitc_error *err)
{
    int32_t *a = NULL, *q = NULL;
    size_t na = 0, nq = 0;
    gitc_error terr = {0};
    gitc_status st = gitc_tokenizer_encode(tok, m->text, strlen(m->text), m->question ? 0 : 1, &a, &na, &terr);
    if (st == GITC_OK && m->question)
        st = gitc_tokenizer_encode(tok, m->question, strlen(m->question), 1, &q, &nq, &terr);
    if (st == GITC_ERR_MEMORY) {
        free(a);
        free(q);
        return gitci_fail(err, st, "out of memory");
    }
    if (st != GITC_OK) {
        snprintf(why, why_size, "%s", terr.message);
        free(a);
        free(q);
        return GITC_ERR_FORMAT;
    }
    if (m->question) {
        if (nq <= 2 || na == 0) {
            snprintf(why, why_size, nq <= 2 ? "empty question" : "empty answer");
            free(a);
            free(q);
            return GITC_ERR_FORMAT;
        }
        /* [CLS] question (its [SEP] dropped) answer [SEP]. */
        size_t n = nq - 1 + na + 1;
        r->ids = malloc(n * sizeof *r->ids);
        r->labels = malloc(n * sizeof *r->labels);
        if (!r->ids || !r->labels) {
            free(a);
            free(q);
            return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        }
        memcpy(r->ids, q, (nq - 1) * sizeof *q);
        memcpy(r->ids + nq - 1, a, na * sizeof *a);
        r->ids[n - 1] = q[nq - 1]; /* [SEP] */
        for (size_t i = 0; i < n; i++)
            r->labels[i] = i < nq - 1 ? -100 : r->ids[i];
        r->n_ids = (int)n;
        free(a);
        free(q);
        return GITC_OK;
    }
    if (na <= 2) {
        snprintf(why, why_size, "empty text");
        free(a);
        return GITC_ERR_FORMAT;
    }
    r->ids = a;
    r->labels = malloc(na * sizeof *r->labels);
    if (!r->labels)
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    memcpy(r->labels, a, na * sizeof *a);
    r->n_ids = (int)na;
    return GITC_OK;
}

/* Reads and parses DIR/metadata.jsonl or DIR/metadata.csv. */
static gitc_status read_metadata(const char *dir, gitc_meta *meta, char **meta_path, gitc_error *err)
{
    char *jl = gitci_path_join(dir, "metadata.jsonl"), *csv = gitci_path_join(dir, "metadata.csv");
    char *text = NULL;
    size_t len = 0;
    gitc_status st;
    *meta_path = NULL;
    if (!jl || !csv) {
        st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
        goto done;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        st = gitci_fail(err, GITC_ERR_IO, "%s: not a folder%s%s", dir, errno == ENOENT ? " (it does not exist)" : "",
                       "");
        goto done;
    }
    int has_jl = gitci_file_exists(jl), has_csv = gitci_file_exists(csv);
    if (has_jl && has_csv) {
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: has both metadata.jsonl and metadata.csv; keep one", dir);
        goto done;
    }
    if (!has_jl && !has_csv) {
        st = gitci_fail(err, GITC_ERR_IO,
                       "%s: no metadata.jsonl or metadata.csv (the HF imagefolder layout: one record per "
                       "image, with file_name and text)",
                       dir);
        goto done;
    }
    const char *path = has_jl ? jl : csv;
    st = gitci_read_file_max(path, GITC_META_MAX_BYTES, &text, &len, err);
    if (st != GITC_OK)
        goto done;
    st = has_jl ? gitci_meta_parse_jsonl(text, len, path, meta, err) : gitci_meta_parse_csv(text, len, path, meta, err);
    if (st == GITC_OK) {
        *meta_path = has_jl ? jl : csv;
        if (has_jl)
            jl = NULL;
        else
            csv = NULL;
    }
done:
    free(text);
    free(jl);
    free(csv);
    return st;
}

/* Copies a caller's params struct over the defaults (params->size bytes of it). */
static gitc_status dataset_params(const gitc_dataset_params *in, gitc_dataset_params *out, gitc_error *err)
{
    gitc_dataset_params_init(out, sizeof *out);
    if (!in)
        return GITC_OK;
    gitc_status st = gitci_params_size_check(in->size, sizeof *out, "gitc_dataset_params", err);
    if (st != GITC_OK)
        return st;
    *out = *in;
    if (out->max_length < 0)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "max_length %d is negative", out->max_length);
    return GITC_OK;
}

gitc_status gitc_dataset_load(const char *dir, const gitc_model *model, const gitc_dataset_params *params,
                              gitc_dataset **out, char **report, gitc_error *err)
{
    if (out)
        *out = NULL;
    if (report)
        *report = NULL;
    if (!dir || !model || !out)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_dataset_load: NULL argument");
    gitc_dataset_params p;
    gitc_status st = dataset_params(params, &p, err);
    if (st != GITC_OK)
        return st;
    const gitc_config *cfg = gitc_model_config(model);
    const gitc_tokenizer *tok = gitc_model_tokenizer(model);
    const gitc_processor *proc = gitc_model_processor(model);
    if (!tok || !proc)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "the model has no %s: a dataset needs the model folder's "
                         "tokenizer and preprocessor_config.json", !tok ? "tokenizer" : "image processor");
    if (gitc_model_num_frames(model) != 1)
        return gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: the model takes %d frames per sample; an image "
                         "folder trains image models only", dir, gitc_model_num_frames(model));
    if (p.max_length > cfg->max_position_embeddings)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "max_length %d is more than the model's "
                         "max_position_embeddings %d", p.max_length, cfg->max_position_embeddings);
    gitc_meta meta = {0};
    char *meta_path = NULL;
    st = read_metadata(dir, &meta, &meta_path, err);
    if (st != GITC_OK)
        return st;
    gitc_dataset *d = calloc(1, sizeof *d);
    if (d)
        d->records = calloc(meta.n_records ? (size_t)meta.n_records : 1, sizeof *d->records);
    if (!d || !d->records) {
        free(d);
        gitci_meta_free(&meta);
        free(meta_path);
        return gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
    }
    d->params = p;
    d->pixel_floats = gitc_model_pixel_floats(model);
    if ((st = gitc_processor_load(model->dir, &d->processor, err)) != GITC_OK) {
        gitc_dataset_free(d);
        gitci_meta_free(&meta);
        free(meta_path);
        return st;
    }
    d->pad_id = cfg->pad_token_id;
    int limit = p.max_length ? p.max_length : cfg->max_position_embeddings;
    int bad_records = meta.n_problems; /* the parser's problems are one per bad record */
    gitc_image_params ip = gitc_image_default_params();
    ip.exif_transpose = p.exif_transpose;
    for (int i = 0; i < meta.n_records && st == GITC_OK; i++) {
        const gitc_meta_record *m = &meta.records[i];
        ds_record r = {0};
        char why[600] = "";
        int bad = 0;
        const char *fn_problem = gitci_meta_bad_file_name(m->file_name);
        if (fn_problem) {
            st = gitci_meta_problem(&meta, meta_path, m->line, "%s", fn_problem);
            bad = 1;
        }
        gitc_status tst = GITC_OK;
        if (st == GITC_OK) {
            tst = record_tokens(tok, m, &r, why, sizeof why, err);
            if (tst == GITC_ERR_FORMAT) {
                st = gitci_meta_problem(&meta, meta_path, m->line, "%s", why);
                bad = 1;
            } else if (tst != GITC_OK) {
                st = tst;
            } else if (r.n_ids > limit) {
                st = gitci_meta_problem(&meta, meta_path, m->line, "text of %d tokens, more than %s %d",
                                       r.n_ids, p.max_length ? "max_length" : "max_position_embeddings", limit);
                bad = 1;
            }
        }
        if (st == GITC_OK && !fn_problem) {
            r.path = gitci_path_join(dir, m->file_name);
            if (!r.path) {
                st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
            } else if (!gitci_file_exists(r.path)) {
                st = gitci_meta_problem(&meta, meta_path, m->line, "%s: image file not found", m->file_name);
                bad = 1;
            } else if (p.check_images) {
                gitc_image im = {0};
                gitc_error ierr = {0};
                gitc_status ist = gitc_image_load(r.path, &ip, &im, &ierr);
                gitc_image_free(&im);
                if (ist == GITC_ERR_MEMORY) {
                    st = gitci_fail(err, ist, "%s", ierr.message);
                } else if (ist != GITC_OK) {
                    st = gitci_meta_problem(&meta, meta_path, m->line, "unreadable image: %s", ierr.message);
                    bad = 1;
                }
            }
        }
        if (st == GITC_ERR_MEMORY && err && !err->message[0])
            gitci_fail(err, st, "out of memory");
        if (bad || st != GITC_OK) {
            bad_records += bad;
            record_free(&r);
            continue;
        }
        r.text = strdup(m->text);
        r.question = m->question ? strdup(m->question) : NULL;
        if (!r.text || (m->question && !r.question)) {
            record_free(&r);
            st = gitci_fail(err, GITC_ERR_MEMORY, "out of memory");
            break;
        }
        if (r.n_ids > d->max_tokens)
            d->max_tokens = r.n_ids;
        d->records[d->n++] = r;
    }
    d->skipped = bad_records;
    if (meta.problems)
        sort_problems(&meta, meta_path);
    if (st == GITC_OK && meta.n_problems > GITC_META_MAX_PROBLEMS) {
        char tail[160];
        snprintf(tail, sizeof tail, "... and %d more problems (the list stops at %d)\n",
                 meta.n_problems - GITC_META_MAX_PROBLEMS, GITC_META_MAX_PROBLEMS);
        char *pr = realloc(meta.problems, meta.problems_len + strlen(tail) + 1);
        if (pr) {
            memcpy(pr + meta.problems_len, tail, strlen(tail) + 1);
            meta.problems = pr;
        }
    }
    if (st == GITC_OK && bad_records > 0 && !p.skip_bad)
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: %d bad record%s of %d (each listed with its line)",
                       meta_path, bad_records, bad_records == 1 ? "" : "s", bad_records + d->n);
    if (st == GITC_OK && d->n == 0)
        st = gitci_fail(err, GITC_ERR_FORMAT, "%s: no usable records", meta_path);
    if (report) {
        *report = meta.problems;
        meta.problems = NULL;
    }
    gitci_meta_free(&meta);
    free(meta_path);
    if (st != GITC_OK) {
        gitc_dataset_free(d);
        return st;
    }
    *out = d;
    return GITC_OK;
}

int gitc_dataset_size(const gitc_dataset *d) { return d ? d->n : 0; }
int gitc_dataset_skipped(const gitc_dataset *d) { return d ? d->skipped : 0; }
int gitc_dataset_max_tokens(const gitc_dataset *d) { return d ? d->max_tokens : 0; }

const char *gitc_dataset_image_path(const gitc_dataset *d, int i)
{
    return d && i >= 0 && i < d->n ? d->records[i].path : NULL;
}

const char *gitc_dataset_text(const gitc_dataset *d, int i)
{
    return d && i >= 0 && i < d->n ? d->records[i].text : NULL;
}

const char *gitc_dataset_question(const gitc_dataset *d, int i)
{
    return d && i >= 0 && i < d->n ? d->records[i].question : NULL;
}

gitc_status gitc_dataset_batch(const gitc_dataset *d, const int *indices, int B, float *pixel_values,
                               size_t pixel_capacity, int32_t *ids, int32_t *labels, size_t ids_capacity,
                               int *n_text, gitc_error *err)
{
    if (!d || !indices || B <= 0 || !ids || !labels || !n_text)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_dataset_batch: NULL argument or B <= 0");
    int T = 0;
    for (int b = 0; b < B; b++) {
        if (indices[b] < 0 || indices[b] >= d->n)
            return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_dataset_batch: index %d outside 0..%d", indices[b],
                             d->n - 1);
        if (d->records[indices[b]].n_ids > T)
            T = d->records[indices[b]].n_ids;
    }
    size_t npx = d->pixel_floats;
    if ((size_t)B * T > ids_capacity)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_dataset_batch: %d x %d ids do not fit %zu", B, T,
                         ids_capacity);
    if (pixel_values && (size_t)B * npx > pixel_capacity)
        return gitci_fail(err, GITC_ERR_ARGUMENT, "gitc_dataset_batch: %d images of %zu floats do not fit %zu",
                         B, npx, pixel_capacity);
    gitc_image_params ip = gitc_image_default_params();
    ip.exif_transpose = d->params.exif_transpose;
    for (int b = 0; b < B; b++) {
        const ds_record *r = &d->records[indices[b]];
        for (int t = 0; t < T; t++) {
            ids[(size_t)b * T + t] = t < r->n_ids ? r->ids[t] : d->pad_id;
            labels[(size_t)b * T + t] = t < r->n_ids ? r->labels[t] : -100;
        }
        if (!pixel_values)
            continue;
        gitc_image im = {0};
        gitc_status st = gitc_image_load(r->path, &ip, &im, err);
        if (st == GITC_OK)
            st = gitc_processor_run(d->processor, &im, pixel_values + (size_t)b * npx, npx, err);
        gitc_image_free(&im);
        if (st != GITC_OK)
            return st;
    }
    *n_text = T;
    return GITC_OK;
}
