/* gitc: the command-line tool. main() only picks the subcommand; each one
 * lives in tools/cmd_*.c and returns the process exit status. */
#include <stdio.h>
#include <string.h>

#include "cli_common.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"caption", cmd_caption, "describe images in one sentence"},
    {"ask", cmd_ask, "answer a question about images"},
    {"video", cmd_video, "describe a video file or a clip of frame images"},
    {"preprocess", cmd_preprocess, "write the processor's pixel_values to a safetensors file"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"detokenize", cmd_detokenize, "print the text of token ids"},
    {"train", cmd_train, "fine-tune a model on a folder of captioned images"},
    {"inspect", cmd_inspect, "show the files, format and weights a model folder would load"},
    {"serve", cmd_serve, "run an HTTP service (HF Inference API, OpenAI chat, web page)"},
    {"forward", cmd_forward, "(developer) run one forward pass and dump tensors"},
    {"synth", cmd_synth, "(developer) write a synthetic model"},
    {"bench", cmd_bench, "(developer) time the model"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_usage(FILE *f)
{
    fprintf(f,
            "Usage: gitc COMMAND [OPTIONS] ARGS...\n"
            "gitc %s: image and video captioning with Microsoft's GIT models, in C.\n"
            "\n"
            "Commands:\n",
            GITC_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fputs("\n"
          "`gitc COMMAND --help` describes a command's options. Without -m MODEL the\n"
          "embedded shapes models are used (models/git-shapes, git-shapes-video).\n"
          "Exit status: 0 success, 1 an input or the model failed (or the output could not\n"
          "be written), 2 usage error.\n"
          "\n"
          "Examples:\n"
          "  gitc caption examples/shapes_0_224x224.png\n"
          "  gitc ask examples/shapes_1_320x240.jpg \"what color is the background?\"\n"
          "  gitc video examples/moving_square_h264.mp4\n"
          "  gitc caption -m microsoft/git-base-coco --beams 3 --json photos/\n",
          f);
}

/* Runs the named command, or reports an unknown one (exit status 2). */
static int run_command(const char *name, int argc, char **argv)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].run(argc, argv);
    fprintf(stderr, "gitc: unknown command '%s'\n\n", name);
    print_usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") && argc > 2) {
        /* `gitc help CMD` is `gitc CMD --help`. */
        char *help_argv[] = {argv[2], "--help", NULL};
        return cli_finish_output(run_command(argv[2], 2, help_argv));
    }
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        print_usage(stdout);
        return cli_finish_output(0);
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V") || !strcmp(name, "version")) {
        printf("gitc %s (libgitc %s)\nformats: %s\n", GITC_VERSION, gitc_version(), gitc_formats());
        return cli_finish_output(0);
    }
    return cli_finish_output(run_command(name, argc - 1, argv + 1));
}
