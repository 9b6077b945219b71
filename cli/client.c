/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int v12_client_call(const char *socket_path, const V12Envelope *req, unsigned timeout_ms, V12Envelope **ret_reply,
                    struct v12_errmsg *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path)) {
        return v12_fail(err, -ENAMETOOLONG, "socket path too long: %s", socket_path);
    }
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = -errno;
        return v12_fail(err, e, "cannot create a socket: %s", strerror(-e));
    }
    int r = 0;
    uint8_t *frame = NULL;
    struct v12_frame_reader rd;
    v12_frame_reader_init(&rd, V12_FRAME_MAX);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = -errno;
        v12_errmsg_set(err, "cannot connect to vmcs12d at %s: %s", socket_path, strerror(-r));
        goto out;
    }
    size_t len;
    r = v12_frame_pack(req, V12_FRAME_MAX, &frame, &len);
    if (r) {
        v12_errmsg_set(err, "request: %s", v12_strerror(r));
        goto out;
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, frame + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            r = -errno;
            v12_errmsg_set(err, "sending to vmcs12d: %s", strerror(-r));
            goto out;
        }
        off += (size_t)n;
    }
    long long deadline = now_ms() + timeout_ms;
    uint8_t buf[16384];
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            r = V12_E_TIMEOUT;
            v12_errmsg_set(err, "no answer from vmcs12d within %u ms", timeout_ms);
            goto out;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int k = poll(&p, 1, (int)left);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) continue;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            r = -errno;
            v12_errmsg_set(err, "reading from vmcs12d: %s", strerror(-r));
            goto out;
        }
        if (n == 0) {
            r = V12_E_PROTOCOL;
            v12_errmsg_set(err, "vmcs12d closed the connection without answering");
            goto out;
        }
        size_t used;
        r = v12_frame_feed(&rd, buf, (size_t)n, &used, ret_reply, NULL);
        if (r == 1) {
            r = 0;
            goto out;
        }
        if (r < 0) {
            v12_errmsg_set(err, "answer from vmcs12d: %s", v12_strerror(r));
            goto out;
        }
    }
out:
    v12_frame_reader_done(&rd);
    free(frame);
    close(fd);
    return r;
}
