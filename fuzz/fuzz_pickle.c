/*
 * libFuzzer target for the PyTorch checkpoint reader: the ZIP central
 * directory reader and the restricted pickle machine. An input starting with
 * "PK" is read as a whole pytorch_model.bin (ZIP + data.pkl + storages) and
 * every small tensor it yields is converted to float32 (reading every element
 * through its strides, so a view outside its storage would be caught by
 * ASan); any other input is run as a data.pkl pickle alone. A failure must
 * come back as an error status with a message; a crash, leak or hang is a
 * finding. Seeds: tests/data/pickle (scripts/fuzz.sh pickle SECONDS).
 */
#include <stdlib.h>
#include <string.h>

#include "pickle.h"
#include "pytorch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gitc_error err = {0};
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        gitc_tensor *t = NULL;
        int n = 0;
        if (gitci_pt_parse(data, size, "fuzz.bin", &t, &n, &err) == GITC_OK) {
            for (int i = 0; i < n; i++) {
                if (t[i].numel > (1 << 16))
                    continue;
                float *out = malloc((size_t)(t[i].numel ? t[i].numel : 1) * sizeof(float));
                if (out && gitci_tensor_to_f32(&t[i], out, &err) != GITC_OK && !err.message[0])
                    abort();
                free(out);
            }
            gitci_pt_tensors_free(t, n);
        } else if (!err.message[0]) {
            abort();
        }
    } else {
        pk_state_dict sd;
        if (gitci_pickle_state_dict(data, size, "fuzz.pkl", &sd, &err) == GITC_OK)
            gitci_pk_state_dict_free(&sd);
        else if (!err.message[0])
            abort();
    }
    return 0;
}
