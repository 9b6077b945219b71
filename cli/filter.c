/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "filter.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "v12/saveimage.h"

const char *const *v12_filter_argv(unsigned format, int decompress)
{
    /* As libvirt runs them (qemu_saveimage.c): "PROG -c" (xz also -3) to compress, "PROG -dc"
     * to decompress (lzop also --ignore-warn). */
    static const char *const comp[V12_SAVE_FORMAT_COUNT][4] = {
        {NULL}, {"gzip", "-c", NULL}, {"bzip2", "-c", NULL}, {"xz", "-c", "-3", NULL}, {"lzop", "-c", NULL}};
    static const char *const dec[V12_SAVE_FORMAT_COUNT][4] = {{NULL},
                                                              {"gzip", "-dc", NULL},
                                                              {"bzip2", "-dc", NULL},
                                                              {"xz", "-dc", NULL},
                                                              {"lzop", "-dc", "--ignore-warn", NULL}};
    if (format == 0 || format >= V12_SAVE_FORMAT_COUNT) return NULL;
    return decompress ? dec[format] : comp[format];
}

int v12_filter_start(struct v12_filter *f, const char *const argv[], int in_fd, int out_fd, struct v12_errmsg *msg)
{
    /* execvp's argv is char *const[]: copies, made before fork (nothing is allocated after it). */
    char words[8][32], *av[8];
    size_t na = 0;
    for (; argv[na] && na < 7; na++) {
        snprintf(words[na], sizeof(words[na]), "%s", argv[na]);
        av[na] = words[na];
    }
    av[na] = NULL;
    int p[2], e[2];
    f->pid = -1;
    f->fd = f->err_fd = -1;
    snprintf(f->what, sizeof(f->what), "%s %s", argv[0], argv[1] ? argv[1] : "");
    if (pipe2(p, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
        int r = -errno;
        return v12_fail(msg, r, "cannot start %s: %s", f->what, strerror(-r));
    }
    /* A child that cannot exec says so on this pipe (closed by exec when it succeeds). */
    int x[2];
    if (pipe2(x, O_CLOEXEC) < 0) {
        int r = -errno;
        close(p[0]), close(p[1]), close(e[0]), close(e[1]);
        return v12_fail(msg, r, "cannot start %s: %s", f->what, strerror(-r));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(p[0]), close(p[1]), close(e[0]), close(e[1]), close(x[0]), close(x[1]);
        return v12_fail(msg, r, "cannot start %s: %s", f->what, strerror(-r));
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        int child_in = in_fd >= 0 ? in_fd : p[0], child_out = out_fd >= 0 ? out_fd : p[1];
        if (dup2(child_in, 0) < 0 || dup2(child_out, 1) < 0 || dup2(e[1], 2) < 0) _exit(126);
        execvp(av[0], av);
        int err = errno;
        ssize_t w = write(x[1], &err, sizeof(err));
        (void)w;
        _exit(127);
    }
    close(x[1]);
    int err = 0;
    ssize_t k;
    do k = read(x[0], &err, sizeof(err));
    while (k < 0 && errno == EINTR);
    close(x[0]);
    close(e[1]);
    f->pid = pid;
    f->err_fd = e[0];
    if (in_fd < 0) { /* we write its input */
        close(p[0]);
        f->fd = p[1];
    } else { /* we read its output */
        close(p[1]);
        f->fd = p[0];
    }
    if (k == (ssize_t)sizeof(err)) {
        int st;
        waitpid(pid, &st, 0);
        f->pid = -1;
        close(f->fd), close(f->err_fd);
        f->fd = f->err_fd = -1;
        return v12_fail(msg, -err, "cannot run %s: %s (install package %s)", argv[0], strerror(err),
                        strcmp(argv[0], "xz") == 0 ? "xz-utils" : argv[0]);
    }
    return 0;
}

int v12_filter_finish(struct v12_filter *f, struct v12_errmsg *msg)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    int st = 0, r = 0;
    if (f->pid > 0) {
        while (waitpid(f->pid, &st, 0) < 0 && errno == EINTR) {
        }
        f->pid = -1;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char said[512] = "";
            ssize_t n = f->err_fd >= 0 ? read(f->err_fd, said, sizeof(said) - 1) : 0;
            if (n > 0) {
                said[n] = 0;
                for (char *c = said; *c; c++)
                    if (*c == '\n') *c = *(c + 1) ? ' ' : 0;
            }
            if (WIFEXITED(st))
                v12_errmsg_set(msg, "%s failed (exit %d)%s%s", f->what, WEXITSTATUS(st), said[0] ? ": " : "", said);
            else v12_errmsg_set(msg, "%s killed by signal %d", f->what, WTERMSIG(st));
            r = -EIO;
        }
    }
    if (f->err_fd >= 0) close(f->err_fd);
    f->err_fd = -1;
    return r;
}

void v12_filter_kill(struct v12_filter *f)
{
    if (f->fd >= 0) close(f->fd);
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    if (f->err_fd >= 0) close(f->err_fd);
    f->pid = -1;
    f->fd = f->err_fd = -1;
}
