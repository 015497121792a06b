/* ZIP central directory reader over an in-memory buffer (see zip.h). Written
 * here instead of using libzip because the weights must be used in place from
 * the mmap: libzip reads entries through its own buffers and does not expose
 * where an entry's bytes lie in the file. */
#include "zip.h"

#include <stdlib.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_LOCAL 0x04034b50u

void gitci_zip_free(zip_archive *z)
{
    if (!z)
        return;
    for (int i = 0; i < z->n_entries; i++)
        free(z->entries[i].name);
    free(z->entries);
    free(z->by_name);
    z->by_name = NULL;
    z->entries = NULL;
    z->n_entries = 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp((*(zip_entry *const *)a)->name, (*(zip_entry *const *)b)->name);
}

const zip_entry *gitci_zip_find(const zip_archive *z, const char *name)
{
    zip_entry key = {.name = (char *)name}, *kp = &key;
    zip_entry **hit = bsearch(&kp, z->by_name, (size_t)z->n_entries, sizeof *z->by_name, cmp_entry);
    return hit ? *hit : NULL;
}

/* Reads the ZIP64 extra field of a central entry: the fields that were 0xffffffff. */
static int zip64_extra(const uint8_t *x, uint32_t xlen, uint64_t *usize, uint64_t *csize,
                       uint64_t *local, int need_u, int need_c, int need_l)
{
    uint32_t k = 0;
    while (k + 4 <= xlen) {
        uint16_t id = rd16(x + k), len = rd16(x + k + 2);
        if ((uint32_t)len > xlen - k - 4)
            return 0;
        if (id == 0x0001) {
            const uint8_t *p = x + k + 4;
            uint32_t left = len;
            if (need_u) {
                if (left < 8) return 0;
                *usize = rd64(p), p += 8, left -= 8;
            }
            if (need_c) {
                if (left < 8) return 0;
                *csize = rd64(p), p += 8, left -= 8;
            }
            if (need_l) {
                if (left < 8) return 0;
                *local = rd64(p);
            }
            return 1;
        }
        k += 4u + len;
    }
    return !(need_u || need_c || need_l);
}

gitc_status gitci_zip_open(const uint8_t *buf, uint64_t size, const char *path, zip_archive *out,
                           gitc_error *err)
{
    memset(out, 0, sizeof *out);
    if (size < 22)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: %llu bytes, too short for a ZIP archive", path,
                          (unsigned long long)size);
    /* The end of central directory record: in the last 22 + 65535 bytes. */
    uint64_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0, eocd = UINT64_MAX;
    for (uint64_t p = size - 22 + 1; p-- > lo;) {
        if (rd32(buf + p) == SIG_EOCD && p + 22 + rd16(buf + p + 20) <= size) {
            eocd = p;
            break;
        }
    }
    if (eocd == UINT64_MAX)
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: no ZIP end of central directory (truncated or not a ZIP archive)", path);
    uint64_t n = rd16(buf + eocd + 10), cd_size = rd32(buf + eocd + 12), cd_off = rd32(buf + eocd + 16);
    if (n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        /* ZIP64: the locator sits right before the end record. */
        if (eocd < 20 || rd32(buf + eocd - 20) != SIG_LOC64)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: ZIP64 archive without its locator", path);
        uint64_t e64 = rd64(buf + eocd - 20 + 8);
        if (e64 > size || size - e64 < 56 || rd32(buf + e64) != SIG_EOCD64)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: bad ZIP64 end of central directory offset",
                              path);
        n = rd64(buf + e64 + 32);
        cd_size = rd64(buf + e64 + 40);
        cd_off = rd64(buf + e64 + 48);
    }
    if (n > ZIP_MAX_ENTRIES)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: %llu ZIP entries (gitc reads at most %d)", path,
                          (unsigned long long)n, ZIP_MAX_ENTRIES);
    if (cd_off > size || cd_size > size - cd_off)
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: ZIP central directory (%llu bytes at %llu) runs past the end of the file",
                          path, (unsigned long long)cd_size, (unsigned long long)cd_off);
    if (n > cd_size / 46)
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: %llu ZIP entries do not fit in a %llu-byte central directory", path,
                          (unsigned long long)n, (unsigned long long)cd_size);
    out->entries = calloc(n ? (size_t)n : 1, sizeof *out->entries);
    if (!out->entries)
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    const uint8_t *cd = buf + cd_off;
    uint64_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (cd_size - k < 46 || rd32(cd + k) != SIG_CENTRAL)
            goto bad_central;
        const uint8_t *e = cd + k;
        int method = rd16(e + 10);
        uint64_t csize = rd32(e + 20), usize = rd32(e + 24), local = rd32(e + 42);
        uint32_t nlen = rd16(e + 28), xlen = rd16(e + 30), clen = rd16(e + 32);
        if (cd_size - k - 46 < (uint64_t)nlen + xlen + clen)
            goto bad_central;
        if (nlen > ZIP_MAX_NAME) {
            gitci_zip_free(out);
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: ZIP entry name of %u bytes (at most %d)",
                              path, nlen, ZIP_MAX_NAME);
        }
        if (!zip64_extra(e + 46 + nlen, xlen, &usize, &csize, &local, usize == 0xffffffffu,
                         csize == 0xffffffffu, local == 0xffffffffu))
            goto bad_central;
        zip_entry *z = &out->entries[out->n_entries];
        z->name = malloc(nlen + 1);
        if (!z->name) {
            gitci_zip_free(out);
            return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
        }
        memcpy(z->name, e + 46, nlen);
        z->name[nlen] = 0;
        out->n_entries++;
        z->method = method;
        z->size = usize;
        if (memchr(z->name, 0, nlen)) {
            gitci_zip_free(out);
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: ZIP entry name with a NUL byte", path);
        }
        /* The local header says where the bytes start. */
        if (local > size || size - local < 30 || rd32(buf + local) != SIG_LOCAL) {
            gitci_fail(err, GITC_ERR_FORMAT, "%s: ZIP entry %s: bad local header offset %llu", path,
                       z->name, (unsigned long long)local);
            gitci_zip_free(out);
            return GITC_ERR_FORMAT;
        }
        uint64_t start = local + 30 + rd16(buf + local + 26) + rd16(buf + local + 28);
        if (start > size || csize > size - start) {
            gitci_fail(err, GITC_ERR_FORMAT,
                       "%s: ZIP entry %s: %llu bytes at %llu run past the end of the file (%llu bytes)",
                       path, z->name, (unsigned long long)csize, (unsigned long long)start,
                       (unsigned long long)size);
            gitci_zip_free(out);
            return GITC_ERR_FORMAT;
        }
        if (method == 0) {
            if (csize != usize) {
                gitci_fail(err, GITC_ERR_FORMAT, "%s: stored ZIP entry %s: sizes %llu and %llu differ",
                           path, z->name, (unsigned long long)csize, (unsigned long long)usize);
                gitci_zip_free(out);
                return GITC_ERR_FORMAT;
            }
            z->data = buf + start;
        }
        k += 46 + (uint64_t)nlen + xlen + clen;
    }
    out->by_name = malloc((size_t)(out->n_entries ? out->n_entries : 1) * sizeof *out->by_name);
    if (!out->by_name) {
        gitci_zip_free(out);
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    }
    for (int i = 0; i < out->n_entries; i++)
        out->by_name[i] = &out->entries[i];
    qsort(out->by_name, (size_t)out->n_entries, sizeof *out->by_name, cmp_entry);
    return GITC_OK;
bad_central:
    gitci_zip_free(out);
    return gitci_fail(err, GITC_ERR_FORMAT, "%s: malformed ZIP central directory entry", path);
}
