/* TEMPORARY stub until src/tokenizer.c lands: delete this file when it does. */
#include "internal.h"
gitc_status gitc_tokenizer_load(const char *d, gitc_tokenizer **o, gitc_error *e) { *o = NULL; return gitc_fail(e, GITC_ERR_UNSUPPORTED, "%s: tokenizer not implemented", d); }
void gitc_tokenizer_free(gitc_tokenizer *t) { (void)t; }
gitc_status gitc_tokenizer_encode(const gitc_tokenizer *t, const char *s, size_t l, int a, int32_t **i, size_t *n, gitc_error *e) { return gitc_fail(e, GITC_ERR_UNSUPPORTED, "not implemented"); }
gitc_status gitc_tokenizer_decode(const gitc_tokenizer *t, const int32_t *i, size_t n, int s, int c, char **x, gitc_error *e) { return gitc_fail(e, GITC_ERR_UNSUPPORTED, "not implemented"); }
const char *gitc_tokenizer_id_to_token(const gitc_tokenizer *t, int32_t id) { return NULL; }
int gitc_tokenizer_vocab_size(const gitc_tokenizer *t) { return 0; }
