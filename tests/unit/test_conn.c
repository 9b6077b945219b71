/* SPDX-License-Identifier: MIT */
/*
 * The transport (daemon/transport/conn.c) on a socketpair, driven by calling its event entry point by
 * hand: no loop runs until the end (to free what closed). Frames both ways, frames held while
 * the owner says stop, a bad frame, raw bytes through a full socket (queue, drained),
 * backpressure, close and EOF, a write to a closed peer reported from the loop and not under the
 * writer, a TLS session that cannot be created (OpenSSL out of memory) reported from the loop and
 * not inside v12_conn_adopt. And a TCP listener's MSS clamp, which the stream listener sets.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "../check.h"
#include "conn.h"
#include "listener.h"
#include "tcpinfo.h"

/* OpenSSL's allocations, failing on demand: the only way SSL_new fails in real life. */
static bool openssl_oom;
static void *t_malloc(size_t n, const char *file, int line)
{
    return openssl_oom ? NULL : malloc(n);
}
static void *t_realloc(void *p, size_t n, const char *file, int line)
{
    return openssl_oom ? NULL : realloc(p, n);
}
static void t_free(void *p, const char *file, int line)
{
    free(p);
}

struct side {
    const char *name;
    int established, frames, frame_errors, closed, drained, batch_ends, idle_batch_ends;
    int close_code;
    char close_why[256];
    int last_frame_case;
    int stop_after; /* frame() says "no more" (may_read false) after this many frames */
    bool may_read;
    uint8_t *in;
    size_t in_len, in_cap;
    struct v12_conn *c;
};

static void established(void *owner, struct v12_conn *c, X509 *cert)
{
    struct side *s = owner;
    CHECK(cert == NULL);
    s->established++;
    v12_conn_set_ready(c);
}

static void frame(void *owner, struct v12_conn *c, const V12Envelope *env)
{
    struct side *s = owner;
    s->frames++;
    s->last_frame_case = env->msg_case;
    if (s->stop_after && s->frames == s->stop_after) s->may_read = false;
}

static void frame_error(void *owner, struct v12_conn *c, int code, const char *why)
{
    ((struct side *)owner)->frame_errors++;
}

static void raw_buf(void *owner, struct v12_conn *c, uint8_t **buf, size_t *len)
{
    struct side *s = owner;
    *buf = s->in + s->in_len;
    *len = s->in_cap - s->in_len;
}

static void raw_read(void *owner, struct v12_conn *c, size_t n)
{
    struct side *s = owner;
    s->in_len += n;
    if (n == 0) s->batch_ends++, s->idle_batch_ends += v12_conn_rx_idle(c);
    if (s->stop_after && s->in_len >= (size_t)s->stop_after) s->may_read = false;
}

static bool may_read(void *owner, const struct v12_conn *c)
{
    return ((const struct side *)owner)->may_read;
}

static void drained(void *owner, struct v12_conn *c)
{
    ((struct side *)owner)->drained++;
}

static void closed(void *owner, struct v12_conn *c, int code, const char *why)
{
    struct side *s = owner;
    s->closed++;
    s->close_code = code;
    snprintf(s->close_why, sizeof(s->close_why), "%s", why);
    s->c = NULL;
}

static const struct v12_conn_ops ops = {
    .established = established,
    .frame = frame,
    .frame_error = frame_error,
    .raw_buf = raw_buf,
    .raw_read = raw_read,
    .may_read = may_read,
    .drained = drained,
    .closed = closed,
};

static struct v12_conn_limits limits = {
    .max_frame = V12_FRAME_MAX,
    .conn_buffer_limit = 1 << 20,
    .global_buffer_limit = 64 << 20,
    .handshake_timeout_ms = 10000,
    .idle_timeout_ms = 60000,
    .close_timeout_ms = 2000,
};
static struct v12_loop loop;

static void pair(struct side *a, struct side *b)
{
    int fd[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd));
    a->may_read = b->may_read = true;
    a->c = v12_conn_adopt(&loop, fd[0], NULL, &ops, a);
    b->c = v12_conn_adopt(&loop, fd[1], NULL, &ops, b);
    CHECK(a->c && b->c);
    /* No callback inside the call that made the connection: established comes from the loop. */
    CHECK(a->established == 0 && b->established == 0);
    v12_conn_on_events(a->c, 0);
    v12_conn_on_events(b->c, 0);
    CHECK(a->established == 1 && b->established == 1);
}

static void send_ping(struct v12_conn *c)
{
    Vmcs12d__V1__Ping ping;
    vmcs12d__v1__ping__init(&ping);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    ping.nonce = 5;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_PING;
    env.ping = &ping;
    CHECK_OK(v12_conn_send(c, &env));
}

static void frames_and_close(void)
{
    struct side a = {.name = "a"}, b = {.name = "b"};
    pair(&a, &b);
    send_ping(a.c);
    send_ping(a.c);
    v12_conn_on_events(b.c, UV_READABLE);
    CHECK_EQ(b.frames, 2);
    CHECK_EQ(b.last_frame_case, VMCS12D__V1__ENVELOPE__MSG_PING);
    /* Not read while its owner says no. */
    b.may_read = false;
    send_ping(a.c);
    v12_conn_on_events(b.c, UV_READABLE);
    CHECK_EQ(b.frames, 2);
    b.may_read = true;
    v12_conn_on_events(b.c, UV_READABLE);
    CHECK_EQ(b.frames, 3);
    /* Close: closed() once, at once, code 0; the other side sees a clean EOF. */
    struct v12_conn *ac = a.c;
    v12_conn_close(ac, 0, "bye");
    CHECK(a.closed == 1 && a.close_code == 0 && strcmp(a.close_why, "bye") == 0);
    v12_conn_close(ac, 0, "again"); /* idempotent */
    CHECK_EQ(a.closed, 1);
    CHECK_EQ(v12_conn_write(ac, "x", 1), V12_E_PEER_DOWN); /* nothing more goes out */
    v12_conn_on_events(b.c, UV_READABLE);
    CHECK(b.closed == 1 && b.close_code == 0);
    CHECK(strstr(b.close_why, "closed by the other side") != NULL);
}

/* Frames that arrive in one read with the one that filled the owner's queue wait: the owner is
 * asked before each frame, and the rest is handed over, in order, once it may read again (without
 * a new socket event: the bytes are already out of the socket). */
static void stop_between_frames(void)
{
    struct side a = {.name = "a"}, b = {.name = "b", .stop_after = 2};
    pair(&a, &b);
    for (int i = 0; i < 5; i++) send_ping(a.c);
    v12_conn_on_events(b.c, UV_READABLE);
    CHECK_EQ(b.frames, 2);
    v12_conn_on_events(b.c, UV_READABLE); /* asked again: still no */
    CHECK_EQ(b.frames, 2);
    b.may_read = true;
    b.stop_after = 0;
    v12_conn_on_events(b.c, 0);
    CHECK_EQ(b.frames, 5);
    CHECK_EQ(b.last_frame_case, VMCS12D__V1__ENVELOPE__MSG_PING);
    v12_conn_close(a.c, 0, "done");
    v12_conn_close(b.c, 0, "done");
}

static void bad_frame(void)
{
    struct side a = {.name = "a"}, b = {.name = "b"};
    pair(&a, &b);
    const uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
    CHECK_OK(v12_conn_write(a.c, huge, sizeof(huge)));
    v12_conn_on_events(b.c, UV_READABLE);
    CHECK_EQ(b.frame_errors, 1);
    CHECK(b.closed == 1 && b.close_code == V12_E_FRAME_TOO_LARGE);
    CHECK(strstr(b.close_why, "limit 65536 bytes") != NULL);
    v12_conn_close(a.c, 0, "done");
}

static void raw_through_a_full_socket(void)
{
    struct side a = {.name = "a"}, b = {.name = "b"};
    pair(&a, &b);
    v12_conn_set_raw(a.c);
    v12_conn_set_raw(b.c);
    size_t n = 8u << 20;
    uint8_t *data = malloc(n);
    b.in = malloc(n);
    b.in_cap = n;
    CHECK(data && b.in);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 31 + (i >> 12));
    /* Far more than the socket holds: the rest is queued, and counted. */
    CHECK_OK(v12_conn_write(a.c, data, n));
    CHECK(v12_conn_queued(a.c) > 0);
    CHECK(atomic_load(&limits.global_bytes) >= v12_conn_queued(a.c));
    for (int round = 0; round < 10000 && b.in_len < n; round++) {
        v12_conn_on_events(b.c, UV_READABLE);
        v12_conn_on_events(a.c, UV_WRITABLE);
    }
    CHECK_EQ(b.in_len, n);
    CHECK_MEM(b.in, data, n);
    CHECK_EQ(v12_conn_queued(a.c), 0);
    CHECK(a.drained >= 1); /* the owner heard the queue empty */
    CHECK_EQ(atomic_load(&limits.global_bytes), 0);
    /* The other side closes: a reads its EOF, a clean close. */
    uint8_t small[16];
    a.in = small;
    a.in_cap = sizeof(small);
    v12_conn_close(b.c, 0, "gone");
    v12_conn_on_events(a.c, UV_READABLE);
    CHECK(a.closed == 1 && a.close_code == 0);
    free(data);
    free(b.in);
}

/*
 * The owner stops reading with bytes still in the socket, then reads them all once it has room
 * again; the socket then holds nothing and makes no event, but the owner must still hear that it
 * is drained (the stream parser accepts a description only where its input rests).
 */
static void drained_input_is_told(void)
{
    struct side a = {.name = "a"}, b = {.name = "b"};
    pair(&a, &b);
    v12_conn_set_raw(a.c);
    v12_conn_set_raw(b.c);
    uint8_t data[3000], in[4000];
    memset(data, 7, sizeof(data));
    b.in = in;
    b.in_cap = sizeof(in);
    b.stop_after = 1000;
    b.in_cap = 1000; /* the first read takes 1000 bytes, then the owner says stop */
    CHECK_OK(v12_conn_write(a.c, data, sizeof(data)));
    v12_conn_on_events(b.c, UV_READABLE);
    CHECK_EQ(b.in_len, 1000);
    CHECK(!v12_conn_rx_idle(b.c));
    CHECK_EQ(b.idle_batch_ends, 0);
    /* Room for all of it: the rest arrives in one read; the next read finds the socket empty. */
    b.in_cap = sizeof(in);
    b.stop_after = 0;
    b.may_read = true;
    v12_conn_update_reading(b.c);
    CHECK_EQ(b.in_len, 1000);   /* nothing under the owner's call ... */
    v12_conn_on_events(b.c, 0); /* ... the loop's turn (its pending list) */
    CHECK_EQ(b.in_len, sizeof(data));
    CHECK(v12_conn_rx_idle(b.c));
    CHECK_EQ(b.idle_batch_ends, 1);
    /* Told once: another look at an empty socket says nothing more. */
    v12_conn_on_events(b.c, UV_READABLE);
    CHECK_EQ(b.idle_batch_ends, 1);
    /* All of it read at once, and the owner stops right after: the read that finds the socket
     * empty brings no bytes, and must still be told. */
    b.in_len = 0;
    b.stop_after = sizeof(data);
    CHECK_OK(v12_conn_write(a.c, data, sizeof(data)));
    v12_conn_on_events(b.c, UV_READABLE);
    CHECK(b.in_len == sizeof(data) && !b.may_read && !v12_conn_rx_idle(b.c));
    CHECK_EQ(b.idle_batch_ends, 1);
    b.stop_after = 0;
    b.may_read = true;
    v12_conn_update_reading(b.c);
    v12_conn_on_events(b.c, 0);
    CHECK(v12_conn_rx_idle(b.c));
    CHECK_EQ(b.idle_batch_ends, 2);
    v12_conn_close(a.c, 0, "done");
    v12_conn_close(b.c, 0, "done");
}

/* An owner like peer_in: it stores the connection v12_conn_adopt returns, and frees itself in
 * closed(). closed() inside adopt would be a use after free (peer_in wrote p->conn after it). */
struct owner {
    bool returned; /* v12_conn_adopt has returned */
    int closed_early, closed, code;
    struct v12_conn *c;
};
static void own_closed(void *o, struct v12_conn *c, int code, const char *why)
{
    struct owner *w = o;
    if (!w->returned) w->closed_early++;
    w->closed++;
    w->code = code;
    CHECK(strstr(why, "cannot create a TLS session") != NULL);
}
static const struct v12_conn_ops own_ops = {.closed = own_closed};

static void tls_failure_from_the_loop(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    CHECK(ctx != NULL);
    int fd[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd));
    struct owner w = {0};
    openssl_oom = true;
    w.c = v12_conn_adopt(&loop, fd[0], ctx, &own_ops, &w);
    openssl_oom = false;
    w.returned = true;
    CHECK(w.c != NULL);
    CHECK_EQ(w.closed_early, 0); /* not inside the call: the owner could store w.c first */
    CHECK_EQ(w.closed, 0);
    v12_conn_on_events(w.c, 0); /* the loop's turn */
    CHECK_EQ(w.closed, 1);
    CHECK_EQ(w.code, V12_E_TLS);
    close(fd[1]);
    SSL_CTX_free(ctx);
}

static void write_error_from_the_loop(void)
{
    struct side a = {.name = "a"};
    int fd[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd));
    a.may_read = true;
    a.c = v12_conn_adopt(&loop, fd[0], NULL, &ops, &a);
    v12_conn_on_events(a.c, 0);
    v12_conn_set_raw(a.c);
    close(fd[1]); /* the other side is gone */
    int r = v12_conn_write(a.c, "data", 4);
    CHECK_EQ(r, -EPIPE);   /* the writer hears it now ... */
    CHECK_EQ(a.closed, 0); /* ... but closed() does not run under the writer */
    CHECK_EQ(v12_conn_write(a.c, "more", 4), -EPIPE);
    v12_conn_on_events(a.c, 0); /* the loop's turn */
    CHECK(a.closed == 1 && a.close_code == -EPIPE);
    CHECK(strstr(a.close_why, "Broken pipe") != NULL);
}

/*
 * An owner with hold/release, like a stream channel: it closes its connection from inside a
 * frame callback (which calls closed() at once) and frees itself when the last hold goes. The
 * transport's hold keeps it alive until the frame callback has returned: freed == false there.
 */
struct held {
    int holds, frames, closed;
    bool freed, closed_while_held;
    struct v12_conn *c;
};
static void held_hold(void *o)
{
    ((struct held *)o)->holds++;
}
static void held_release(void *o)
{
    struct held *h = o;
    CHECK(h->holds > 0);
    if (--h->holds == 0 && h->closed) h->freed = true; /* where a channel would free itself */
}
static void held_frame(void *o, struct v12_conn *c, const V12Envelope *env)
{
    struct held *h = o;
    CHECK(h->holds == 1); /* held by the transport for this call */
    h->frames++;
    v12_conn_close(c, 0, "the owner ends itself");
    CHECK(!h->freed); /* closed() ran (nested hold), but the frame callback still holds it */
    CHECK(h->closed == 1);
}
static void held_closed(void *o, struct v12_conn *c, int code, const char *why)
{
    struct held *h = o;
    h->closed++;
    h->closed_while_held = h->holds == 2; /* the frame's hold and closed()'s own */
    h->c = NULL;
}
static void held_established(void *o, struct v12_conn *c, X509 *cert)
{
    CHECK(((struct held *)o)->holds == 1);
    v12_conn_set_ready(c);
}
static const struct v12_conn_ops held_ops = {
    .established = held_established,
    .frame = held_frame,
    .closed = held_closed,
    .hold = held_hold,
    .release = held_release,
};

static void owner_held_across_callbacks(void)
{
    int fd[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd));
    struct held h = {0};
    struct side a = {.name = "a", .may_read = true};
    h.c = v12_conn_adopt(&loop, fd[0], NULL, &held_ops, &h);
    a.c = v12_conn_adopt(&loop, fd[1], NULL, &ops, &a);
    v12_conn_on_events(h.c, 0);
    v12_conn_on_events(a.c, 0);
    CHECK_EQ(h.holds, 0);
    send_ping(a.c);
    v12_conn_on_events(h.c, UV_READABLE);
    CHECK_EQ(h.frames, 1);
    CHECK(h.closed == 1 && h.closed_while_held);
    CHECK(h.freed);       /* once the frame callback returned, not before */
    CHECK_EQ(h.holds, 0); /* every hold released */
    v12_conn_close(a.c, 0, "done");
}

/* Until the owner says it is ready (its Hello done), a connection is under the handshake deadline;
 * once ready, under the idle timeout only. */
static uv_loop_t *test_uv;
static void hello_deadline(void)
{
    int fd[2], fd2[2]; /* a and b each with a silent other end, kept open */
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd));
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd2));
    struct side a = {.name = "a", .may_read = true}, b = {.name = "b", .may_read = true};
    static const struct v12_conn_ops no_ready = {.raw_buf = raw_buf, .raw_read = raw_read, .closed = closed};
    unsigned saved = limits.handshake_timeout_ms;
    limits.handshake_timeout_ms = 50;                        /* the deadline is set when a connection is made */
    a.c = v12_conn_adopt(&loop, fd[0], NULL, &no_ready, &a); /* never calls v12_conn_set_ready */
    b.c = v12_conn_adopt(&loop, fd2[0], NULL, &ops, &b);     /* sets ready in established() */
    limits.handshake_timeout_ms = saved;
    v12_conn_on_events(a.c, 0);
    v12_conn_on_events(b.c, 0);
    for (int i = 0; i < 100 && !a.closed; i++) {
        uv_run(test_uv, UV_RUN_NOWAIT);
        usleep(10000);
    }
    CHECK_EQ(a.closed, 1);
    CHECK_EQ(a.close_code, V12_E_TIMEOUT);
    CHECK(strstr(a.close_why, "hello not completed in time") != NULL);
    CHECK_EQ(b.closed, 0); /* ready: the handshake deadline no longer applies */
    v12_conn_close(b.c, 0, "done");
    close(fd[1]);
    close(fd2[1]);
}

/* A TCP connection on loopback: *srv the accepted end, *cli the connecting one. */
static void tcp_pair(int *srv, int *cli)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(l >= 0);
    CHECK_OK(bind(l, (struct sockaddr *)&sa, sizeof(sa)));
    CHECK_OK(listen(l, 1));
    CHECK_OK(getsockname(l, (struct sockaddr *)&sa, &len));
    *cli = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(*cli >= 0);
    CHECK_OK(connect(*cli, (struct sockaddr *)&sa, sizeof(sa)));
    *srv = accept(l, NULL, NULL);
    CHECK(*srv >= 0);
    close(l);
}

/* ... with an RTT measured on the accepted end (a byte it sent, acknowledged): *rtt, in us. */
static void measured_pair(int *srv, int *cli, uint32_t *rtt)
{
    char ch;
    tcp_pair(srv, cli);
    CHECK_EQ(write(*srv, "x", 1), 1);
    CHECK_EQ(read(*cli, &ch, 1), 1);
    CHECK_OK(v12_tcp_min_rtt_us(*srv, rtt));
}

static int rcvbuf_of(int fd)
{
    int v = 0;
    socklen_t len = sizeof(v);
    CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len));
    return v;
}

/* bdp_rate: SO_RCVBUF from the measured minimum RTT, at least rcvbuf; autotuning kept where the
 * host does not let SO_RCVBUF reach it; nothing of it on a unix socket. */
static void rcvbuf_sized_to_the_path(void)
{
    uint64_t max;
    CHECK_OK(v12_rmem_max(&max));
    int srv, cli;
    uint32_t rtt;
    measured_pair(&srv, &cli, &rtt);
    struct side a = {.name = "bdp", .may_read = true};
    a.c = v12_conn_adopt(&loop, srv, NULL, &ops, &a);
    CHECK(a.c != NULL);
    v12_conn_on_events(a.c, 0);
    /* 1 MB/s over a loopback RTT is a few bytes: the floor, which the kernel doubles. */
    struct v12_sockbufs b = {.rcvbuf = 48 * 1024, .bdp_rate = 1000000};
    v12_conn_set_bufs(a.c, &b);
    CHECK_EQ(rcvbuf_of(srv), 2 * 48 * 1024);
    v12_conn_close(a.c, 0, "done");
    close(cli);

    /* A rate whose bandwidth-delay product is what SO_RCVBUF may set at most, give or take: the
     * product itself, never the floor. */
    measured_pair(&srv, &cli, &rtt);
    uint64_t rate = max / 2 / rtt * 1000000u; /* product = max / 2 (give or take the rounding) */
    struct side c2 = {.name = "bdp2", .may_read = true};
    c2.c = v12_conn_adopt(&loop, srv, NULL, &ops, &c2);
    CHECK(c2.c != NULL);
    struct v12_sockbufs b2 = {.rcvbuf = 4096, .bdp_rate = rate};
    v12_conn_set_bufs(c2.c, &b2);
    CHECK_OK(v12_tcp_min_rtt_us(srv, &rtt)); /* what the transport saw (a later sample is only lower) */
    int want = (int)(rate / 1000000u * rtt);
    CHECK(want > 4096);
    CHECK_EQ(rcvbuf_of(srv), 2 * want);
    v12_conn_close(c2.c, 0, "done");
    close(cli);

    /* Beyond rmem_max: left to autotuning, SO_RCVBUF untouched. */
    measured_pair(&srv, &cli, &rtt);
    int before = rcvbuf_of(srv);
    struct side c3 = {.name = "bdp3", .may_read = true};
    c3.c = v12_conn_adopt(&loop, srv, NULL, &ops, &c3);
    CHECK(c3.c != NULL);
    struct v12_sockbufs b3 = {.rcvbuf = 4096, .bdp_rate = (max + 1) * 1000000u / rtt + 1000000u};
    v12_conn_set_bufs(c3.c, &b3);
    CHECK_EQ(rcvbuf_of(srv), before);
    v12_conn_close(c3.c, 0, "done");
    close(cli);

    /* A unix socket has no RTT to size from: rcvbuf as given. */
    int fd[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, fd));
    struct side u = {.name = "unix", .may_read = true};
    u.c = v12_conn_adopt(&loop, fd[0], NULL, &ops, &u);
    CHECK(u.c != NULL);
    struct v12_sockbufs bu = {.rcvbuf = 40 * 1024, .bdp_rate = 1ull << 40};
    v12_conn_set_bufs(u.c, &bu);
    CHECK_EQ(rcvbuf_of(fd[0]), 2 * 40 * 1024);
    v12_conn_close(u.c, 0, "done");
    close(fd[1]);
}

/* The MSS a client's connection uses towards addr (its own segments), after the handshake. */
static int connect_mss(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    CHECK_OK(connect(fd, (const struct sockaddr *)addr, sizeof(*addr)));
    int mss = 0;
    socklen_t len = sizeof(mss);
    CHECK_OK(getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &len));
    close(fd);
    return mss;
}

static void never_accepted(struct v12_listener *l, int fd)
{
    (void)l;
    CHECK(!"the loop does not run while the listener is open");
    close(fd);
}

/* The stream listener's clamp (daemon/stream/stream.c, QEMU_LEG_MSS) reaches whoever connects
 * afterwards: their segments are no larger than it, where loopback's are 64 KiB. */
static void listener_clamps_mss(void)
{
    static struct v12_listener l; /* closed through the loop, after this returns */
    l.on_accept = never_accepted;
    struct v12_errmsg err;
    CHECK_OK(v12_listen_tcp(&l, test_uv, "127.0.0.1", "0", 8, &err));
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    CHECK_OK(getsockname(l.fd, (struct sockaddr *)&a, &len));
    CHECK(connect_mss(&a) > 1460); /* loopback's MTU is 64 KiB */
    v12_listener_clamp_mss(&l, 1460);
    int after = connect_mss(&a);
    CHECK(after > 0 && after <= 1460);
    v12_listener_close(&l);
}

int main(void)
{
    /* Before OpenSSL allocates anything. */
    CHECK(CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free) == 1);
    uv_loop_t uv;
    CHECK_OK(uv_loop_init(&uv));
    CHECK_OK(v12_loop_init(&loop, &uv, 0, &limits));
    test_uv = &uv;
    RUN(frames_and_close);
    RUN(stop_between_frames);
    RUN(bad_frame);
    RUN(raw_through_a_full_socket);
    RUN(drained_input_is_told);
    RUN(write_error_from_the_loop);
    RUN(tls_failure_from_the_loop);
    RUN(owner_held_across_callbacks);
    RUN(hello_deadline);
    RUN(rcvbuf_sized_to_the_path);
    RUN(listener_clamps_mss);
    /* Let every closed connection finish and be freed (close timeouts are 2 s at most). */
    for (int i = 0; i < 400 && loop.nconns; i++) {
        uv_run(&uv, UV_RUN_NOWAIT);
        usleep(10000);
    }
    CHECK_EQ(loop.nconns, 0);
    v12_loop_close(&loop);
    uv_run(&uv, UV_RUN_DEFAULT);
    CHECK_OK(uv_loop_close(&uv));
    printf("test_conn: all passed\n");
    return 0;
}
