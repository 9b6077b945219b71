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

int v12_spool_store(const char *dir, const char *migration, const char *vm, uint32_t vcpu, uint64_t seq,
                    const uint8_t *data, size_t len, bool *ret_duplicate, char *rel, size_t rellen)
{
    char vmdir[PATH_MAX], final[PATH_MAX], tmp[PATH_MAX];
    if ((size_t)snprintf(vmdir, sizeof(vmdir), "%s/%s/%s", dir, migration, vm) >= sizeof(vmdir)) return -ENAMETOOLONG;
    snprintf(rel, rellen, "%s/%s/vcpu-%u.seq-%llu.bin", migration, vm, vcpu, (unsigned long long)seq);
    if ((size_t)snprintf(final, sizeof(final), "%s/vcpu-%u.seq-%llu.bin", vmdir, vcpu, (unsigned long long)seq) >=
        sizeof(final))
        return -ENAMETOOLONG;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", vmdir) >= sizeof(tmp)) return -ENAMETOOLONG;
    *ret_duplicate = false;

    int r = v12_mkdirs(vmdir, 0750);
    if (r) return r;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return -errno;
    const uint8_t *p = data;
    size_t left = len;
    while (left && !r) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno != EINTR) r = -errno;
        if (k > 0) p += k, left -= (size_t)k;
    }
    if (!r && fchmod(fd, 0640) < 0) r = -errno;
    if (!r && fsync(fd) < 0) r = -errno;
    if (close(fd) < 0 && !r) r = -errno;
    if (!r && renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) < 0) r = -errno;
    if (r) {
        (void)unlink(tmp);
        if (r != -EEXIST) return r;
        /* Already there: the same blob resent (stored once), or a conflicting one. */
        uint8_t *old;
        size_t oldlen;
        int rr = read_file(final, V12_BLOB_MAX, &old, &oldlen);
        if (rr) return rr;
        bool same = oldlen == len && memcmp(old, data, len) == 0;
        free(old);
        if (!same) return -EEXIST;
        *ret_duplicate = true;
        return 0;
    }
    return fsync_path(vmdir);
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
        char tail[8];
        if (sscanf(e->d_name, "vcpu-%u.seq-%llu%7s", &v, &s, tail) != 3 || strcmp(tail, ".bin") != 0 || v != vcpu)
            continue;
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
            if ((size_t)snprintf(f, sizeof(f), "%s/vcpu-%u.seq-%llu.bin", vmdir, vcpu, (unsigned long long)s) >= sizeof(f))
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
