/* Training datasets: the metadata.jsonl and metadata.csv parsers (records,
 * line numbers, quoting, every bad line reported), the checks of a dataset
 * folder against the shapes model, and the batches it builds (ids, labels,
 * pixel_values equal to the processor's output). Scratch files go to
 * $GITC_TMP/dataset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "dataset.h"

static char tmp_root[1024];

/* Counts the lines of a problem list. */
static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* metadata.jsonl: records, line numbers and every problem. */
static void test_jsonl(void)
{
    const char text[] = "\xEF\xBB\xBF{\"file_name\": \"a.png\", \"text\": \"a red circle\"}\n"
                        "\n"
                        "{\"file_name\": \"b.png\", \"question\": \"what color?\", \"answer\": \"red\", \"x\": 1}\r\n"
                        "{\"file_name\": \"c.png\"}\n"
                        "not json\n"
                        "{\"file_name\": 3, \"text\": \"t\"}\n"
                        "{\"file_name\": \"d.png\", \"text\": \"t\"} trailing\n"
                        "{\"file_name\": \"e.png\", \"question\": \"q\"}\n"
                        "[1, 2]\n"
                        "{\"file_name\": \"f.png\", \"text\": \"last\"}";
    gitc_meta m;
    gitc_error err = {0};
    if (!check_true(gitci_meta_parse_jsonl(text, sizeof text - 1, "m.jsonl", &m, &err) == GITC_OK,
                    "jsonl parses: %s", err.message))
        return;
    check_true(m.n_records == 3, "jsonl: 3 records, got %d", m.n_records);
    if (m.n_records == 3) {
        check_true(m.records[0].line == 1 && !strcmp(m.records[0].file_name, "a.png") &&
                       !strcmp(m.records[0].text, "a red circle") && !m.records[0].question,
                   "jsonl record 1 (after the BOM)");
        check_true(m.records[1].line == 3 && !strcmp(m.records[1].question, "what color?") &&
                       !strcmp(m.records[1].text, "red"),
                   "jsonl record 2: VQA on line 3");
        check_true(m.records[2].line == 10 && !strcmp(m.records[2].text, "last"), "jsonl record 3: line 10, no final newline");
    }
    check_true(m.n_problems == 6, "jsonl: 6 problems, got %d:\n%s", m.n_problems, m.problems ? m.problems : "");
    const char *want[] = {"m.jsonl:4: no \"text\"", "m.jsonl:5: not a JSON object",
                          "m.jsonl:6: no \"file_name\"", "m.jsonl:7: text after the JSON object",
                          "m.jsonl:8: a VQA record needs both", "m.jsonl:9: not a JSON object"};
    for (int i = 0; i < 6; i++)
        check_true(m.problems && strstr(m.problems, want[i]) != NULL, "jsonl problem \"%s\"", want[i]);
    gitci_meta_free(&m);
    printf("jsonl: records, lines and 6 problems as expected\n");
}

/* metadata.csv: quoting, line numbers, problems, header checks. */
static void test_csv(void)
{
    const char text[] = "file_name,text,extra\r\n"
                        "a.png,a red circle,1\r\n"
                        "\"b,1.png\",\"a \"\"quoted\"\" text, with comma\",2\n"
                        "c.png,\"two\nlines\",3\n"
                        "d.png,too,many,fields\n"
                        "\n"
                        "e.png,\"bad\"quote,4\n"
                        "f.png,ok,5\n"
                        "g.png,\"never closed\n"
                        "h.png,x,6\n";
    gitc_meta m;
    gitc_error err = {0};
    if (!check_true(gitci_meta_parse_csv(text, sizeof text - 1, "m.csv", &m, &err) == GITC_OK,
                    "csv parses: %s", err.message))
        return;
    check_true(m.n_records == 4, "csv: 4 records, got %d", m.n_records);
    if (m.n_records == 4) {
        check_true(m.records[0].line == 2 && !strcmp(m.records[0].text, "a red circle"), "csv record 1 (CRLF)");
        check_true(m.records[1].line == 3 && !strcmp(m.records[1].file_name, "b,1.png") &&
                       !strcmp(m.records[1].text, "a \"quoted\" text, with comma"),
                   "csv record 2: quotes and commas, got [%s] [%s]", m.records[1].file_name, m.records[1].text);
        check_true(m.records[2].line == 4 && !strcmp(m.records[2].text, "two\nlines"), "csv record 3: a newline in quotes");
        check_true(m.records[3].line == 9 && !strcmp(m.records[3].file_name, "f.png"),
                   "csv record 4 on line 9 (after a two-line record and a blank line), got %d", m.records[3].line);
    }
    const char *want[] = {"m.csv:6: 4 fields, the header has 3", "m.csv:8: text after a closing quote",
                          "m.csv:10: a quoted field is not closed"};
    check_true(m.n_problems == 3, "csv: 3 problems, got %d:\n%s", m.n_problems, m.problems ? m.problems : "");
    for (int i = 0; i < 3; i++)
        check_true(m.problems && strstr(m.problems, want[i]) != NULL, "csv problem \"%s\"", want[i]);
    gitci_meta_free(&m);

    const char vqa[] = "question,answer,file_name\nwhat color?,red,a.png\n";
    check_true(gitci_meta_parse_csv(vqa, sizeof vqa - 1, "v.csv", &m, &err) == GITC_OK && m.n_records == 1 &&
                   m.records[0].question && !strcmp(m.records[0].text, "red"),
               "csv VQA columns in any order");
    gitci_meta_free(&m);
    const char nohdr[] = "name,caption\na.png,x\n";
    err.message[0] = 0;
    check_true(gitci_meta_parse_csv(nohdr, sizeof nohdr - 1, "h.csv", &m, &err) == GITC_ERR_FORMAT &&
                   strstr(err.message, "h.csv:1: the header must name the columns file_name and text"),
               "csv without file_name/text columns refused: %s", err.message);
    check_true(gitci_meta_parse_csv("", 0, "e.csv", &m, &err) == GITC_ERR_FORMAT, "empty csv refused");
    printf("csv: quoting, line numbers, 3 problems, header checks\n");
}

/* file_name values that must be refused and some that must not. */
static void test_file_names(void)
{
    check_true(gitci_meta_bad_file_name("a/b.png") == NULL, "a/b.png is fine");
    check_true(gitci_meta_bad_file_name("..a.png") == NULL, "..a.png is fine");
    check_true(gitci_meta_bad_file_name("") != NULL, "empty refused");
    check_true(gitci_meta_bad_file_name("/etc/passwd") != NULL, "absolute refused");
    check_true(gitci_meta_bad_file_name("a/../../b.png") != NULL, ".. refused");
    check_true(gitci_meta_bad_file_name("..") != NULL, ".. alone refused");
    check_true(gitci_meta_bad_file_name("a\nb") != NULL, "control character refused");
}

/* Writes text to dir/name. */
static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (check_true(f != NULL, "create %s", path)) {
        fputs(text, f);
        fclose(f);
    }
}

/* Copies a file. */
static void copy_file(const char *from, const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *in = fopen(from, "rb"), *out = fopen(path, "wb");
    if (check_true(in && out, "copy %s", from)) {
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, n, out);
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

/* A dataset folder against the shapes model: bad records listed, skip_bad, batches. */
static void test_folder(void)
{
    gitc_model *m = NULL;
    gitc_error err = {0};
    if (!check_true(gitc_model_load(check_path("models/git-shapes"), NULL, &m, &err) == GITC_OK, "load: %s",
                    err.message))
        return;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/folder", tmp_root);
    mkdir(dir, 0755);
    copy_file(check_path("examples/shapes_0_224x224.png"), dir, "a.png");
    copy_file(check_path("examples/shapes_1_320x240.jpg"), dir, "b.jpg");
    write_text(dir, "broken.png", "this is not a png");
    write_text(dir, "metadata.jsonl",
               "{\"file_name\": \"a.png\", \"text\": \"a large red circle on a white background\"}\n"
               "{\"file_name\": \"missing.png\", \"text\": \"a red circle\"}\n"
               "{\"file_name\": \"b.jpg\", \"question\": \"what color is the background?\", \"answer\": \"black\"}\n"
               "{\"file_name\": \"broken.png\", \"text\": \"a red circle\"}\n"
               "{\"file_name\": \"a.png\", \"text\": \"   \"}\n"
               "{\"file_name\": \"a.png\", \"text\": \"a red circle and a blue square and a green triangle\"}\n"
               "{\"file_name\": \"../a.png\", \"text\": \"a red circle\"}\n"
               "{\"file_name\": \"b.jpg\"}\n");
    gitc_dataset_params p = gitc_dataset_default_params();
    p.max_length = 10;
    gitc_dataset *d = NULL;
    char *report = NULL;
    gitc_status st = gitc_dataset_load(dir, m, &p, &d, &report, &err);
    check_true(st == GITC_ERR_FORMAT && d == NULL, "a dataset with bad records is refused (status %d)", (int)st);
    check_true(strstr(err.message, "6 bad records of 8") != NULL, "message counts them: %s", err.message);
    const char *want[] = {":2: missing.png: image file not found", ":4: unreadable image", ":5: empty text",
                          ":6: text of 13 tokens, more than max_length 10", ":7: file_name has a \"..\"",
                          ":8: no \"text\""};
    for (int i = 0; i < 6; i++)
        check_true(report && strstr(report, want[i]) != NULL, "report lists \"%s\"", want[i]);
    check_true(count_lines(report) == 6, "report has 6 lines:\n%s", report ? report : "");
    check_true(report && strstr(report, ":2:") < strstr(report, ":8:"), "report in line order");
    if (report)
        printf("refused with:\n%s", report);
    gitc_free(report);

    p.skip_bad = 1;
    st = gitc_dataset_load(dir, m, &p, &d, &report, &err);
    gitc_free(report);
    if (check_true(st == GITC_OK && d, "skip_bad loads the rest: %s", err.message)) {
        check_true(gitc_dataset_size(d) == 2 && gitc_dataset_skipped(d) == 6, "2 kept, 6 skipped (%d, %d)",
                   gitc_dataset_size(d), gitc_dataset_skipped(d));
        check_true(gitc_dataset_question(d, 1) && !strcmp(gitc_dataset_text(d, 1), "black"), "record 2 is the VQA one");
        /* The caption: [CLS] a large red circle on a white background [SEP], labels = ids. */
        const gitc_tokenizer *tok = gitc_model_tokenizer(m);
        int32_t *cap = NULL, *q = NULL, *a = NULL;
        size_t ncap = 0, nq = 0, na = 0;
        const char *ctext = "a large red circle on a white background";
        gitc_tokenizer_encode(tok, ctext, strlen(ctext), 1, &cap, &ncap, &err);
        gitc_tokenizer_encode(tok, "what color is the background?", 29, 1, &q, &nq, &err);
        gitc_tokenizer_encode(tok, "black", 5, 0, &a, &na, &err);
        int T = (int)(nq - 1 + na + 1);
        if (T < (int)ncap)
            T = (int)ncap;
        check_true(gitc_dataset_max_tokens(d) == T, "max tokens %d", T);
        int idx[2] = {0, 1}, n_text = 0;
        size_t npx = gitc_model_pixel_floats(m);
        float *px = malloc(2 * npx * sizeof *px), *want_px = malloc(npx * sizeof *want_px);
        int32_t ids[64], labels[64];
        st = gitc_dataset_batch(d, idx, 2, px, 2 * npx, ids, labels, 64, &n_text, &err);
        if (check_true(st == GITC_OK, "batch: %s", err.message)) {
            check_true(n_text == T, "batch T = the longest record (%d), got %d", T, n_text);
            int ok = 1;
            for (int t = 0; t < n_text; t++) {
                int32_t wi = t < (int)ncap ? cap[t] : 0, wl = t < (int)ncap ? cap[t] : -100;
                ok &= ids[t] == wi && labels[t] == wl;
            }
            check_true(ok, "caption row: [CLS] text [SEP], labels = ids, pads 0 / -100");
            ok = 1;
            for (int t = 0; t < n_text; t++) {
                int n_vqa = (int)(nq - 1 + na + 1);
                int32_t wi = t < (int)nq - 1 ? q[t] : t < (int)(nq - 1 + na) ? a[t - (nq - 1)] : t < n_vqa ? 102 : 0;
                int32_t wl = t < (int)nq - 1 || t >= n_vqa ? -100 : wi;
                ok &= ids[n_text + t] == wi && labels[n_text + t] == wl;
            }
            check_true(ok, "VQA row: [CLS] question answer [SEP], labels on answer and [SEP] only");
            gitc_image im = {0};
            gitc_image_params ip = gitc_image_default_params();
            ip.exif_transpose = 1;
            gitc_image_load(check_path("examples/shapes_1_320x240.jpg"), &ip, &im, &err);
            gitc_processor_run(gitc_model_processor(m), &im, want_px, npx, &err);
            gitc_image_free(&im);
            check_true(memcmp(px + npx, want_px, npx * sizeof *px) == 0, "pixel_values equal the processor's");
        }
        int bad_idx = 2;
        check_true(gitc_dataset_batch(d, &bad_idx, 1, px, npx, ids, labels, 64, &n_text, &err) ==
                       GITC_ERR_ARGUMENT, "index out of range refused");
        free(px);
        free(want_px);
        gitc_free(cap);
        gitc_free(q);
        gitc_free(a);
        gitc_dataset_free(d);
    }
    /* Default max_length: the model's 512 positions; no metadata is an I/O error naming the folder. */
    char empty[1100];
    snprintf(empty, sizeof empty, "%s/empty", tmp_root);
    mkdir(empty, 0755);
    char stale[1200];
    snprintf(stale, sizeof stale, "%s/metadata.csv", empty);
    remove(stale);
    st = gitc_dataset_load(empty, m, NULL, &d, NULL, &err);
    check_true(st == GITC_ERR_IO && strstr(err.message, "no metadata.jsonl or metadata.csv"), "no metadata: %s",
               err.message);
    write_text(empty, "metadata.csv", "file_name,text\na.png,\"x\n");
    st = gitc_dataset_load(empty, m, NULL, &d, &report, &err);
    check_true(st == GITC_ERR_FORMAT && report && strstr(report, "metadata.csv:2: a quoted field is not closed"),
               "csv problem through the folder: %s", report ? report : err.message);
    gitc_free(report);
    gitc_model_free(m);
    printf("folder: every bad record listed, skip_bad, batches\n");
}

int main(int argc, char **argv)
{
    check_init(argc, argv);
    const char *tmp = getenv("GITC_TMP");
    snprintf(tmp_root, sizeof tmp_root, "%s/dataset", tmp ? tmp : "/tmp");
    mkdir(tmp_root, 0755);
    test_jsonl();
    test_csv();
    test_file_names();
    test_folder();
    return check_done("test_dataset");
}
