/* gitc caption, gitc ask and gitc video: files in, text out, one model load
 * and one session for the whole batch. */
#include "cli_common.h"

#include <stdlib.h>
#include <string.h>

typedef enum describe_mode { MODE_CAPTION, MODE_ASK, MODE_VIDEO } describe_mode;

/* Images described together by default (gitc bench --batch: see notes/kernels.md). */
#define CLI_BATCH_DEFAULT 4
#define CLI_BATCH_DEFAULT_STR "4"

/* Everything the command line of a describe command says. */
typedef struct describe_opts {
    describe_mode mode;
    const char *cmd;      /* subcommand name */
    const char *model;    /* -m, NULL for the embedded default */
    int n_threads;
    int json;
    int frames;           /* video --frames: the inputs are the frames of one clip */
    int batch;            /* caption/ask: images described together (--batch) */
    const char *question; /* ask */
    cli_decode_flags decode;
    cli_inputs inputs;
} describe_opts;

/* The outcome of one input. */
typedef struct describe_result {
    char **texts;     /* n_texts texts, best first (caller frees); NULL on failure */
    float *scores;    /* the sequences' scores */
    int n_texts;
    gitc_error err;
    double load_ms;   /* decoding the image or video */
    double generate_ms;
    int n_total;      /* video: frames decoded from the file */
} describe_result;

static const char caption_help[] =
    "Usage: gitc caption [OPTIONS] IMAGE...\n"
    "Describes each image in one sentence.\n"
    "\n"
    "IMAGE is an image file (JPEG, PNG, WebP, BMP, GIF), a folder (its image files,\n"
    "sorted by name), or - to read paths from stdin, one per line (also --stdin).\n"
    "\n"
    "Output: for one image, the caption alone; for several, one line \"FILE: caption\"\n"
    "per image in input order. An input that fails is reported on stderr\n"
    "(\"gitc: FILE: problem\") and the batch goes on.\n"
    "      --json             JSON Lines instead: one object per input,\n"
    "                         {\"file\", \"text\", \"timings_ms\": {\"load\", \"generate\",\n"
    "                         \"total\"}} (--num-return-sequences adds \"texts\", \"scores\"),\n"
    "                         or {\"file\", \"error\"} for an input that failed\n"
    "      --stdin            read image paths from stdin\n"
    "      --batch N          describe N images together (default " CLI_BATCH_DEFAULT_STR "): one\n"
    "                         encoder pass, their tokens decoded together; same texts\n"
    "  -h, --help             this help\n"
    "\n";

static const char ask_help[] =
    "Usage: gitc ask [OPTIONS] IMAGE... QUESTION\n"
    "Answers a question about each image (visual question answering). The last\n"
    "argument is the question; the answer leaves out the echoed question.\n"
    "\n"
    "IMAGE is an image file, a folder (its image files, sorted by name), or - to\n"
    "read paths from stdin (also --stdin).\n"
    "\n"
    "Output: for one image, the answer alone; for several, \"FILE: answer\" lines.\n"
    "      --json             JSON Lines: {\"file\", \"question\", \"answer\", \"text\",\n"
    "                         \"timings_ms\"} per image (\"text\" = \"answer\"), or\n"
    "                         {\"file\", \"question\", \"error\"}\n"
    "      --stdin            read image paths from stdin\n"
    "      --batch N          answer for N images together (default " CLI_BATCH_DEFAULT_STR ")\n"
    "  -h, --help             this help\n"
    "\n";

static const char video_help[] =
    "Usage: gitc video [OPTIONS] VIDEO...\n"
    "       gitc video [OPTIONS] --frames IMAGE...\n"
    "Describes a video clip. A VIDEO file (MP4, AVI, MKV, WebM, ...: whatever FFmpeg\n"
    "reads) gives the model's number of frames sampled evenly over the clip. With\n"
    "--frames the images are the frames of one clip, in order, and there must be\n"
    "exactly as many as the model takes (4 for the embedded git-shapes-video).\n"
    "A folder stands for its video files (its images with --frames), sorted by name.\n"
    "\n"
    "Output: for one clip, the caption alone; for several, \"FILE: caption\" lines.\n"
    "      --frames           the arguments are the frames of one clip\n"
    "      --json             JSON Lines: {\"file\", \"text\", \"timings_ms\"} per clip\n"
    "                         (--frames adds \"frames\"), or {\"file\", \"error\"}\n"
    "      --stdin            read paths from stdin\n"
    "  -h, --help             this help\n"
    "\n";

static const char exit_help[] =
    "\n"
    "Exit status: 0 when every input succeeded, 1 when any failed (or the model\n"
    "could not be loaded), 2 for a usage error (unknown option, invalid setting).\n";

static void print_help(describe_mode mode)
{
    fputs(mode == MODE_CAPTION ? caption_help : mode == MODE_ASK ? ask_help : video_help,
          stdout);
    fputs(cli_model_help, stdout);
    fputc('\n', stdout);
    fputs(cli_decode_help, stdout);
    fputs(exit_help, stdout);
    fputs("\nExamples:\n", stdout);
    if (mode == MODE_CAPTION) {
        fputs("  gitc caption examples/shapes_0_224x224.png\n"
              "  gitc caption --beams 3 --max-length 30 --json examples/\n"
              "  gitc caption -m microsoft/git-base-coco photo.jpg\n"
              "  find photos -name '*.jpg' | gitc caption --json - > captions.jsonl\n",
              stdout);
    } else if (mode == MODE_ASK) {
        fputs("  gitc ask examples/shapes_0_224x224.png \"what color is the background?\"\n"
              "  gitc ask --json examples/shapes_1_320x240.jpg examples/shapes_2_300x400.png "
              "\"what shape is on the left?\"\n",
              stdout);
    } else {
        fputs("  gitc video examples/moving_square_h264.mp4\n"
              "  gitc video --frames examples/clip0_frame0.png examples/clip0_frame1.png \\\n"
              "                      examples/clip0_frame2.png examples/clip0_frame3.png\n",
              stdout);
    }
}

/* Parses the command line; returns -1 to go on, else the exit status. */
static int parse_args(describe_opts *o, int argc, char **argv)
{
    static const struct option long_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        CLI_DECODE_LONG_OPTIONS,
        {"stdin", no_argument, NULL, OPT_STDIN},
        {"frames", no_argument, NULL, OPT_FRAMES},
        {"batch", required_argument, NULL, OPT_BATCH},
        {NULL, 0, NULL, 0},
    };
    int use_stdin = 0;
    long n = 0;
    int c;
    opterr = 0;
    optind = 0; /* full re-initialisation of GNU getopt */
    while ((c = getopt_long(argc, argv, ":m:h", long_options, NULL)) != -1) {
        int handled = cli_decode_option(&o->decode, c, optarg);
        if (handled < 0) return CLI_EXIT_USAGE;
        if (handled > 0) continue;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'h': print_help(o->mode); return CLI_EXIT_OK;
        case OPT_THREADS:
            if (cli_parse_int(optarg, 0, 4096, "--threads", &n)) return CLI_EXIT_USAGE;
            o->n_threads = (int)n;
            break;
        case OPT_JSON: o->json = 1; break;
        case OPT_STDIN: use_stdin = 1; break;
        case OPT_FRAMES:
            if (o->mode != MODE_VIDEO) goto unknown;
            o->frames = 1;
            break;
        case OPT_BATCH:
            if (o->mode == MODE_VIDEO) goto unknown;
            if (cli_parse_int(optarg, 1, 64, "--batch", &n)) return CLI_EXIT_USAGE;
            o->batch = (int)n;
            break;
        case ':':
            cli_error("%s: option '%s' needs a value", o->cmd, argv[optind - 1]);
            return cli_usage_error(o->cmd);
        default:
        unknown:
            cli_error("%s: unknown option '%s'", o->cmd, argv[optind - 1]);
            return cli_usage_error(o->cmd);
        }
    }
    int first = optind, last = argc;
    if (o->mode == MODE_ASK) {
        if (last - first < 1 || (last - first < 2 && !use_stdin)) {
            cli_error("ask: needs IMAGE... and a QUESTION");
            return cli_usage_error(o->cmd);
        }
        o->question = argv[--last];
        if (!o->question[0]) {
            cli_error("ask: the question is empty");
            return CLI_EXIT_USAGE;
        }
    }
    cli_input_kind kind =
        o->mode == MODE_VIDEO && !o->frames ? CLI_INPUT_VIDEOS : CLI_INPUT_IMAGES;
    for (int i = first; i < last; i++)
        if (cli_inputs_add(&o->inputs, argv[i], kind)) return CLI_EXIT_USAGE;
    if (use_stdin && cli_inputs_add_stdin(&o->inputs, kind)) return CLI_EXIT_USAGE;
    if (o->inputs.n == 0) {
        cli_error("%s: no input files", o->cmd);
        return cli_usage_error(o->cmd);
    }
    return -1;
}

/* Describes decoded frames (one image for caption and ask): every returned
 * sequence's text and score. */
static void describe_decoded(gitc_session *session, const gitc_image *frames, int n_frames,
                             const char *question, const gitc_generate_params *params,
                             describe_result *r)
{
    gitc_texts t;
    if (gitc_describe(session, frames, n_frames, question, params, &t, &r->err) != GITC_OK)
        return;
    r->texts = t.texts;
    r->scores = t.scores;
    r->n_texts = t.n;
}

/* Decodes and describes one image. */
static void describe_image(gitc_session *session, const char *path, const char *question,
                           const gitc_generate_params *params, describe_result *r)
{
    gitc_image image = {0};
    double t0 = cli_now_ms();
    gitc_status s = gitc_image_load(path, NULL, &image, &r->err);
    double t1 = cli_now_ms();
    r->load_ms = t1 - t0;
    if (s == GITC_OK) {
        describe_decoded(session, &image, 1, question, params, r);
        r->generate_ms = cli_now_ms() - t1;
    }
    gitc_image_free(&image);
}

/* Decodes a video file's sampled frames and describes them. */
static void describe_video(gitc_session *session, const gitc_model *model, const char *path,
                           const gitc_generate_params *params, describe_result *r)
{
    int n = gitc_model_num_frames(model);
    gitc_image *frames = calloc((size_t)n, sizeof *frames);
    if (!frames) {
        snprintf(r->err.message, sizeof r->err.message, "out of memory");
        return;
    }
    double t0 = cli_now_ms();
    gitc_status s = gitc_video_load(path, n, NULL, frames, &r->n_total, &r->err);
    double t1 = cli_now_ms();
    r->load_ms = t1 - t0;
    if (s == GITC_OK) {
        describe_decoded(session, frames, n, NULL, params, r);
        r->generate_ms = cli_now_ms() - t1;
        for (int i = 0; i < n; i++) gitc_image_free(&frames[i]);
    }
    free(frames);
}

/* Loads the frame images of one clip and describes them. */
static void describe_frame_files(gitc_session *session, char **paths, int n,
                                 const gitc_generate_params *params, describe_result *r)
{
    gitc_image *frames = calloc((size_t)n, sizeof *frames);
    if (!frames) {
        snprintf(r->err.message, sizeof r->err.message, "out of memory");
        return;
    }
    double t0 = cli_now_ms();
    gitc_status s = GITC_OK;
    for (int i = 0; i < n && s == GITC_OK; i++)
        s = gitc_image_load(paths[i], NULL, &frames[i], &r->err);
    double t1 = cli_now_ms();
    r->load_ms = t1 - t0;
    if (s == GITC_OK) {
        describe_decoded(session, frames, n, NULL, params, r);
        r->generate_ms = cli_now_ms() - t1;
    }
    for (int i = 0; i < n; i++) gitc_image_free(&frames[i]);
    free(frames);
}

/* Prints one result: a JSON line, "FILE: text" lines, the text alone, or the error on stderr. */
static void print_result(const describe_opts *o, const char *file, int several,
                         const describe_result *r)
{
    if (o->json) {
        fputs("{\"file\": ", stdout);
        cli_json_string(stdout, file);
        if (o->frames) {
            fputs(", \"frames\": [", stdout);
            for (int i = 0; i < o->inputs.n; i++) {
                if (i) fputs(", ", stdout);
                cli_json_string(stdout, o->inputs.paths[i]);
            }
            fputc(']', stdout);
        }
        if (o->question) {
            fputs(", \"question\": ", stdout);
            cli_json_string(stdout, o->question);
        }
        if (r->texts) {
            if (o->question) {
                fputs(", \"answer\": ", stdout);
                cli_json_string(stdout, r->texts[0]);
            }
            fputs(", \"text\": ", stdout);
            cli_json_string(stdout, r->texts[0]);
            if (r->n_texts > 1) {
                fputs(", \"texts\": [", stdout);
                for (int i = 0; i < r->n_texts; i++) {
                    if (i) fputs(", ", stdout);
                    cli_json_string(stdout, r->texts[i]);
                }
                fputs("], \"scores\": [", stdout);
                for (int i = 0; i < r->n_texts; i++) printf("%s%.6g", i ? ", " : "", r->scores[i]);
                fputc(']', stdout);
            }
            if (o->mode == MODE_VIDEO && !o->frames)
                printf(", \"frames_decoded\": %d", r->n_total);
            printf(", \"timings_ms\": {\"load\": %.3f, \"generate\": %.3f, \"total\": %.3f}",
                   r->load_ms, r->generate_ms, r->load_ms + r->generate_ms);
        } else {
            fputs(", \"error\": ", stdout);
            cli_json_string(stdout, r->err.message);
        }
        fputs("}\n", stdout);
    } else if (r->texts) {
        for (int i = 0; i < r->n_texts; i++) {
            if (several) printf("%s: %s\n", file, r->texts[i]);
            else printf("%s\n", r->texts[i]);
        }
    } else {
        /* Library messages usually start with the file name already. */
        size_t n = strlen(file);
        if (!strncmp(r->err.message, file, n) && r->err.message[n] == ':')
            cli_error("%s", r->err.message);
        else
            cli_error("%s: %s", file, r->err.message);
    }
    fflush(stdout);
}

/* Captions (or answers for) the images in groups of o->batch through
 * gitc_describe_batch, printing results in input order; an image that fails
 * to load is reported alone, and a group that fails is retried image by image
 * so each error names its file. Returns the number of failed inputs. */
static int describe_images_batched(const describe_opts *o, gitc_session *session,
                                   const gitc_generate_params *params, cli_progress *progress)
{
    int B = o->batch > 0 ? o->batch : CLI_BATCH_DEFAULT, failed = 0;
    gitc_image *images = calloc((size_t)B, sizeof *images);
    gitc_texts *texts = calloc((size_t)B, sizeof *texts);
    describe_result *res = calloc((size_t)B, sizeof *res);
    int *slot = calloc((size_t)B, sizeof *slot); /* loaded image k -> input index in group */
    if (!images || !texts || !res || !slot) {
        cli_error("out of memory");
        failed = o->inputs.n;
        goto done;
    }
    for (int first = 0; first < o->inputs.n; first += B) {
        int n = o->inputs.n - first < B ? o->inputs.n - first : B, n_ok = 0;
        cli_progress_update(progress, first, o->inputs.paths[first]);
        memset(res, 0, (size_t)B * sizeof *res);
        for (int i = 0; i < n; i++) {
            double t0 = cli_now_ms();
            if (gitc_image_load(o->inputs.paths[first + i], NULL, &images[n_ok], &res[i].err) == GITC_OK)
                slot[n_ok++] = i;
            res[i].load_ms = cli_now_ms() - t0;
        }
        double t0 = cli_now_ms();
        gitc_error err = {0};
        if (n_ok > 0 &&
            gitc_describe_batch(session, images, n_ok, o->question, params, texts, &err) == GITC_OK) {
            double each = (cli_now_ms() - t0) / n_ok;
            for (int k = 0; k < n_ok; k++) {
                describe_result *r = &res[slot[k]];
                r->texts = texts[k].texts;
                r->scores = texts[k].scores;
                r->n_texts = texts[k].n;
                r->generate_ms = each;
            }
        } else {
            for (int k = 0; k < n_ok; k++) {
                double t1 = cli_now_ms();
                describe_decoded(session, &images[k], 1, o->question, params, &res[slot[k]]);
                res[slot[k]].generate_ms = cli_now_ms() - t1;
            }
        }
        for (int k = 0; k < n_ok; k++)
            gitc_image_free(&images[k]);
        cli_progress_clear(progress);
        for (int i = 0; i < n; i++) {
            describe_result *r = &res[i];
            if (!r->texts && !r->err.message[0])
                snprintf(r->err.message, sizeof r->err.message, "failed without a message");
            print_result(o, o->inputs.paths[first + i], o->inputs.n > 1, r);
            failed += r->texts == NULL;
            for (int k = 0; k < r->n_texts; k++) free(r->texts[k]);
            free(r->texts);
            free(r->scores);
        }
    }
done:
    free(images);
    free(texts);
    free(res);
    free(slot);
    return failed;
}

/* Runs the describe loop over the inputs; returns the exit status. */
static int run_describe(describe_opts *o)
{
    int status = CLI_EXIT_FAILED;
    char *dir = NULL;
    gitc_session *session = NULL;
    gitc_generate_params params;
    gitc_model *model = cli_open_model(o->model, o->mode == MODE_VIDEO, &dir);
    if (!model) goto done;
    if (cli_generate_params(model, dir, &o->decode, &params)) {
        status = cli_usage_error(o->cmd);
        goto done;
    }
    if (o->frames && o->inputs.n != gitc_model_num_frames(model)) {
        cli_error("video --frames: the model takes exactly %d frames per clip, got %d",
                  gitc_model_num_frames(model), o->inputs.n);
        status = CLI_EXIT_USAGE;
        goto done;
    }
    session = cli_open_session(model, o->n_threads);
    if (!session) goto done;

    int n_jobs = o->frames ? 1 : o->inputs.n;
    int failed = 0;
    cli_progress progress;
    cli_progress_start(&progress, n_jobs);
    if (o->mode != MODE_VIDEO) {
        failed = describe_images_batched(o, session, &params, &progress);
        n_jobs = 0;
    }
    for (int i = 0; i < n_jobs; i++) {
        const char *file = o->inputs.paths[i];
        describe_result r = {0};
        cli_progress_update(&progress, i, file);
        if (o->frames)
            describe_frame_files(session, o->inputs.paths, o->inputs.n, &params, &r);
        else if (o->mode == MODE_VIDEO)
            describe_video(session, model, file, &params, &r);
        else
            describe_image(session, file, o->question, &params, &r);
        cli_progress_clear(&progress);
        if (!r.texts && !r.err.message[0])
            snprintf(r.err.message, sizeof r.err.message, "failed without a message");
        print_result(o, file, n_jobs > 1, &r);
        failed += r.texts == NULL;
        for (int k = 0; k < r.n_texts; k++) free(r.texts[k]);
        free(r.texts);
        free(r.scores);
    }
    cli_progress_clear(&progress);
    status = failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
done:
    gitc_session_free(session);
    gitc_model_free(model);
    free(dir);
    return status;
}

static int describe_main(describe_mode mode, int argc, char **argv)
{
    describe_opts o = {0};
    o.mode = mode;
    o.cmd = argv[0];
    int status = parse_args(&o, argc, argv);
    if (status < 0) status = run_describe(&o);
    cli_inputs_free(&o.inputs);
    return status;
}

int cmd_caption(int argc, char **argv) { return describe_main(MODE_CAPTION, argc, argv); }

int cmd_ask(int argc, char **argv) { return describe_main(MODE_ASK, argc, argv); }

int cmd_video(int argc, char **argv) { return describe_main(MODE_VIDEO, argc, argv); }
