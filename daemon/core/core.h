/* SPDX-License-Identifier: MIT */
#ifndef V12_CORE_H
#define V12_CORE_H

/*
 * What every room of the daemon needs: the configuration and limits, the main loop and the
 * worker pool, the TLS contexts, the counters, the Hello and the messages more than one room
 * sends, and the wiring main.c sets up between the rooms.
 *
 *   base/       configuration, logging
 *   transport/  conn (socket, TLS, frames or raw bytes), tls, listener, worker loops
 *   core/       this header: the shared context; hello.c, msg.c, core.c
 *   relay/      control clients, inbound peers, outbound links, the spool and its writers
 *   stream/     stream mode: migration channels between a QEMU and the peer
 *   main.c      wiring, signals, systemd, shutdown; metrics.c
 *
 * Dependencies run one way: main -> relay, stream -> core -> transport -> base, proto, convert.
 * The build enforces it: each room is a library whose public header is the only one the rooms
 * above it can include. relay/ and stream/ do not see each other; where one needs the other
 * (a peer's connection that becomes a stream channel, the channels in a status reply) it calls
 * through struct v12_wiring, which main.c fills.
 *
 * Threads: the main loop runs everything but the data path of migration channels, which live
 * on the worker loops ([daemon] workers). What both touch is atomics, or guarded by a mutex.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "tls.h"
#include "worker.h"

struct v12_daemon;
struct v12_relay;   /* relay/: links, inbound peers, control clients, the spool writers */
struct v12_streams; /* stream/: stream listeners and channels */

#define V12_MAX_REJECT_KINDS 64

/* The switchover histogram's upper bounds, in ms (and +Inf after them). */
#define V12_SWITCHOVER_BOUNDS                                \
    {                                                        \
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000 \
    }
#define V12_SWITCHOVER_BUCKETS 12

/* Counters every thread may bump. */
struct v12_stats {
    atomic_uint_fast64_t blobs_relayed, blobs_converted, blobs_stored, blobs_duplicate, bytes_in, bytes_out;
    /* stream mode */
    atomic_uint_fast64_t migrations_started, migrations_finished, migrations_failed;
    atomic_uint_fast64_t channels_started, channels_finished, channels_failed;
    atomic_uint_fast64_t stream_bytes_forward, stream_bytes_back, regions_converted;
    /* destination: switchover times (first device-state byte to its last byte in QEMU's socket) */
    atomic_uint_fast64_t switchover_le[V12_SWITCHOVER_BUCKETS + 1], switchover_count, switchover_sum_us;
    /* TLS handshakes refused, by why (enum v12_tls_failure) */
    atomic_uint_fast64_t tls_failures[4];
    uv_mutex_t mu; /* the reject table */
    struct {
        int code;
        uint64_t count;
    } rejected[V12_MAX_REJECT_KINDS];
};
void v12_count_reject(struct v12_stats *s, int code);
/* One migration's switchover, in microseconds, into the histogram. */
void v12_count_switchover(struct v12_stats *s, uint64_t us);
enum v12_tls_failure {
    V12_TLS_FAIL_CERTIFICATE,
    V12_TLS_FAIL_UNKNOWN_PEER,
    V12_TLS_FAIL_TIMEOUT,
    V12_TLS_FAIL_PROTOCOL
};
/* A TLS connection ended before it was usable: counted by why (code and reason as closed() says). */
void v12_count_tls_failure(struct v12_stats *s, int code, const char *why);

/* ---- hello.c ------------------------------------------------------------------------------------------- */

/* The one Hello this daemon sends (every room's): 0 or the error of v12_conn_send. */
int v12_send_hello(struct v12_conn *c, const struct v12_config *cfg) V12_MUST_USE;
/* A peer's Hello: our protocol version, the node its certificate names (peer), a layout we know. */
int v12_hello_check(const Vmcs12d__V1__Hello *h, const char *peer, enum v12_layout *ret,
                    struct v12_errmsg *err) V12_MUST_USE;

/* ---- msg.c: what more than one handler sends ---------------------------------------------------------- */

struct v12_ack_args {
    const char *mig, *vm;
    uint32_t vcpu;
    uint64_t seq;
    int code;
    const char *message; /* NULL: the code's text, or "stored" */
    bool duplicate;
    Vmcs12d__V1__ConversionSummary *conversion;
    const char *stored_as;
};
int v12_send_ack(struct v12_conn *c, const struct v12_ack_args *a);
void v12_reply_ping(struct v12_conn *c, const Vmcs12d__V1__Ping *ping);
/* A blob's migration id and vm name: 0, or INVALID_ARGUMENT with msg naming which and why. */
int v12_check_names(const char *mig, const char *vm, struct v12_errmsg *msg) V12_MUST_USE;

/* ---- the daemon ------------------------------------------------------------------------------------------ */

/* What one room asks of another, set by main.c (tests set what they drive). */
struct v12_wiring {
    /* Peers came or went: main.c tells systemd (STATUS=). */
    void (*status_changed)(struct v12_daemon *d);
    /* relay -> stream: a peer asked for a stream on its inbound connection; the connection is
     * the stream room's from this call on (NULL: refused and closed). */
    void (*stream_incoming)(struct v12_daemon *d, struct v12_conn *c, int peer, enum v12_layout remote_layout,
                            const Vmcs12d__V1__StreamOpen *so);
    /* relay -> stream: the channels for a status reply, at most max (NULL: none). */
    void (*stream_status)(struct v12_daemon *d, Vmcs12d__V1__StreamStatus *out, Vmcs12d__V1__StreamStatus **ptrs,
                          size_t max, size_t *ret_n);
};

struct v12_daemon {
    struct v12_config cfg;
    struct v12_conn_limits limits;
    uv_loop_t *uv;
    struct v12_loop main;
    uv_mutex_t ctx_mu;
    SSL_CTX *tls_ctx;        /* accepting; replaced on SIGHUP; take it with v12_tls_ctx_get */
    SSL_CTX *tls_client_ctx; /* connecting (client_cert when set) */
    struct v12_stats stats;
    atomic_bool stopping;
    uint64_t start_ms;
    /* worker loops for the data path of migration channels (stream/) */
    struct v12_workers workers;
    struct v12_relay *relay;     /* the relay room's (relay/relay_internal.h) */
    struct v12_streams *streams; /* the stream room's (stream/stream_internal.h) */
    struct v12_wiring wire;
};

/* The shared context's own parts, before any room starts (mutexes): 0 or a negative libuv error. */
int v12_daemon_init(struct v12_daemon *d) V12_MUST_USE;

/* A new reference to the current TLS context for accepting or connecting (SSL_CTX_free when done). */
SSL_CTX *v12_tls_ctx_get(struct v12_daemon *d, bool client);
/* May a frame connection be read: its queue and in-flight work under their limits, and the
 * daemon's buffers under theirs (control clients and inbound peers alike). */
bool v12_frames_may_read(const struct v12_daemon *d, const struct v12_conn *c, unsigned inflight);
/* Peers came or went. */
static inline void v12_status_changed(struct v12_daemon *d)
{
    if (d->wire.status_changed) d->wire.status_changed(d);
}

#endif
