/*
 * libFuzzer target for the request parsing of `gitc serve`
 * (tools/serve_parse.c, compiled in here): the first input byte picks the
 * parser, the rest is the request body.
 *   0: POST / (HF Inference API), JSON or raw bytes by the second byte
 *   1: POST /v1/chat/completions
 *   2: POST /v1/caption (multipart, boundary "XB")
 *   3: base64
 *   4: an image reference (data: URL, base64, remote URL)
 *   5: one form field (name up to the first '=')
 * Traps when an invariant breaks:
 *   - every result is 0 or 400, and a 400 comes with a message;
 *   - a parsed request has 1..SERVE_MAX_IMAGES images, each with bytes, and
 *     settings that stay within the ranges the parsers promise;
 *   - decoded base64 is at most 3/4 of its input.
 * No data files are needed. Run it with scripts/fuzz.sh http SECONDS
 * (seeds: fuzz/seeds/http).
 */
#include <stdlib.h>
#include <string.h>

#include "../tools/serve_parse.c"

static void check_request(int st, const char *msg, serve_request *r)
{
    if (st != 0 && st != 400)
        __builtin_trap();
    if (st == 400 && !msg[0])
        __builtin_trap();
    if (st == 0) {
        if (r->n_images < 1 || r->n_images > SERVE_MAX_IMAGES)
            __builtin_trap();
        for (int i = 0; i < r->n_images; i++)
            if (!r->images[i].data || r->images[i].len == 0)
                __builtin_trap();
        const gitc_generate_params *p = &r->params;
        if (p->num_beams < 1 || p->num_beams > 64 || p->num_return_sequences < 1 || p->num_return_sequences > 64 ||
            p->top_p < 0 || p->top_p > 1 || p->max_new_tokens < 0 || p->max_length < 1)
            __builtin_trap();
        if (r->question && strlen(r->question) > 100u << 20)
            __builtin_trap();
        serve_request_free(r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int which = data[0] % 6, flag = data[1];
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    char msg[SERVE_MSG] = "";
    gitc_generate_params base = gitc_generate_default_params();
    base.max_length = 30;
    serve_request r;
    int st;
    switch (which) {
    case 0:
        st = serve_parse_hf(body, len, flag & 1 ? "application/json" : "image/png", &base, &r, msg);
        check_request(st, msg, &r);
        break;
    case 1:
        st = serve_parse_chat(body, len, &base, &r, msg);
        check_request(st, msg, &r);
        break;
    case 2:
        st = serve_parse_caption(body, len, "multipart/form-data; boundary=XB", &base, &r, msg);
        check_request(st, msg, &r);
        break;
    case 3: {
        uint8_t *out = NULL;
        size_t n = 0;
        st = serve_base64_decode((const char *)body, len, &out, &n, msg);
        if ((st == 0) != (out != NULL) || (st == 0 && (n == 0 || n > len / 4 * 3 + 2)) || (st && !msg[0]))
            __builtin_trap();
        free(out);
        break;
    }
    case 4: {
        serve_blob b;
        st = serve_image_ref((const char *)body, len, "fuzz", &b, msg);
        if ((st != 0 && st != 400) || (st == 0 && (!b.data || !b.len)) || (st && !msg[0]))
            __builtin_trap();
        free(b.owned);
        break;
    }
    default: {
        const uint8_t *eq = memchr(body, '=', len);
        char name[64];
        size_t nl = eq ? (size_t)(eq - body) : 0;
        if (!eq || nl >= sizeof name)
            return 0;
        memcpy(name, body, nl);
        name[nl] = '\0';
        gitc_generate_params p = base;
        st = serve_param_field(name, (const char *)eq + 1, len - nl - 1, &p, msg);
        if (st != 0 && st != -1 && st != 400)
            __builtin_trap();
        if (st == 0 && (p.num_beams < 1 || p.num_beams > 64 || p.top_p <= 0 || p.top_p > 1))
            __builtin_trap();
        break;
    }
    }
    return 0;
}
