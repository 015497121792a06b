/* A program outside the gitc tree, built against the installed library (with
 * pkg-config and with find_package) or a gitc added with add_subdirectory:
 * prints the run-time version and formats, then, given MODEL_DIR IMAGE,
 * captions the image through the public API. */
#include <gitc.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    printf("libgitc %s (header %s)\nformats: %s\n", gitc_version(), GITC_VERSION, gitc_formats());
    if (argc != 3)
        return 0;
    gitc_error err = {0};
    gitc_model *model = NULL;
    gitc_session *session = NULL;
    gitc_image image = {0};
    char *text = NULL;
    int status = 1;
    if (gitc_model_load(argv[1], NULL, &model, &err) == GITC_OK &&
        gitc_session_create(model, NULL, &session, &err) == GITC_OK &&
        gitc_image_load(argv[2], NULL, &image, &err) == GITC_OK &&
        gitc_describe_image(session, &image, NULL, NULL, &text, &err) == GITC_OK) {
        printf("caption: %s\n", text);
        status = 0;
    } else {
        printf("error: %s\n", err.message);
    }
    gitc_free(text);
    gitc_image_free(&image);
    gitc_session_free(session);
    gitc_model_free(model);
    return status;
}
