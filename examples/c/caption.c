/* Minimal libgitc program: caption one image with a model folder.
 * Build: cc caption.c -I include build/libgitc.a $(pkg-config ...) or link -lgitc. */
#include <gitc.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE\n", argv[0]);
        return 2;
    }
    gitc_error err = {0};
    gitc_model *model = NULL;
    gitc_session *session = NULL;
    gitc_image image = {0};
    char *text = NULL;
    int status = 1;

    if (gitc_model_load(argv[1], NULL, &model, &err) != GITC_OK ||
        gitc_session_create(model, NULL, &session, &err) != GITC_OK ||
        gitc_image_load(argv[2], NULL, &image, &err) != GITC_OK)
        goto done;

    gitc_generate_params params = gitc_model_generate_params(model);
    params.max_length = 30;
    params.num_beams = 3;
    if (gitc_describe_image(session, &image, NULL, &params, &text, &err) != GITC_OK)
        goto done;
    printf("%s\n", text);
    status = 0;

done:
    if (status)
        fprintf(stderr, "error: %s\n", err.message);
    gitc_free(text);
    gitc_image_free(&image);
    gitc_session_free(session);
    gitc_model_free(model);
    return status;
}
