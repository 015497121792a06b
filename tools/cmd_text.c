/* gitc tokenize, gitc detokenize and gitc preprocess: the model's tokenizer
 * and image processor on their own. */
#include "cli_common.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_file.h"

static const char tokenize_help[] =
    "Usage: gitc tokenize [-m MODEL] [--no-special] [--json] TEXT...\n"
    "Prints the token ids of TEXT (several arguments are joined with spaces; - or no\n"
    "TEXT reads stdin) as the model's BERT tokenizer gives them, space separated.\n"
    "\n"
    "  -m, --model MODEL      model folder or cached hub id (default: the embedded\n"
    "                         git-shapes model; see `gitc caption --help`)\n"
    "      --no-special       leave out [CLS] and [SEP]\n"
    "      --json             print {\"ids\": [...], \"tokens\": [...]}\n"
    "  -h, --help             this help\n"
    "\n"
    "Exit status: 0 ok, 1 the text could not be tokenized, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  gitc tokenize \"a large red circle on a white background\"\n"
    "  gitc tokenize --json --no-special \"what color is the background?\"\n";

static const char detokenize_help[] =
    "Usage: gitc detokenize [-m MODEL] [--keep-special] [--no-clean-up] ID...\n"
    "Prints the text of token ids, as tokenizer.decode() does. IDs may be separated\n"
    "by spaces or commas and wrapped in [ ]; the {\"ids\": [...]} object that\n"
    "`tokenize --json` prints works too. - or no ID reads them from stdin.\n"
    "\n"
    "  -m, --model MODEL      model folder or cached hub id (default: embedded model)\n"
    "      --keep-special     keep [CLS], [SEP] and the other special tokens\n"
    "      --no-clean-up      do not clean up the spaces before punctuation\n"
    "  -h, --help             this help\n"
    "\n"
    "Exit status: 0 ok, 1 an id is not in the vocabulary, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  gitc detokenize 101 104 118 127 111 123 104 140 108 102\n"
    "  gitc tokenize \"a red circle\" | gitc detokenize --keep-special\n"
    "  gitc tokenize --json \"a red circle\" | gitc detokenize\n";

static const char preprocess_help[] =
    "Usage: gitc preprocess [-m MODEL] --out FILE.safetensors IMAGE...\n"
    "Runs the model's image processor (resize, crop, rescale, normalize, exactly as\n"
    "transformers' CLIPImageProcessor) and writes the float32 tensor pixel_values\n"
    "of the N images to a safetensors file, in the shape `gitc forward` takes:\n"
    "[N, 3, H, W] for an image model; for a video model of F frames the images are\n"
    "the frames of N/F clips in order, [N/F, F, 3, H, W]. IMAGE may be a folder (its\n"
    "image files, sorted), a pipe, or - for stdin: one image, or a list of paths\n"
    "(--stdin always reads a list). When any image fails, each failure is\n"
    "reported and no file is written.\n"
    "\n"
    "  -m, --model MODEL      model folder or cached hub id (default: embedded model)\n"
    "  -o, --out FILE         the safetensors file to write (required)\n"
    "      --stdin            read image paths from stdin\n"
    "  -0, --null             paths on stdin are NUL-separated (find -print0)\n"
    "  -r, --recursive        folders include their subfolders\n"
    "      --no-exif          ignore the EXIF orientation (default: apply it, as\n"
    "                         transformers' load_image does)\n"
    "  -h, --help             this help\n"
    "\n"
    "Exit status: 0 written, 1 an image failed, 2 usage error.\n"
    "\n"
    "Example:\n"
    "  gitc preprocess --out pixels.safetensors examples/shapes_0_224x224.png\n";

/* Reads all of stdin (caller frees); NULL on failure. */
static char *read_stdin(void)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, stdin);
        len += n;
        if (n == 0) break;
        if (len + 1 == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (buf) buf[len] = '\0';
    return buf;
}

/* The positional arguments joined with spaces, or stdin for none or "-" (caller frees). */
static char *gather_text(int argc, char **argv, int first)
{
    if (first >= argc || (first + 1 == argc && !strcmp(argv[first], "-"))) {
        char *text = read_stdin();
        size_t n = text ? strlen(text) : 0;
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) text[--n] = '\0';
        return text;
    }
    size_t len = 1;
    for (int i = first; i < argc; i++) len += strlen(argv[i]) + 1;
    char *text = malloc(len);
    if (!text) return NULL;
    text[0] = '\0';
    for (int i = first; i < argc; i++) {
        if (i > first) strcat(text, " ");
        strcat(text, argv[i]);
    }
    return text;
}

/* Loads the tokenizer of a model argument; NULL after printing a message. */
static gitc_tokenizer *open_tokenizer(const char *model)
{
    char *dir = cli_resolve_model(model, 0);
    if (!dir) return NULL;
    gitc_tokenizer *tok = NULL;
    gitc_error err = {0};
    if (gitc_tokenizer_load(dir, &tok, &err) != GITC_OK) {
        cli_error_about("cannot load the tokenizer", dir, err.message);
        tok = NULL;
    }
    free(dir);
    return tok;
}

int cmd_tokenize(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"model", required_argument, NULL, 'm'},
        {"no-special", no_argument, NULL, OPT_NO_SPECIAL},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_model_opts mo = {0};
    int add_special = 1, json = 0, c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":m:h", long_options, NULL)) != -1) {
        int handled = cli_model_option(&mo, c, optarg);
        if (handled < 0)
            return CLI_EXIT_USAGE;
        if (handled)
            continue;
        switch (c) {
        case OPT_NO_SPECIAL: add_special = 0; break;
        case OPT_JSON: json = 1; break;
        case 'h': fputs(tokenize_help, stdout); return CLI_EXIT_OK;
        default: return cli_option_error(argv[0], c, argv);
        }
    }
    char *text = gather_text(argc, argv, optind);
    if (!text) {
        cli_error("tokenize: cannot read the text");
        return CLI_EXIT_FAILED;
    }
    int status = CLI_EXIT_FAILED;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    gitc_error err = {0};
    gitc_tokenizer *tok = open_tokenizer(mo.model);
    if (!tok) goto done;
    if (gitc_tokenizer_encode(tok, text, strlen(text), add_special, &ids, &n_ids, &err)) {
        cli_error("tokenize: %s", err.message);
        goto done;
    }
    if (json) {
        fputs("{\"ids\": [", stdout);
        for (size_t i = 0; i < n_ids; i++) printf("%s%d", i ? ", " : "", (int)ids[i]);
        fputs("], \"tokens\": [", stdout);
        for (size_t i = 0; i < n_ids; i++) {
            if (i) fputs(", ", stdout);
            const char *t = gitc_tokenizer_id_to_token(tok, ids[i]);
            cli_json_string(stdout, t ? t : "");
        }
        fputs("]}\n", stdout);
    } else {
        for (size_t i = 0; i < n_ids; i++) printf("%s%d", i ? " " : "", (int)ids[i]);
        putchar('\n');
    }
    status = CLI_EXIT_OK;
done:
    gitc_free(ids);
    free(text);
    gitc_tokenizer_free(tok);
    return status;
}

/* Parses ids separated by spaces, commas or brackets; appends to *ids. Returns 0 or -1. */
static int parse_ids(const char *s, int32_t **ids, size_t *n, size_t *cap)
{
    while (*s) {
        if (isspace((unsigned char)*s) || *s == ',' || *s == '[' || *s == ']') {
            s++;
            continue;
        }
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX ||
            (*end && !isspace((unsigned char)*end) && *end != ',' && *end != ']')) {
            cli_error("detokenize: '%s' is not a list of token ids", s);
            return -1;
        }
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            int32_t *p = realloc(*ids, nc * sizeof *p);
            if (!p) return -1;
            *ids = p;
            *cap = nc;
        }
        (*ids)[(*n)++] = (int32_t)v;
        s = end;
    }
    return 0;
}

/* Parses a list of ids, or the {"ids": [...]} object of tokenize --json. */
static int parse_id_text(const char *s, int32_t **ids, size_t *n, size_t *cap)
{
    while (isspace((unsigned char)*s)) s++;
    if (*s != '{') return parse_ids(s, ids, n, cap);
    cJSON *root = cJSON_Parse(s);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "ids");
    const cJSON *e;
    int rc = cJSON_IsArray(list) ? 0 : -1;
    if (rc) cli_error("detokenize: a JSON input must be an object with an \"ids\" array");
    cJSON_ArrayForEach(e, list)
    {
        if (rc) break;
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX ||
            e->valuedouble != (double)(int64_t)e->valuedouble) {
            cli_error("detokenize: \"ids\" holds a value that is not a token id");
            rc = -1;
        } else if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            int32_t *p = realloc(*ids, nc * sizeof *p);
            if (!p) rc = -1;
            else *ids = p, *cap = nc;
        }
        if (!rc) (*ids)[(*n)++] = (int32_t)e->valuedouble;
    }
    cJSON_Delete(root);
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"model", required_argument, NULL, 'm'},
        {"keep-special", no_argument, NULL, OPT_KEEP_SPECIAL},
        {"no-clean-up", no_argument, NULL, OPT_NO_CLEAN_UP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_model_opts mo = {0};
    int skip_special = 1, clean_up = -1, c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":m:h", long_options, NULL)) != -1) {
        int handled = cli_model_option(&mo, c, optarg);
        if (handled < 0)
            return CLI_EXIT_USAGE;
        if (handled)
            continue;
        switch (c) {
        case OPT_KEEP_SPECIAL: skip_special = 0; break;
        case OPT_NO_CLEAN_UP: clean_up = 0; break;
        case 'h': fputs(detokenize_help, stdout); return CLI_EXIT_OK;
        default: return cli_option_error(argv[0], c, argv);
        }
    }
    char *list = gather_text(argc, argv, optind);
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    if (!list || parse_id_text(list, &ids, &n_ids, &cap)) {
        free(list);
        free(ids);
        return CLI_EXIT_USAGE;
    }
    free(list);
    int status = CLI_EXIT_FAILED;
    char *text = NULL;
    gitc_error err = {0};
    gitc_tokenizer *tok = open_tokenizer(mo.model);
    if (!tok) goto done;
    if (gitc_tokenizer_decode(tok, ids, n_ids, skip_special, clean_up, &text, &err)) {
        cli_error("detokenize: %s", err.message);
        goto done;
    }
    printf("%s\n", text);
    status = CLI_EXIT_OK;
done:
    gitc_free(text);
    free(ids);
    gitc_tokenizer_free(tok);
    return status;
}

/* Processes every image into pixels ([n, 3, h, w]); returns the number that failed. */
static int process_images(const gitc_processor *proc, const cli_inputs *in, int no_exif,
                          float *pixels, size_t per_image)
{

    int failed = 0;
    cli_progress progress;
    cli_progress_start(&progress, in->n);
    for (int i = 0; i < in->n; i++) {
        gitc_image image = {0};
        gitc_error err = {0};
        cli_progress_update(&progress, i, in->paths[i]);
        if (cli_load_image(in, in->paths[i], !no_exif, 0, &image, &err) != GITC_OK ||
            gitc_processor_run(proc, &image, pixels + (size_t)i * per_image, per_image, &err) != GITC_OK) {
            cli_progress_clear(&progress);
            size_t n = strlen(in->paths[i]);
            if (!strncmp(err.message, in->paths[i], n) && err.message[n] == ':')
                cli_error("%s", err.message); /* the message names the file already */
            else
                cli_error("%s: %s", in->paths[i], err.message);
            failed++;
        }
        gitc_image_free(&image);
    }
    cli_progress_clear(&progress);
    return failed;
}

/* Frames per input of the model in `dir`: config.json's num_image_with_embedding
 * (1 when null or absent); 0 after a message. */
static int config_frames(const char *dir)
{
    size_t n = strlen(dir);
    char *path = malloc(n + sizeof "/config.json");
    char *text = NULL;
    size_t len = 0;
    int frames = 0;
    if (!path) {
        cli_error("out of memory");
        return 0;
    }
    sprintf(path, "%s%sconfig.json", dir, n && dir[n - 1] == '/' ? "" : "/");
    if (cli_read_small_file(path, (size_t)1 << 24, &text, &len) == 0) {
        cJSON *root = cJSON_ParseWithLength(text, len);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "num_image_with_embedding");
        if (!root)
            cli_error("%s: not valid JSON", path);
        else if (cJSON_IsNumber(v) && (v->valuedouble < 1 || v->valuedouble > 1024))
            cli_error("%s: num_image_with_embedding %g is not a frame count", path, v->valuedouble);
        else
            frames = cJSON_IsNumber(v) ? (int)v->valuedouble : 1;
        cJSON_Delete(root);
    }
    free(text);
    free(path);
    return frames;
}

int cmd_preprocess(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"model", required_argument, NULL, 'm'},
        {"out", required_argument, NULL, 'o'},
        {"stdin", no_argument, NULL, OPT_STDIN},
        {"null", no_argument, NULL, '0'},
        {"recursive", no_argument, NULL, 'r'},
        {"no-exif", no_argument, NULL, OPT_NO_EXIF},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_model_opts mo = {0};
    const char *out = NULL;
    int use_stdin = 0, no_exif = 0, c;
    cli_inputs in = {0};
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":m:o:h0r", long_options, NULL)) != -1) {
        int handled = cli_model_option(&mo, c, optarg);
        if (handled < 0)
            return CLI_EXIT_USAGE;
        if (handled)
            continue;
        switch (c) {
        case 'o': out = optarg; break;
        case OPT_STDIN: use_stdin = 1; break;
        case '0': in.null_separated = 1; break;
        case 'r': in.recursive = 1; break;
        case OPT_NO_EXIF: no_exif = 1; break;
        case 'h': fputs(preprocess_help, stdout); return CLI_EXIT_OK;
        default: return cli_option_error(argv[0], c, argv);
        }
    }
    int status = CLI_EXIT_USAGE;
    char *dir = NULL;
    gitc_processor *proc = NULL;
    float *pixels = NULL;
    tf_writer *w = NULL;
    gitc_error err = {0};
    if (!out) {
        cli_error("preprocess: --out FILE.safetensors is required");
        status = cli_usage_error(argv[0]);
        goto done;
    }
    for (int i = optind; i < argc; i++)
        if (cli_inputs_add(&in, argv[i], CLI_INPUT_IMAGES)) goto done;
    if (use_stdin && cli_inputs_add_stdin(&in, CLI_INPUT_IMAGES)) goto done;
    if (in.n == 0) {
        cli_error("preprocess: no input images");
        status = cli_usage_error(argv[0]);
        goto done;
    }
    status = CLI_EXIT_FAILED;
    dir = cli_resolve_model(mo.model, 0);
    if (!dir) goto done;
    if (gitc_processor_load(dir, &proc, &err) != GITC_OK) {
        cli_error_about("cannot load the image processor", dir, err.message);
        goto done;
    }
    int h = 0, wd = 0;
    gitc_processor_output_size(proc, &h, &wd);
    if (h <= 0 || wd <= 0) {
        cli_error("preprocess: the processor of %s gives images of different sizes "
                  "(do_center_crop false): GIT models take one fixed size", dir);
        goto done;
    }
    int frames = config_frames(dir);
    if (frames < 1) goto done;
    if (in.n % frames) {
        cli_error("preprocess: %s is a video model of %d frames per clip: give a multiple of "
                  "%d images (the frames of each clip in order), got %d", dir, frames, frames,
                  in.n);
        status = CLI_EXIT_USAGE;
        goto done;
    }
    size_t per_image = (size_t)3 * (size_t)h * (size_t)wd;
    pixels = malloc((size_t)in.n * per_image * sizeof *pixels);
    w = tf_writer_new();
    if (!pixels || !w) {
        cli_error("preprocess: out of memory");
        goto done;
    }
    if (process_images(proc, &in, no_exif, pixels, per_image)) {
        cli_error("preprocess: %s not written", out);
        goto done;
    }
    int64_t shape4[4] = {in.n, 3, h, wd}, shape5[5] = {in.n / frames, frames, 3, h, wd};
    int video = frames > 1;
    if (tf_writer_add(w, "pixel_values", TF_F32, video ? 5 : 4, video ? shape5 : shape4, pixels,
                      &err) != GITC_OK ||
        tf_writer_write(w, out, &err) != GITC_OK) {
        cli_error("preprocess: %s", err.message);
        goto done;
    }
    status = CLI_EXIT_OK;
done:
    tf_writer_free(w);
    free(pixels);
    gitc_processor_free(proc);
    free(dir);
    cli_inputs_free(&in);
    return status;
}
