/* Safetensors files: mmapped, validated reading (the writer is the tools',
 * tools/tensor_file.c: the library never writes a model). */
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

#endif /* GITC_SAFETENSORS_H */
