/* SPDX-License-Identifier: MIT */
/* Listening sockets on the main loop: readiness from uv_poll, accept4 here, the socket handed on. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"

static void on_readable(uv_poll_t *p, int status, int events)
{
    struct v12_listener *l = p->data;
    for (int i = 0; i < 64 && l->open; i++) { /* a burst at a time; the loop comes back for more */
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            l->on_accept(l, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) log_warn("accept: %s", strerror(errno));
        return;
    }
}

static int start(struct v12_listener *l, uv_loop_t *uv, int backlog, struct v12_errmsg *err)
{
    int r = listen(l->fd, backlog) < 0 ? -errno : uv_poll_init(uv, &l->poll, l->fd);
    if (r) {
        close(l->fd);
        return v12_fail(err, r, "listen: %s", v12_strerror(r));
    }
    l->poll.data = l;
    l->open = true;
    uv_poll_start(&l->poll, UV_READABLE, on_readable);
    return 0;
}

int v12_listen_tcp(struct v12_listener *l, uv_loop_t *uv, const char *host, const char *port, int backlog,
                   struct v12_errmsg *err)
{
    struct addrinfo *res;
    int r = v12_resolve_listen(host, port, &res, err);
    if (r) return r;
    l->path[0] = 0;
    l->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)) < 0 ||
        bind(l->fd, res->ai_addr, res->ai_addrlen) < 0) {
        r = -errno;
        v12_errmsg_set(err, "%s", strerror(errno));
        if (l->fd >= 0) close(l->fd);
        freeaddrinfo(res);
        return r;
    }
    freeaddrinfo(res);
    return start(l, uv, backlog, err);
}

void v12_listener_clamp_mss(struct v12_listener *l, int mss)
{
    if (l->open && !l->path[0]) (void)setsockopt(l->fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
}

int v12_listen_unix(struct v12_listener *l, uv_loop_t *uv, const char *path, unsigned mode, int backlog,
                    struct v12_errmsg *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return v12_fail(err, -ENAMETOOLONG, "socket path %s is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    v12_unlink_stale_socket(path); /* from an earlier run; nothing but a socket is removed */
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (mode && chmod(path, mode) < 0)) {
        int r = -errno;
        v12_errmsg_set(err, "%s", strerror(errno));
        if (l->fd >= 0) close(l->fd);
        return r;
    }
    snprintf(l->path, sizeof(l->path), "%s", path);
    return start(l, uv, backlog, err);
}

int v12_listen_adopt(struct v12_listener *l, uv_loop_t *uv, int fd, struct v12_errmsg *err)
{
    int fl = fcntl(fd, F_GETFL);
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
        int r = -errno;
        return v12_fail(err, r, "%s", strerror(-r));
    }
    if (!listening) {
        return v12_fail(err, -EINVAL, "the socket passed (fd %d) is not listening", fd);
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    l->fd = fd;
    l->path[0] = 0; /* systemd's: never removed here */
    int r = uv_poll_init(uv, &l->poll, l->fd);
    if (r) return v12_fail(err, r, "cannot poll the socket passed (fd %d): %s", fd, uv_strerror(r));
    l->poll.data = l;
    l->open = true;
    uv_poll_start(&l->poll, UV_READABLE, on_readable);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct v12_listener *l = h->data;
    close(l->fd);
}

void v12_listener_close(struct v12_listener *l)
{
    if (!l->open) return;
    l->open = false;
    uv_poll_stop(&l->poll);
    uv_close((uv_handle_t *)&l->poll, on_closed);
    if (l->path[0]) v12_unlink_stale_socket(l->path);
}
