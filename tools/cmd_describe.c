/* gitc caption, gitc ask and gitc video: files in, text out, one model load
 * and one session for the whole batch. */
#include "cli_common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum describe_mode { MODE_CAPTION, MODE_ASK, MODE_VIDEO } describe_mode;

/* Images described together by default (gitc bench --batch: see notes/kernels.md). */
#define CLI_BATCH_DEFAULT 4
#define CLI_BATCH_DEFAULT_STR "4"

/* Everything the command line of a describe command says. */
typedef struct describe_opts {
    describe_mode mode;
    const char *cmd;      /* subcommand name */
    cli_model_opts m;     /* -m, --revision, --threads, --dtype */
    int json;
    int frames;           /* video --frames: the inputs are the frames of one clip */
    int batch;            /* caption/ask: images described together (--batch) */
    const char *question; /* ask, video: the question (answers leave it out) */
    const char *prompt;   /* caption, video --prompt: a prefix to continue */
    int no_exif;          /* --no-exif: keep the stored pixel order */
    double read_timeout;  /* --read-timeout: seconds to wait on pipes and FIFOs */
    cli_decode_flags decode;
    cli_inputs inputs;
    const char *shard;    /* --shard I/N */
    const char *resume;   /* --resume OUT.jsonl */
} describe_opts;

/* getopt_long codes of the batch-job options (beyond cli_common.h's). */
enum { OPT_SHARD = 1900, OPT_RESUME };

/* The outcome of one input. */
typedef struct describe_result {
    char **texts;     /* n_texts texts, best first (caller frees); NULL on failure */
    float *scores;    /* the sequences' scores */
    int *stopped;     /* 1: ended with eos; 0: cut by the length limit */
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
    "IMAGE is an image file (JPEG, PNG, WebP, BMP, GIF, and what else the library\n"
    "was built to read), a pipe or FIFO holding one, a folder (its image files, sorted\n"
    "by name; the files it leaves out are listed on stderr), or - for stdin: one image\n"
    "when stdin holds an image's bytes, else a list of paths, one per line (--stdin\n"
    "always reads a list). A file name that starts with '-' goes after --.\n"
    "\n"
    "Output: \"FILE: caption\" lines, in input order, when there are several\n"
    "arguments, a folder or a list (however many files they hold); for one image\n"
    "argument, the caption alone. An input that fails is reported on stderr\n"
    "(\"gitc: FILE: problem\") and the batch goes on. A caption cut by the length\n"
    "limit is printed with a warning on stderr.\n"
    "      --json             JSON Lines instead: one object per input,\n"
    "                         {\"file\", \"text\", \"finish_reason\": \"stop\"|\"length\",\n"
    "                         \"timings_ms\": {\"load\", \"generate\", \"total\"}}\n"
    "                         (--num-return-sequences adds \"texts\", \"scores\",\n"
    "                         \"finish_reasons\"; sampling adds \"seed\"), or\n"
    "                         {\"file\", \"error\"} for an input that failed\n"
    "      --prompt TEXT      continue TEXT instead of starting from nothing; the output\n"
    "                         is the continuation (JSON adds \"prompt\")\n"
    "      --stdin            read image paths from stdin\n"
    "  -0, --null             paths on stdin are NUL-separated (find -print0)\n"
    "  -r, --recursive        folders include their subfolders\n"
    "      --no-exif          ignore the EXIF orientation (default: apply it, as\n"
    "                         transformers' load_image and its pipelines do)\n"
    "      --read-timeout S   seconds to wait for data from a pipe or FIFO named as an\n"
    "                         input (default 60); also limits the wait on stdin\n"
    "      --batch N          describe N images together (default " CLI_BATCH_DEFAULT_STR "): one\n"
    "                         encoder pass, their tokens decoded together; same texts\n"
    "  -h, --help             this help\n"
    "\n";

static const char ask_help[] =
    "Usage: gitc ask [OPTIONS] IMAGE... QUESTION\n"
    "       gitc ask [OPTIONS] --question QUESTION IMAGE...\n"
    "Answers a question about each image (visual question answering). The question\n"
    "is the last argument, or --question; a last argument that names an existing\n"
    "file is taken for an image, not a question (an error: pass --question). The\n"
    "answer leaves out the echoed question.\n"
    "\n"
    "IMAGE is an image file, a pipe or FIFO, a folder (its image files, sorted by\n"
    "name), or - for stdin (one image, or a list of paths; also --stdin).\n"
    "\n"
    "Length: without --max-length or --max-new-tokens the answer gets the room a\n"
    "caption has (max_new_tokens = max_length - 1), however long the question;\n"
    "--max-length counts the question's tokens too.\n"
    "\n"
    "Output: \"FILE: answer\" lines for several arguments, a folder or a list; the\n"
    "answer alone for one image argument.\n"
    "      --question TEXT    the question (then every argument is an image)\n"
    "      --json             JSON Lines: {\"file\", \"question\", \"answer\", \"text\",\n"
    "                         \"finish_reason\", \"timings_ms\"} per image (\"text\" =\n"
    "                         \"answer\"), or {\"file\", \"question\", \"error\"}\n"
    "      --stdin            read image paths from stdin\n"
    "  -0, --null             paths on stdin are NUL-separated (find -print0)\n"
    "  -r, --recursive        folders include their subfolders\n"
    "      --no-exif          ignore the EXIF orientation (default: apply it)\n"
    "      --read-timeout S   seconds to wait for data from a pipe or FIFO named as an\n"
    "                         input (default 60); also limits the wait on stdin\n"
    "      --batch N          answer for N images together (default " CLI_BATCH_DEFAULT_STR ")\n"
    "  -h, --help             this help\n"
    "\n";

static const char video_help[] =
    "Usage: gitc video [OPTIONS] VIDEO... [QUESTION]\n"
    "       gitc video [OPTIONS] --frames IMAGE... [QUESTION]\n"
    "Describes a video clip, or answers a question about it (msrvtt-qa style\n"
    "models). A VIDEO file (MP4, AVI, MKV, WebM, ...: whatever FFmpeg reads) gives\n"
    "the model's number of frames sampled evenly over the clip. With --frames the\n"
    "images are the frames of one clip, in order, and there must be exactly as many\n"
    "as the model takes (4 for the embedded git-shapes-video). A folder stands for\n"
    "its video files (its images with --frames), sorted by name. A last argument\n"
    "that is not an existing file and has no video or image extension is the\n"
    "question (or use --question).\n"
    "\n"
    "Output: \"FILE: caption\" lines for several arguments, a folder or a list; the\n"
    "caption alone for one clip argument.\n"
    "      --frames           the arguments are the frames of one clip\n"
    "      --question TEXT    answer TEXT about each clip\n"
    "      --prompt TEXT      continue TEXT (the output is the continuation)\n"
    "      --json             JSON Lines: {\"file\", \"text\", \"finish_reason\",\n"
    "                         \"timings_ms\"} per clip (--frames adds \"frames\", a\n"
    "                         question \"question\" and \"answer\"), or {\"file\", \"error\"}\n"
    "      --stdin            read paths from stdin\n"
    "  -0, --null             paths on stdin are NUL-separated (find -print0)\n"
    "  -r, --recursive        folders include their subfolders\n"
    "      --no-exif          --frames: ignore the images' EXIF orientation\n"
    "  -h, --help             this help\n"
    "\n";

static const char batch_help[] =
    "\n"
    "Batch jobs (caption, ask, video):\n"
    "      --shard I/N        only the inputs whose position in the input list, modulo N,\n"
    "                         is I (0 <= I < N): one part of a Slurm job array or\n"
    "                         Kubernetes indexed job\n"
    "      --resume OUT.jsonl JSON Lines appended to OUT.jsonl, skipping the inputs it\n"
    "                         already has a record of (an unfinished last line from a\n"
    "                         crash is dropped): rerun a killed job with the same command\n";

static const char exit_help[] =
    "\n"
    "Exit status: 0 when every input succeeded, 1 when any failed (or the model\n"
    "could not be loaded, or the output could not be written), 2 for a usage error\n"
    "(unknown option, invalid setting, a model of the wrong kind), reported once\n"
    "before any input is read.\n";

static void print_help(describe_mode mode)
{
    fputs(mode == MODE_CAPTION ? caption_help : mode == MODE_ASK ? ask_help : video_help,
          stdout);
    fputs(cli_model_help, stdout);
    fputc('\n', stdout);
    fputs(cli_decode_help, stdout);
    fputs(batch_help, stdout);
    fputs(exit_help, stdout);
    fputs("\nExamples:\n", stdout);
    if (mode == MODE_CAPTION) {
        fputs("  gitc caption examples/shapes_0_224x224.png\n"
              "  gitc caption --beams 3 --max-length 30 --json examples/\n"
              "  gitc caption -m microsoft/git-base-coco photo.jpg\n"
              "  find photos -name '*.jpg' | gitc caption --json - > captions.jsonl\n"
              "  find photos -name '*.jpg' -print0 | gitc caption -0 --stdin\n"
              "  curl -s https://example.com/cat.jpg | gitc caption -\n",
              stdout);
    } else if (mode == MODE_ASK) {
        fputs("  gitc ask examples/shapes_0_224x224.png \"what color is the background?\"\n"
              "  gitc ask --json examples/shapes_1_320x240.jpg examples/shapes_2_300x400.png "
              "\"what shape is on the left?\"\n",
              stdout);
    } else {
        fputs("  gitc video examples/moving_square_h264.mp4\n"
              "  gitc video -m microsoft/git-base-msrvtt-qa clip.mp4 \"what is the man doing?\"\n"
              "  gitc video --frames examples/clip0_frame0.png examples/clip0_frame1.png \\\n"
              "                      examples/clip0_frame2.png examples/clip0_frame3.png\n",
              stdout);
    }
}

/* 1 when a name ends with a video or image file extension. */
static int has_media_extension(const char *name)
{
    static const char *const exts[] = {"mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg",
                                       "mpeg", "ts", "wmv", "flv", "3gp", "ogv", "gif", "jpg",
                                       "jpeg", "png", "webp", "bmp", "tif", "tiff", NULL};
    const char *dot = strrchr(name, '.');
    for (int i = 0; dot && !strchr(dot, ' ') && exts[i]; i++)
        if (!strcasecmp(dot + 1, exts[i])) return 1;
    return 0;
}

/* --shard and --resume: keeps this job's inputs and sends the records to the
 * resume file. Returns -1 to go on, else the exit status (0: nothing left). */
static int select_batch_inputs(describe_opts *o)
{
    if (o->frames && (o->shard || o->resume)) {
        cli_error("video --frames: --shard and --resume take clips, not the frames of one");
        return CLI_EXIT_USAGE;
    }
    if (o->shard) {
        int index = 0, count = 1;
        if (cli_parse_shard(o->shard, &index, &count)) return CLI_EXIT_USAGE;
        cli_inputs_shard(&o->inputs, index, count);
    }
    if (o->resume) {
        if (cli_resume(o->resume, &o->inputs)) return CLI_EXIT_USAGE;
        o->json = 1;
    }
    return o->inputs.n == 0 ? CLI_EXIT_OK : -1;
}

/* Parses the command line; returns -1 to go on, else the exit status. */
static int parse_args(describe_opts *o, int argc, char **argv)
{
    static const struct option long_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        CLI_DECODE_LONG_OPTIONS,
        {"stdin", no_argument, NULL, OPT_STDIN},
        {"frames", no_argument, NULL, OPT_FRAMES},
        {"null", no_argument, NULL, '0'},
        {"recursive", no_argument, NULL, 'r'},
        {"question", required_argument, NULL, OPT_QUESTION},
        {"prompt", required_argument, NULL, OPT_PROMPT},
        {"no-exif", no_argument, NULL, OPT_NO_EXIF},
        {"read-timeout", required_argument, NULL, OPT_READ_TIMEOUT},
        {"shard", required_argument, NULL, OPT_SHARD},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"batch", required_argument, NULL, OPT_BATCH},
        {NULL, 0, NULL, 0},
    };
    int use_stdin = 0;
    long n = 0;
    int c;
    opterr = 0;
    optind = 0; /* full re-initialisation of GNU getopt */
    while ((c = getopt_long(argc, argv, ":m:h0r", long_options, NULL)) != -1) {
        int handled = cli_decode_option(&o->decode, c, optarg);
        if (!handled) handled = cli_model_option(&o->m, c, optarg);
        if (handled < 0) return CLI_EXIT_USAGE;
        if (handled > 0) continue;
        switch (c) {
        case 'h': print_help(o->mode); return CLI_EXIT_OK;
        case OPT_JSON: o->json = 1; break;
        case OPT_STDIN: use_stdin = 1; break;
        case '0': o->inputs.null_separated = 1; break;
        case 'r': o->inputs.recursive = 1; break;
        case OPT_NO_EXIF: o->no_exif = 1; break;
        case OPT_READ_TIMEOUT:
            if (cli_parse_int(optarg, 1, 86400, "--read-timeout", &n)) return CLI_EXIT_USAGE;
            o->read_timeout = (double)n;
            o->inputs.read_timeout = (double)n;
            break;
        case OPT_FRAMES:
            if (o->mode != MODE_VIDEO) goto unknown;
            o->frames = 1;
            break;
        case OPT_QUESTION:
            if (o->mode == MODE_CAPTION) {
                cli_error("caption: --question belongs to `gitc ask` (or use --prompt TEXT to "
                          "continue a prefix)");
                return cli_usage_error(o->cmd);
            }
            o->question = optarg;
            break;
        case OPT_PROMPT:
            if (o->mode == MODE_ASK) goto unknown;
            o->prompt = optarg;
            break;
        case OPT_SHARD: o->shard = optarg; break;
        case OPT_RESUME: o->resume = optarg; break;
        case OPT_BATCH:
            if (o->mode == MODE_VIDEO) goto unknown;
            if (cli_parse_int(optarg, 1, 64, "--batch", &n)) return CLI_EXIT_USAGE;
            o->batch = (int)n;
            break;
        default:
        unknown:
            return cli_option_error(o->cmd, c, argv);
        }
    }
    int first = optind, last = argc;
    if (o->mode == MODE_ASK && !o->question) {
        if (last - first < 1 || (last - first < 2 && !use_stdin)) {
            cli_error("ask: needs IMAGE... and a QUESTION (last, or with --question)");
            return cli_usage_error(o->cmd);
        }
        const char *q = argv[last - 1];
        struct stat st;
        if (stat(q, &st) == 0) {
            cli_error("ask: the last argument '%s' is an existing %s, not a question; put the "
                      "question last or pass it with --question", q,
                      S_ISDIR(st.st_mode) ? "folder" : "file");
            return cli_usage_error(o->cmd);
        }
        o->question = argv[--last];
    } else if (o->mode == MODE_VIDEO && !o->question && last - first >= 2) {
        /* `gitc video CLIP "question"`: a last argument that is no file. */
        const char *q = argv[last - 1];
        if (access(q, F_OK) != 0 && strcmp(q, "-") && !has_media_extension(q))
            o->question = argv[--last];
    }
    if (o->question && !o->question[0]) {
        cli_error("%s: the question is empty", o->cmd);
        return CLI_EXIT_USAGE;
    }
    if (o->question && o->prompt) {
        cli_error("%s: give a question or a --prompt, not both", o->cmd);
        return cli_usage_error(o->cmd);
    }
    if (o->prompt && !o->prompt[0]) {
        cli_error("%s: the prompt is empty", o->cmd);
        return CLI_EXIT_USAGE;
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
    return select_batch_inputs(o);
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
    r->stopped = t.stopped;
    r->n_texts = t.n;
}

/* Loads one image (a file, stdin's image, a pipe) with the command's EXIF setting. */
static gitc_status load_image(const describe_opts *o, const char *path, gitc_image *image,
                              gitc_error *err)
{
    return cli_load_image(&o->inputs, path, !o->no_exif, o->read_timeout, image, err);
}

/* The question or prompt given to the model (NULL for a plain caption). */
static const char *model_prompt(const describe_opts *o) { return o->question ? o->question : o->prompt; }

/* Decodes and describes one image. */
static void describe_image(gitc_session *session, const describe_opts *o, const char *path,
                           const gitc_generate_params *params, describe_result *r)
{
    gitc_image image = {0};
    double t0 = cli_now_ms();
    gitc_status s = load_image(o, path, &image, &r->err);
    double t1 = cli_now_ms();
    r->load_ms = t1 - t0;
    if (s == GITC_OK) {
        describe_decoded(session, &image, 1, model_prompt(o), params, r);
        r->generate_ms = cli_now_ms() - t1;
    }
    gitc_image_free(&image);
}

/* Decodes a video file's sampled frames and describes them. */
static void describe_video(gitc_session *session, const gitc_model *model,
                           const describe_opts *o, const char *path,
                           const gitc_generate_params *params, describe_result *r)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* FFmpeg would wait forever on a FIFO nobody writes to. */
        snprintf(r->err.message, sizeof r->err.message,
                 "%s: not a regular file (gitc video reads video files, not pipes)", path);
        return;
    }
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
        describe_decoded(session, frames, n, model_prompt(o), params, r);
        r->generate_ms = cli_now_ms() - t1;
        for (int i = 0; i < n; i++) gitc_image_free(&frames[i]);
    }
    free(frames);
}

/* Loads the frame images of one clip and describes them. */
static void describe_frame_files(gitc_session *session, const describe_opts *o,
                                 const gitc_generate_params *params, describe_result *r)
{
    int n = o->inputs.n;
    gitc_image *frames = calloc((size_t)n, sizeof *frames);
    if (!frames) {
        snprintf(r->err.message, sizeof r->err.message, "out of memory");
        return;
    }
    double t0 = cli_now_ms();
    gitc_status s = GITC_OK;
    for (int i = 0; i < n && s == GITC_OK; i++)
        s = load_image(o, o->inputs.paths[i], &frames[i], &r->err);
    double t1 = cli_now_ms();
    r->load_ms = t1 - t0;
    if (s == GITC_OK) {
        describe_decoded(session, frames, n, model_prompt(o), params, r);
        r->generate_ms = cli_now_ms() - t1;
    }
    for (int i = 0; i < n; i++) gitc_image_free(&frames[i]);
    free(frames);
}

static const char *finish_reason(const describe_result *r, int i)
{
    return r->stopped && r->stopped[i] ? "stop" : "length";
}

/* Prints one result: a JSON line, "FILE: text" lines, the text alone, or the error on stderr. */
static void print_result(const describe_opts *o, const char *file, int several,
                         const gitc_generate_params *params, const describe_result *r)
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
        if (o->prompt) {
            fputs(", \"prompt\": ", stdout);
            cli_json_string(stdout, o->prompt);
        }
        if (r->texts) {
            if (o->question) {
                fputs(", \"answer\": ", stdout);
                cli_json_string(stdout, r->texts[0]);
            }
            fputs(", \"text\": ", stdout);
            cli_json_string(stdout, r->texts[0]);
            printf(", \"finish_reason\": \"%s\"", finish_reason(r, 0));
            if (r->n_texts > 1) {
                fputs(", \"texts\": [", stdout);
                for (int i = 0; i < r->n_texts; i++) {
                    if (i) fputs(", ", stdout);
                    cli_json_string(stdout, r->texts[i]);
                }
                fputs("], \"scores\": [", stdout);
                for (int i = 0; i < r->n_texts; i++) printf("%s%.6g", i ? ", " : "", r->scores[i]);
                fputs("], \"finish_reasons\": [", stdout);
                for (int i = 0; i < r->n_texts; i++)
                    printf("%s\"%s\"", i ? ", " : "", finish_reason(r, i));
                fputc(']', stdout);
            }
            if (params->do_sample)
                printf(", \"seed\": %llu", (unsigned long long)params->seed);
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
        int cut = 0;
        for (int i = 0; i < r->n_texts; i++) {
            if (several) printf("%s: %s\n", file, r->texts[i]);
            else printf("%s\n", r->texts[i]);
            cut += !(r->stopped && r->stopped[i]);
        }
        if (cut) {
            cli_flush_stdout();
            fprintf(stderr,
                    "gitc: %s: warning: %s cut by the length limit (raise --max-new-tokens "
                    "or --max-length)\n",
                    file, r->n_texts == 1 ? "the text was" : "texts were");
        }
    } else {
        /* Library messages usually start with the file name already. */
        size_t n = strlen(file);
        if (!strncmp(r->err.message, file, n) && r->err.message[n] == ':')
            cli_error("%s", r->err.message);
        else
            cli_error("%s: %s", file, r->err.message);
    }
    cli_flush_stdout();
}

/* Checks what the inputs cannot change, once, before any input is read:
 * the model's kind, its tokenizer and processor, the question or prompt and
 * the settings. Fills `params`; returns -1 to go on, else the exit status. */
static int check_setup(describe_opts *o, const gitc_model *model, const char *dir,
                       gitc_generate_params *params)
{
    int frames = gitc_model_num_frames(model);
    if (o->mode == MODE_VIDEO && frames == 1) {
        cli_error("%s is an image model (it takes one image per input): use `gitc caption` "
                  "or `gitc ask`, or pass a video model with -m", dir);
        return CLI_EXIT_USAGE;
    }
    if (o->mode != MODE_VIDEO && frames > 1) {
        cli_error("%s is a video model (it takes %d frames per clip): use `gitc video CLIP`, or "
                  "`gitc video --frames` with %d images", dir, frames, frames);
        return CLI_EXIT_USAGE;
    }
    const gitc_tokenizer *tok = gitc_model_tokenizer(model);
    if (!tok) {
        cli_error("%s has no tokenizer files (vocab.txt or tokenizer.json): it cannot write text",
                  dir);
        return CLI_EXIT_USAGE;
    }
    if (!gitc_model_processor(model)) {
        cli_error("%s has no preprocessor_config.json: it cannot prepare images", dir);
        return CLI_EXIT_USAGE;
    }
    if (o->frames && o->inputs.n != frames) {
        cli_error("video --frames: the model takes exactly %d frame%s per clip, got %d", frames,
                  frames == 1 ? "" : "s", o->inputs.n);
        return CLI_EXIT_USAGE;
    }
    int bad = cli_generate_params(model, dir, &o->decode, params);
    if (bad) return bad == -2 ? CLI_EXIT_FAILED : cli_usage_error(o->cmd);
    const char *text = model_prompt(o);
    int n_prompt = 1; /* [CLS] */
    if (text) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        gitc_error err = {0};
        if (gitc_tokenizer_encode(tok, text, strlen(text), 0, &ids, &n_ids, &err) != GITC_OK) {
            cli_error("the %s: %s", o->question ? "question" : "prompt", err.message);
            return CLI_EXIT_USAGE;
        }
        gitc_free(ids);
        n_prompt += (int)n_ids;
        unsigned length_set = CLI_SET_MAX_LENGTH | CLI_SET_MAX_NEW_TOKENS;
        if (!(o->decode.set & length_set) && params->max_new_tokens <= 0) {
            /* The answer gets the room a caption has, however long the question. */
            int room = params->max_length > 1 ? params->max_length - 1 : 1;
            int max_pos = gitc_model_config(model)->max_position_embeddings;
            params->max_new_tokens = room < max_pos - n_prompt ? room : max_pos - n_prompt;
        }
    }
    gitc_error err = {0};
    if (gitc_generate_params_check(params, n_prompt, model, &err) != GITC_OK) {
        cli_error("%s: %s", o->cmd, err.message);
        return cli_usage_error(o->cmd);
    }
    unsigned sampling_flags = CLI_SET_TEMPERATURE | CLI_SET_TOP_K | CLI_SET_TOP_P;
    if (!params->do_sample && (o->decode.set & sampling_flags))
        fprintf(stderr, "gitc: warning: %s%s%s%s%s without --sample: no effect\n",
                o->decode.set & CLI_SET_TEMPERATURE ? "--temperature" : "",
                (o->decode.set & CLI_SET_TEMPERATURE) && (o->decode.set & (CLI_SET_TOP_K | CLI_SET_TOP_P)) ? ", " : "",
                o->decode.set & CLI_SET_TOP_K ? "--top-k" : "",
                (o->decode.set & CLI_SET_TOP_K) && (o->decode.set & CLI_SET_TOP_P) ? ", " : "",
                o->decode.set & CLI_SET_TOP_P ? "--top-p" : "");
    if (params->do_sample && !(o->decode.set & CLI_SET_SEED)) {
        /* As transformers and llama.cpp: a fresh seed, reported so the run can be repeated. */
        params->seed = cli_random_seed();
        if (!o->json)
            fprintf(stderr, "gitc: sampling with --seed %llu\n",
                    (unsigned long long)params->seed);
    }
    return -1;
}

/* Captions (or answers for) the images in groups of o->batch through
 * gitc_describe_batch, printing results in input order; an image that fails
 * to load is reported alone, and a group that fails is retried image by image
 * so each error names its file. Returns the number of failed inputs. */
static int describe_images_batched(const describe_opts *o, gitc_session *session,
                                   const gitc_generate_params *params, int several,
                                   cli_progress *progress)
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
            if (load_image(o, o->inputs.paths[first + i], &images[n_ok], &res[i].err) == GITC_OK)
                slot[n_ok++] = i;
            res[i].load_ms = cli_now_ms() - t0;
        }
        double t0 = cli_now_ms();
        gitc_error err = {0};
        if (n_ok > 0 &&
            gitc_describe_batch(session, images, n_ok, model_prompt(o), params, texts, &err) == GITC_OK) {
            double each = (cli_now_ms() - t0) / n_ok;
            for (int k = 0; k < n_ok; k++) {
                describe_result *r = &res[slot[k]];
                r->texts = texts[k].texts;
                r->scores = texts[k].scores;
                r->stopped = texts[k].stopped;
                r->n_texts = texts[k].n;
                r->generate_ms = each;
            }
        } else {
            for (int k = 0; k < n_ok; k++) {
                double t1 = cli_now_ms();
                describe_decoded(session, &images[k], 1, model_prompt(o), params, &res[slot[k]]);
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
            print_result(o, o->inputs.paths[first + i], several, params, r);
            failed += r->texts == NULL;
            for (int k = 0; k < r->n_texts; k++) free(r->texts[k]);
            free(r->texts);
            free(r->scores);
            free(r->stopped);
        }
        if (ferror(stdout)) break; /* the output is lost: main reports it (exit 1) */
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
    gitc_model *model = cli_open_model(o->m.model, o->mode == MODE_VIDEO, &dir);
    if (!model) goto done;
    status = check_setup(o, model, dir, &params);
    if (status >= 0) goto done;
    status = CLI_EXIT_FAILED;
    session = cli_open_session(model, o->m.n_threads);
    if (!session) goto done;

    int n_jobs = o->frames ? 1 : o->inputs.n;
    int several = !o->frames && cli_inputs_several(&o->inputs);
    int failed = 0;
    cli_progress progress;
    cli_progress_start(&progress, n_jobs);
    if (o->mode != MODE_VIDEO) {
        failed = describe_images_batched(o, session, &params, several, &progress);
        n_jobs = 0;
    }
    for (int i = 0; i < n_jobs; i++) {
        const char *file = o->inputs.paths[i];
        describe_result r = {0};
        cli_progress_update(&progress, i, file);
        if (o->frames)
            describe_frame_files(session, o, &params, &r);
        else if (o->mode == MODE_VIDEO)
            describe_video(session, model, o, file, &params, &r);
        else
            describe_image(session, o, file, &params, &r);
        cli_progress_clear(&progress);
        if (!r.texts && !r.err.message[0])
            snprintf(r.err.message, sizeof r.err.message, "failed without a message");
        print_result(o, file, several, &params, &r);
        failed += r.texts == NULL;
        for (int k = 0; k < r.n_texts; k++) free(r.texts[k]);
        free(r.texts);
        free(r.scores);
        free(r.stopped);
        if (ferror(stdout)) break; /* the output is lost: main reports it (exit 1) */
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
