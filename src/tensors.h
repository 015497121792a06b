/* Tensor sources: the weights of a model folder read through one interface
 * (name, dtype, shape, strides, bytes), whatever the file format:
 * safetensors (model.safetensors or model.safetensors.index.json shards) or
 * PyTorch (pytorch_model.bin or pytorch_model.bin.index.json shards). */
#ifndef GITC_TENSORS_H
#define GITC_TENSORS_H

#include "safetensors.h"

typedef struct gitc_tensor {
    char *name;                   /* owned by the source */
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t stride[ST_MAX_DIMS];  /* in elements */
    int64_t numel;
    const uint8_t *data;          /* element [0,..,0] inside the file mapping; borrowed */
    size_t nbytes;                /* numel * element size */
    int contiguous;               /* row-major: data[0, nbytes) holds the tensor in order */
    const char *path;             /* the file it is in (owned by the source) */
} gitc_tensor;

typedef enum tensor_format { TENSORS_SAFETENSORS, TENSORS_PYTORCH } tensor_format;

typedef struct pt_file pt_file;

typedef struct tensor_source {
    tensor_format format;
    char **paths;                 /* the files read, owned */
    int n_paths;
    st_file **st;                 /* safetensors files (format SAFETENSORS) */
    pt_file **pt;                 /* PyTorch files (format PYTORCH) */
    gitc_tensor *tensors;         /* sorted by name */
    int n_tensors;
    size_t file_bytes;            /* bytes of all files */
} tensor_source;

/* Opens the weights of a model folder as transformers picks them:
 * model.safetensors, else model.safetensors.index.json, else
 * pytorch_model.bin, else pytorch_model.bin.index.json. With none, the error
 * lists what the folder holds. A name stored twice is an error. Free with
 * gitci_tensors_close. */
gitc_status gitci_tensors_open_dir(const char *dir, tensor_source **out, gitc_error *err);
void gitci_tensors_close(tensor_source *src);

/* The tensor of that name, or NULL. Borrowed from the source. */
const gitc_tensor *gitci_tensors_find(const tensor_source *src, const char *name);

/* 1 when the n bytes at p lie inside one of the source's file mappings (not in
 * a copy the loader made), else 0. */
int gitci_tensors_in_mapping(const tensor_source *src, const void *p, size_t n);

/* "safetensors" or "pytorch". */
const char *gitci_tensors_format_name(tensor_format f);

/* Writes the tensor as float32 in row-major order (any strides; F32, F16,
 * BF16 and F64 converted exactly or rounded as torch's .float() does). */
gitc_status gitci_tensor_to_f32(const gitc_tensor *t, float *out, gitc_error *err);

/* Copies a strided tensor into row-major order at out (nbytes), same dtype. */
void gitci_tensor_copy_contiguous(const gitc_tensor *t, void *out);

/* Fills strides for a row-major layout and sets numel. */
void gitci_tensor_set_contiguous(gitc_tensor *t);

#endif /* GITC_TENSORS_H */
