/* SPDX-License-Identifier: MIT */
#ifndef V12_CLI_FILTER_H
#define V12_CLI_FILTER_H

/*
 * A compression program as a filter process (gzip, bzip2, xz, lzop: Debian's own tools, the ones
 * libvirt runs for save images), one end a file descriptor of ours, the other a pipe we hold.
 */
#include <stddef.h>
#include <sys/types.h>

#include "v12/errors.h"

struct v12_filter {
    pid_t pid;
    int fd;     /* our end of the pipe: read its output, or write its input */
    int err_fd; /* its stderr, read at the end for the message */
    char what[64];
};

/*
 * Start argv[0] (looked up in PATH) with stdin = in_fd, or a pipe whose write end is f->fd
 * when in_fd < 0; stdout = out_fd, or a pipe whose read end is f->fd when out_fd < 0 (exactly
 * one of them < 0). 0, or -errno with msg saying what could not be started.
 */
int v12_filter_start(struct v12_filter *f, const char *const argv[], int in_fd, int out_fd,
                     struct v12_errmsg *msg) V12_MUST_USE;
/* Close our end, wait for it: 0 when it exited 0, else -EIO with msg quoting its stderr. */
int v12_filter_finish(struct v12_filter *f, struct v12_errmsg *msg) V12_MUST_USE;
/* Kill and reap it (an error elsewhere). */
void v12_filter_kill(struct v12_filter *f);

/* The argv libvirt uses for a format: compress ("gzip -c", "xz -c -3") or decompress ("-dc"). */
const char *const *v12_filter_argv(unsigned format, int decompress);

#endif
