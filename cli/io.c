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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

const char *v12_prog = "vmcs12ctl";

/* Format one line, escape it (names and messages may quote input), write it whole. */
__attribute__((format(printf, 3, 0))) static void vline(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
    char line[2048], out[sizeof(line) * 4];
    vsnprintf(line, sizeof(line), fmt, ap);
    v12_escape(out, sizeof(out), line);
    fprintf(f, "%s%s\n", prefix, out);
}

void v12_errorf(const char *fmt, ...)
{
    char prefix[64];
    va_list ap;
    snprintf(prefix, sizeof(prefix), "%s: ", v12_prog);
    va_start(ap, fmt);
    vline(stderr, prefix, fmt, ap);
    va_end(ap);
}

void v12_linef(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(f, "", fmt, ap);
    va_end(ap);
}

const char *v12_in_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

const char *v12_out_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdout>" : path;
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

int v12_write_all(int fd, const void *data, size_t len)
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

/* The final target of a path that does not exist yet: its directory resolved, its name kept. */
static int resolve_new(const char *path, char *target, size_t size)
{
    char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof(dir)) return -ENAMETOOLONG;
    memcpy(dir, path, n + 1);
    memcpy(base, path, n + 1);
    if (!realpath(dirname(dir), real)) return -errno;
    const char *name = basename(base);
    if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "/")) return -EISDIR;
    if ((size_t)snprintf(target, size, "%s/%s", strcmp(real, "/") ? real : "", name) >= size) return -ENAMETOOLONG;
    return 0;
}

/* A private staging file for a direct target: never visible under any name. */
static int anonymous_file(void)
{
    const char *dir = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR)) return fd < 0 ? -errno : fd;
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/vmcs12ctl.XXXXXX", dir) >= sizeof(tmp)) return -ENAMETOOLONG;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return -errno;
    (void)unlink(tmp);
    return fd;
}

int v12_out_begin(struct v12_out *o, const char *path)
{
    *o = (struct v12_out){.path = path, .fd = -1};
    struct stat st;
    if (strcmp(path, "-") == 0) {
        o->direct = true;
    } else if (stat(path, &st) == 0) {
        /* stat follows symbolic links: this is what the path leads to. */
        if (S_ISDIR(st.st_mode)) return -EISDIR;
        if (S_ISREG(st.st_mode)) {
            if (!realpath(path, o->target)) return -errno;
            o->replace = true;
            o->mode = st.st_mode & 07777;
            o->uid = st.st_uid;
            o->gid = st.st_gid;
        } else {
            o->direct = true; /* a device, FIFO or socket: written in place, never replaced */
        }
    } else if (errno != ENOENT) {
        return -errno;
    } else {
        if (lstat(path, &st) == 0) return -ENOENT; /* a symbolic link to nothing: nothing to replace */
        int r = resolve_new(path, o->target, sizeof(o->target));
        if (r) return r;
    }
    if (o->direct) {
        o->fd = anonymous_file();
    } else {
        if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.tmp.XXXXXX", o->target) >= sizeof(o->tmp))
            return -ENAMETOOLONG;
        o->fd = mkostemp(o->tmp, O_CLOEXEC); /* 0600: it holds a guest's CPU state */
        if (o->fd < 0) o->fd = -errno;
    }
    if (o->fd < 0) {
        int r = o->fd;
        o->tmp[0] = 0;
        o->fd = -1;
        return r;
    }
    return 0;
}

int v12_out_write(struct v12_out *o, const void *data, size_t len)
{
    return v12_write_all(o->fd, data, len);
}

void v12_out_abort(struct v12_out *o)
{
    if (o->fd >= 0) close(o->fd);
    if (o->tmp[0]) (void)unlink(o->tmp);
    o->fd = -1;
    o->tmp[0] = 0;
}

/* Open what a direct target is: a unix socket is connected to, anything else opened for writing. */
static int open_direct(const char *path)
{
    if (strcmp(path, "-") == 0) return STDOUT_FILENO;
    struct stat st;
    if (stat(path, &st) < 0) return -errno;
    if (S_ISSOCK(st.st_mode)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path)) return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            int r = -errno;
            close(fd);
            return r;
        }
        return fd;
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -errno;
    if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
        close(fd);
        return -ESTALE; /* it became a file since it was looked at: not written through */
    }
    return fd;
}

static int commit_direct(struct v12_out *o)
{
    if (lseek(o->fd, 0, SEEK_SET) < 0) return -errno;
    int dst = open_direct(o->path);
    if (dst < 0) return dst;
    uint8_t buf[65536];
    int r = 0;
    for (;;) {
        ssize_t n = read(o->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            r = n < 0 ? -errno : 0;
            break;
        }
        if ((r = v12_write_all(dst, buf, (size_t)n)) != 0) break;
    }
    if (dst != STDOUT_FILENO && close(dst) < 0 && !r) r = -errno;
    return r;
}

static int commit_file(struct v12_out *o)
{
    struct stat st;
    if (o->replace) {
        /* The replaced file keeps its mode and owner; a new file stays 0600. */
        if (fchmod(o->fd, o->mode) < 0) return -errno;
        if (geteuid() == 0 && fchown(o->fd, o->uid, o->gid) < 0) return -errno;
        if (lstat(o->target, &st) < 0) return -errno;
        if (!S_ISREG(st.st_mode)) return -ESTALE; /* no longer a regular file: never renamed over */
    }
    if (fsync(o->fd) < 0) return -errno;
    int r = close(o->fd) < 0 ? -errno : 0;
    o->fd = -1;
    if (r) return r;
    if (o->replace) {
        if (rename(o->tmp, o->target) < 0) return -errno;
    } else if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->target, RENAME_NOREPLACE) < 0) {
        /* Something appeared at the target since it was looked at: it is not ours to replace. */
        if (errno != EINVAL) return -errno;
        if (link(o->tmp, o->target) < 0) return -errno; /* a filesystem without RENAME_NOREPLACE */
        (void)unlink(o->tmp);
    }
    o->tmp[0] = 0;
    return fsync_dir_of(o->target);
}

int v12_out_commit(struct v12_out *o)
{
    int r = o->direct ? commit_direct(o) : commit_file(o);
    v12_out_abort(o);
    return r;
}

int v12_write_output(const char *path, const void *data, size_t len)
{
    struct v12_out o;
    int r = v12_out_begin(&o, path);
    if (!r) r = v12_out_write(&o, data, len);
    if (!r) return v12_out_commit(&o);
    v12_out_abort(&o);
    return r;
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
