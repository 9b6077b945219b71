/* SPDX-License-Identifier: MIT */
/*
 * A fake transport: the functions of daemon/transport/conn.h, recording what the handlers do with a
 * connection (frames and bytes written, closes, readiness) and letting a test play the other
 * side by calling the handler's callbacks. No socket, no loop: the handler under test is driven
 * step by step.
 */
#define _GNU_SOURCE
#include "fake_conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"

struct fake_conn *fake_conns;
static uint64_t fake_now;

uint64_t v12_clock_ms(void)
{
    if (fake_now) return fake_now;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void fake_set_clock(uint64_t now)
{
    fake_now = now;
}

int v12_loop_init(struct v12_loop *l, uv_loop_t *uv, unsigned index, struct v12_conn_limits *limits)
{
    memset(l, 0, sizeof(*l));
    l->uv = uv;
    l->index = index;
    l->limits = limits;
    return 0;
}

void v12_loop_close(struct v12_loop *l) {}

static struct fake_conn *fake_new(struct v12_loop *l, const struct v12_conn_ops *ops, void *owner)
{
    struct fake_conn *c = calloc(1, sizeof(*c));
    CHECK(c != NULL);
    c->l = l;
    c->ops = ops;
    c->owner = owner;
    c->next = fake_conns;
    fake_conns = c;
    l->nconns++;
    return c;
}

struct v12_conn *v12_conn_adopt(struct v12_loop *l, int fd, SSL_CTX *ctx, const struct v12_conn_ops *ops, void *owner)
{
    struct fake_conn *c = fake_new(l, ops, owner);
    c->fd = fd;
    c->tls = ctx != NULL;
    c->adopted = true;
    return (struct v12_conn *)c;
}

struct v12_conn *v12_conn_connect_tcp(struct v12_loop *l, const char *host, const char *port, SSL_CTX *ctx,
                                      const char *sni, const struct v12_conn_ops *ops, void *owner)
{
    struct fake_conn *c = fake_new(l, ops, owner);
    c->fd = -1;
    c->tls = ctx != NULL;
    snprintf(c->target, sizeof(c->target), "%s:%s", host, port);
    return (struct v12_conn *)c;
}

struct v12_conn *v12_conn_connect_unix(struct v12_loop *l, const char *path, const struct v12_conn_ops *ops,
                                       void *owner)
{
    struct fake_conn *c = fake_new(l, ops, owner);
    c->fd = -1;
    c->unix_sock = true;
    snprintf(c->target, sizeof(c->target), "unix:%s", path);
    return (struct v12_conn *)c;
}

void v12_conn_set_name(struct v12_conn *vc, const char *fmt, ...)
{
    struct fake_conn *c = (struct fake_conn *)vc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->name, sizeof(c->name), fmt, ap);
    va_end(ap);
}

const char *v12_conn_name(const struct v12_conn *vc)
{
    return ((const struct fake_conn *)vc)->name;
}

void v12_conn_set_owner(struct v12_conn *vc, const struct v12_conn_ops *ops, void *owner)
{
    struct fake_conn *c = (struct fake_conn *)vc;
    c->ops = ops;
    c->owner = owner;
}

void v12_conn_set_raw(struct v12_conn *vc)
{
    ((struct fake_conn *)vc)->raw = true;
}

void v12_conn_set_ready(struct v12_conn *vc)
{
    ((struct fake_conn *)vc)->ready = true;
}

void v12_conn_touch(struct v12_conn *vc)
{
    ((struct fake_conn *)vc)->touched++;
}

int v12_conn_writev(struct v12_conn *vc, const struct iovec *iov, int n)
{
    struct fake_conn *c = (struct fake_conn *)vc;
    if (c->closed) return V12_E_PEER_DOWN;
    if (c->fail_writes) return c->fail_writes;
    for (int i = 0; i < n; i++) {
        if (c->out_len + iov[i].iov_len > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap < c->out_len + iov[i].iov_len) cap *= 2;
            c->out = realloc(c->out, cap);
            CHECK(c->out != NULL);
            c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, iov[i].iov_base, iov[i].iov_len);
        c->out_len += iov[i].iov_len;
    }
    c->writes++;
    return 0;
}

int v12_conn_write(struct v12_conn *vc, const void *data, size_t len)
{
    struct iovec v = v12_iov(data, len);
    return v12_conn_writev(vc, &v, 1);
}

int v12_conn_send(struct v12_conn *vc, const V12Envelope *env)
{
    uint8_t *frame;
    size_t len;
    int r = v12_frame_pack(env, V12_FRAME_MAX, &frame, &len);
    if (r) return r;
    r = v12_conn_write(vc, frame, len);
    free(frame);
    return r;
}

void v12_conn_set_bufs(struct v12_conn *vc, const struct v12_sockbufs *b)
{
    ((struct fake_conn *)vc)->bufs = *b;
}

void v12_conn_set_alarm(struct v12_conn *vc, uint64_t at_ms)
{
    ((struct fake_conn *)vc)->alarm_ms = at_ms;
}

bool v12_conn_rx_idle(const struct v12_conn *vc)
{
    return ((const struct fake_conn *)vc)->rx_idle;
}

size_t v12_conn_queued(const struct v12_conn *vc)
{
    return ((const struct fake_conn *)vc)->queued;
}

void v12_conn_update_reading(struct v12_conn *vc)
{
    ((struct fake_conn *)vc)->reading_updates++;
}

void v12_conn_close(struct v12_conn *vc, int code, const char *why)
{
    struct fake_conn *c = (struct fake_conn *)vc;
    if (c->closed) return;
    c->closed = true;
    c->close_code = code;
    snprintf(c->close_why, sizeof(c->close_why), "%s", why ? why : "");
    const struct v12_conn_ops *ops = c->ops;
    c->ops = NULL;
    c->l->nconns--;
    V12_CONN_CALL(ops, c->owner, closed, vc, code, why);
}

void v12_conn_detach(struct v12_conn *vc, void (*done)(struct v12_conn *c, void *arg), void *arg)
{
    done(vc, arg);
}

int v12_conn_attach(struct v12_conn *vc, struct v12_loop *l)
{
    ((struct fake_conn *)vc)->l = l;
    return 0;
}

void v12_loop_close_all(struct v12_loop *l, const char *why)
{
    for (struct fake_conn *c = fake_conns; c; c = c->next)
        if (c->l == l && !c->closed) v12_conn_close((struct v12_conn *)c, 0, why);
}

void v12_conn_on_events(struct v12_conn *c, int events) {}

/* ---- what a test does as the other side ------------------------------------------------------ */

void fake_establish(struct fake_conn *c, X509 *cert)
{
    V12_CONN_CALL(c->ops, c->owner, established, (struct v12_conn *)c, cert);
}

void fake_frame(struct fake_conn *c, const V12Envelope *env)
{
    uint8_t *frame;
    size_t len;
    CHECK_OK(v12_frame_pack(env, V12_FRAME_MAX, &frame, &len));
    V12Envelope *copy;
    CHECK_OK(v12_frame_decode(frame, len, V12_FRAME_MAX, &copy));
    free(frame);
    V12_CONN_CALL(c->ops, c->owner, frame, (struct v12_conn *)c, copy);
    v12_envelope_free(copy);
}

void fake_raw(struct fake_conn *c, const uint8_t *data, size_t len)
{
    while (len && c->ops && !c->closed) {
        uint8_t *buf = NULL;
        size_t cap = 0;
        V12_CONN_CALL(c->ops, c->owner, raw_buf, (struct v12_conn *)c, &buf, &cap);
        CHECK(cap > 0);
        size_t take = cap < len ? cap : len;
        memcpy(buf, data, take);
        c->rx_idle = false;
        V12_CONN_CALL(c->ops, c->owner, raw_read, (struct v12_conn *)c, take);
        data += take;
        len -= take;
    }
    c->rx_idle = true; /* the batch's end: nothing more to read now */
    if (!c->closed) V12_CONN_CALL(c->ops, c->owner, raw_read, (struct v12_conn *)c, 0);
}

void fake_alarm(struct fake_conn *c)
{
    CHECK(c->alarm_ms != 0);
    c->alarm_ms = 0;
    if (!c->closed) V12_CONN_CALL(c->ops, c->owner, alarm, (struct v12_conn *)c);
}

void fake_peer_closes(struct fake_conn *c, int code, const char *why)
{
    v12_conn_close((struct v12_conn *)c, code, why);
}

bool fake_may_read(struct fake_conn *c)
{
    return !c->closed && c->ops && (!c->ops->may_read || c->ops->may_read(c->owner, (struct v12_conn *)c));
}

/* The frames the handler wrote on c since the last call, decoded; *n of them. */
V12Envelope **fake_take_frames(struct fake_conn *c, size_t *n)
{
    static V12Envelope *frames[64];
    for (size_t i = 0; i < 64 && frames[i]; i++) {
        v12_envelope_free(frames[i]);
        frames[i] = NULL;
    }
    size_t k = 0, off = 0;
    while (off + 4 <= c->out_len && k < 64) {
        size_t len =
            (size_t)c->out[off] << 24 | (size_t)c->out[off + 1] << 16 | (size_t)c->out[off + 2] << 8 | c->out[off + 3];
        CHECK(off + 4 + len <= c->out_len);
        CHECK_OK(v12_frame_decode(c->out + off, 4 + len, V12_FRAME_MAX, &frames[k]));
        k++;
        off += 4 + len;
    }
    CHECK_EQ(off, c->out_len); /* nothing but whole frames */
    c->out_len = 0;
    *n = k;
    return frames;
}

/* The last connection made (adopted or connected). */
struct fake_conn *fake_last(void)
{
    return fake_conns;
}

void fake_reset(void)
{
    while (fake_conns) {
        struct fake_conn *c = fake_conns;
        fake_conns = c->next;
        if (c->fd >= 0) close(c->fd);
        free(c->out);
        free(c);
    }
}
