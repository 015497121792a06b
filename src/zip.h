/* A bounds-checked reader of ZIP archives held in memory (an mmapped file):
 * the central directory (ZIP64 included) and the entries stored without
 * compression, whose bytes are used in place. */
#ifndef GITC_ZIP_H
#define GITC_ZIP_H

#include "internal.h"

/* Input limits, checked before anything is allocated. */
#define ZIP_MAX_ENTRIES 1000000 /* entries in the central directory */
#define ZIP_MAX_NAME 4096       /* bytes of one entry name */

typedef struct zip_entry {
    char *name;          /* NUL-terminated copy (owned by the archive) */
    int method;          /* 0 = stored; anything else is compressed */
    const uint8_t *data; /* stored entries: the bytes, inside the buffer; NULL otherwise */
    uint64_t size;       /* uncompressed size */
} zip_entry;

typedef struct zip_archive {
    zip_entry *entries;   /* in central directory order */
    int n_entries;
    zip_entry **by_name;  /* sorted by name, for gitci_zip_find */
} zip_archive;

/* Reads the central directory of the archive in buf[0, size). Every offset
 * and size is checked against the buffer; entries keep pointers into buf,
 * which must outlive the archive. `path` names the file in messages. */
gitc_status gitci_zip_open(const uint8_t *buf, uint64_t size, const char *path, zip_archive *out,
                           gitc_error *err);
void gitci_zip_free(zip_archive *z);

/* The entry of that exact name, or NULL. */
const zip_entry *gitci_zip_find(const zip_archive *z, const char *name);

#endif /* GITC_ZIP_H */
