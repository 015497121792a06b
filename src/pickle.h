/* A restricted pickle machine for PyTorch state dicts (data.pkl of a
 * torch.save ZIP archive). It implements only the opcodes torch writes for a
 * dict of tensors and allows only the globals a state dict names
 * (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
 * torch._utils._rebuild_parameter, the torch.*Storage types); any other
 * global is refused with its name. Nothing from the file is executed: the
 * allowed globals are interpreted by this reader, never called. */
#ifndef GITC_PICKLE_H
#define GITC_PICKLE_H

#include "safetensors.h"

/* Input limits, checked before anything is allocated. */
#define PICKLE_MAX_STACK 1000000 /* values on the stack (and marks on the mark stack) */
#define PICKLE_MAX_MEMO 1000000  /* memo index (BINPUT/LONG_BINPUT/MEMOIZE) */

/* One tensor of the state dict: a view into a storage. Counts are elements. */
typedef struct pk_tensor {
    char *name;           /* owned */
    char *storage_key;    /* owned: the data/<key> entry */
    st_dtype dtype;       /* of the storage */
    int64_t storage_numel;
    int64_t offset;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t stride[ST_MAX_DIMS];
} pk_tensor;

typedef struct pk_state_dict {
    pk_tensor *tensors;
    int n_tensors;
} pk_state_dict;

/* Runs the pickle in buf[0, len) and returns its top-level dict of tensors.
 * `path` names the input in messages. Free with gitci_pk_state_dict_free. */
gitc_status gitci_pickle_state_dict(const uint8_t *buf, size_t len, const char *path, pk_state_dict *out,
                                    gitc_error *err);
void gitci_pk_state_dict_free(pk_state_dict *sd);

#endif /* GITC_PICKLE_H */
