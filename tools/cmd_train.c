/* gitc train: fine-tunes a GIT model on a folder of captioned images (the
 * HF imagefolder layout) through the trainer of libgitc, and `gitc bench
 * --train`, which times training steps on synthetic inputs. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_common.h"
#include "tool_files.h"

static const char train_help[] =
    "Usage: gitc train [-m MODEL] --data DIR --out DIR [OPTIONS]\n"
    "\n"
    "Fine-tunes a GIT model on a folder of images with metadata.jsonl\n"
    "({\"file_name\": \"a.jpg\", \"text\": \"...\"} per line; \"question\" and \"answer\" train\n"
    "VQA) or metadata.csv (file_name,text), the layout of HF `imagefolder`. Captions\n"
    "train as [CLS] text [SEP]; VQA records as [CLS] question answer [SEP] with the\n"
    "loss on the answer and [SEP]; padding is left out of the loss. The whole\n"
    "dataset is checked first: every missing or unreadable image, empty text or text\n"
    "over --max-length is listed with its line, and training does not start.\n"
    "--out becomes a model folder that transformers (GitForCausalLM.from_pretrained,\n"
    "AutoProcessor.from_pretrained) and gitc load. Without -m: the embedded shapes model.\n"
    "\n"
    "Options:\n"
    "  -m, --model MODEL      the model to start from (a folder or a cached hub id)\n"
    "  --data DIR             the training dataset\n"
    "  --out DIR              the output model folder (checked writable before training)\n"
    "  --epochs N             passes over the data (default 3)\n"
    "  --steps N              optimizer steps instead of --epochs\n"
    "  --batch B              images per micro-batch (default 8)\n"
    "  --accumulate K         micro-batches per optimizer step (default 1)\n"
    "  --lr LR                peak learning rate (default 5e-5)\n"
    "  --warmup N             warm-up steps from 0 to LR (default 0)\n"
    "  --schedule S           linear, cosine or constant after the warm-up (default linear)\n"
    "  --weight-decay W       AdamW weight decay, not on biases or LayerNorm (default 0.01)\n"
    "  --clip C               largest global gradient norm, 0 = none (default 1.0)\n"
    "  --freeze PARTS         vision, projection, embeddings, comma-separated (vision:\n"
    "                         its outputs are computed once per image and cached)\n"
    "  --eval DIR             an evaluation dataset in the same layout\n"
    "  --eval-every N         evaluate every N steps (default: at the end of each epoch)\n"
    "  --save-every N         write DIR/checkpoint-STEP every N steps (default: never)\n"
    "  --resume DIR           continue from a checkpoint folder (same data and settings)\n"
    "  --seed S               data order and dropout masks (default 42)\n"
    "  --no-dropout           no dropout (deterministic runs)\n"
    "  --max-length N         most tokens of a record (default: the longest, at most the\n"
    "                         model's max_position_embeddings)\n"
    "  --skip-bad             train on the good records and list the bad ones\n"
    "  --threads T            worker threads (default: all CPUs)\n"
    "  --json                 one JSON record per step and per evaluation on stdout\n"
    "  -h, --help             this text\n"
    "\n"
    "On a terminal a progress bar shows step, epoch, loss, learning rate, images/s and\n"
    "ETA. --json records: {\"step\", \"epoch\", \"loss\", \"lr\", \"grad_norm\",\n"
    "\"images_per_s\"} per step and {\"step\", \"eval_loss\", \"captions\": [{\"file\",\n"
    "\"text\", \"reference\"}]} per evaluation (the first 3 eval images, greedy).\n"
    "Ctrl-C (SIGINT) or SIGTERM saves OUT/checkpoint-STEP and exits 130 / 143;\n"
    "--resume OUT/checkpoint-STEP then reaches the weights of an uninterrupted run\n"
    "(bit-identical on the same machine and thread count).\n"
    "Exit status: 0 done, 1 a failure (bad dataset, unwritable --out), 2 usage.\n"
    "\n"
    "Examples:\n"
    "  gitc train --data shapes-data --out my-shapes --epochs 20 --lr 1e-3 --batch 16\n"
    "  gitc train -m microsoft/git-base --data photos --eval photos-val --out git-photos \\\n"
    "      --epochs 5 --lr 5e-5 --warmup 100 --schedule cosine --freeze vision\n"
    "  gitc train -m git-base --data d --out o --resume o/checkpoint-400\n"
    "  gitc caption -m my-shapes examples/shapes_0_224x224.png\n";

enum {
    T_DATA = 2000, T_OUT, T_EPOCHS, T_STEPS, T_BATCH, T_ACCUMULATE, T_LR, T_WARMUP, T_SCHEDULE,
    T_WEIGHT_DECAY, T_CLIP, T_FREEZE, T_EVAL, T_EVAL_EVERY, T_SAVE_EVERY, T_RESUME, T_SEED,
    T_NO_DROPOUT, T_MAX_LENGTH, T_SKIP_BAD, T_THREADS, T_JSON, T_RUNS
};

/* The signal that asked training to stop (0: none). */
static volatile sig_atomic_t stop_signal;

/* Records SIGINT / SIGTERM; a second one ends the process at once. */
static void on_signal(int sig)
{
    stop_signal = sig;
    signal(sig, SIG_DFL);
}

/* Parses a finite double in [lo, hi]; prints a message and returns -1 otherwise. */
static int parse_double(const char *s, double lo, double hi, const char *what, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(v) || v < lo || v > hi) {
        cli_error("%s: '%s' is not a number in [%g, %g]", what, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses --freeze PARTS (vision, projection, embeddings, comma-separated). */
static int parse_freeze(const char *s, unsigned *out)
{
    *out = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "vision"))
            *out |= GITC_FREEZE_VISION;
        else if (!strcmp(tok, "projection"))
            *out |= GITC_FREEZE_PROJECTION;
        else if (!strcmp(tok, "embeddings"))
            *out |= GITC_FREEZE_EMBEDDINGS;
        else {
            cli_error("--freeze: unknown part '%s' (vision, projection, embeddings)", tok);
            return -1;
        }
    }
    if (!*out) {
        cli_error("--freeze: no part named (vision, projection, embeddings)");
        return -1;
    }
    return 0;
}

/* Creates --out (and its parents) and writes and removes a probe file, so an
 * output that cannot be written fails before any training. */
static int check_out_dir(const char *dir)
{
    char *path = strdup(dir);
    if (!path)
        return -1;
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            cli_error("--out %s: cannot create %s: %s", dir, path, strerror(errno));
            free(path);
            return -1;
        }
        *p = c;
        if (!c)
            break;
    }
    free(path);
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cli_error("--out %s: not a folder", dir);
        return -1;
    }
    size_t n = strlen(dir) + 32;
    char *probe = malloc(n);
    if (!probe)
        return -1;
    snprintf(probe, n, "%s/.gitc-write-test", dir);
    FILE *f = fopen(probe, "wb");
    int ok = f && fputs("x", f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        cli_error("--out %s: cannot write there: %s", dir, strerror(errno));
    remove(probe);
    free(probe);
    return ok ? 0 : -1;
}

/* Loads and checks a dataset, printing every bad record; NULL after a message. */
static gitc_dataset *open_dataset(const char *dir, const gitc_model *m, const gitc_dataset_params *dp,
                                  const char *what, int json)
{
    gitc_dataset *d = NULL;
    char *report = NULL;
    gitc_error err = {0};
    gitc_status st = gitc_dataset_load(dir, m, dp, &d, &report, &err);
    if (report && st == GITC_OK && !json)
        fprintf(stderr, "gitc: %s %s: left out %d bad record%s:\n", what, dir, gitc_dataset_skipped(d),
                gitc_dataset_skipped(d) == 1 ? "" : "s");
    if (report && st == GITC_OK && json)
        fprintf(stderr, "gitc: %s %s: left out %d bad records\n", what, dir, gitc_dataset_skipped(d));
    if (st != GITC_OK)
        cli_error_about(what, dir, err.message);
    if (report)
        fputs(report, stderr);
    if (st != GITC_OK && report)
        fprintf(stderr, "gitc: fix them, or train on the rest with --skip-bad\n");
    gitc_free(report);
    return d;
}

/* splitmix64 step: the shuffles' random numbers. */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The order of epoch e: a Fisher-Yates shuffle drawn from (seed, e) alone, so
 * a resumed run sees the same order. */
static void epoch_order(int *order, int n, uint64_t seed, long epoch)
{
    uint64_t s = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(epoch + 1));
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(next_random(&s) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Formats seconds as "1h02m", "3m12s" or "45s". */
static void format_eta(char *buf, size_t size, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, size, "?");
    else if (s >= 3600)
        snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60)
        snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, size, "%ds", (int)s);
}

/* Everything one training run holds. */
typedef struct run {
    const char *out;
    gitc_model *model;
    char *model_dir;
    gitc_dataset *data, *eval;
    gitc_trainer *trainer;
    int B, K, json, tty, threads;
    long total_steps, micro_per_epoch;
    uint64_t seed;
    float *px;
    int32_t *ids, *labels;
    int64_t *keys;
    int *order;
    long order_epoch;
    size_t npx, ntok;
} run;

/* Fills the micro-batch number `micro` (over all epochs) into r's buffers;
 * *B_out images, *T_out tokens. */
static int load_micro_batch(run *r, long micro, int *B_out, int *T_out)
{
    int n = gitc_dataset_size(r->data);
    long epoch = micro / r->micro_per_epoch, i = micro % r->micro_per_epoch;
    if (epoch != r->order_epoch) {
        epoch_order(r->order, n, r->seed, epoch);
        r->order_epoch = epoch;
    }
    int first = (int)(i * r->B), B = n - first < r->B ? n - first : r->B;
    gitc_error err = {0};
    if (gitc_dataset_batch(r->data, r->order + first, B, r->px, r->npx * (size_t)r->B, r->ids, r->labels, r->ntok,
                           T_out, &err) != GITC_OK) {
        cli_error("%s", err.message);
        return -1;
    }
    for (int b = 0; b < B; b++)
        r->keys[b] = r->order[first + b];
    *B_out = B;
    return 0;
}

/* Evaluates: loss over the whole eval set, captions of its first images. */
static int evaluate(run *r, long step)
{
    int n = gitc_dataset_size(r->eval), n_train = gitc_dataset_size(r->data);
    double sum = 0.0;
    long targets = 0;
    gitc_error err = {0};
    for (int first = 0; first < n; first += r->B) {
        int B = n - first < r->B ? n - first : r->B, T = 0;
        int idx[4096];
        for (int b = 0; b < B; b++) {
            idx[b] = first + b;
            r->keys[b] = n_train + first + b;
        }
        double loss = 0;
        int nt = 0;
        if (gitc_dataset_batch(r->eval, idx, B, r->px, r->npx * (size_t)r->B, r->ids, r->labels, r->ntok, &T,
                               &err) != GITC_OK ||
            gitc_trainer_evaluate(r->trainer, r->px, r->npx * (size_t)B, r->keys, B, r->ids, r->labels, T, &loss, &nt, &err) != GITC_OK) {
            cli_error("evaluation: %s", err.message);
            return -1;
        }
        sum += loss * nt;
        targets += nt;
    }
    double eval_loss = targets ? sum / (double)targets : 0.0;
    /* Captions with the current weights: the trainer writes --out, gitc loads it. */
    enum { N_CAPTIONS = 3 };
    char *texts[N_CAPTIONS] = {0};
    int n_cap = n < N_CAPTIONS ? n : N_CAPTIONS;
    gitc_model *m = NULL;
    gitc_session *s = NULL;
    if (gitc_trainer_save(r->trainer, r->out, &err) == GITC_OK && gitc_model_load(r->out, NULL, &m, &err) == GITC_OK) {
        gitc_session_params sp = gitc_session_default_params();
        sp.n_threads = r->threads;
        if (gitc_session_create(m, &sp, &s, &err) == GITC_OK) {
            gitc_generate_params gp = gitc_model_generate_params(m);
            if (gp.max_new_tokens <= 0 && gp.max_length == 20)
                gp.max_length = CLI_DEFAULT_MAX_LENGTH;
            gitc_image_params ip = gitc_image_default_params();
            ip.exif_transpose = 1;
            for (int i = 0; i < n_cap; i++) {
                gitc_image im = {0};
                if (gitc_image_load(gitc_dataset_image_path(r->eval, i), &ip, &im, &err) == GITC_OK)
                    gitc_describe_image(s, &im, gitc_dataset_question(r->eval, i), &gp, &texts[i], &err);
                gitc_image_free(&im);
            }
        }
    }
    if (r->json) {
        printf("{\"step\": %ld, \"eval_loss\": %.6f, \"eval_targets\": %ld, \"captions\": [", step, eval_loss, targets);
        for (int i = 0; i < n_cap; i++) {
            printf("%s{\"file\": ", i ? ", " : "");
            cli_json_string(stdout, gitc_dataset_image_path(r->eval, i));
            printf(", \"text\": ");
            cli_json_string(stdout, texts[i] ? texts[i] : "");
            printf(", \"reference\": ");
            cli_json_string(stdout, gitc_dataset_text(r->eval, i));
            printf("}");
        }
        printf("]}\n");
        fflush(stdout);
    } else {
        fprintf(stderr, "%sstep %ld: eval loss %.4f over %ld targets\n", r->tty ? "\r\033[K" : "", step, eval_loss,
                targets);
        for (int i = 0; i < n_cap; i++)
            fprintf(stderr, "  %s: \"%s\" (reference \"%s\")\n", gitc_dataset_image_path(r->eval, i),
                    texts[i] ? texts[i] : "", gitc_dataset_text(r->eval, i));
    }
    for (int i = 0; i < n_cap; i++)
        gitc_free(texts[i]);
    gitc_session_free(s);
    gitc_model_free(m);
    return 0;
}

/* Writes OUT/checkpoint-STEP with the data position; prints where. */
static int save_checkpoint(run *r, int quiet)
{
    long step = gitc_trainer_steps(r->trainer);
    size_t n = strlen(r->out) + 48;
    char *dir = malloc(n), user[256];
    if (!dir)
        return -1;
    snprintf(dir, n, "%s/checkpoint-%ld", r->out, step);
    snprintf(user, sizeof user,
             "{\"dataset_size\": %d, \"batch\": %d, \"accumulate\": %d, \"seed\": \"%llu\", \"total_steps\": %ld}",
             gitc_dataset_size(r->data), r->B, r->K, (unsigned long long)r->seed, r->total_steps);
    gitc_error err = {0};
    int rc = 0;
    if (gitc_trainer_save_checkpoint(r->trainer, dir, user, &err) != GITC_OK) {
        cli_error("checkpoint %s: %s", dir, err.message);
        rc = -1;
    } else if (!quiet) {
        fprintf(stderr, "%sgitc: checkpoint %s (step %ld)\n", r->tty ? "\r\033[K" : "", dir, step);
    }
    free(dir);
    return rc;
}

/* Checks that a resumed run has the data and settings of its checkpoint. */
static int check_resume(const run *r, const char *user, const char *dir)
{
    char want[256];
    snprintf(want, sizeof want, "\"dataset_size\":%d,\"batch\":%d,\"accumulate\":%d,\"seed\":\"%llu\"",
             gitc_dataset_size(r->data), r->B, r->K, (unsigned long long)r->seed);
    if (!user || !strstr(user, want)) {
        cli_error("--resume %s: the checkpoint was written for other data or settings (%s); resume with the "
                  "same --data, --batch, --accumulate and --seed",
                  dir, user ? user : "none recorded");
        return -1;
    }
    return 0;
}

/* gitc train: parses the options, checks --out and the data, then runs the loop. */
int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"revision", required_argument, NULL, OPT_REVISION},
        {"data", required_argument, NULL, T_DATA},
        {"out", required_argument, NULL, T_OUT},
        {"epochs", required_argument, NULL, T_EPOCHS},
        {"steps", required_argument, NULL, T_STEPS},
        {"batch", required_argument, NULL, T_BATCH},
        {"accumulate", required_argument, NULL, T_ACCUMULATE},
        {"lr", required_argument, NULL, T_LR},
        {"warmup", required_argument, NULL, T_WARMUP},
        {"schedule", required_argument, NULL, T_SCHEDULE},
        {"weight-decay", required_argument, NULL, T_WEIGHT_DECAY},
        {"clip", required_argument, NULL, T_CLIP},
        {"freeze", required_argument, NULL, T_FREEZE},
        {"eval", required_argument, NULL, T_EVAL},
        {"eval-every", required_argument, NULL, T_EVAL_EVERY},
        {"save-every", required_argument, NULL, T_SAVE_EVERY},
        {"resume", required_argument, NULL, T_RESUME},
        {"seed", required_argument, NULL, T_SEED},
        {"no-dropout", no_argument, NULL, T_NO_DROPOUT},
        {"max-length", required_argument, NULL, T_MAX_LENGTH},
        {"skip-bad", no_argument, NULL, T_SKIP_BAD},
        {"threads", required_argument, NULL, T_THREADS},
        {"json", no_argument, NULL, T_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_arg = NULL, *data_dir = NULL, *eval_dir = NULL, *resume = NULL;
    long epochs = 3, steps = 0, batch = 8, accumulate = 1, warmup = 0, eval_every = 0, save_every = 0;
    long max_length = 0, threads = 0, seed = 42;
    double lr = 5e-5, wd = 0.01, clip = 1.0;
    unsigned freeze = 0;
    int dropout = 1, skip_bad = 0, epochs_set = 0, c;
    gitc_schedule schedule = GITC_SCHEDULE_LINEAR;
    run r;
    memset(&r, 0, sizeof r);
    optind = 1;
    while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model_arg = optarg; break;
        case OPT_REVISION: cli_revision = optarg; break;
        case T_DATA: data_dir = optarg; break;
        case T_OUT: r.out = optarg; break;
        case T_EPOCHS: bad = cli_parse_int(optarg, 1, 1000000, "--epochs", &epochs); epochs_set = 1; break;
        case T_STEPS: bad = cli_parse_int(optarg, 1, 1000000000, "--steps", &steps); break;
        case T_BATCH: bad = cli_parse_int(optarg, 1, 4096, "--batch", &batch); break;
        case T_ACCUMULATE: bad = cli_parse_int(optarg, 1, 100000, "--accumulate", &accumulate); break;
        case T_LR: bad = parse_double(optarg, 1e-12, 10.0, "--lr", &lr); break;
        case T_WARMUP: bad = cli_parse_int(optarg, 0, 1000000000, "--warmup", &warmup); break;
        case T_SCHEDULE:
            if (!strcmp(optarg, "linear")) schedule = GITC_SCHEDULE_LINEAR;
            else if (!strcmp(optarg, "cosine")) schedule = GITC_SCHEDULE_COSINE;
            else if (!strcmp(optarg, "constant")) schedule = GITC_SCHEDULE_CONSTANT;
            else {
                cli_error("--schedule: '%s' is not linear, cosine or constant", optarg);
                bad = -1;
            }
            break;
        case T_WEIGHT_DECAY: bad = parse_double(optarg, 0.0, 10.0, "--weight-decay", &wd); break;
        case T_CLIP: bad = parse_double(optarg, 0.0, 1e9, "--clip", &clip); break;
        case T_FREEZE: bad = parse_freeze(optarg, &freeze); break;
        case T_EVAL: eval_dir = optarg; break;
        case T_EVAL_EVERY: bad = cli_parse_int(optarg, 1, 1000000000, "--eval-every", &eval_every); break;
        case T_SAVE_EVERY: bad = cli_parse_int(optarg, 1, 1000000000, "--save-every", &save_every); break;
        case T_RESUME: resume = optarg; break;
        case T_SEED: bad = cli_parse_int(optarg, 0, 2147483647, "--seed", &seed); break;
        case T_NO_DROPOUT: dropout = 0; break;
        case T_MAX_LENGTH: bad = cli_parse_int(optarg, 2, 1000000, "--max-length", &max_length); break;
        case T_SKIP_BAD: skip_bad = 1; break;
        case T_THREADS: bad = cli_parse_int(optarg, 0, 1024, "--threads", &threads); break;
        case T_JSON: r.json = 1; break;
        case 'h': fputs(train_help, stdout); return CLI_EXIT_OK;
        default: return cli_option_error("train", c, argv);
        }
        if (bad)
            return cli_usage_error("train");
    }
    if (optind != argc) {
        cli_error("train: unexpected argument '%s'", argv[optind]);
        return cli_usage_error("train");
    }
    if (!data_dir || !r.out) {
        cli_error("train: --data DIR and --out DIR are required");
        return cli_usage_error("train");
    }
    if (steps && epochs_set) {
        cli_error("train: give --epochs or --steps, not both");
        return cli_usage_error("train");
    }
    /* The output must be writable before anything long starts. */
    if (check_out_dir(r.out) != 0)
        return CLI_EXIT_FAILED;
    int status = CLI_EXIT_FAILED;
    char *user = NULL;
    r.B = (int)batch;
    r.K = (int)accumulate;
    r.seed = (uint64_t)seed;
    r.tty = !r.json && isatty(STDERR_FILENO);
    r.order_epoch = -1;
    r.threads = threads ? (int)threads : cli_cpu_count();
    r.model = cli_open_model(model_arg, 0, &r.model_dir);
    if (!r.model)
        goto done;
    gitc_dataset_params dp = gitc_dataset_default_params();
    dp.max_length = (int)max_length;
    dp.skip_bad = skip_bad;
    if (max_length > gitc_model_config(r.model)->max_position_embeddings) {
        cli_error("--max-length %ld: more than the model's max_position_embeddings %d", max_length,
                  gitc_model_config(r.model)->max_position_embeddings);
        status = CLI_EXIT_USAGE;
        goto done;
    }
    r.data = open_dataset(data_dir, r.model, &dp, "--data", r.json);
    if (!r.data)
        goto done;
    if (eval_dir && !(r.eval = open_dataset(eval_dir, r.model, &dp, "--eval", r.json)))
        goto done;
    int n = gitc_dataset_size(r.data), n_eval = r.eval ? gitc_dataset_size(r.eval) : 0;
    r.micro_per_epoch = (n + r.B - 1) / r.B;
    r.total_steps = steps ? steps : epochs * r.micro_per_epoch / r.K;
    if (r.total_steps < 1) {
        cli_error("train: %ld epochs of %ld micro-batches make no step of %d micro-batches (lower --accumulate)",
                  epochs, r.micro_per_epoch, r.K);
        goto done;
    }
    int max_tokens = gitc_dataset_max_tokens(r.data);
    if (r.eval && gitc_dataset_max_tokens(r.eval) > max_tokens)
        max_tokens = gitc_dataset_max_tokens(r.eval);
    gitc_train_params tp = gitc_train_default_params();
    tp.lr = lr;
    tp.weight_decay = wd;
    tp.clip = clip;
    tp.schedule = schedule;
    tp.warmup_steps = warmup;
    tp.total_steps = r.total_steps;
    tp.accumulate = r.K;
    tp.freeze = freeze;
    tp.dropout = dropout;
    tp.seed = r.seed;
    tp.n_threads = r.threads;
    tp.max_batch = r.B;
    tp.max_text = max_tokens < 2 ? 2 : max_tokens;
    tp.cache_images = (freeze & GITC_FREEZE_VISION) ? n + n_eval : 0;
    gitc_error err = {0};
    if (gitc_trainer_create(r.model, &tp, &r.trainer, &err) != GITC_OK) {
        cli_error("cannot start training: %s", err.message);
        goto done;
    }
    if (resume) {
        if (gitc_trainer_resume(r.trainer, resume, &user, &err) != GITC_OK) {
            cli_error_about("--resume", resume, err.message);
            goto done;
        }
        if (check_resume(&r, user, resume) != 0)
            goto done;
    }
    r.npx = gitc_model_pixel_floats(r.model);
    /* The trainer and the datasets hold copies of what they need: the loaded model's
     * prepared weights would only add to the peak memory. */
    gitc_model_free(r.model);
    r.model = NULL;
    r.ntok = (size_t)r.B * (size_t)tp.max_text;
    r.px = malloc(r.npx * (size_t)r.B * sizeof *r.px);
    r.ids = malloc(r.ntok * sizeof *r.ids);
    r.labels = malloc(r.ntok * sizeof *r.labels);
    r.keys = malloc((size_t)r.B * sizeof *r.keys);
    r.order = malloc((size_t)n * sizeof *r.order);
    if (!r.px || !r.ids || !r.labels || !r.keys || !r.order) {
        cli_error("out of memory");
        goto done;
    }
    if (!r.json)
        fprintf(stderr, "gitc: training %s on %d records (%s) for %ld steps of %d x %d images, %d threads\n",
                r.model_dir, n, data_dir, r.total_steps, r.B, r.K, r.threads);
    stop_signal = 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    double t_start = cli_now_ms(), t_step = t_start;
    long start_step = gitc_trainer_steps(r.trainer), images_in_step = 0;
    double loss_sum = 0.0;
    int loss_n = 0;
    while (gitc_trainer_steps(r.trainer) < r.total_steps) {
        long micro = gitc_trainer_micro_steps(r.trainer);
        int B = 0, T = 0;
        if (load_micro_batch(&r, micro, &B, &T) != 0)
            goto done;
        gitc_train_stats s;
        if (gitc_trainer_step(r.trainer, r.px, r.npx * (size_t)B, r.keys, B, r.ids, r.labels, T, &s, &err) != GITC_OK) {
            cli_error("step %ld: %s", gitc_trainer_steps(r.trainer) + 1, err.message);
            goto done;
        }
        loss_sum += s.loss;
        loss_n++;
        images_in_step += B;
        if (s.stepped) {
            double now = cli_now_ms();
            double ips = images_in_step / ((now - t_step) / 1e3);
            double epoch = (double)(micro + 1) / (double)r.micro_per_epoch;
            double loss = loss_sum / loss_n;
            if (r.json) {
                printf("{\"step\": %ld, \"epoch\": %.4f, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6f, "
                       "\"images_per_s\": %.3f}\n",
                       s.step, epoch, loss, s.lr, s.grad_norm, ips);
                fflush(stdout);
            } else if (r.tty) {
                char eta[32];
                double per = (now - t_start) / 1e3 / (double)(s.step - start_step);
                format_eta(eta, sizeof eta, per * (double)(r.total_steps - s.step));
                fprintf(stderr, "\r\033[Kstep %ld/%ld  epoch %.2f  loss %.4f  lr %.3g  %.1f images/s  ETA %s", s.step,
                        r.total_steps, epoch, loss, s.lr, ips, eta);
            }
            t_step = now;
            images_in_step = 0;
            loss_sum = 0.0;
            loss_n = 0;
            int epoch_end = (micro + 1) % r.micro_per_epoch == 0;
            if (r.eval && ((eval_every && s.step % eval_every == 0) || (!eval_every && epoch_end)) &&
                evaluate(&r, s.step) != 0)
                goto done;
            if (save_every && s.step % save_every == 0 && s.step < r.total_steps && save_checkpoint(&r, r.json) != 0)
                goto done;
        }
        if (stop_signal) {
            int sig = stop_signal;
            if (r.tty)
                fputs("\n", stderr);
            if (save_checkpoint(&r, 0) == 0)
                fprintf(stderr, "gitc: stopped by %s; continue with --resume %s/checkpoint-%ld\n",
                        sig == SIGINT ? "SIGINT" : "SIGTERM", r.out, gitc_trainer_steps(r.trainer));
            status = sig == SIGINT ? 130 : 143;
            goto done;
        }
    }
    if (r.tty)
        fputs("\n", stderr);
    if (r.eval && eval_every && gitc_trainer_steps(r.trainer) % eval_every != 0 && evaluate(&r, r.total_steps) != 0)
        goto done;
    if (gitc_trainer_save(r.trainer, r.out, &err) != GITC_OK) {
        cli_error("cannot save the model: %s", err.message);
        goto done;
    }
    if (!r.json)
        fprintf(stderr, "gitc: saved %s (%ld steps in %.1f s)\n", r.out, r.total_steps,
                (cli_now_ms() - t_start) / 1e3);
    status = CLI_EXIT_OK;
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    gitc_free(user);
    free(r.px);
    free(r.ids);
    free(r.labels);
    free(r.keys);
    free(r.order);
    gitc_trainer_free(r.trainer);
    gitc_dataset_free(r.data);
    gitc_dataset_free(r.eval);
    gitc_model_free(r.model);
    free(r.model_dir);
    return status;
}

/* ---- gitc bench --train ---- */

static const char bench_train_help[] =
    "Usage: gitc bench --train [-m MODEL] [--batch B] [--freeze vision] [--threads T] [--runs N] [--json]\n"
    "\n"
    "Times full training steps (forward, backward, clipping, AdamW) on --batch B\n"
    "synthetic images (default 8) with 20-token texts. Without -m: the synthetic\n"
    "git-base shape. With --freeze vision the vision outputs are cached as after the\n"
    "first epoch (computed in the warm-up step). Prints the best of --runs steps\n"
    "(default 3) after one warm-up step.\n"
    "\n"
    "Output with --json: {\"model\", \"threads\", \"batch\", \"freeze\", \"train_step_ms\",\n"
    "\"images_per_s\", \"flops\" (the matrix-product FLOPs a step runs), \"gflops\",\n"
    "\"peak_gflops\" (the FMA peak of the kernel set on the same threads),\n"
    "\"fraction_of_peak\", \"peak_rss_mb\", \"weights_mb\", \"runs\"}\n"
    "\n"
    "Examples:\n"
    "  gitc bench --train --threads 2 --batch 8\n"
    "  gitc bench --train -m models/git-shapes --freeze vision --json\n";

/* FLOPs of a [M, K] x [K, N] product. */
static double mm(double M, double N, double K) { return 2.0 * M * N * K; }

/* Matrix-product FLOPs one training step runs: each product forward and, for
 * the parts that train, its input and weight gradients (3x), as the library
 * computes them: no input gradient for the pixels (nor for the projection's
 * input when the vision encoder is frozen: with the cache it does not run at
 * all), the top decoder layer's queries and everything after its attention
 * for the text rows alone, the output layer for the T - 1 target rows. */
static double train_flops(const gitc_config *c, int B, int T, int frozen_vision)
{
    double I = c->image_tokens_per_frame, Np = I - 1, Dv = c->vision_hidden_size, D = c->hidden_size;
    double Iv = c->vision_intermediate_size, Id = c->intermediate_size, L = I + T;
    double vis = 2.0 * mm(Np, Dv, 3.0 * c->vision_patch_size * c->vision_patch_size) +
                 3.0 * c->vision_num_hidden_layers * (4 * mm(I, Dv, Dv) + 2 * mm(I, Iv, Dv) + 2 * mm(I, I, Dv));
    double layer = 4 * mm(L, D, D) + 2 * mm(L, Id, D) + 2 * mm(L, L, D);
    double top = 2 * mm(T, D, D) + 2 * mm(L, D, D) + 2 * mm(T, Id, D) + 2 * mm(T, L, D);
    double text = (frozen_vision ? 2.0 : 3.0) * mm(I, D, Dv) +
                  3.0 * ((c->num_hidden_layers - 1) * layer + (c->num_hidden_layers > 0 ? top : 0.0)) +
                  3.0 * mm(T - 1, c->vocab_size, D);
    return B * (text + (frozen_vision ? 0.0 : vis));
}

/* gitc bench --train: times training steps on synthetic inputs. */
int cmd_bench_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"train", no_argument, NULL, 't'},
        {"batch", required_argument, NULL, T_BATCH},
        {"freeze", required_argument, NULL, T_FREEZE},
        {"threads", required_argument, NULL, T_THREADS},
        {"runs", required_argument, NULL, T_RUNS},
        {"json", no_argument, NULL, T_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_arg = NULL;
    long batch = 8, threads = 0, runs = 3;
    unsigned freeze = 0;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model_arg = optarg; break;
        case 't': break;
        case T_BATCH: bad = cli_parse_int(optarg, 1, 256, "--batch", &batch); break;
        case T_FREEZE: bad = parse_freeze(optarg, &freeze); break;
        case T_THREADS: bad = cli_parse_int(optarg, 0, 1024, "--threads", &threads); break;
        case T_RUNS: bad = cli_parse_int(optarg, 1, 1000, "--runs", &runs); break;
        case T_JSON: json = 1; break;
        case 'h': fputs(bench_train_help, stdout); return CLI_EXIT_OK;
        default: return cli_option_error("bench", c, argv);
        }
        if (bad)
            return cli_usage_error("bench");
    }
    if (optind != argc)
        return cli_usage_error("bench");
    char *synth = NULL;
    if (!model_arg) {
        synth = cli_synthetic_base_dir();
        if (!synth)
            return CLI_EXIT_FAILED;
        model_arg = synth;
    }
    int status = CLI_EXIT_FAILED, B = (int)batch, T = 20;
    int n_threads = threads ? (int)threads : cli_cpu_count();
    gitc_model *m = cli_open_model(model_arg, 0, NULL);
    gitc_trainer *t = NULL;
    gitc_session *s = NULL;
    float *px = NULL;
    int32_t *ids = NULL;
    int64_t *keys = NULL;
    if (!m)
        goto done;
    gitc_config config = *gitc_model_config(m); /* a copy: the model is freed before the timings */
    const gitc_config *cfg = &config;
    size_t npx = gitc_model_pixel_floats(m);
    px = malloc((size_t)B * npx * sizeof *px);
    ids = malloc((size_t)B * T * sizeof *ids);
    keys = malloc((size_t)B * sizeof *keys);
    if (!px || !ids || !keys) {
        cli_error("out of memory");
        goto done;
    }
    uint64_t rs = 12345;
    for (size_t i = 0; i < (size_t)B * npx; i++)
        px[i] = (float)(next_random(&rs) >> 40) * (4.0f / 16777216.0f) - 1.8f;
    for (int b = 0; b < B; b++) {
        keys[b] = b;
        for (int i = 0; i < T; i++)
            ids[b * T + i] = i == 0 ? cfg->bos_token_id
                             : i == T - 1 ? cfg->eos_token_id
                                          : (int32_t)(1000 % cfg->vocab_size + next_random(&rs) % (uint64_t)(cfg->vocab_size - 1000 % cfg->vocab_size));
    }
    gitc_error err = {0};
    gitc_session_params sp = gitc_session_default_params();
    sp.n_threads = n_threads;
    double peak = 0;
    if (gitc_session_create(m, &sp, &s, &err) == GITC_OK) {
        peak = gitc_session_peak_gflops(s, 200);
        gitc_session_free(s);
        s = NULL;
    }
    gitc_train_params tp = gitc_train_default_params();
    tp.n_threads = n_threads;
    tp.max_batch = B;
    tp.max_text = T;
    tp.freeze = freeze;
    tp.cache_images = B;
    tp.dropout = 1;
    if (gitc_trainer_create(m, &tp, &t, &err) != GITC_OK) {
        cli_error("%s", err.message);
        goto done;
    }
    double wmb = (double)gitc_model_weight_bytes(m) / (1024.0 * 1024.0);
    gitc_model_free(m); /* the trainer holds its own float32 copy */
    m = NULL;
    double best = INFINITY;
    for (int r = 0; r <= runs; r++) { /* step 0 warms up (and fills the vision cache) */
        double t0 = cli_now_ms();
        if (gitc_trainer_step(t, px, (size_t)B * npx, keys, B, ids, ids, T, NULL, &err) != GITC_OK) {
            cli_error("%s", err.message);
            goto done;
        }
        if (r > 0)
            best = fmin(best, cli_now_ms() - t0);
    }
    double flops = train_flops(cfg, B, T, (freeze & GITC_FREEZE_VISION) != 0);
    double gflops = flops / (best * 1e6), rss = tool_peak_rss_mb();
    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, model_arg);
        printf(", \"threads\": %d, \"batch\": %d, \"text_tokens\": %d, \"freeze\": %u, \"train_step_ms\": %.2f,"
               " \"images_per_s\": %.3f, \"flops\": %.4g, \"gflops\": %.2f, \"peak_gflops\": %.2f,"
               " \"fraction_of_peak\": %.3f, \"peak_rss_mb\": %.1f, \"weights_mb\": %.1f, \"runs\": %ld}\n",
               n_threads, B, T, freeze, best, B / (best / 1e3), flops, gflops, peak, peak > 0 ? gflops / peak : 0.0,
               rss, wmb, runs);
    } else {
        printf("model            %s (%.1f MiB of weights as loaded)\n", model_arg, wmb);
        printf("threads          %d (FMA peak %.1f GFLOP/s)\n", n_threads, peak);
        printf("train step       %.2f ms for %d images x %d tokens%s (best of %ld)\n", best, B, T,
               (freeze & GITC_FREEZE_VISION) ? ", vision frozen and cached" : "", runs);
        printf("images/s         %.2f\n", B / (best / 1e3));
        printf("matrix FLOPs     %.3g per step, %.1f GFLOP/s (%.0f%% of peak)\n", flops, gflops,
               peak > 0 ? 100.0 * gflops / peak : 0.0);
        printf("peak RSS         %.1f MB\n", rss);
    }
    status = CLI_EXIT_OK;
done:
    gitc_trainer_free(t);
    gitc_model_free(m);
    free(px);
    free(ids);
    free(keys);
    free(synth);
    return status;
}
