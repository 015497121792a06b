/* pytorch_model.bin: ZIP archive + restricted pickle (see pytorch.h). */
#include "pytorch.h"
#include "pickle.h"
#include "zip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void gitci_pt_tensors_free(gitc_tensor *tensors, int n)
{
    for (int i = 0; i < n; i++)
        free(tensors[i].name);
    free(tensors);
}

void gitci_pt_close(pt_file *f)
{
    if (!f)
        return;
    gitci_pt_tensors_free(f->tensors, f->n_tensors);
    if (f->map)
        munmap(f->map, f->map_size);
    free(f->path);
    free(f);
}

/* The magic number torch's legacy (pre-1.6) serialization starts with, after PROTO 2 LONG1 10. */
static const uint8_t legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

/* Checks the view of t (offset, shape, stride) against its storage; sets t->data and nbytes. */
static gitc_status place_view(const pk_tensor *p, const zip_entry *e, const char *path, gitc_tensor *t,
                              gitc_error *err)
{
    size_t es = gitci_st_dtype_size(p->dtype);
    if (p->storage_numel < 0 || (uint64_t)p->storage_numel > e->size / es)
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: storage %s of tensor %s: %lld elements of %s need %llu bytes, the entry has %llu",
                          path, p->storage_key, p->name, (long long)p->storage_numel,
                          gitci_st_dtype_name(p->dtype), (unsigned long long)((uint64_t)p->storage_numel * es),
                          (unsigned long long)e->size);
    uint64_t numel = 1, last = (uint64_t)p->offset;
    if (p->offset < 0)
        return gitci_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: negative storage offset", path, p->name);
    for (int i = 0; i < p->ndim; i++) {
        if (p->shape[i] < 0 || p->stride[i] < 0 || p->shape[i] > (int64_t)1 << 40 ||
            p->stride[i] > (int64_t)1 << 40)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: bad size or stride", path, p->name);
        numel *= (uint64_t)p->shape[i];
        if (numel > (uint64_t)1 << 40)
            return gitci_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: too many elements", path, p->name);
    }
    if (numel > 0)
        for (int i = 0; i < p->ndim; i++)
            last += (uint64_t)(p->shape[i] - 1) * (uint64_t)p->stride[i];
    if (numel > 0 && last >= (uint64_t)p->storage_numel)
        return gitci_fail(err, GITC_ERR_FORMAT,
                          "%s: tensor %s reaches element %llu of storage %s, which has %lld", path,
                          p->name, (unsigned long long)last, p->storage_key, (long long)p->storage_numel);
    t->dtype = p->dtype;
    t->ndim = p->ndim;
    memcpy(t->shape, p->shape, sizeof t->shape);
    memcpy(t->stride, p->stride, sizeof t->stride);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)numel * es;
    t->data = e->data + (size_t)p->offset * es;
    int64_t want = 1;
    t->contiguous = 1;
    for (int i = p->ndim - 1; i >= 0; i--) {
        if (p->shape[i] != 1 && p->stride[i] != want)
            t->contiguous = 0;
        want *= p->shape[i];
    }
    return GITC_OK;
}

gitc_status gitci_pt_parse(const uint8_t *buf, size_t size, const char *path, gitc_tensor **tensors,
                           int *n_tensors, gitc_error *err)
{
    *tensors = NULL;
    *n_tensors = 0;
    if (size >= sizeof legacy_magic && memcmp(buf, legacy_magic, sizeof legacy_magic) == 0)
        return gitci_fail(err, GITC_ERR_UNSUPPORTED,
                          "%s: legacy PyTorch format (torch.save before 1.6, not a ZIP archive), which "
                          "gitc does not read; re-save it with torch >= 1.6 or use model.safetensors",
                          path);
    zip_archive z;
    gitc_status s = gitci_zip_open(buf, size, path, &z, err);
    if (s != GITC_OK)
        return s;
    pk_state_dict sd = {0};
    gitc_tensor *out = NULL;
    char *key = NULL;
    if (z.n_entries == 0 || !strchr(z.entries[0].name, '/')) {
        s = gitci_fail(err, GITC_ERR_FORMAT, "%s: not a torch.save archive (no top-level folder)", path);
        goto done;
    }
    /* The top folder's name varies (the file's stem, "archive", ...): take it from the first entry. */
    size_t plen = (size_t)(strchr(z.entries[0].name, '/') - z.entries[0].name);
    key = malloc(plen + ZIP_MAX_NAME + 16);
    if (!key) {
        s = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
        goto done;
    }
    snprintf(key, plen + 16, "%.*s/data.pkl", (int)plen, z.entries[0].name);
    const zip_entry *pkl = gitci_zip_find(&z, key);
    if (!pkl) {
        s = gitci_fail(err, GITC_ERR_FORMAT, "%s: no %s in the archive (not a torch.save file)", path, key);
        goto done;
    }
    if (!pkl->data) {
        s = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: %s is compressed (method %d); torch stores it uncompressed",
                       path, key, pkl->method);
        goto done;
    }
    s = gitci_pickle_state_dict(pkl->data, (size_t)pkl->size, path, &sd, err);
    if (s != GITC_OK)
        goto done;
    out = calloc(sd.n_tensors ? (size_t)sd.n_tensors : 1, sizeof *out);
    if (!out) {
        s = gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < sd.n_tensors; i++) {
        const pk_tensor *p = &sd.tensors[i];
        if (strlen(p->storage_key) > ZIP_MAX_NAME) {
            s = gitci_fail(err, GITC_ERR_FORMAT, "%s: storage key of tensor %s is too long", path, p->name);
            goto done;
        }
        snprintf(key, plen + ZIP_MAX_NAME + 16, "%.*s/data/%s", (int)plen, z.entries[0].name, p->storage_key);
        const zip_entry *e = gitci_zip_find(&z, key);
        if (!e) {
            s = gitci_fail(err, GITC_ERR_FORMAT, "%s: tensor %s: storage entry %s is missing", path,
                           p->name, key);
            goto done;
        }
        if (!e->data) {
            s = gitci_fail(err, GITC_ERR_UNSUPPORTED, "%s: storage %s is compressed (method %d)", path, key,
                           e->method);
            goto done;
        }
        s = place_view(p, e, path, &out[i], err);
        if (s != GITC_OK)
            goto done;
        out[i].name = p->name; /* moved */
        sd.tensors[i].name = NULL;
        *n_tensors = i + 1;
    }
    *tensors = out;
    out = NULL;
done:
    if (out)
        gitci_pt_tensors_free(out, *n_tensors);
    if (s != GITC_OK)
        *n_tensors = 0;
    free(key);
    gitci_pk_state_dict_free(&sd);
    gitci_zip_free(&z);
    return s;
}

gitc_status gitci_pt_open(const char *path, pt_file **out, gitc_error *err)
{
    *out = NULL;
    pt_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return gitci_fail(err, GITC_ERR_MEMORY, "%s: out of memory", path);
    }
    gitc_status s = GITC_OK;
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0) {
        s = gitci_fail(err, GITC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        s = gitci_fail(err, GITC_ERR_IO, "%s: not a regular file", path);
    } else if (st.st_size < 22) {
        s = gitci_fail(err, GITC_ERR_FORMAT, "%s: %lld bytes, too short for a PyTorch checkpoint", path,
                       (long long)st.st_size);
    } else {
        f->map_size = (size_t)st.st_size;
        f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            s = gitci_fail(err, GITC_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
    }
    if (fd >= 0)
        close(fd);
    if (s == GITC_OK)
        s = gitci_pt_parse(f->map, f->map_size, path, &f->tensors, &f->n_tensors, err);
    if (s != GITC_OK) {
        gitci_pt_close(f);
        return s;
    }
    for (int i = 0; i < f->n_tensors; i++)
        f->tensors[i].path = f->path;
    *out = f;
    return GITC_OK;
}
