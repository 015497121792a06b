/* PyTorch checkpoints (torch.save ZIP archives, torch >= 1.6): pytorch_model.bin
 * read without Python through zip.c and the restricted pickle machine. */
#ifndef GITC_PYTORCH_H
#define GITC_PYTORCH_H

#include "tensors.h"

struct pt_file {
    char *path;
    void *map;
    size_t map_size;
    gitc_tensor *tensors; /* in pickle order; names owned here */
    int n_tensors;
};

/* Maps a .bin file and reads its state dict. Contiguous storages are used in
 * place (tensors point into the mapping); every view is checked to lie
 * inside its storage. The legacy pre-1.6 format is refused by name. */
gitc_status gitci_pt_open(const char *path, pt_file **out, gitc_error *err);

/* Same, over a buffer the caller keeps alive (used by the fuzz target). */
gitc_status gitci_pt_parse(const uint8_t *buf, size_t size, const char *path, gitc_tensor **tensors,
                           int *n_tensors, gitc_error *err);
void gitci_pt_tensors_free(gitc_tensor *tensors, int n);

void gitci_pt_close(pt_file *f);

#endif /* GITC_PYTORCH_H */
