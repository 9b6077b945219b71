/* SPDX-License-Identifier: MIT */
/*
 * The transport (conn.h): a socket, optionally TLS on it, frames or raw bytes, a write queue,
 * deadlines. Memory is freed only from the poll handle's close callback, never while a caller
 * may still hold the connection on its stack.
 */
#define _GNU_SOURCE
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tcpinfo.h"
#include "tls.h"

/*
 * A connection's life, one state at a time. Up to ST_DETACHING the owner holds the connection
 * (closed() is still to come); from ST_CLOSING on it does not. The order matters: "< ST_CLOSING"
 * reads "the owner's", and ST_HELLO and ST_OPEN are the two in which bytes flow.
 */
enum state {
    ST_RESOLVING,  /* getaddrinfo in flight: the resolver holds the connection */
    ST_CONNECTING, /* non-blocking connect() in flight */
    ST_HANDSHAKE,  /* TLS handshake */
    ST_UP,         /* connected (plain, adopted): established() is still to be called, from the loop */
    ST_HELLO,      /* established: bytes flow; the owner's own handshake (Hello) is in progress, under
                    * the handshake deadline, until v12_conn_set_ready() */
    ST_OPEN,       /* ready: idle checks, ticks and alarms */
    ST_FAILING,    /* an error found inside a call the owner made (fail_code, fail_why): closed()
                    * comes from the loop, then the connection ends without flushing */
    ST_DETACHING,  /* moving to another loop (v12_conn_detach): resumes in resume_state on attach */
    ST_CLOSING,    /* the owner is gone: flushing the queue, then close_notify */
    ST_LINGER,     /* our side shut: reading and dropping until the other side's EOF */
    ST_ABANDONED,  /* ended while resolving: freed when the resolver gives the connection back */
    ST_DEAD,       /* the poll handle is closing; freed in its callback */
};

/* Bytes flow (reading, writing, frames) in these two states only. */
static bool flowing(enum state s)
{
    return s == ST_HELLO || s == ST_OPEN;
}

struct v12_conn {
    struct v12_loop *l;
    const struct v12_conn_ops *ops;
    void *owner;
    int fd;
    uv_poll_t poll;
    bool poll_open; /* poll initialised on l */
    int events;     /* what poll waits for now */
    SSL *ssl;
    enum state state;
    enum state resume_state; /* ST_DETACHING: the state to resume in on the new loop */
    bool raw;                /* frame mode (false) or raw bytes (true): a mode, not a state */
    bool unix_sock;
    bool tls_wants_write; /* SSL_read or the handshake needs the socket writable */
    bool tls_wants_read;  /* SSL_write needs the socket readable (never in TLS 1.3 in practice) */
    bool listed;          /* on l->ready */
    int fail_code;        /* ST_FAILING: what closed() will say */
    char fail_why[400];
    struct v12_frame_reader rd;
    size_t rd_accounted;
    /* Whole frames read but not yet handed over because the owner said stop (may_read) in the
     * middle of a read: at most one read's worth (the loop's scratch size). */
    uint8_t *held;
    size_t held_len;
    uint8_t *wq; /* bytes (plaintext for TLS) the socket did not take yet */
    size_t wq_off, wq_len, wq_cap;
    uint64_t deadline_ms; /* handshake, then close */
    /* The idle clock: the last time bytes arrived, or bytes left the write queue (which holds
     * bytes only once the socket was full: the other side read them, so it is alive, only
     * slow). A write the kernel buffers at once proves nothing and does not count. */
    uint64_t last_progress_ms, next_tick_ms;
    uint64_t alarm_ms;        /* the owner's alarm (0: none), checked on the loop's tick */
    struct v12_sockbufs bufs; /* socket buffer settings, applied once the socket exists */
    bool rx_idle;             /* the last read found nothing more to read */
    bool rx_idle_told;        /* raw mode: the owner has heard of it (raw_read 0) since the last bytes */
    uv_getaddrinfo_t gai;
    char host[256], port[8], sni[256];
    SSL_CTX *connect_ctx;
    void (*detach_done)(struct v12_conn *c, void *arg); /* ST_DETACHING */
    void *detach_arg;
    char name[128];
    struct v12_conn *next, *prev, *next_ready;
};

static void update_poll(struct v12_conn *c);
static void finish(struct v12_conn *c);
static void on_poll(uv_poll_t *p, int status, int events);

uint64_t v12_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the loop ------------------------------------------------------------------------------------ */

static void on_tick(uv_timer_t *t);
static void on_pending(uv_idle_t *i);

int v12_loop_init(struct v12_loop *l, uv_loop_t *uv, unsigned index, struct v12_conn_limits *limits)
{
    l->uv = uv;
    l->index = index;
    l->limits = limits;
    l->conns = NULL;
    l->nconns = 0;
    l->ready = NULL;
    int r = uv_timer_init(uv, &l->tick);
    if (!r) r = uv_idle_init(uv, &l->pending);
    if (r) return r;
    l->tick.data = l;
    l->pending.data = l;
    return uv_timer_start(&l->tick, on_tick, 100, 100);
}

void v12_loop_close(struct v12_loop *l)
{
    uv_timer_stop(&l->tick);
    uv_idle_stop(&l->pending);
    uv_close((uv_handle_t *)&l->tick, NULL);
    uv_close((uv_handle_t *)&l->pending, NULL);
}

static void list_ready(struct v12_conn *c)
{
    if (c->listed || c->state == ST_DEAD) return;
    c->listed = true;
    c->next_ready = c->l->ready;
    c->l->ready = c;
    uv_idle_start(&c->l->pending, on_pending);
}

static void unlist_ready(struct v12_conn *c)
{
    if (!c->listed) return;
    for (struct v12_conn **p = &c->l->ready; *p; p = &(*p)->next_ready)
        if (*p == c) {
            *p = c->next_ready;
            break;
        }
    c->listed = false;
}

static void conn_free(struct v12_conn *c);

static void on_pending(uv_idle_t *i)
{
    struct v12_loop *l = i->data;
    struct v12_conn *list = l->ready;
    l->ready = NULL;
    uv_idle_stop(&l->pending);
    for (struct v12_conn *d = l->dead, *next; d; d = next) {
        next = d->next_ready;
        conn_free(d);
    }
    l->dead = NULL;
    while (list) {
        struct v12_conn *c = list;
        list = c->next_ready;
        c->listed = false;
        v12_conn_on_events(c, 0);
    }
}

/* c's owner's callback cb, held across it (V12_CONN_CALL in conn.h). */
#define CALL(c, cb, ...) V12_CONN_CALL((c)->ops, (c)->owner, cb, __VA_ARGS__)

/* ---- accounting ------------------------------------------------------------------------------- */

static void account(struct v12_conn *c, size_t add, size_t sub)
{
    if (add) atomic_fetch_add(&c->l->limits->global_bytes, add);
    if (sub) atomic_fetch_sub(&c->l->limits->global_bytes, sub);
}

static void account_reader(struct v12_conn *c)
{
    size_t now = v12_frame_reader_buffered(&c->rd);
    if (now > c->rd_accounted) account(c, now - c->rd_accounted, 0);
    else account(c, 0, c->rd_accounted - now);
    c->rd_accounted = now;
}

/* A failure found where the owner may be on the stack (inside a call it made): closed() is
 * reported from the loop instead. */
static int fail_later(struct v12_conn *c, int code, const char *why)
{
    if (c->state == ST_FAILING) return c->fail_code;
    if (c->state >= ST_DETACHING) return V12_E_PEER_DOWN; /* moving, or no longer the owner's */
    c->fail_code = code ? code : -EIO;
    snprintf(c->fail_why, sizeof(c->fail_why), "%.*s", (int)sizeof(c->fail_why) - 1, why);
    c->state = ST_FAILING;
    list_ready(c);
    return c->fail_code;
}

/* ---- creation ------------------------------------------------------------------------------------ */

static struct v12_conn *conn_new(struct v12_loop *l, const struct v12_conn_ops *ops, void *owner)
{
    struct v12_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->l = l;
    c->ops = ops;
    c->owner = owner;
    c->fd = -1;
    c->state = ST_CONNECTING; /* until the caller says more; never ST_RESOLVING by accident */
    c->last_progress_ms = v12_clock_ms();
    c->deadline_ms = c->last_progress_ms + l->limits->handshake_timeout_ms;
    v12_frame_reader_init(&c->rd, l->limits->max_frame);
    snprintf(c->name, sizeof(c->name), "conn#%p", (void *)c);
    c->next = l->conns;
    if (l->conns) l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    return c;
}

static int open_poll(struct v12_conn *c)
{
    int r = uv_poll_init(c->l->uv, &c->poll, c->fd);
    if (r) return r;
    c->poll.data = c;
    c->poll_open = true;
    c->events = 0;
    return 0;
}

/* The owner hears closed(), once; nothing it does from there reaches this connection. */
static void notify_closed(struct v12_conn *c, int code, const char *why)
{
    const struct v12_conn_ops *ops = c->ops;
    void *owner = c->owner;
    c->ops = NULL;
    c->state = c->state == ST_RESOLVING ? ST_ABANDONED : ST_CLOSING; /* the resolver still holds it */
    V12_CONN_CALL(ops, owner, closed, c, code, why);
}

/* Ends a connection that never reached the owner's hands or failed: closed() first, no flushing. */
static void fail(struct v12_conn *c, int code, const char *why)
{
    if (c->state >= ST_CLOSING) return;
    notify_closed(c, code, why);
    finish(c);
}

/* The TLS session for a connection. Its failure (no memory for SSL_new) is the caller's to
 * report: from adopt, where the owner has not even stored the connection yet, only from the
 * loop (fail_later); from the loop's own connect completion, at once. */
static int start_tls(struct v12_conn *c, SSL_CTX *ctx, bool server, const char *sni, struct v12_errmsg *err)
{
    c->ssl = v12_tls_new(ctx, server, sni, c->fd, err);
    if (!c->ssl) return V12_E_TLS;
    c->state = ST_HANDSHAKE;
    c->tls_wants_write = true; /* a client's first flight; a server just waits for it */
    return 0;
}

static void established(struct v12_conn *c)
{
    c->state = ST_HELLO;
    c->last_progress_ms = v12_clock_ms();
    X509 *cert = c->ssl ? SSL_get1_peer_certificate(c->ssl) : NULL;
    CALL(c, established, c, cert);
    X509_free(cert);
}

struct v12_conn *v12_conn_adopt(struct v12_loop *l, int fd, SSL_CTX *ctx, const struct v12_conn_ops *ops, void *owner)
{
    struct v12_conn *c = conn_new(l, ops, owner);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    int fl = fcntl(fd, F_GETFL);
    int r = fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : open_poll(c); /* -errno, or libuv's */
    if (r) {
        char why[160];
        snprintf(why, sizeof(why), "cannot set up the socket: %s", v12_strerror(r));
        fail_later(c, r, why);
        return c;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    c->unix_sock = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX;
    if (!c->unix_sock) (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    struct v12_errmsg err;
    if (ctx) {
        if (start_tls(c, ctx, true, NULL, &err) != 0) fail_later(c, V12_E_TLS, err.text);
    } else {
        c->state = ST_UP; /* established() from the loop: no callback runs inside this call */
        list_ready(c);
    }
    update_poll(c);
    return c;
}

/* "cannot connect to HOST:PORT: reason" (or the unix path). */
static void connect_error(struct v12_conn *c, int e)
{
    char why[sizeof(c->host) + sizeof(c->port) + 96];
    if (c->unix_sock) snprintf(why, sizeof(why), "cannot connect to %s: %s", c->host, strerror(e));
    else snprintf(why, sizeof(why), "cannot connect to %s:%s: %s", c->host, c->port, strerror(e));
    fail_later(c, -e, why);
}

/* SO_RCVBUF for struct v12_sockbufs.bdp_rate (conn.h): 0 leaves autotuning on. */
static int bdp_rcvbuf(const struct v12_conn *c)
{
    uint32_t rtt_us;
    uint64_t max;
    if (v12_tcp_min_rtt_us(c->fd, &rtt_us) != 0 || v12_rmem_max(&max) != 0) return 0;
    uint64_t want = c->bufs.bdp_rate / 1000000u * rtt_us;
    if (want < (uint64_t)c->bufs.rcvbuf) want = (uint64_t)c->bufs.rcvbuf;
    return want <= max && want <= INT32_MAX ? (int)want : 0;
}

/* Best effort: a setting the kernel refuses leaves its default (autotuning) in place. */
static void apply_bufs(struct v12_conn *c)
{
    if (c->fd < 0) return;
    if (c->bufs.sndbuf) (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &c->bufs.sndbuf, sizeof(int));
    int rcvbuf = c->bufs.bdp_rate && !c->unix_sock ? bdp_rcvbuf(c) : c->bufs.rcvbuf;
    if (rcvbuf) (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(int));
    if (c->bufs.notsent_lowat && !c->unix_sock)
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &c->bufs.notsent_lowat, sizeof(int));
}

void v12_conn_set_bufs(struct v12_conn *c, const struct v12_sockbufs *b)
{
    c->bufs = *b;
    apply_bufs(c);
}

static void begin_connect(struct v12_conn *c, const struct sockaddr *sa, socklen_t len)
{
    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int r = c->fd < 0 ? -errno : open_poll(c); /* -errno, or libuv's */
    if (r) {
        char why[160];
        snprintf(why, sizeof(why), "cannot create a socket: %s", v12_strerror(r));
        fail_later(c, r, why);
        return;
    }
    if (!c->unix_sock) (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    apply_bufs(c); /* before connect: the receive window is scaled from it */
    c->state = ST_CONNECTING;
    if (connect(c->fd, sa, len) == 0 || errno == EINPROGRESS || errno == EAGAIN) {
        update_poll(c); /* writable: connected, or the error in SO_ERROR */
        return;
    }
    connect_error(c, errno);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct v12_conn *c = req->data;
    if (c->state == ST_ABANDONED) { /* ended while resolving */
        if (res) uv_freeaddrinfo(res);
        c->state = ST_CLOSING;
        finish(c);
        return;
    }
    if (status < 0) {
        char why[400];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", c->host, uv_strerror(status));
        fail(c, status, why);
        return;
    }
    begin_connect(c, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
}

struct v12_conn *v12_conn_connect_tcp(struct v12_loop *l, const char *host, const char *port, SSL_CTX *ctx,
                                      const char *sni, const struct v12_conn_ops *ops, void *owner)
{
    struct v12_conn *c = conn_new(l, ops, owner);
    if (!c) return NULL;
    snprintf(c->host, sizeof(c->host), "%s", host);
    snprintf(c->port, sizeof(c->port), "%s", port);
    snprintf(c->sni, sizeof(c->sni), "%s", sni ? sni : "");
    c->connect_ctx = ctx;
    if (ctx) SSL_CTX_up_ref(ctx);
    c->state = ST_RESOLVING;
    c->gai.data = c;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    int r = uv_getaddrinfo(l->uv, &c->gai, on_resolved, host, port, &hints);
    if (r) {
        char why[400];
        c->state = ST_CONNECTING; /* the resolver does not hold it */
        snprintf(why, sizeof(why), "cannot resolve %s: %s", host, uv_strerror(r));
        fail_later(c, r, why);
    }
    return c;
}

struct v12_conn *v12_conn_connect_unix(struct v12_loop *l, const char *path, const struct v12_conn_ops *ops,
                                       void *owner)
{
    struct v12_conn *c = conn_new(l, ops, owner);
    if (!c) return NULL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    c->unix_sock = true;
    snprintf(c->host, sizeof(c->host), "%s", path);
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fail_later(c, -ENAMETOOLONG, "socket path too long");
        return c;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    begin_connect(c, (struct sockaddr *)&sa, sizeof(sa));
    return c;
}

/* ---- small accessors ------------------------------------------------------------------------------ */

void v12_conn_set_name(struct v12_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->name, sizeof(c->name), fmt, ap);
    va_end(ap);
}

const char *v12_conn_name(const struct v12_conn *c)
{
    return c->name;
}

void v12_conn_set_owner(struct v12_conn *c, const struct v12_conn_ops *ops, void *owner)
{
    c->ops = ops;
    c->owner = owner;
}

void v12_conn_set_raw(struct v12_conn *c)
{
    c->raw = true;
}

void v12_conn_set_ready(struct v12_conn *c)
{
    if (c->state == ST_HELLO) c->state = ST_OPEN;
    c->last_progress_ms = v12_clock_ms();
    c->next_tick_ms = c->last_progress_ms + c->l->limits->idle_timeout_ms / 3;
}

void v12_conn_touch(struct v12_conn *c)
{
    c->last_progress_ms = v12_clock_ms();
}

size_t v12_conn_queued(const struct v12_conn *c)
{
    return c->wq_len - c->wq_off;
}

/* ---- writing ---------------------------------------------------------------------------------------- */

static int queue(struct v12_conn *c, const uint8_t *p, size_t n)
{
    if (!n) return 0;
    if (c->wq_off && c->wq_off == c->wq_len) c->wq_off = c->wq_len = 0;
    if (c->wq_len + n > c->wq_cap) {
        if (c->wq_off) { /* reclaim what was written */
            memmove(c->wq, c->wq + c->wq_off, c->wq_len - c->wq_off);
            c->wq_len -= c->wq_off;
            c->wq_off = 0;
        }
        if (c->wq_len + n > c->wq_cap) {
            size_t cap = c->wq_cap ? c->wq_cap : 65536;
            while (cap < c->wq_len + n) cap *= 2;
            uint8_t *nb = realloc(c->wq, cap);
            if (!nb) return fail_later(c, -ENOMEM, "out of memory");
            c->wq = nb;
            c->wq_cap = cap;
        }
    }
    memcpy(c->wq + c->wq_len, p, n);
    c->wq_len += n;
    account(c, n, 0);
    return 0;
}

/* Plaintext through TLS: how much OpenSSL took (whole records), or an error; 0 when it would block. */
static ssize_t tls_send(struct v12_conn *c, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > (1u << 30) ? (1u << 30) : n - done;
        ERR_clear_error();
        int k = SSL_write(c->ssl, p + done, (int)chunk);
        if (k > 0) {
            done += (size_t)k;
            continue;
        }
        int e = SSL_get_error(c->ssl, k);
        if (e == SSL_ERROR_WANT_WRITE) break;
        if (e == SSL_ERROR_WANT_READ) {
            c->tls_wants_read = true;
            break;
        }
        struct v12_errmsg why;
        int r = v12_tls_describe(c->ssl, k, "write", &why);
        return fail_later(c, r, why.text);
    }
    return (ssize_t)done;
}

static ssize_t plain_sendv(struct v12_conn *c, const struct iovec *iov, int n)
{
    union {
        const struct iovec *in;
        struct iovec *out;
    } u = {.in = iov}; /* sendmsg only reads the vector, though msg_iov is not const */
    struct msghdr m = {.msg_iov = u.out, .msg_iovlen = (size_t)n};
    for (;;) {
        ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (k >= 0) return k;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        char why[160];
        int e = errno;
        snprintf(why, sizeof(why), "write: %s", strerror(e));
        return fail_later(c, -e, why);
    }
}

/* Send what the queue holds. 0, or an error (the connection is failing). */
static int flush(struct v12_conn *c)
{
    while (c->wq_off < c->wq_len) {
        ssize_t k;
        if (c->ssl) {
            k = tls_send(c, c->wq + c->wq_off, c->wq_len - c->wq_off);
        } else {
            struct iovec v = {c->wq + c->wq_off, c->wq_len - c->wq_off};
            k = plain_sendv(c, &v, 1);
        }
        if (k < 0) return (int)k;
        if (k == 0) return 0;
        c->wq_off += (size_t)k;
        c->last_progress_ms = v12_clock_ms();
        account(c, 0, (size_t)k);
    }
    /* Empty: an idle connection holds no buffer. */
    free(c->wq);
    c->wq = NULL;
    c->wq_off = c->wq_len = c->wq_cap = 0;
    return 0;
}

int v12_conn_writev(struct v12_conn *c, const struct iovec *iov, int n)
{
    if (c->state == ST_FAILING) return c->fail_code;
    if (!flowing(c->state)) return V12_E_PEER_DOWN;
    int i = 0;
    size_t skip = 0; /* of iov[i], already sent */
    if (c->wq_off == c->wq_len) {
        if (c->ssl) {
            for (; i < n; i++) {
                ssize_t k = tls_send(c, iov[i].iov_base, iov[i].iov_len);
                if (k < 0) return (int)k;
                if ((size_t)k < iov[i].iov_len) {
                    skip = (size_t)k;
                    break;
                }
            }
        } else {
            ssize_t k = plain_sendv(c, iov, n);
            if (k < 0) return (int)k;
            size_t left = (size_t)k;
            while (i < n && left >= iov[i].iov_len) left -= iov[i++].iov_len;
            skip = left;
        }
    }
    for (; i < n; i++, skip = 0) {
        int r = queue(c, (const uint8_t *)iov[i].iov_base + skip, iov[i].iov_len - skip);
        if (r) return r;
    }
    update_poll(c);
    return 0;
}

int v12_conn_write(struct v12_conn *c, const void *data, size_t len)
{
    struct iovec v = v12_iov(data, len);
    return v12_conn_writev(c, &v, 1);
}

int v12_conn_send(struct v12_conn *c, const V12Envelope *env)
{
    uint8_t *frame;
    size_t len;
    int r = v12_frame_pack(env, c->l->limits->max_frame, &frame, &len);
    if (r) return r;
    r = v12_conn_write(c, frame, len);
    free(frame);
    return r;
}

/* ---- reading ------------------------------------------------------------------------------------------ */

static bool may_read(const struct v12_conn *c)
{
    if (!flowing(c->state)) return false;
    if (c->ops && c->ops->may_read) return c->ops->may_read(c->owner, c);
    const struct v12_conn_limits *lim = c->l->limits;
    return v12_conn_queued(c) < lim->conn_buffer_limit && atomic_load(&lim->global_bytes) < lim->global_buffer_limit;
}

/* The connection ended while reading (EOF, close_notify or an error): closed() now, from the loop. */
static int read_ended(struct v12_conn *c, int code, const char *why)
{
    fail(c, code, why);
    return V12_E_PEER_DOWN;
}

/*
 * Read into buf: 0 with *got bytes (*got 0: nothing more now, the socket would block), or an
 * error once the connection has ended (EOF or a failure, reported to the owner through closed()).
 */
static int read_some(struct v12_conn *c, uint8_t *buf, size_t cap, size_t *got)
{
    *got = 0;
    if (!c->ssl) {
        for (;;) {
            ssize_t n = read(c->fd, buf, cap);
            if (n > 0) {
                *got = (size_t)n;
                return 0;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
            if (n == 0) return read_ended(c, 0, "closed by the other side");
            int e = errno;
            return read_ended(c, -e, strerror(e));
        }
    }
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0) {
        *got = (size_t)n;
        return 0;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ) return 0;
    if (e == SSL_ERROR_WANT_WRITE) {
        c->tls_wants_write = true;
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return read_ended(c, 0, "closed by the other side (close_notify)");
    unsigned long err = ERR_peek_error();
    if ((e == SSL_ERROR_SYSCALL && errno == 0) ||
        (e == SSL_ERROR_SSL && ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
        return read_ended(c, V12_E_TLS, "connection closed without TLS close_notify (truncated)");
    struct v12_errmsg why;
    int r = v12_tls_describe(c->ssl, n, "record", &why);
    return read_ended(c, r, why.text);
}

/* Keep what the owner cannot take yet: one read's worth at most, replayed before the next read. */
static void hold(struct v12_conn *c, const uint8_t *data, size_t len)
{
    uint8_t *p = malloc(len);
    if (!p) {
        v12_conn_close(c, -ENOMEM, "out of memory holding unread frames");
        return;
    }
    memcpy(p, data, len);
    c->held = p;
    c->held_len = len;
    account(c, len, 0);
}

static void feed_frames(struct v12_conn *c, const uint8_t *data, size_t len)
{
    while (len && flowing(c->state) && !c->raw) {
        /* One frame's answer may fill the write queue (a RecvReply per 10-byte request): ask
         * before each frame, not once per read, so a read of many requests stays bounded. */
        if (!may_read(c)) {
            hold(c, data, len);
            return;
        }
        V12Envelope *env = NULL;
        size_t used = 0;
        int r = v12_frame_feed(&c->rd, data, len, &used, &env, NULL);
        account_reader(c);
        data += used;
        len -= used;
        if (r < 0) {
            char why[160];
            if (r == V12_E_FRAME_TOO_LARGE)
                snprintf(why, sizeof(why), "%s (limit %u bytes)", v12_strerror(r), c->rd.max);
            else snprintf(why, sizeof(why), "%s", v12_strerror(r));
            CALL(c, frame_error, c, r, why);
            v12_conn_close(c, r, why);
            return;
        }
        if (r == 0) break;
        CALL(c, frame, c, env);
        v12_envelope_free(env);
    }
    /* A frame switched the connection to raw bytes: what followed it in this read is raw. */
    if (len && flowing(c->state) && c->raw && c->ops && c->ops->raw_buf) {
        while (len && flowing(c->state) && c->ops) {
            uint8_t *buf = NULL;
            size_t cap = 0;
            CALL(c, raw_buf, c, &buf, &cap);
            if (!cap) {
                v12_conn_close(c, V12_E_BUSY, "no room for bytes that arrived with the switch to raw mode");
                return;
            }
            size_t take = cap < len ? cap : len;
            memcpy(buf, data, take);
            data += take;
            len -= take;
            CALL(c, raw_read, c, take);
        }
    }
}

#define READ_BUDGET (4u << 20) /* per event: others on the loop get their turn */

static void do_read(struct v12_conn *c)
{
    size_t budget = READ_BUDGET;
    bool got_raw = false;
    while (flowing(c->state) && may_read(c)) {
        if (!budget) {
            list_ready(c); /* more may be waiting: come back after the others */
            break;
        }
        if (c->held) { /* frames read earlier come first */
            uint8_t *p = c->held;
            size_t n = c->held_len;
            c->held = NULL;
            c->held_len = 0;
            account(c, 0, n);
            feed_frames(c, p, n);
            free(p);
            budget = n >= budget ? 0 : budget - n;
            continue;
        }
        uint8_t *buf;
        size_t cap;
        bool raw = c->raw;
        if (raw) {
            buf = NULL;
            cap = 0;
            if (!c->ops || !c->ops->raw_buf) break;
            CALL(c, raw_buf, c, &buf, &cap);
            if (!cap) break;
        } else {
            buf = c->l->scratch;
            cap = sizeof(c->l->scratch);
        }
        size_t n;
        int r = read_some(c, buf, cap, &n);
        c->rx_idle = r == 0 && n == 0;
        if (n > 0) c->rx_idle_told = false;
        if (r || n == 0) break;
        c->last_progress_ms = v12_clock_ms();
        budget = n >= budget ? 0 : budget - n;
        if (raw) {
            got_raw = true;
            CALL(c, raw_read, c, n);
        } else {
            feed_frames(c, buf, n);
        }
    }
    /* The end of a batch of raw bytes, or the first time the socket is found drained after bytes
     * (a batch cut short by the budget or by the owner may end with nothing new): the owner may
     * now process what it has, and v12_conn_rx_idle() says whether more is on its way. */
    bool tell_idle = c->raw && c->rx_idle && !c->rx_idle_told;
    if ((got_raw || tell_idle) && flowing(c->state) && c->ops && c->ops->raw_read) {
        if (c->rx_idle) c->rx_idle_told = true;
        CALL(c, raw_read, c, 0);
    }
}

/* ---- events ------------------------------------------------------------------------------------------------ */

static void do_handshake(struct v12_conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    c->tls_wants_write = false;
    if (r == 1) {
        established(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return;
    if (e == SSL_ERROR_WANT_WRITE) {
        c->tls_wants_write = true;
        return;
    }
    struct v12_errmsg why;
    (void)v12_tls_describe(c->ssl, r, "handshake", &why);
    fail(c, V12_E_TLS, why.text);
}

static void continue_close(struct v12_conn *c);

static void linger_read(struct v12_conn *c)
{
    uint8_t *buf = c->l->scratch;
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(c->l->scratch));
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        finish(c); /* EOF or an error: done */
        return;
    }
}

void v12_conn_on_events(struct v12_conn *c, int events)
{
    switch (c->state) {
    case ST_FAILING: fail(c, c->fail_code, c->fail_why); return;
    case ST_UP: established(c); break;
    case ST_RESOLVING:
    case ST_DETACHING:
    case ST_ABANDONED:
    case ST_DEAD: return; /* nothing a socket event can move */
    default: break;
    }
    if (c->state == ST_CONNECTING) {
        if (!(events & UV_WRITABLE)) return;
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
        if (err) {
            connect_error(c, err);
            fail(c, c->fail_code, c->fail_why);
            return;
        }
        if (c->connect_ctx) {
            SSL_CTX *ctx = c->connect_ctx;
            c->connect_ctx = NULL;
            struct v12_errmsg why;
            int r = start_tls(c, ctx, false, c->sni, &why);
            SSL_CTX_free(ctx);
            if (r) fail(c, r, why.text);
            return;
        }
        established(c);
    } else if (c->state == ST_HANDSHAKE) {
        do_handshake(c);
    }
    if (flowing(c->state)) {
        bool had_queue = c->wq_off < c->wq_len;
        c->tls_wants_write = false;
        if (had_queue && flush(c) < 0) {
            fail(c, c->fail_code, c->fail_why);
            return;
        }
        /* The queue emptied: the owner may feed it again (its other side may read). */
        if (had_queue && c->wq_off == c->wq_len) CALL(c, drained, c);
        c->tls_wants_read = false;
        if (flowing(c->state)) do_read(c);
        if (c->state == ST_FAILING) {
            fail(c, c->fail_code, c->fail_why);
            return;
        }
    } else if (c->state == ST_CLOSING) {
        continue_close(c);
    } else if (c->state == ST_LINGER) {
        linger_read(c);
    }
    if (c->state < ST_DEAD) update_poll(c);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct v12_conn *c = p->data;
    if (status < 0) events = UV_READABLE | UV_WRITABLE; /* let read/write find the error */
    v12_conn_on_events(c, events);
}

static void update_poll(struct v12_conn *c)
{
    if (!c->poll_open) return;
    int ev = 0;
    switch (c->state) {
    case ST_CONNECTING: ev = UV_WRITABLE; break;
    case ST_HANDSHAKE: ev = UV_READABLE | (c->tls_wants_write ? UV_WRITABLE : 0); break;
    case ST_HELLO:
    case ST_OPEN:
        if (may_read(c) || c->tls_wants_read) ev |= UV_READABLE;
        /* Frames held back arrive from no socket event: replay them when the owner may take them. */
        if (c->held && may_read(c)) list_ready(c);
        if (c->wq_off < c->wq_len || c->tls_wants_write) ev |= UV_WRITABLE;
        /* Plaintext already inside OpenSSL never makes the socket readable: look at it now. */
        if ((ev & UV_READABLE) && c->ssl && SSL_has_pending(c->ssl)) list_ready(c);
        break;
    case ST_CLOSING: ev = UV_WRITABLE; break;
    case ST_LINGER: ev = UV_READABLE; break;
    case ST_RESOLVING:
    case ST_UP:      /* the pending list brings it to established() */
    case ST_FAILING: /* ... and to closed() */
    case ST_DETACHING:
    case ST_ABANDONED:
    case ST_DEAD: return;
    }
    if (ev == c->events) return;
    c->events = ev;
    if (ev) uv_poll_start(&c->poll, ev, on_poll);
    else uv_poll_stop(&c->poll);
}

void v12_conn_update_reading(struct v12_conn *c)
{
    if (!flowing(c->state)) return;
    update_poll(c);
    /* Raw bytes stopped by the owner: whether the socket is drained is not known until the next
     * read, and a drained socket makes no event; so read (from the loop, never under the owner). */
    if (c->raw && !c->rx_idle && c->poll_open && may_read(c)) list_ready(c);
}

/* ---- closing --------------------------------------------------------------------------------------------- */

static void conn_free(struct v12_conn *c)
{
    struct v12_loop *l = c->l;
    if (c->fd >= 0) close(c->fd);
    if (c->ssl) SSL_free(c->ssl);
    if (c->connect_ctx) SSL_CTX_free(c->connect_ctx);
    account(c, 0, c->wq_len - c->wq_off);
    free(c->wq);
    if (c->rd_accounted) account(c, 0, c->rd_accounted);
    if (c->held) account(c, 0, c->held_len);
    free(c->held);
    v12_frame_reader_done(&c->rd);
    if (c->prev) c->prev->next = c->next;
    else l->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    l->nconns--;
    free(c);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct v12_conn *c = h->data;
    c->poll_open = false;
    if (c->state == ST_DETACHING) { /* moving to another loop: not freed */
        void (*done)(struct v12_conn *, void *) = c->detach_done;
        c->detach_done = NULL;
        done(c, c->detach_arg);
        return;
    }
    conn_free(c);
}

/* The socket is done with: close the poll handle; the rest is freed in its callback (or from
 * the loop's idle callback when there is no handle), never on a caller's stack. */
static void finish(struct v12_conn *c)
{
    if (c->state == ST_DEAD || c->state == ST_ABANDONED) return; /* ABANDONED: on_resolved finishes it */
    c->state = ST_DEAD;
    unlist_ready(c);
    if (c->poll_open) {
        uv_poll_stop(&c->poll);
        uv_close((uv_handle_t *)&c->poll, on_poll_closed);
        return;
    }
    c->next_ready = c->l->dead;
    c->l->dead = c;
    uv_idle_start(&c->l->pending, on_pending);
}

static void continue_close(struct v12_conn *c)
{
    if (c->wq_off < c->wq_len) {
        if (flush(c) < 0) {
            finish(c);
            return;
        }
        if (c->wq_off < c->wq_len) return; /* wait for writable (bounded by the close deadline) */
    }
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_shutdown(c->ssl); /* close_notify, always */
        if (r < 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE) return;
    }
    /* Our side is done; read and drop until the other side closes too, so that a reset never
     * destroys the last bytes we sent. */
    if (shutdown(c->fd, SHUT_WR) < 0) {
        finish(c);
        return;
    }
    c->state = ST_LINGER;
    linger_read(c);
    if (c->state == ST_LINGER) update_poll(c);
}

void v12_conn_close(struct v12_conn *c, int code, const char *why)
{
    if (c->state >= ST_CLOSING) return;
    enum state was = c->state;
    c->deadline_ms = v12_clock_ms() + c->l->limits->close_timeout_ms;
    notify_closed(c, code, why);
    if (!flowing(was)) { /* nothing to flush: never open, failing, or moving */
        finish(c);
        return;
    }
    continue_close(c);
    if (c->state == ST_CLOSING) update_poll(c);
}

/* ---- moving between loops -------------------------------------------------------------------------------- */

void v12_conn_detach(struct v12_conn *c, void (*done)(struct v12_conn *c, void *arg), void *arg)
{
    struct v12_loop *l = c->l;
    unlist_ready(c);
    /* Off this loop's list now: its tick no longer looks at it. */
    if (c->prev) c->prev->next = c->next;
    else l->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    l->nconns--;
    c->next = c->prev = NULL;
    c->resume_state = c->state;
    c->state = ST_DETACHING;
    c->detach_done = done;
    c->detach_arg = arg;
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_poll_closed);
}

int v12_conn_attach(struct v12_conn *c, struct v12_loop *l)
{
    c->l = l;
    c->next = l->conns;
    if (l->conns) l->conns->prev = c;
    l->conns = c;
    l->nconns++;
    c->state = c->resume_state;
    int r = open_poll(c);
    if (r) return r;
    list_ready(c); /* look at it once on its new loop: bytes may be buffered */
    update_poll(c);
    return 0;
}

void v12_conn_set_alarm(struct v12_conn *c, uint64_t at_ms)
{
    c->alarm_ms = at_ms;
}

bool v12_conn_rx_idle(const struct v12_conn *c)
{
    return c->rx_idle;
}

/* ---- deadlines ---------------------------------------------------------------------------------------------- */

/* A ready connection on the loop's tick: the idle timeout, the owner's tick, its alarm. */
static void open_tick(struct v12_conn *c, uint64_t now, const struct v12_conn_limits *lim)
{
    if (now - c->last_progress_ms >= lim->idle_timeout_ms && !(c->ops && c->ops->busy && c->ops->busy(c->owner, c))) {
        v12_conn_close(c, V12_E_TIMEOUT, "idle timeout");
        return;
    }
    if (now >= c->next_tick_ms) {
        c->next_tick_ms = now + lim->idle_timeout_ms / 3;
        CALL(c, tick, c);
    }
    if (c->alarm_ms && now >= c->alarm_ms && c->state == ST_OPEN) {
        c->alarm_ms = 0;
        CALL(c, alarm, c);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct v12_loop *l = t->data;
    uint64_t now = v12_clock_ms();
    const struct v12_conn_limits *lim = l->limits;
    for (struct v12_conn *c = l->conns, *next; c; c = next) {
        next = c->next;
        switch (c->state) {
        case ST_RESOLVING:
        case ST_CONNECTING:
        case ST_HANDSHAKE:
            if (now >= c->deadline_ms)
                fail(c, V12_E_TIMEOUT,
                     c->state == ST_HANDSHAKE ? "TLS handshake or hello not completed in time"
                                              : "cannot connect: timed out");
            break;
        case ST_HELLO:
            if (now >= c->deadline_ms) v12_conn_close(c, V12_E_TIMEOUT, "TLS handshake or hello not completed in time");
            break;
        case ST_OPEN: open_tick(c, now, lim); break;
        case ST_CLOSING:
        case ST_LINGER:
            if (now >= c->deadline_ms) finish(c); /* the other side never read, or never closed */
            break;
        case ST_UP:
        case ST_FAILING: /* the pending list is on its way */
        case ST_DETACHING:
        case ST_ABANDONED:
        case ST_DEAD: break;
        }
    }
}

void v12_loop_close_all(struct v12_loop *l, const char *why)
{
    for (struct v12_conn *c = l->conns; c; c = c->next)
        if (c->state < ST_CLOSING) v12_conn_close(c, 0, why);
}
