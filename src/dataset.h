/* Training datasets in the HF `imagefolder` layout (see gitc_dataset_load in
 * gitc.h): the metadata parsers (metadata.jsonl, metadata.csv), which touch
 * no file and are what fuzz/fuzz_dataset.c drives, and the record checks. */
#ifndef GITC_DATASET_H
#define GITC_DATASET_H

#include "internal.h"

/* Limits on an untrusted metadata file, checked before allocating: its size,
 * its records, one field's bytes, and the problems a report lists. */
#define GITC_META_MAX_BYTES ((size_t)256 << 20)
#define GITC_META_MAX_RECORDS 10000000
#define GITC_META_MAX_FIELD ((size_t)1 << 20)
#define GITC_META_MAX_PROBLEMS 100000

/* One record as the metadata file gives it (fields not yet checked). */
typedef struct gitc_meta_record {
    int line;        /* line of the metadata file the record starts on (1-based) */
    char *file_name; /* as written, relative to the dataset folder */
    char *text;      /* the caption, or the answer of a VQA record */
    char *question;  /* NULL for a caption record */
} gitc_meta_record;

/* The records of a metadata file and the problems found so far (one line
 * each, "NAME:LINE: problem\n"). Free with gitci_meta_free. */
typedef struct gitc_meta {
    gitc_meta_record *records; /* [n_records] records that parsed */
    int n_records;
    char *problems;            /* NUL-terminated list, NULL while empty */
    size_t problems_len;
    int n_problems;            /* problems found (the list stops at GITC_META_MAX_PROBLEMS) */
    int n_bad_records;         /* records with at least one problem */
} gitc_meta;

/* Parses metadata.jsonl text: one JSON object per line (blank lines skipped,
 * a UTF-8 byte-order mark skipped), each with a string "file_name" and a string
 * "text", or strings "question" and "answer". A line that is not such an object
 * is a problem of that line, not a failure; the call fails only past the limits
 * or out of memory. `name` prefixes the problems. *out is filled on success. */
gitc_status gitci_meta_parse_jsonl(const char *text, size_t len, const char *name, gitc_meta *out,
                                  gitc_error *err);

/* Parses metadata.csv text (RFC 4180: comma-separated, fields in double
 * quotes may hold commas, newlines and "" for a quote; \n or \r\n line ends;
 * blank lines skipped). The header names the columns: file_name and text, or
 * file_name, question and answer (other columns ignored); a header without
 * them fails (GITC_ERR_FORMAT). A record with a different field count or a
 * broken quote is a problem of its line. */
gitc_status gitci_meta_parse_csv(const char *text, size_t len, const char *name, gitc_meta *out,
                                gitc_error *err);

/* Appends "NAME:LINE: message" to the problem list (counted past the cap, not
 * stored). Returns GITC_OK or GITC_ERR_MEMORY. */
gitc_status gitci_meta_problem(gitc_meta *meta, const char *name, int line, const char *fmt, ...)
    GITC_PRINTF(4, 5);

/* Releases the records and the problem list and zeroes *meta; NULL is fine. */
void gitci_meta_free(gitc_meta *meta);

/* A problem with a file_name (empty, absolute, with a ".." component or a
 * control character) as a static message, or NULL when it is usable. */
const char *gitci_meta_bad_file_name(const char *file_name);

#endif /* GITC_DATASET_H */
