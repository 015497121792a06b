/* Batch jobs of the gitc subcommands: --shard I/N keeps every N-th input, and
 * --resume OUT.jsonl skips the inputs OUT already has and appends to it. */
#include "cli_common.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool_files.h"

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
    if (access(path, F_OK) == 0 && tool_read_file(path, SIZE_MAX - 1, &text, &len, &err) != GITC_OK) {
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
