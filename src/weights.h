/* The weight table: how each tensor of a GIT checkpoint is named, shaped
 * (from the config) and used, and where it is bound in a gitc_model. */
#ifndef GITC_WEIGHTS_H
#define GITC_WEIGHTS_H

#include "model.h"

typedef enum weight_kind {
    WEIGHT_MATRIX,    /* a linear layer's weight: stays in the mapping, a gitc_matrix */
    WEIGHT_EMBEDDING, /* an embedding table read by rows: stays in the mapping, a gitc_matrix */
    WEIGHT_VECTOR,    /* a bias, LayerNorm weight or class embedding: converted to float32 */
    WEIGHT_TABLE      /* a small table (vision positions, temporal): converted to float32 */
} weight_kind;

typedef struct weight_spec {
    const char *name;    /* HF state-dict name (valid during the callback) */
    int ndim;
    int64_t shape[4];    /* from the config */
    weight_kind kind;
    gitc_matrix *matrix; /* where a MATRIX/EMBEDDING is bound (NULL without a model) */
    float **vector;      /* where a VECTOR/TABLE is bound (NULL without a model, and for
                            temporal frames > 0, which follow frame 0 in the float32 block) */
} weight_spec;

typedef int (*gitc_weight_fn)(void *user, const weight_spec *w);

/* Calls fn for every weight the config implies, in table order; stops when fn
 * returns 0 (and returns 0). With a model (its vlayers/tlayers allocated) the
 * specs say where each weight is bound. */
int gitci_weights_for_each(const gitc_config *cfg, gitc_model *m, gitc_weight_fn fn, void *user);

/* 1 for the buffers a checkpoint may hold that gitc ignores (position_ids). */
int gitci_weight_is_ignored(const char *name);

/* Calls fn with every bound matrix of a loaded model (linear weights and
 * embedding tables) and its HF name, e.g. to convert weights after loading. */
typedef void (*gitc_matrix_fn)(void *user, const char *name, gitc_matrix *w);
void gitci_model_for_each_matrix(gitc_model *m, gitc_matrix_fn fn, void *user);

#endif /* GITC_WEIGHTS_H */
