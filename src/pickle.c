/* Restricted pickle machine for torch state dicts (see pickle.h). */
#include "pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR };

/* The globals a state dict may name. */
enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE };

static const struct {
    const char *module, *name;
    int kind;
    st_dtype dtype;
} allowed[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, ST_F32},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, ST_F32},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, ST_F32},
    {"torch", "FloatStorage", G_STORAGE, ST_F32},
    {"torch", "HalfStorage", G_STORAGE, ST_F16},
    {"torch", "BFloat16Storage", G_STORAGE, ST_BF16},
    {"torch", "DoubleStorage", G_STORAGE, ST_F64},
    {"torch", "LongStorage", G_STORAGE, ST_I64},
    {"torch", "IntStorage", G_STORAGE, ST_I32},
    {"torch", "ShortStorage", G_STORAGE, ST_I16},
    {"torch", "CharStorage", G_STORAGE, ST_I8},
    {"torch", "ByteStorage", G_STORAGE, ST_U8},
    {"torch", "BoolStorage", G_STORAGE, ST_BOOL},
};

typedef struct pv {
    int type;
    int64_t i;                /* INT, BOOL; GLOBAL: index in allowed[] */
    const uint8_t *s;         /* STR: bytes in the input (not NUL-terminated) */
    size_t slen;
    struct pv **items;        /* TUPLE, LIST, DICT (key, value pairs) */
    int n, cap;
    /* STORAGE */
    st_dtype dtype;
    const uint8_t *key;
    size_t keylen;
    int64_t numel;
    /* TENSOR */
    struct pv *storage;
    int64_t offset;
    int ndim;
    int64_t shape[ST_MAX_DIMS], stride[ST_MAX_DIMS];
} pv;

typedef struct machine {
    const uint8_t *buf;
    size_t len, pos;
    const char *path;
    gitc_error *err;
    pv **all; /* every value, for freeing */
    size_t n_all, cap_all;
    pv **stack;
    size_t sp, cap_stack;
    size_t *marks;
    size_t n_marks, cap_marks;
    pv **memo;
    size_t cap_memo;
    size_t memo_next; /* the index MEMOIZE uses: one past the highest index stored */
} machine;

static gitc_status fail(machine *m, const char *what)
{
    return gitci_fail(m->err, GITC_ERR_FORMAT, "%s: pickle: %s at byte %zu", m->path, what, m->pos);
}

/* Grows *arr (elements of `size` bytes) to hold `need`, never beyond `max`. */
static int grow(void **arr, size_t *cap, size_t need, size_t size, size_t max)
{
    if (need <= *cap)
        return 1;
    if (need > max)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    if (c > max)
        c = max;
    void *p = realloc(*arr, c * size);
    if (!p)
        return 0;
    *arr = p;
    *cap = c;
    return 1;
}

static pv *new_value(machine *m, int type)
{
    if (!grow((void **)&m->all, &m->cap_all, m->n_all + 1, sizeof *m->all, SIZE_MAX / sizeof(pv *)))
        return NULL;
    pv *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->type = type;
    m->all[m->n_all++] = v;
    return v;
}

static gitc_status push(machine *m, pv *v)
{
    if (!v)
        return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
    if (m->sp >= PICKLE_MAX_STACK)
        return gitci_fail(m->err, GITC_ERR_FORMAT, "%s: pickle stack deeper than %d values", m->path,
                          PICKLE_MAX_STACK);
    if (!grow((void **)&m->stack, &m->cap_stack, m->sp + 1, sizeof *m->stack, PICKLE_MAX_STACK))
        return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
    m->stack[m->sp++] = v;
    return GITC_OK;
}

static pv *pop(machine *m)
{
    size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    return m->sp > floor ? m->stack[--m->sp] : NULL;
}

static pv *top(machine *m)
{
    size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    return m->sp > floor ? m->stack[m->sp - 1] : NULL;
}

static int add_item(pv *c, pv *v)
{
    size_t cap = (size_t)c->cap;
    if (!grow((void **)&c->items, &cap, (size_t)c->n + 1, sizeof *c->items, PICKLE_MAX_STACK * 2u))
        return 0;
    c->cap = (int)cap;
    c->items[c->n++] = v;
    return 1;
}

/* Pops the values above the last mark into a new TUPLE or LIST. */
static gitc_status pop_mark_into(machine *m, pv **out, int type)
{
    if (!m->n_marks)
        return fail(m, "no mark for a tuple/list/setitems");
    size_t mk = m->marks[--m->n_marks];
    pv *t = new_value(m, type);
    if (!t)
        return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
    for (size_t i = mk; i < m->sp; i++)
        if (!add_item(t, m->stack[i]))
            return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
    m->sp = mk;
    *out = t;
    return GITC_OK;
}

static int need(machine *m, size_t n) { return m->len - m->pos >= n; }

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static int str_is(const pv *v, const char *s)
{
    return v && v->type == V_STR && v->slen == strlen(s) && memcmp(v->s, s, v->slen) == 0;
}

/* Resolves module/name against the allowlist; refuses anything else by name. */
static gitc_status global(machine *m, const uint8_t *mod, size_t mlen, const uint8_t *name, size_t nlen)
{
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (strlen(allowed[i].module) == mlen && memcmp(allowed[i].module, mod, mlen) == 0 &&
            strlen(allowed[i].name) == nlen && memcmp(allowed[i].name, name, nlen) == 0) {
            pv *v = new_value(m, V_GLOBAL);
            if (v)
                v->i = (int64_t)i;
            return push(m, v);
        }
    }
    char shown[200];
    int a = mlen > 90 ? 90 : (int)mlen, b = nlen > 90 ? 90 : (int)nlen;
    snprintf(shown, sizeof shown, "%.*s.%.*s", a, (const char *)mod, b, (const char *)name);
    for (char *c = shown; *c; c++)
        if ((unsigned char)*c < 32 || (unsigned char)*c > 126)
            *c = '?';
    return gitci_fail(m->err, GITC_ERR_UNSUPPORTED,
                      "%s: the pickle names the global %s, which gitc refuses (a state dict needs only "
                      "OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter and torch storage "
                      "types; nothing in the file is executed)",
                      m->path, shown);
}

static int int_tuple(const pv *t, int64_t *out, int *n)
{
    if (!t || t->type != V_TUPLE || t->n > ST_MAX_DIMS)
        return 0;
    for (int i = 0; i < t->n; i++) {
        if (t->items[i]->type != V_INT)
            return 0;
        out[i] = t->items[i]->i;
    }
    *n = t->n;
    return 1;
}

static gitc_status reduce(machine *m)
{
    pv *args = pop(m), *fn = pop(m);
    if (!args || !fn || args->type != V_TUPLE || fn->type != V_GLOBAL)
        return fail(m, "REDUCE needs an allowed global and an argument tuple");
    int kind = allowed[fn->i].kind;
    if (kind == G_ORDERED_DICT) {
        if (args->n != 0)
            return fail(m, "OrderedDict with arguments");
        return push(m, new_value(m, V_DICT));
    }
    if (kind == G_REBUILD_PARAMETER) {
        if (args->n < 1 || args->items[0]->type != V_TENSOR)
            return fail(m, "_rebuild_parameter without a tensor");
        return push(m, args->items[0]);
    }
    if (kind == G_REBUILD_TENSOR_V2) {
        pv *t = new_value(m, V_TENSOR);
        if (!t)
            return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
        int nd = 0, ns = 0;
        if (args->n < 4 || args->items[0]->type != V_STORAGE || args->items[1]->type != V_INT ||
            !int_tuple(args->items[2], t->shape, &nd) || !int_tuple(args->items[3], t->stride, &ns) ||
            nd != ns)
            return fail(m, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
        t->storage = args->items[0];
        t->offset = args->items[1]->i;
        t->ndim = nd;
        return push(m, t);
    }
    return fail(m, "a storage type called as a function");
}

static gitc_status persistent_id(machine *m)
{
    pv *pid = pop(m);
    /* ('storage', storage type, key, location, numel) */
    if (!pid || pid->type != V_TUPLE || pid->n < 5 || !str_is(pid->items[0], "storage") ||
        pid->items[1]->type != V_GLOBAL || allowed[pid->items[1]->i].kind != G_STORAGE ||
        pid->items[2]->type != V_STR || pid->items[4]->type != V_INT || pid->items[4]->i < 0)
        return fail(m, "persistent id is not ('storage', type, key, location, numel)");
    pv *s = new_value(m, V_STORAGE);
    if (s) {
        s->dtype = allowed[pid->items[1]->i].dtype;
        s->key = pid->items[2]->s;
        s->keylen = pid->items[2]->slen;
        s->numel = pid->items[4]->i;
    }
    return push(m, s);
}

static gitc_status run(machine *m, pv **result)
{
    while (m->pos < m->len) {
        uint8_t op = m->buf[m->pos++];
        gitc_status s = GITC_OK;
        pv *v = NULL;
        switch (op) {
        case 0x80: /* PROTO */
            if (!need(m, 1) || m->buf[m->pos] < 2 || m->buf[m->pos] > 5)
                return fail(m, "unsupported pickle protocol");
            m->pos++;
            break;
        case 0x95: /* FRAME */
            if (!need(m, 8))
                return fail(m, "truncated FRAME");
            m->pos += 8;
            break;
        case '}': s = push(m, new_value(m, V_DICT)); break;
        case ']': s = push(m, new_value(m, V_LIST)); break;
        case ')': s = push(m, new_value(m, V_TUPLE)); break;
        case 'N': s = push(m, new_value(m, V_NONE)); break;
        case 0x88: case 0x89:
            v = new_value(m, V_BOOL);
            if (v)
                v->i = op == 0x88;
            s = push(m, v);
            break;
        case '(':
            if (m->n_marks >= PICKLE_MAX_STACK)
                return gitci_fail(m->err, GITC_ERR_FORMAT, "%s: pickle marks nested deeper than %d",
                                  m->path, PICKLE_MAX_STACK);
            if (!grow((void **)&m->marks, &m->cap_marks, m->n_marks + 1, sizeof *m->marks, PICKLE_MAX_STACK))
                return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
            m->marks[m->n_marks++] = m->sp;
            break;
        case 't': case 'l':
            s = pop_mark_into(m, &v, op == 't' ? V_TUPLE : V_LIST);
            if (s == GITC_OK)
                s = push(m, v);
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            int n = op - 0x84;
            pv *items[3];
            for (int i = n - 1; i >= 0; i--)
                if (!(items[i] = pop(m)))
                    return fail(m, "stack underflow");
            v = new_value(m, V_TUPLE);
            for (int i = 0; v && i < n; i++)
                if (!add_item(v, items[i]))
                    v = NULL;
            s = push(m, v);
            break;
        }
        case 'a': { /* APPEND */
            pv *x = pop(m), *l = top(m);
            if (!x || !l || l->type != V_LIST)
                return fail(m, "APPEND without a list");
            if (!add_item(l, x))
                return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
            break;
        }
        case 'e': case 'u': { /* APPENDS, SETITEMS */
            pv *items;
            s = pop_mark_into(m, &items, V_TUPLE);
            if (s != GITC_OK)
                return s;
            pv *c = top(m);
            if (!c || c->type != (op == 'e' ? V_LIST : V_DICT) || (op == 'u' && items->n % 2))
                return fail(m, op == 'e' ? "APPENDS without a list" : "SETITEMS without a dict");
            for (int i = 0; i < items->n; i++)
                if (!add_item(c, items->items[i]))
                    return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
            break;
        }
        case 's': { /* SETITEM */
            pv *val = pop(m), *key = pop(m), *d = top(m);
            if (!val || !key || !d || d->type != V_DICT)
                return fail(m, "SETITEM without a dict");
            if (!add_item(d, key) || !add_item(d, val))
                return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
            break;
        }
        case 'b': { /* BUILD: only a dict's attribute state (OrderedDict._metadata), ignored */
            pv *state = pop(m), *obj = top(m);
            if (!state || !obj || obj->type != V_DICT)
                return fail(m, "BUILD of something other than a dict");
            break;
        }
        case 'q': case 'r': case 0x94: { /* BINPUT, LONG_BINPUT, MEMOIZE */
            size_t idx;
            if (op == 'q') {
                if (!need(m, 1))
                    return fail(m, "truncated BINPUT");
                idx = m->buf[m->pos++];
            } else if (op == 'r') {
                if (!need(m, 4))
                    return fail(m, "truncated LONG_BINPUT");
                idx = le32(m->buf + m->pos);
                m->pos += 4;
            } else {
                idx = m->memo_next;
            }
            pv *t = top(m);
            if (!t)
                return fail(m, "memo store from an empty stack");
            if (idx >= PICKLE_MAX_MEMO)
                return gitci_fail(m->err, GITC_ERR_FORMAT, "%s: pickle memo index %zu (at most %d)",
                                  m->path, idx, PICKLE_MAX_MEMO - 1);
            size_t old = m->cap_memo;
            if (!grow((void **)&m->memo, &m->cap_memo, idx + 1, sizeof *m->memo, PICKLE_MAX_MEMO))
                return gitci_fail(m->err, GITC_ERR_MEMORY, "%s: out of memory", m->path);
            if (m->cap_memo > old)
                memset(m->memo + old, 0, (m->cap_memo - old) * sizeof *m->memo);
            m->memo[idx] = t;
            if (idx >= m->memo_next)
                m->memo_next = idx + 1;
            break;
        }
        case 'h': case 'j': { /* BINGET, LONG_BINGET */
            size_t idx;
            if (!need(m, op == 'h' ? 1 : 4))
                return fail(m, "truncated BINGET");
            idx = op == 'h' ? m->buf[m->pos] : le32(m->buf + m->pos);
            m->pos += op == 'h' ? 1 : 4;
            if (idx >= m->cap_memo || !m->memo[idx])
                return fail(m, "BINGET of an empty memo slot");
            s = push(m, m->memo[idx]);
            break;
        }
        case 'X': case 0x8c: case 'U': case 'T': case 'B': case 'C': { /* strings */
            size_t hl = (op == 'X' || op == 'T' || op == 'B') ? 4 : 1;
            if (!need(m, hl))
                return fail(m, "truncated string");
            size_t n = hl == 4 ? le32(m->buf + m->pos) : m->buf[m->pos];
            m->pos += hl;
            if (!need(m, n))
                return fail(m, "string runs past the end");
            v = new_value(m, V_STR);
            if (v) {
                v->s = m->buf + m->pos;
                v->slen = n;
            }
            m->pos += n;
            s = push(m, v);
            break;
        }
        case 'K': case 'M': case 'J': { /* BININT1, BININT2, BININT */
            size_t n = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            if (!need(m, n))
                return fail(m, "truncated integer");
            const uint8_t *p = m->buf + m->pos;
            int64_t x = op == 'K' ? p[0] : op == 'M' ? (int64_t)(p[0] | p[1] << 8) : (int64_t)(int32_t)le32(p);
            m->pos += n;
            v = new_value(m, V_INT);
            if (v)
                v->i = x;
            s = push(m, v);
            break;
        }
        case 0x8a: { /* LONG1 */
            if (!need(m, 1))
                return fail(m, "truncated LONG1");
            size_t n = m->buf[m->pos++];
            if (n > 8 || !need(m, n))
                return fail(m, "LONG1 wider than 64 bits or truncated");
            uint64_t x = 0;
            for (size_t i = 0; i < n; i++)
                x |= (uint64_t)m->buf[m->pos + i] << (8 * i);
            if (n > 0 && n < 8 && (m->buf[m->pos + n - 1] & 0x80))
                x |= ~(uint64_t)0 << (8 * n);
            m->pos += n;
            v = new_value(m, V_INT);
            if (v)
                memcpy(&v->i, &x, sizeof x);
            s = push(m, v);
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            if (!need(m, 8))
                return fail(m, "truncated BINFLOAT");
            m->pos += 8;
            s = push(m, new_value(m, V_FLOAT));
            break;
        }
        case 'c': { /* GLOBAL "module\nname\n" */
            const uint8_t *mod = m->buf + m->pos;
            const uint8_t *nl1 = memchr(mod, '\n', m->len - m->pos);
            if (!nl1)
                return fail(m, "truncated GLOBAL");
            const uint8_t *name = nl1 + 1;
            const uint8_t *nl2 = memchr(name, '\n', (size_t)(m->buf + m->len - name));
            if (!nl2)
                return fail(m, "truncated GLOBAL");
            m->pos = (size_t)(nl2 + 1 - m->buf);
            s = global(m, mod, (size_t)(nl1 - mod), name, (size_t)(nl2 - name));
            break;
        }
        case 0x93: { /* STACK_GLOBAL */
            pv *name = pop(m), *mod = pop(m);
            if (!name || !mod || name->type != V_STR || mod->type != V_STR)
                return fail(m, "STACK_GLOBAL needs two strings");
            s = global(m, mod->s, mod->slen, name->s, name->slen);
            break;
        }
        case 'Q': s = persistent_id(m); break;
        case 'R': s = reduce(m); break;
        case '0':
            if (!pop(m))
                return fail(m, "POP from an empty stack");
            break;
        case '1':
            if (!m->n_marks)
                return fail(m, "POP_MARK without a mark");
            m->sp = m->marks[--m->n_marks];
            break;
        case '2':
            if (!top(m))
                return fail(m, "DUP of an empty stack");
            s = push(m, top(m));
            break;
        case '.': /* STOP */
            if (m->sp != 1 || m->n_marks)
                return fail(m, "STOP with other than one value on the stack");
            *result = m->stack[0];
            return GITC_OK;
        default:
            m->pos--;
            return gitci_fail(m->err, GITC_ERR_UNSUPPORTED,
                              "%s: pickle opcode 0x%02x at byte %zu is not one a torch state dict uses",
                              m->path, op, m->pos);
        }
        if (s != GITC_OK)
            return s;
    }
    return fail(m, "no STOP opcode (truncated)");
}

void gitci_pk_state_dict_free(pk_state_dict *sd)
{
    if (!sd)
        return;
    for (int i = 0; i < sd->n_tensors; i++) {
        free(sd->tensors[i].name);
        free(sd->tensors[i].storage_key);
    }
    free(sd->tensors);
    sd->tensors = NULL;
    sd->n_tensors = 0;
}

static char *dup_str(const uint8_t *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = 0;
    }
    return c;
}

gitc_status gitci_pickle_state_dict(const uint8_t *buf, size_t len, const char *path, pk_state_dict *out,
                                    gitc_error *err)
{
    memset(out, 0, sizeof *out);
    machine m = {.buf = buf, .len = len, .path = path, .err = err};
    pv *root = NULL;
    gitc_status s = run(&m, &root);
    if (s == GITC_OK && root->type != V_DICT)
        s = gitci_fail(err, GITC_ERR_FORMAT, "%s: the pickle is not a dict of tensors", path);
    if (s == GITC_OK) {
        int n = root->n / 2;
        out->tensors = calloc(n ? (size_t)n : 1, sizeof *out->tensors);
        if (!out->tensors)
            s = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
        for (int i = 0; s == GITC_OK && i < n; i++) {
            const pv *k = root->items[2 * i], *t = root->items[2 * i + 1];
            if (k->type != V_STR || memchr(k->s, 0, k->slen)) {
                s = gitci_fail(err, GITC_ERR_FORMAT, "%s: a state dict key is not a string", path);
                break;
            }
            if (t->type != V_TENSOR) {
                s = gitci_fail(err, GITC_ERR_FORMAT, "%s: state dict entry %.*s is not a tensor", path,
                               (int)(k->slen > 200 ? 200 : k->slen), (const char *)k->s);
                break;
            }
            pk_tensor *o = &out->tensors[out->n_tensors];
            o->name = dup_str(k->s, k->slen);
            o->storage_key = dup_str(t->storage->key, t->storage->keylen);
            out->n_tensors++;
            if (!o->name || !o->storage_key) {
                s = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
                break;
            }
            o->dtype = t->storage->dtype;
            o->storage_numel = t->storage->numel;
            o->offset = t->offset;
            o->ndim = t->ndim;
            memcpy(o->shape, t->shape, sizeof o->shape);
            memcpy(o->stride, t->stride, sizeof o->stride);
        }
    }
    for (size_t i = 0; i < m.n_all; i++) {
        free(m.all[i]->items);
        free(m.all[i]);
    }
    free(m.all);
    free(m.stack);
    free(m.marks);
    free(m.memo);
    if (s != GITC_OK)
        gitci_pk_state_dict_free(out);
    return s;
}
