/* Prints the sizes and field offsets of the gitc.h structs the Python package
 * mirrors with ctypes, as JSON; python/tests/test_api.py compares them. */
#include <stddef.h>
#include <stdio.h>

#include "gitc.h"

#define FIELD(T, f) printf("\"%s.%s\": %zu, ", #T, #f, offsetof(T, f))
#define SIZE(T) printf("\"%s\": %zu, ", #T, sizeof(T))

int main(void)
{
    printf("{");
    SIZE(gitc_error);
    FIELD(gitc_error, message);
    SIZE(gitc_image);
    FIELD(gitc_image, rgb);
    SIZE(gitc_image_params);
    FIELD(gitc_image_params, max_pixels);
    FIELD(gitc_image_params, exif_transpose);
    SIZE(gitc_session_params);
    FIELD(gitc_session_params, n_threads);
    FIELD(gitc_session_params, abort_callback);
    FIELD(gitc_session_params, abort_user);
    SIZE(gitc_sequence);
    FIELD(gitc_sequence, ids);
    FIELD(gitc_sequence, n_ids);
    FIELD(gitc_sequence, n_prompt);
    FIELD(gitc_sequence, score);
    SIZE(gitc_generation);
    FIELD(gitc_generation, n_sequences);
    SIZE(gitc_generate_params);
    FIELD(gitc_generate_params, max_length);
    FIELD(gitc_generate_params, max_new_tokens);
    FIELD(gitc_generate_params, num_beams);
    FIELD(gitc_generate_params, length_penalty);
    FIELD(gitc_generate_params, early_stopping);
    FIELD(gitc_generate_params, num_return_sequences);
    FIELD(gitc_generate_params, repetition_penalty);
    FIELD(gitc_generate_params, no_repeat_ngram_size);
    FIELD(gitc_generate_params, do_sample);
    FIELD(gitc_generate_params, temperature);
    FIELD(gitc_generate_params, top_k);
    FIELD(gitc_generate_params, top_p);
    FIELD(gitc_generate_params, seed);
    FIELD(gitc_generate_params, bad_words_ids);
    FIELD(gitc_generate_params, bad_words_offsets);
    FIELD(gitc_generate_params, n_bad_words);
    SIZE(gitc_config);
    FIELD(gitc_config, layer_norm_eps);
    FIELD(gitc_config, eos_token_id);
    FIELD(gitc_config, num_image_with_embedding);
    FIELD(gitc_config, vision_image_size);
    FIELD(gitc_config, vision_layer_norm_eps);
    FIELD(gitc_config, image_tokens_per_frame);
    printf("\"end\": 0}\n");
    return 0;
}
