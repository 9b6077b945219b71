/* SPDX-License-Identifier: MIT */
/* File I/O for the CLI: bounded reads, all-or-nothing writes. */
#define _GNU_SOURCE
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *v12_prog = "vmcs12ctl";

void v12_errorf(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", v12_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *v12_in_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

int v12_read_input(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = 0;
    size_t cap = max + 1, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) continue;
            r = -errno;
            goto out;
        }
        if (n == 0) break;
        len += (size_t)n;
        if (len > max) {
            r = V12_E_INPUT_TOO_LARGE;
            goto out;
        }
    }
    *ret_buf = buf;
    *ret_len = len;
    buf = NULL;
out:
    free(buf);
    if (fd != STDIN_FILENO) close(fd);
    return r;
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char copy[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof(copy)) return -ENAMETOOLONG;
    memcpy(copy, path, n + 1);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -errno;
    int r = fsync(dfd) < 0 ? -errno : 0;
    close(dfd);
    return r;
}

int v12_write_output(const char *path, const void *data, size_t len)
{
    if (strcmp(path, "-") == 0) {
        int r = write_all(STDOUT_FILENO, data, len);
        return r;
    }
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp)) return -ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = write_all(fd, data, len);
    if (!r && fchmod(fd, 0644) < 0) r = -errno;
    if (!r && fsync(fd) < 0) r = -errno;
    if (close(fd) < 0 && !r) r = -errno;
    if (!r && rename(tmp, path) < 0) r = -errno;
    if (r) {
        (void)unlink(tmp);
        return r;
    }
    return fsync_dir_of(path);
}

int v12_check_distinct(const char *in, const char *out)
{
    if (strcmp(in, "-") == 0 || strcmp(out, "-") == 0) return 0;
    if (strcmp(in, out) == 0) return V12_E_OUTPUT_IS_INPUT;
    struct stat a, b;
    if (stat(in, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return V12_E_OUTPUT_IS_INPUT;
    return 0;
}

int v12_parse_uint(const char *s, unsigned long long min, unsigned long long max, unsigned long long *ret)
{
    if (!s || *s < '0' || *s > '9') return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max) return -EINVAL;
    *ret = v;
    return 0;
}
