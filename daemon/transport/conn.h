/* SPDX-License-Identifier: MIT */
#ifndef V12_CONN_H
#define V12_CONN_H

/*
 * The transport: one socket (TCP or unix), optionally TLS, carrying either length-prefixed
 * protobuf frames or raw bytes, with its write queue, deadlines and backpressure. It knows
 * nothing of relay, streams or peers: its owner gives it a table of callbacks and builds every
 * message itself.
 *
 * OpenSSL works on the socket itself (a socket BIO, TLS 1.3 records of 16 KiB, large reads):
 * plaintext goes from the owner's buffer into SSL_write and comes out of SSL_read straight into
 * the buffer the owner names (raw mode), so a byte is copied only where TLS itself copies it.
 * What the socket cannot take at once is queued (copied) and the owner is told to stop feeding
 * (v12_conn_queued against the limit, then the drained callback).
 *
 * libuv only reports readiness (uv_poll_t); the work happens in v12_conn_on_events(), which a
 * test can call on a socketpair without running any loop.
 *
 * A connection lives on one loop (struct v12_loop) and is used from that loop's thread only. It
 * can be moved to another loop while the owner holds it: v12_conn_detach, then v12_conn_attach
 * on the other loop's thread.
 */
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

#include "frame.h"

struct v12_conn;

struct v12_conn_ops {
    /* TLS is up (plain connections: connected). cert: the peer's verified certificate, NULL for
     * plain connections. The owner checks whom it names and closes the connection if no one. */
    void (*established)(void *owner, struct v12_conn *c, X509 *cert);
    /* Frame mode: one decoded frame, freed when this returns. */
    void (*frame)(void *owner, struct v12_conn *c, const V12Envelope *env);
    /* Frame mode: an undecodable or oversized frame (code, why). The owner may send a last
     * answer; the connection closes when this returns. Optional. */
    void (*frame_error)(void *owner, struct v12_conn *c, int code, const char *why);
    /* Raw mode: where the next plaintext goes (*len 0: nothing now), then how much arrived. */
    void (*raw_buf)(void *owner, struct v12_conn *c, uint8_t **buf, size_t *len);
    void (*raw_read)(void *owner, struct v12_conn *c, size_t n);
    /* May the transport read now? NULL: while its own write queue is below the limit. */
    bool (*may_read)(void *owner, const struct v12_conn *c);
    /* The write queue went below the limit again (the owner may read its other side). Optional. */
    void (*drained)(void *owner, struct v12_conn *c);
    /* Something is in progress for this connection: the idle timeout does not apply. Optional. */
    bool (*busy)(void *owner, const struct v12_conn *c);
    /* Every third of the idle timeout once ready (keepalive pings). Optional. */
    void (*tick)(void *owner, struct v12_conn *c);
    /* The time set with v12_conn_set_alarm() has come (checked every 100 ms). Optional. */
    void (*alarm)(void *owner, struct v12_conn *c);
    /*
     * The connection is gone for the owner: called exactly once, from v12_conn_close or on an
     * error, EOF or timeout. code 0: the other side ended cleanly (EOF; close_notify for TLS).
     * After this the owner must not use c; queued bytes are still written out.
     */
    void (*closed)(void *owner, struct v12_conn *c, int code, const char *why);
    /* Optional, together: the transport holds the owner across every callback above but the two
     * questions (may_read, busy): hold before it, release after it returns, with the owner and
     * table the callback was made with. An owner that ends itself inside a callback is freed in
     * release, after the callback has returned, so a callback never needs a wrapper to stay alive. */
    void (*hold)(void *owner);
    void (*release)(void *owner);
};

/*
 * Call the owner's callback cb (if the table has it) with the owner held across it. The table and
 * owner are read once, before the call: a callback that hands the connection to another owner
 * (v12_conn_set_owner) is still released as the owner it was called as. For the transport and
 * for test doubles of it.
 */
#define V12_CONN_CALL(ops, owner, cb, ...)            \
    do {                                              \
        const struct v12_conn_ops *ops_ = (ops);      \
        void *owner_ = (owner);                       \
        if (ops_ && ops_->cb) {                       \
            if (ops_->hold) ops_->hold(owner_);       \
            ops_->cb(owner_, __VA_ARGS__);            \
            if (ops_->release) ops_->release(owner_); \
        }                                             \
    } while (0)

/* What every connection of a daemon shares; set before the first connection, then read-only. */
struct v12_conn_limits {
    uint32_t max_frame;
    size_t conn_buffer_limit;
    size_t global_buffer_limit;
    unsigned handshake_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned close_timeout_ms;  /* flushing and lingering after close */
    atomic_size_t global_bytes; /* queued writes and partial frames of every connection */
};

/* A loop that connections live on: the daemon's main loop, or a worker's. */
struct v12_loop {
    uv_loop_t *uv;
    unsigned index; /* 0: the main loop; 1..: workers */
    void *data;     /* the daemon */
    struct v12_conn_limits *limits;
    struct v12_conn *conns; /* attached here */
    unsigned nconns;
    uv_timer_t tick;        /* deadlines, idle checks, owners' ticks */
    uv_idle_t pending;      /* connections with plaintext buffered inside OpenSSL */
    struct v12_conn *ready; /* ... listed here */
    struct v12_conn *dead;  /* freed from the idle callback */
    uint8_t scratch[65536]; /* frame-mode reads: consumed before the read returns */
};

int v12_loop_init(struct v12_loop *l, uv_loop_t *uv, unsigned index, struct v12_conn_limits *limits);
/* Close every connection on the loop (shutdown). */
void v12_loop_close_all(struct v12_loop *l, const char *why);
/* Close the loop's own handles (after every connection is gone). */
void v12_loop_close(struct v12_loop *l);

/* Monotonic milliseconds (any thread). */
uint64_t v12_clock_ms(void);

/* An accepted socket (non-blocking is set here). ctx: a TLS server context, or NULL for plain. */
struct v12_conn *v12_conn_adopt(struct v12_loop *l, int fd, SSL_CTX *ctx, const struct v12_conn_ops *ops, void *owner);
/* Resolve and connect, then TLS as a client (ctx, sni) or plain (ctx NULL). Failures arrive
 * through closed(). */
struct v12_conn *v12_conn_connect_tcp(struct v12_loop *l, const char *host, const char *port, SSL_CTX *ctx,
                                      const char *sni, const struct v12_conn_ops *ops, void *owner);
struct v12_conn *v12_conn_connect_unix(struct v12_loop *l, const char *path, const struct v12_conn_ops *ops,
                                       void *owner);

void v12_conn_set_name(struct v12_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *v12_conn_name(const struct v12_conn *c);
/* The owner's next callbacks go to ops/owner (a connection handed from one handler to another). */
void v12_conn_set_owner(struct v12_conn *c, const struct v12_conn_ops *ops, void *owner);
/* From frames to raw bytes, both ways, for the rest of the connection. */
void v12_conn_set_raw(struct v12_conn *c);
/* The handshake phase (TLS, Hello) is over: from its deadline to idle checks and ticks. */
void v12_conn_set_ready(struct v12_conn *c);
/* Something was received on a connection this one serves (a relayed channel's other side). */
void v12_conn_touch(struct v12_conn *c);

/* One frame. 0, or an error (FRAME_TOO_LARGE; PEER_DOWN when closing; the connection closes on
 * a write error and the owner hears of it through closed()). */
int v12_conn_send(struct v12_conn *c, const V12Envelope *env) V12_MUST_USE;
/* Bytes (raw mode, or anything the owner frames itself), all of them: what the socket does not
 * take now is copied to the queue. */
int v12_conn_writev(struct v12_conn *c, const struct iovec *iov, int n) V12_MUST_USE;
/* An iovec over bytes that are only read (iov_base is void * in POSIX). */
static inline struct iovec v12_iov(const void *p, size_t len)
{
    union {
        const void *in;
        void *out;
    } u = {.in = p};
    return (struct iovec){u.out, len};
}
int v12_conn_write(struct v12_conn *c, const void *data, size_t len) V12_MUST_USE;
/*
 * Socket buffers: 0 leaves the kernel's default (and its autotuning). sndbuf/rcvbuf set
 * SO_SNDBUF/SO_RCVBUF (which end autotuning; the kernel doubles the value for its own
 * bookkeeping); notsent_lowat caps the bytes a TCP socket holds unsent (TCP_NOTSENT_LOWAT)
 * without capping those in flight. Applied now, or when a connecting socket is made.
 *
 * bdp_rate (bytes/s; TCP) sizes the receive buffer to the path instead of leaving it to
 * autotuning, which on a fast short path grows it far past what the path keeps in flight (on
 * loopback, by 16 of its 64 KiB segments and more): SO_RCVBUF becomes the larger of rcvbuf and
 * bdp_rate × the connection's minimum RTT, which after the kernel's doubling holds the
 * bandwidth-delay product at that rate twice over. Where that is more than SO_RCVBUF may set
 * (net.core.rmem_max) or no RTT has been measured yet, autotuning stays on. Measured when applied:
 * give it to a connection that has exchanged data (a TLS handshake suffices).
 */
struct v12_sockbufs {
    int sndbuf, rcvbuf, notsent_lowat;
    uint64_t bdp_rate;
};
void v12_conn_set_bufs(struct v12_conn *c, const struct v12_sockbufs *b);

/* Call ops->alarm once at (or up to 100 ms after) at_ms on v12_clock_ms()'s clock; 0 cancels. */
void v12_conn_set_alarm(struct v12_conn *c, uint64_t at_ms);
/* The last read found the connection drained: nothing more has arrived for now. In raw mode the
 * owner hears raw_read(c, 0) once each time this becomes true after bytes arrived (and at the end
 * of every batch of bytes). */
bool v12_conn_rx_idle(const struct v12_conn *c);
/* Bytes queued, not yet taken by the socket. */
size_t v12_conn_queued(const struct v12_conn *c);
/* Look at may_read again (the owner's state changed). */
void v12_conn_update_reading(struct v12_conn *c);
/* End it: closed() is called now; queued bytes and TLS close_notify are still sent (bounded). */
void v12_conn_close(struct v12_conn *c, int code, const char *why);

/* Move between loops: detach on the old loop's thread (the connection is idle until attached),
 * attach on the new loop's thread. */
void v12_conn_detach(struct v12_conn *c, void (*done)(struct v12_conn *c, void *arg), void *arg);
int v12_conn_attach(struct v12_conn *c, struct v12_loop *l);

/* The event entry point: what uv_poll reported (UV_READABLE | UV_WRITABLE), or 0 to look at
 * buffered TLS plaintext. Exposed for tests that drive a connection without a loop. */
void v12_conn_on_events(struct v12_conn *c, int events);

#endif
