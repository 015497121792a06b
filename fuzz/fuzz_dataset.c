/*
 * libFuzzer target for the training metadata parsers (src/dataset.c): the
 * first byte picks metadata.csv ('c') or metadata.jsonl (anything else), the
 * rest is the file. Traps when an invariant breaks:
 *   - a failure sets a message;
 *   - on success every record has a file_name and a text, a question only with
 *     an answer, and its line inside the file and after the previous record's;
 *   - the problem list has one line per problem (up to the cap), each starting
 *     with the file name, and the file_name check never crashes.
 * FUZZ_SEEDS: fuzz/seeds/dataset
 * FUZZ_DICT: fuzz/dict/dataset.dict
 * FUZZ_MAX_LEN: 8192
 */
#include "common.h"
#include "dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int csv = data[0] == 'c';
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *name = csv ? "metadata.csv" : "metadata.jsonl";
    gitc_meta m;
    gitc_error err = {0};
    gitc_status st = csv ? gitci_meta_parse_csv(text, len, name, &m, &err)
                         : gitci_meta_parse_jsonl(text, len, name, &m, &err);
    fuzz_check_error(st, &err);
    if (st != GITC_OK)
        return 0;
    int lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    int prev = 0;
    for (int i = 0; i < m.n_records; i++) {
        const gitc_meta_record *r = &m.records[i];
        FUZZ_CHECK(r->file_name && r->text, "record %d without file_name or text", i);
        FUZZ_CHECK(r->line > prev && r->line <= lines, "record %d on line %d (previous %d, %d lines)", i,
                   r->line, prev, lines);
        prev = r->line;
        (void)gitci_meta_bad_file_name(r->file_name);
    }
    int n_lines = 0;
    for (const char *p = m.problems; p && *p; p++) {
        if (p == m.problems || p[-1] == '\n')
            FUZZ_CHECK(strncmp(p, name, strlen(name)) == 0, "problem line without the file name");
        n_lines += *p == '\n';
    }
    int want = m.n_problems < GITC_META_MAX_PROBLEMS ? m.n_problems : GITC_META_MAX_PROBLEMS;
    FUZZ_CHECK(n_lines == want, "%d problem lines for %d problems", n_lines, m.n_problems);
    FUZZ_CHECK(m.n_problems == 0 || m.problems, "problems counted but not listed");
    gitci_meta_free(&m);
    return 0;
}
