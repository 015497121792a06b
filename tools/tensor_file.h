/* Safetensors files on the tools' side: a reader for the developer commands'
 * input files (read whole, header checked) and the writer of `gitc forward`,
 * `gitc preprocess`, `gitc synth` and the tests. The library only reads model
 * files (mmapped, in src/safetensors.c); it never writes one. */
#ifndef GITC_TENSOR_FILE_H
#define GITC_TENSOR_FILE_H

#include "gitc.h"

#include <stddef.h>
#include <stdint.h>

#define TF_MAX_DIMS 8
/* Limits on a file the reader takes: its header (the format's own 100 MB cap)
 * and the whole file (inputs of the developer commands, read into memory). */
#define TF_MAX_HEADER_BYTES 100000000
#define TF_MAX_FILE_BYTES ((size_t)4 << 30)

typedef enum tf_dtype {
    TF_F32,
    TF_F16,
    TF_BF16,
    TF_F64,
    TF_I64,
    TF_I32,
    TF_I16,
    TF_I8,
    TF_U8,
    TF_BOOL,
    TF_N_DTYPES
} tf_dtype;

/* Bytes per element of a dtype. */
size_t tf_dtype_size(tf_dtype dtype);
/* The safetensors name of a dtype ("F32", ...). */
const char *tf_dtype_name(tf_dtype dtype);
/* The dtype of a safetensors name; 0 when unknown, else 1. */
int tf_dtype_parse(const char *name, tf_dtype *out);

/* One tensor of a file that was read. */
typedef struct tf_tensor {
    char *name;
    tf_dtype dtype;
    int ndim;
    int64_t shape[TF_MAX_DIMS];
    int64_t numel;
    const void *data; /* into the file's bytes; borrowed */
    size_t nbytes;
} tf_tensor;

typedef struct tf_file {
    char *path;
    char *bytes; /* the whole file */
    size_t size;
    tf_tensor *tensors;
    int n_tensors;
} tf_file;

/* Reads a safetensors file and checks its header: length inside the file, JSON
 * well formed, known dtypes, shapes matching their byte ranges, ranges inside
 * the data. Caller frees with tf_close. */
gitc_status tf_open(const char *path, tf_file **out, gitc_error *err);
void tf_close(tf_file *file);

/* The tensor of that name, or NULL. Borrowed. */
const tf_tensor *tf_find(const tf_file *file, const char *name);

/* Copies a float tensor (F32, F16, BF16, F64) to float32; other dtypes are an error. */
gitc_status tf_to_f32(const tf_file *file, const tf_tensor *t, float *out, gitc_error *err);

/* Writer: tensors are declared in file order, then written one after the
 * other to a temporary file renamed into place. A tensor declared with data
 * has it copied; one declared without data (NULL) is produced when it is
 * written by the fill callback of tf_writer_write_stream, into one buffer the
 * size of the largest such tensor, so files larger than memory stream out. */
typedef struct tf_writer tf_writer;

/* Fills tensor `index` (declaration order): `nbytes` bytes into `buf`. */
typedef gitc_status (*tf_fill_fn)(void *user, int index, void *buf, size_t nbytes, gitc_error *err);

/* A new empty writer (caller frees with tf_writer_free), or NULL when out of memory. */
tf_writer *tf_writer_new(void);
void tf_writer_free(tf_writer *w);
/* Declares a tensor; `data` (may be NULL: filled when written) is copied. */
gitc_status tf_writer_add(tf_writer *w, const char *name, tf_dtype dtype, int ndim, const int64_t *shape,
                          const void *data, gitc_error *err);
/* Writes the file atomically; tensors declared without data come from `fill`. */
gitc_status tf_writer_write_stream(tf_writer *w, const char *path, tf_fill_fn fill, void *user,
                                   gitc_error *err);
/* tf_writer_write_stream without a fill callback: every tensor must have data. */
gitc_status tf_writer_write(tf_writer *w, const char *path, gitc_error *err);

#endif
