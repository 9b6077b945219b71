/* SPDX-License-Identifier: MIT */
#ifndef V12_LISTENER_H
#define V12_LISTENER_H

/*
 * A listening socket (TCP or unix) on a loop: accepted sockets go to on_accept, which owns them.
 * Errors: 0, or a negative code with err naming the address and the system's reason.
 */
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "v12/errors.h"

struct v12_listener {
    uv_poll_t poll;
    int fd;
    bool open;
    char path[108]; /* unix: removed at close */
    void (*on_accept)(struct v12_listener *l, int fd);
    void *arg;
};

int v12_listen_tcp(struct v12_listener *l, uv_loop_t *uv, const char *host, const char *port, int backlog,
                   struct v12_errmsg *err);
int v12_listen_unix(struct v12_listener *l, uv_loop_t *uv, const char *path, unsigned mode, int backlog,
                    struct v12_errmsg *err);
/* A listening socket handed over (systemd socket activation). */
int v12_listen_adopt(struct v12_listener *l, uv_loop_t *uv, int fd, struct v12_errmsg *err);
/*
 * TCP: the MSS announced to whoever connects from now on (TCP_MAXSEG), which caps the segments
 * they send. Best effort: a kernel that refuses it keeps the route's MSS (and a unix socket refuses it).
 */
void v12_listener_clamp_mss(struct v12_listener *l, int mss);
void v12_listener_close(struct v12_listener *l);

#endif
