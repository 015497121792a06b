/* Safetensors files: mmapped, validated reading and atomic writing. */
#ifndef GITC_SAFETENSORS_H
#define GITC_SAFETENSORS_H

#include "internal.h"

#define ST_MAX_DIMS 8
/* Limits on an untrusted header, checked before it is copied or parsed: its
 * length (the safetensors format's own 100 MB cap) and its number of tensors. */
#define ST_MAX_HEADER_BYTES 100000000
#define ST_MAX_TENSORS 65536

typedef enum st_dtype {
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_F64,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U8,
    ST_BOOL,
    ST_N_DTYPES
} st_dtype;

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* points into the mapping; borrowed */
    size_t nbytes;
} st_tensor;

typedef struct st_file {
    char *path;
    void *map;
    size_t map_size;
    st_tensor *tensors; /* sorted by data offset */
    int n_tensors;
} st_file;

/* Bytes per element of a dtype. */
size_t gitci_st_dtype_size(st_dtype dtype);
/* The safetensors name of a dtype ("F32", ...). */
const char *gitci_st_dtype_name(st_dtype dtype);

/* Maps a file and validates its header: header length inside the file, JSON
 * well formed, known dtypes, shapes matching byte ranges, ranges inside the
 * data and not overlapping. Caller frees with gitci_st_close. */
gitc_status gitci_st_open(const char *path, st_file **out, gitc_error *err);
void gitci_st_close(st_file *file);

/* The tensor of that name, or NULL. Borrowed. */
const st_tensor *gitci_st_find(const st_file *file, const char *name);

/* Formats a shape as "[a,b,c]" into buf. */
void gitci_st_shape_string(const int64_t *shape, int ndim, char *buf, size_t size);

/* Copies a tensor to float32, converting F16/BF16/F64/F32 (other dtypes: error). */
gitc_status gitci_st_to_f32(const st_file *file, const st_tensor *t, float *out, gitc_error *err);

/* Writer: tensors are declared in file order, then written one after the
 * other to a temporary file renamed into place. A tensor declared with data
 * has it copied; one declared without data (NULL) is produced when it is
 * written by the fill callback of gitci_st_writer_write_stream, into one buffer the
 * size of the largest such tensor, so files larger than memory stream out. */
typedef struct st_writer st_writer;

/* Fills tensor `index` (declaration order): `nbytes` bytes into `buf`. */
typedef gitc_status (*st_fill_fn)(void *user, int index, void *buf, size_t nbytes,
                                  gitc_error *err);

st_writer *gitci_st_writer_new(void);
void gitci_st_writer_free(st_writer *w);
/* Sets the header's __metadata__ to {"format": format} (transformers writes
 * "pt" and its loader wants it); the string is copied. */
gitc_status gitci_st_writer_set_format(st_writer *w, const char *format, gitc_error *err);
/* Declares a tensor; `data` (may be NULL: filled when written) is copied. */
gitc_status gitci_st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim,
                          const int64_t *shape, const void *data, gitc_error *err);
/* Writes the file atomically; tensors declared without data come from `fill`. */
gitc_status gitci_st_writer_write_stream(st_writer *w, const char *path, st_fill_fn fill, void *user,
                                   gitc_error *err);
/* gitci_st_writer_write_stream without a fill callback: every tensor must have data. */
gitc_status gitci_st_writer_write(st_writer *w, const char *path, gitc_error *err);

#endif /* GITC_SAFETENSORS_H */
