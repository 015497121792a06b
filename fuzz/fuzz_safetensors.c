/*
 * libFuzzer target for the safetensors reader: the input is a whole
 * .safetensors file (8-byte header length, JSON header, data), opened with
 * gitci_st_open through a memfd. Traps when an invariant breaks:
 *   - a failure sets a message;
 *   - on success every tensor lies inside the data section, tensors are sorted
 *     and do not overlap, bytes == numel * dtype size, names are unique to
 *     gitci_st_find, and every byte of every tensor can be read (ASan checks the
 *     mapping); float tensors convert with gitci_st_to_f32.
 * FUZZ_SEEDS: tests/data/limits fuzz/seeds/safetensors
 * FUZZ_DICT: fuzz/dict/safetensors.dict
 * FUZZ_MAX_LEN: 16384
 */
#include <sys/mman.h>

#include "common.h"
#include "safetensors.h"

static int fd = -1;
static char path[64];
static float buf[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz.safetensors", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    st_file *f = NULL;
    gitc_error err = {0};
    gitc_status st = gitci_st_open(path, &f, &err);
    fuzz_check_error(st, &err);
    if (st != GITC_OK) {
        FUZZ_CHECK(f == NULL, "failure returned a file");
        return 0;
    }
    const uint8_t *base = f->map, *end = base + f->map_size;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | base[i];
    FUZZ_CHECK(f->n_tensors >= 0 && f->n_tensors <= ST_MAX_TENSORS, "%d tensors", f->n_tensors);
    const uint8_t *prev_end = base + 8 + hlen;
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        const uint8_t *p = t->data;
        FUZZ_CHECK(p >= prev_end && p + t->nbytes <= end, "tensor %s outside the data or overlapping", t->name);
        prev_end = p + t->nbytes;
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS, "ndim %d", t->ndim);
        FUZZ_CHECK((uint64_t)t->numel * gitci_st_dtype_size(t->dtype) == t->nbytes, "tensor %s size", t->name);
        FUZZ_CHECK(gitci_st_find(f, t->name) != NULL, "gitci_st_find(%s)", t->name);
        unsigned sum = 0;
        for (size_t k = 0; k < t->nbytes; k++)
            sum += p[k];
        (void)sum;
        if (t->numel <= (int64_t)(sizeof buf / sizeof buf[0]) &&
            (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F64))
            FUZZ_CHECK(gitci_st_to_f32(f, t, buf, &err) == GITC_OK, "gitci_st_to_f32: %s", err.message);
    }
    gitci_st_close(f);
    return 0;
}
