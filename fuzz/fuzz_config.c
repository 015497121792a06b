/*
 * libFuzzer target for config.json (GitConfig + vision_config): parses the
 * input with gitc_config_from_json and, on success, walks the parameter table the
 * config implies. Traps when an invariant breaks:
 *   - a failure sets a message;
 *   - an accepted config has positive sizes within the documented maxima, heads
 *     dividing widths, patch <= image size, and every parameter shape positive.
 * FUZZ_SEEDS: fuzz/seeds/config
 * FUZZ_DICT: fuzz/dict/json.dict
 * FUZZ_MAX_LEN: 8192
 */
#include "common.h"

static int n_params;

static int count_param(void *user, const char *name, int ndim, const int64_t *shape)
{
    (void)user;
    FUZZ_CHECK(name[0] && ndim >= 1 && ndim <= 4, "param %s ndim %d", name, ndim);
    for (int i = 0; i < ndim; i++)
        FUZZ_CHECK(shape[i] > 0, "param %s dim %d = %lld", name, i, (long long)shape[i]);
    n_params++;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gitc_config c;
    gitc_error err = {0};
    gitc_status st = gitc_config_from_json((const char *)data, size, "config.json", &c, &err);
    fuzz_check_error(st, &err);
    if (st != GITC_OK)
        return 0;
    FUZZ_CHECK(c.vocab_size > 0 && c.vocab_size <= 1 << 22, "vocab_size %d", c.vocab_size);
    FUZZ_CHECK(c.hidden_size > 0 && c.hidden_size % c.num_attention_heads == 0, "hidden %d", c.hidden_size);
    FUZZ_CHECK(c.vision_hidden_size % c.vision_num_attention_heads == 0, "vision hidden");
    FUZZ_CHECK(c.vision_patch_size <= c.vision_image_size, "patch > image");
    FUZZ_CHECK(c.layer_norm_eps > 0 && c.vision_layer_norm_eps > 0, "eps");
    FUZZ_CHECK(c.image_tokens_per_frame >= 2, "tokens per frame %d", c.image_tokens_per_frame);
    /* The parameter walk is linear in the layer count; keep big configs quick. */
    if (c.num_hidden_layers + c.vision_num_hidden_layers <= 64) {
        n_params = 0;
        FUZZ_CHECK(gitc_config_for_each_parameter(&c, count_param, NULL) == 1, "param walk stopped");
        FUZZ_CHECK(n_params > 0, "no parameters");
    }
    return 0;
}
