/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "v12/convert.h"

/* A store's temporary file: this prefix and mkostemp's six characters, in the blob's directory.
 * The start-up scan removes exactly these. */
#define TMP_PREFIX ".tmp-"

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int v12_mkdirs(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char saved = *p;
        *p = 0;
        if (mkdir(buf, mode) == 0) {
            /* New directory: make its entry durable in the parent. */
            char *slash = strrchr(buf, '/');
            if (slash && slash != buf) {
                *slash = 0;
                int r = fsync_path(buf);
                *slash = '/';
                if (r) return r;
            }
        } else if (errno != EEXIST) {
            return -errno;
        }
        *p = saved;
        if (!saved) break;
    }
    return 0;
}

static int read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    uint8_t *buf = malloc(max + 1);
    size_t len = 0;
    int r = 0;
    if (!buf) r = -ENOMEM;
    while (!r) {
        ssize_t k = read(fd, buf + len, max + 1 - len);
        if (k < 0) {
            if (errno == EINTR) continue;
            r = -errno;
        } else if (k == 0) {
            break;
        } else if ((len += (size_t)k) > max) {
            r = V12_E_INPUT_TOO_LARGE;
        }
    }
    close(fd);
    if (r) {
        free(buf);
        return r;
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t left)
{
    while (left) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -errno;
        p += k;
        left -= (size_t)k;
    }
    return 0;
}

/* Phase 1: the temporary file, written, not yet flushed. */
static int stage(const char *spool, struct v12_spool_item *it)
{
    it->fd = -1;
    if ((size_t)snprintf(it->dir, sizeof(it->dir), "%s/%s/%s", spool, it->migration, it->vm) >= sizeof(it->dir) - 64)
        return -ENAMETOOLONG;
    snprintf(it->rel, sizeof(it->rel), "%s/%s/vcpu-%u.seq-%llu.bin", it->migration, it->vm, it->vcpu,
             (unsigned long long)it->seq);
    snprintf(it->tmp, sizeof(it->tmp), "%s/" TMP_PREFIX "XXXXXX", it->dir);
    int fd = mkostemp(it->tmp, O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        /* First blob of this migration and vm: create the directories (durably), then retry. */
        int r = v12_mkdirs(it->dir, 0750);
        if (r) return r;
        memcpy(it->tmp + strlen(it->tmp) - 6, "XXXXXX", 6);
        fd = mkostemp(it->tmp, O_CLOEXEC);
    }
    if (fd < 0) return -errno;
    it->fd = fd;
    int r = write_all(fd, it->data, it->len);
    if (!r && fchmod(fd, 0640) < 0) r = -errno;
    return r;
}

/* Phase 3: link into place without replacing; an existing file is a duplicate or a conflict. */
static int publish(const char *spool, struct v12_spool_item *it)
{
    char final[8192];
    snprintf(final, sizeof(final), "%s/%s", spool, it->rel);
    if (renameat2(AT_FDCWD, it->tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0) return 0;
    int r = -errno;
    (void)unlink(it->tmp);
    if (r != -EEXIST) return r;
    uint8_t *old;
    size_t oldlen;
    int rr = read_file(final, V12_BLOB_MAX, &old, &oldlen);
    if (rr) return rr;
    bool same = oldlen == it->len && memcmp(old, it->data, it->len) == 0;
    free(old);
    if (!same) return -EEXIST;
    it->duplicate = true;
    return 1; /* nothing new in the directory */
}

void v12_spool_store_batch(const char *spool, struct v12_spool_item **items, size_t n)
{
    for (; n > V12_SPOOL_BATCH_MAX; n -= V12_SPOOL_BATCH_MAX, items += V12_SPOOL_BATCH_MAX)
        v12_spool_store_batch(spool, items, V12_SPOOL_BATCH_MAX);
    for (size_t i = 0; i < n; i++) {
        items[i]->duplicate = false;
        items[i]->result = stage(spool, items[i]);
    }
    for (size_t i = 0; i < n; i++) {
        struct v12_spool_item *it = items[i];
        if (it->fd < 0) continue;
        if (!it->result && fsync(it->fd) < 0) it->result = -errno;
        if (close(it->fd) < 0 && !it->result) it->result = -errno;
        it->fd = -1;
        if (it->result) (void)unlink(it->tmp);
    }
    int published[V12_SPOOL_BATCH_MAX];
    for (size_t i = 0; i < n; i++) {
        published[i] = 0;
        if (items[i]->result) continue;
        int r = publish(spool, items[i]);
        if (r < 0) items[i]->result = r;
        else published[i] = r == 0;
    }
    /* Each directory that gained a name is fsynced once. */
    for (size_t i = 0; i < n; i++) {
        if (!published[i]) continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) seen = published[k] && strcmp(items[k]->dir, items[i]->dir) == 0;
        int r = seen ? 0 : fsync_path(items[i]->dir);
        for (size_t k = i; k < n && r; k++)
            if (published[k] && strcmp(items[k]->dir, items[i]->dir) == 0) items[k]->result = r;
    }
}

int v12_spool_store(const char *dir, const char *migration, const char *vm, uint32_t vcpu, uint64_t seq,
                    const uint8_t *data, size_t len, bool *ret_duplicate, char *rel, size_t rellen)
{
    struct v12_spool_item *it = calloc(1, sizeof(*it));
    if (!it) return -ENOMEM;
    *it = (struct v12_spool_item){.migration = migration, .vm = vm, .vcpu = vcpu, .seq = seq, .data = data, .len = len};
    v12_spool_store_batch(dir, &it, 1);
    int r = it->result;
    *ret_duplicate = it->duplicate;
    snprintf(rel, rellen, "%s", it->rel);
    free(it);
    return r;
}

/* A stored blob's name, vcpu-<N>.seq-<S>.bin: true and its numbers, or false. */
static bool blob_name(const char *name, unsigned *vcpu, unsigned long long *seq)
{
    char tail[8];
    return sscanf(name, "vcpu-%u.seq-%llu%7s", vcpu, seq, tail) == 3 && strcmp(tail, ".bin") == 0;
}

/* Highest seq for vcpu in one vm directory; 1 found, 0 none. */
static int best_in(const char *vmdir, uint32_t vcpu, uint64_t *best)
{
    DIR *dd = opendir(vmdir);
    if (!dd) return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(dd))) {
        unsigned v;
        unsigned long long s;
        if (!blob_name(e->d_name, &v, &s) || v != vcpu) continue;
        if (!found || s > *best) *best = s;
        found = 1;
    }
    closedir(dd);
    return found;
}

int v12_spool_find(const char *dir, const char *migration, const char *vm, uint32_t vcpu, uint8_t **ret_data,
                   size_t *ret_len, uint64_t *ret_seq, char *ret_migration, size_t miglen, char *rel, size_t rellen)
{
    char vmdir[PATH_MAX], best_mig[256] = "";
    uint64_t best = 0;
    int found = 0;
    if (migration[0]) {
        snprintf(vmdir, sizeof(vmdir), "%s/%s/%s", dir, migration, vm);
        found = best_in(vmdir, vcpu, &best);
        snprintf(best_mig, sizeof(best_mig), "%s", migration);
    } else {
        /* Any migration: the newest file wins (then the highest sequence number). */
        DIR *dd = opendir(dir);
        if (!dd) return V12_E_NOT_FOUND;
        struct dirent *e;
        struct timespec newest = {0};
        while ((e = readdir(dd))) {
            if (e->d_name[0] == '.') continue;
            uint64_t s;
            snprintf(vmdir, sizeof(vmdir), "%s/%s/%s", dir, e->d_name, vm);
            if (!best_in(vmdir, vcpu, &s)) continue;
            struct stat st;
            char f[PATH_MAX];
            if ((size_t)snprintf(f, sizeof(f), "%s/vcpu-%u.seq-%llu.bin", vmdir, vcpu, (unsigned long long)s) >=
                sizeof(f))
                continue;
            if (stat(f, &st) != 0) continue;
            if (!found || st.st_mtim.tv_sec > newest.tv_sec ||
                (st.st_mtim.tv_sec == newest.tv_sec && st.st_mtim.tv_nsec > newest.tv_nsec)) {
                newest = st.st_mtim;
                best = s;
                snprintf(best_mig, sizeof(best_mig), "%s", e->d_name);
                found = 1;
            }
        }
        closedir(dd);
    }
    if (!found) return V12_E_NOT_FOUND;
    char path[PATH_MAX];
    snprintf(rel, rellen, "%s/%s/vcpu-%u.seq-%llu.bin", best_mig, vm, vcpu, (unsigned long long)best);
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    int r = read_file(path, V12_BLOB_MAX, ret_data, ret_len);
    if (r) return r;
    *ret_seq = best;
    snprintf(ret_migration, miglen, "%s", best_mig);
    return 0;
}

static bool is_tmp_name(const char *n)
{
    size_t k = strlen(TMP_PREFIX);
    if (strncmp(n, TMP_PREFIX, k) != 0 || strlen(n) != k + 6) return false;
    for (const char *p = n + k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) return false;
    return true;
}

/* Opens the directory name under parent for the scan; NULL when it is not one to scan (not a
 * directory, a symbolic link: skipped in silence) or cannot be read (reported). */
static DIR *scan_open(int parent, const char *name, const char *rel, v12_scan_report *report, void *userdata,
                      struct v12_spool_scan *st)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d) return d;
    int r = -errno;
    if (fd >= 0) close(fd);
    if (r == -ENOTDIR || r == -ELOOP) return NULL;
    st->unreadable++;
    report(userdata, V12_SCAN_UNREADABLE, rel, r);
    return NULL;
}

static void scan_vm(int mfd, const char *mig, const char *vm, v12_scan_report *report, void *userdata,
                    struct v12_spool_scan *st)
{
    char rel[3 * 256 + 3];
    snprintf(rel, sizeof(rel), "%s/%s", mig, vm);
    DIR *dd = scan_open(mfd, vm, rel, report, userdata, st);
    if (!dd) return;
    int vmfd = dirfd(dd);
    struct dirent *e;
    bool changed = false;
    while ((e = readdir(dd))) {
        struct stat sb;
        if (fstatat(vmfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode)) continue;
        if (!is_tmp_name(e->d_name)) {
            unsigned v;
            unsigned long long s;
            if (blob_name(e->d_name, &v, &s)) st->blobs++;
            continue;
        }
        snprintf(rel, sizeof(rel), "%s/%s/%s", mig, vm, e->d_name);
        int r = unlinkat(vmfd, e->d_name, 0) < 0 ? -errno : 0;
        if (r) st->failed++;
        else st->removed++, changed = true;
        report(userdata, r ? V12_SCAN_NOT_REMOVED : V12_SCAN_REMOVED, rel, r);
    }
    if (changed) (void)fsync(vmfd);
    closedir(dd);
}

int v12_spool_scan(const char *dir, v12_scan_report *report, void *userdata, struct v12_spool_scan *ret)
{
    *ret = (struct v12_spool_scan){0};
    DIR *top = opendir(dir);
    if (!top) return -errno;
    struct dirent *m;
    while ((m = readdir(top))) {
        if (m->d_name[0] == '.') continue;
        DIR *md = scan_open(dirfd(top), m->d_name, m->d_name, report, userdata, ret);
        if (!md) continue;
        struct dirent *v;
        while ((v = readdir(md))) {
            if (v->d_name[0] == '.') continue;
            scan_vm(dirfd(md), m->d_name, v->d_name, report, userdata, ret);
        }
        closedir(md);
    }
    closedir(top);
    return (int)ret->removed;
}
