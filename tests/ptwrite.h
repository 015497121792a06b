/* A small pytorch_model.bin writer for the tests (no Python): a ZIP archive
 * with stored, 64-byte aligned entries (optionally with ZIP64 records) and a
 * protocol-2 pickle of an OrderedDict of _rebuild_tensor_v2 calls, as
 * torch.save writes. Each tensor gets its own storage, except that `views`
 * tensors may share one (see ptw_tensor.storage). */
#ifndef GITC_TEST_PTWRITE_H
#define GITC_TEST_PTWRITE_H

#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ptw_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t stride[ST_MAX_DIMS]; /* elements; all 0 = row-major */
    int64_t offset;              /* elements into the storage */
    int storage;                 /* index into the storages passed to ptw_write */
} ptw_tensor;

typedef struct ptw_storage {
    const void *data;
    size_t nbytes;
    st_dtype dtype;
} ptw_storage;

typedef struct ptw_buf {
    uint8_t *p;
    size_t n, cap;
} ptw_buf;

static void ptw_put(ptw_buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void ptw_u8(ptw_buf *b, unsigned v) { uint8_t c = (uint8_t)v; ptw_put(b, &c, 1); }
static void ptw_le(ptw_buf *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        ptw_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}
static void ptw_str(ptw_buf *b, const char *s)
{
    ptw_u8(b, 'X');
    ptw_le(b, strlen(s), 4);
    ptw_put(b, s, strlen(s));
}
static void ptw_int(ptw_buf *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        ptw_u8(b, 'K');
        ptw_u8(b, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        ptw_u8(b, 'M');
        ptw_le(b, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        ptw_u8(b, 'J');
        ptw_le(b, (uint64_t)v, 4);
    } else {
        ptw_u8(b, 0x8a);
        ptw_u8(b, 8);
        ptw_le(b, (uint64_t)v, 8);
    }
}

static const char *ptw_storage_type(st_dtype d)
{
    switch (d) {
    case ST_F16: return "HalfStorage";
    case ST_BF16: return "BFloat16Storage";
    case ST_F64: return "DoubleStorage";
    case ST_I64: return "LongStorage";
    default: return "FloatStorage";
    }
}

/* The data.pkl bytes (caller frees b.p). */
static ptw_buf ptw_pickle(const ptw_tensor *t, int n, const ptw_storage *s)
{
    ptw_buf b = {0};
    ptw_u8(&b, 0x80);
    ptw_u8(&b, 2);
    ptw_u8(&b, '}');
    ptw_u8(&b, '(');
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%d", t[i].storage);
        ptw_str(&b, t[i].name);
        const char *g = "ctorch._utils\n_rebuild_tensor_v2\n";
        ptw_put(&b, g, strlen(g));
        ptw_u8(&b, '(');
        ptw_u8(&b, '(');
        ptw_str(&b, "storage");
        char st[64];
        snprintf(st, sizeof st, "ctorch\n%s\n", ptw_storage_type(s[t[i].storage].dtype));
        ptw_put(&b, st, strlen(st));
        ptw_str(&b, key);
        ptw_str(&b, "cpu");
        ptw_int(&b, (int64_t)(s[t[i].storage].nbytes / gitci_st_dtype_size(s[t[i].storage].dtype)));
        ptw_u8(&b, 't');
        ptw_u8(&b, 'Q');
        ptw_int(&b, t[i].offset);
        int64_t stride[ST_MAX_DIMS], k = 1, any = 0;
        for (int d = 0; d < t[i].ndim; d++)
            any |= t[i].stride[d];
        for (int d = t[i].ndim - 1; d >= 0; d--) {
            stride[d] = any ? t[i].stride[d] : k;
            k *= t[i].shape[d];
        }
        ptw_u8(&b, '(');
        for (int d = 0; d < t[i].ndim; d++)
            ptw_int(&b, t[i].shape[d]);
        ptw_u8(&b, 't');
        ptw_u8(&b, '(');
        for (int d = 0; d < t[i].ndim; d++)
            ptw_int(&b, stride[d]);
        ptw_u8(&b, 't');
        ptw_u8(&b, 0x89);
        const char *od = "ccollections\nOrderedDict\n)R";
        ptw_put(&b, od, strlen(od));
        ptw_u8(&b, 't');
        ptw_u8(&b, 'R');
    }
    ptw_u8(&b, 'u');
    ptw_u8(&b, '.');
    return b;
}

static uint32_t ptw_crc(uint32_t crc, const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

typedef struct ptw_entry {
    char name[256];
    uint64_t offset, size;
    uint32_t crc;
} ptw_entry;

/* Writes one stored entry whose data starts 64-byte aligned. */
static int ptw_entry_write(FILE *f, ptw_entry *e, const void *data, uint64_t size, int zip64)
{
    uint8_t pad[64] = {0};
    ptw_buf h = {0};
    e->offset = (uint64_t)ftell(f);
    e->size = size;
    e->crc = ptw_crc(0, data, size);
    size_t nlen = strlen(e->name);
    uint64_t after = e->offset + 30 + nlen + 4 + (zip64 ? 20 : 0);
    size_t padn = (size_t)((64 - after % 64) % 64);
    ptw_le(&h, 0x04034b50u, 4);
    ptw_le(&h, zip64 ? 45 : 20, 2);
    ptw_le(&h, 0, 2);
    ptw_le(&h, 0, 2);
    ptw_le(&h, 0, 4);
    ptw_le(&h, e->crc, 4);
    ptw_le(&h, zip64 ? 0xffffffffu : size, 4);
    ptw_le(&h, zip64 ? 0xffffffffu : size, 4);
    ptw_le(&h, nlen, 2);
    ptw_le(&h, (zip64 ? 20 : 0) + 4 + padn, 2);
    ptw_put(&h, e->name, nlen);
    if (zip64) {
        ptw_le(&h, 1, 2);
        ptw_le(&h, 16, 2);
        ptw_le(&h, size, 8);
        ptw_le(&h, size, 8);
    }
    ptw_le(&h, 0x1234, 2); /* padding field, as torch's "FB" field */
    ptw_le(&h, padn, 2);
    ptw_put(&h, pad, padn);
    int ok = fwrite(h.p, 1, h.n, f) == h.n && (size == 0 || fwrite(data, 1, size, f) == size);
    free(h.p);
    return ok;
}

/* Writes path as torch.save would (top folder `top`); zip64 forces ZIP64 records. Returns 1 on success. */
static int ptw_write(const char *path, const char *top, const ptw_tensor *t, int n,
                     const ptw_storage *s, int n_storages, int zip64)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int n_e = n_storages + 2, ok = 1;
    ptw_entry *e = calloc((size_t)n_e, sizeof *e);
    ptw_buf pk = ptw_pickle(t, n, s);
    snprintf(e[0].name, sizeof e[0].name, "%s/data.pkl", top);
    ok &= ptw_entry_write(f, &e[0], pk.p, pk.n, zip64);
    for (int i = 0; i < n_storages; i++) {
        snprintf(e[1 + i].name, sizeof e[1 + i].name, "%s/data/%d", top, i);
        ok &= ptw_entry_write(f, &e[1 + i], s[i].data, s[i].nbytes, zip64);
    }
    snprintf(e[n_e - 1].name, sizeof e[n_e - 1].name, "%s/version", top);
    ok &= ptw_entry_write(f, &e[n_e - 1], "3\n", 2, zip64);
    free(pk.p);
    uint64_t cd_off = (uint64_t)ftell(f);
    ptw_buf c = {0};
    for (int i = 0; i < n_e; i++) {
        size_t nlen = strlen(e[i].name);
        ptw_le(&c, 0x02014b50u, 4);
        ptw_le(&c, zip64 ? 45 : 20, 2);
        ptw_le(&c, zip64 ? 45 : 20, 2);
        ptw_le(&c, 0, 2);
        ptw_le(&c, 0, 2);
        ptw_le(&c, 0, 4);
        ptw_le(&c, e[i].crc, 4);
        ptw_le(&c, zip64 ? 0xffffffffu : e[i].size, 4);
        ptw_le(&c, zip64 ? 0xffffffffu : e[i].size, 4);
        ptw_le(&c, nlen, 2);
        ptw_le(&c, zip64 ? 28 : 0, 2);
        ptw_le(&c, 0, 2);
        ptw_le(&c, 0, 2);
        ptw_le(&c, 0, 2);
        ptw_le(&c, 0, 4);
        ptw_le(&c, zip64 ? 0xffffffffu : e[i].offset, 4);
        ptw_put(&c, e[i].name, nlen);
        if (zip64) {
            ptw_le(&c, 1, 2);
            ptw_le(&c, 24, 2);
            ptw_le(&c, e[i].size, 8);
            ptw_le(&c, e[i].size, 8);
            ptw_le(&c, e[i].offset, 8);
        }
    }
    uint64_t cd_size = c.n;
    if (zip64) {
        uint64_t e64 = cd_off + cd_size;
        ptw_le(&c, 0x06064b50u, 4);
        ptw_le(&c, 44, 8);
        ptw_le(&c, 45, 2);
        ptw_le(&c, 45, 2);
        ptw_le(&c, 0, 4);
        ptw_le(&c, 0, 4);
        ptw_le(&c, (uint64_t)n_e, 8);
        ptw_le(&c, (uint64_t)n_e, 8);
        ptw_le(&c, cd_size, 8);
        ptw_le(&c, cd_off, 8);
        ptw_le(&c, 0x07064b50u, 4);
        ptw_le(&c, 0, 4);
        ptw_le(&c, e64, 8);
        ptw_le(&c, 1, 4);
    }
    ptw_le(&c, 0x06054b50u, 4);
    ptw_le(&c, 0, 2);
    ptw_le(&c, 0, 2);
    ptw_le(&c, zip64 ? 0xffff : (uint64_t)n_e, 2);
    ptw_le(&c, zip64 ? 0xffff : (uint64_t)n_e, 2);
    ptw_le(&c, zip64 ? 0xffffffffu : cd_size, 4);
    ptw_le(&c, zip64 ? 0xffffffffu : cd_off, 4);
    ptw_le(&c, 0, 2);
    ok &= fwrite(c.p, 1, c.n, f) == c.n;
    free(c.p);
    free(e);
    ok &= fclose(f) == 0;
    return ok;
}

/* Converts a safetensors file to pytorch_model.bin (one storage per tensor). */
static inline int ptw_from_safetensors(const st_file *src, const char *path, int zip64)
{
    ptw_tensor *t = calloc((size_t)src->n_tensors + 1, sizeof *t);
    ptw_storage *s = calloc((size_t)src->n_tensors + 1, sizeof *s);
    for (int i = 0; i < src->n_tensors; i++) {
        const st_tensor *x = &src->tensors[i];
        t[i].name = x->name;
        t[i].dtype = x->dtype;
        t[i].ndim = x->ndim;
        memcpy(t[i].shape, x->shape, sizeof t[i].shape);
        t[i].storage = i;
        s[i].data = x->data;
        s[i].nbytes = x->nbytes;
        s[i].dtype = x->dtype;
    }
    int ok = ptw_write(path, "pytorch_model", t, src->n_tensors, s, src->n_tensors, zip64);
    free(t);
    free(s);
    return ok;
}

#endif /* GITC_TEST_PTWRITE_H */
