/* SPDX-License-Identifier: MIT */
#ifndef V12_SPOOL_H
#define V12_SPOOL_H

/*
 * The destination's durable store. Layout (docs/spool.md):
 *   SPOOL/<migration_id>/<vm>/vcpu-<N>.seq-<S>.bin
 * A blob is written to a temporary file in its directory, fsynced, linked into place without
 * replacing anything (renameat2 RENAME_NOREPLACE), and the directory fsynced; directories it
 * creates are fsynced into their parents. Blocking: the daemon runs it on libuv's pool.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "v12/errors.h"

/*
 * Store data under its key. *ret_duplicate: the same bytes were already stored (nothing
 * written). A different blob under the same key is -EEXIST. rel gets the path relative to dir.
 */
int v12_spool_store(const char *dir, const char *migration, const char *vm, uint32_t vcpu, uint64_t seq,
                    const uint8_t *data, size_t len, bool *ret_duplicate, char *rel, size_t rellen) V12_MUST_USE;

/*
 * The stored blob with the highest sequence number for (migration, vm, vcpu); migration ""
 * searches every migration. NOT_FOUND if there is none. *ret_data is malloc'ed.
 */
int v12_spool_find(const char *dir, const char *migration, const char *vm, uint32_t vcpu, uint8_t **ret_data,
                   size_t *ret_len, uint64_t *ret_seq, char *ret_migration, size_t miglen, char *rel,
                   size_t rellen) V12_MUST_USE;

/*
 * Store many blobs with as few flushes as the filesystem allows: every temporary file is
 * written, then each fsynced, then each linked into place (RENAME_NOREPLACE), then each
 * distinct directory fsynced. The first fsync of each phase commits the filesystem journal for
 * all of them, so a batch costs about what one blob costs. Each item gets its own result;
 * an item is durable when its result is 0.
 */
struct v12_spool_item {
    const char *migration;
    const char *vm;
    uint32_t vcpu;
    uint64_t seq;
    const uint8_t *data;
    size_t len;
    int result;     /* out: 0, -EEXIST (a different blob under the key), -errno */
    bool duplicate; /* out: the same bytes were already stored */
    char rel[256];  /* out: path relative to the spool */
    /* private */
    char tmp[4096 + 64];
    char dir[4096];
    int fd;
};
#define V12_SPOOL_BATCH_MAX 256
void v12_spool_store_batch(const char *dir, struct v12_spool_item **items, size_t n);

/*
 * The start-up scan: a daemon killed while storing leaves a temporary file (never a torn blob
 * under a final name). Removes every regular file named .tmp-XXXXXX two levels below dir (no
 * other name, no symbolic link, nothing elsewhere) and counts the stored blobs. report() hears of
 * each partial file removed, each that could not be removed (counted in failed) and each
 * directory at the first or second level that could not be read (counted in unreadable: what it
 * holds, partial files included, stays as it is), with the path relative to dir and the error.
 * Returns the number removed, or -errno when dir itself cannot be read.
 */
enum v12_scan_event { V12_SCAN_REMOVED, V12_SCAN_NOT_REMOVED, V12_SCAN_UNREADABLE };
typedef void v12_scan_report(void *userdata, enum v12_scan_event what, const char *rel, int error);
struct v12_spool_scan {
    unsigned removed;
    unsigned failed;
    unsigned unreadable;
    unsigned long long blobs;
};
int v12_spool_scan(const char *dir, v12_scan_report *report, void *userdata, struct v12_spool_scan *ret) V12_MUST_USE;

/* mkdir -p with each created level fsynced into its parent. */
int v12_mkdirs(const char *path, unsigned mode) V12_MUST_USE;

#endif
