/* SPDX-License-Identifier: MIT */
#ifndef V12_DAEMON_H
#define V12_DAEMON_H

/*
 * vmcs12d's shared state and the handlers' entry points.
 *
 *   main.c      wires configuration, loops, listeners and handlers; signals; shutdown
 *   control.c   a client on the control socket (send, recv, status)
 *   peer_in.c   an inbound peer connection (Hello; Blob -> spool -> Ack; StreamOpen -> stream.c)
 *   link.c      the outbound link to a peer (connect, backoff, Hello, blobs waiting for acks)
 *   stream.c    stream mode: one QEMU migration channel relayed between QEMU and the peer
 *   conn.c      the transport under all of them; tls.c, frame.c, spool.c, writer.c below
 *
 * Dependencies run one way: main -> handlers -> conn -> tls/frame. A handler reaches another
 * only through a function pointer main.c sets (the waiters a store wakes, the completion of a
 * transfer), never back up into main.
 *
 * Threads: the main loop runs everything but the data path of migration channels, which live
 * on the worker loops ([daemon] workers). What both touch is in struct v12_shared: atomics, or
 * guarded by its mutex.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "spool.h"
#include "tls.h"
#include "v12/qemu_stream.h"

struct v12_daemon;
struct v12_link;
struct v12_channel;

#define V12_MAX_REJECT_KINDS 64

/* The switchover histogram's upper bounds, in ms (and +Inf after them). */
#define V12_SWITCHOVER_BOUNDS {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}
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
enum v12_tls_failure { V12_TLS_FAIL_CERTIFICATE, V12_TLS_FAIL_UNKNOWN_PEER, V12_TLS_FAIL_TIMEOUT, V12_TLS_FAIL_PROTOCOL };
/* A TLS connection ended before it was usable: counted by why (code and reason as closed() says). */
void v12_count_tls_failure(struct v12_stats *s, int code, const char *why);

/* A listening socket (TCP or unix) on the main loop; accepted sockets go to on_accept. */
struct v12_listener {
    uv_poll_t poll;
    int fd;
    bool open;
    char path[108]; /* unix: removed at close */
    void (*on_accept)(struct v12_listener *l, int fd);
    void *arg;
};
int v12_listen_tcp(struct v12_listener *l, uv_loop_t *uv, const char *host, const char *port, int backlog, char *err,
                   size_t errlen);
int v12_listen_unix(struct v12_listener *l, uv_loop_t *uv, const char *path, unsigned mode, int backlog, char *err,
                    size_t errlen);
/* A listening socket handed over (systemd socket activation). */
int v12_listen_adopt(struct v12_listener *l, uv_loop_t *uv, int fd, char *err, size_t errlen);
void v12_listener_close(struct v12_listener *l);

/* ---- a transfer: a blob from a local client on its way to a peer --------------------------- */

struct v12_transfer {
    struct v12_link *link;
    char migration_id[V12_NAME_MAX], vm[V12_NAME_MAX];
    uint32_t vcpu;
    uint64_t seq;
    uint64_t deadline_ms;
    uint8_t *raw;  /* the client's blob, until it is converted and sent */
    size_t len;
    bool sent;     /* on the wire: only an Ack (or its absence) ends it now */
    Vmcs12d__V1__ConversionSummary summary;
    char sum_from[16], sum_to[16];
    /* How it ended: called once, then the transfer is freed. ack is the destination's, or NULL. */
    void (*done)(void *arg, struct v12_transfer *t, int code, const char *message, const Vmcs12d__V1__Ack *ack);
    void *arg;
    struct v12_transfer *next;
};

/* ---- link.c: the outbound link to one peer ------------------------------------------------------ */

enum v12_link_state { V12_LINK_IDLE, V12_LINK_CONNECTING, V12_LINK_HANDSHAKE, V12_LINK_READY, V12_LINK_BACKOFF };

struct v12_link {
    struct v12_daemon *d;
    const struct v12_peer_config *cfg;
    int idx;
    enum v12_link_state state;
    struct v12_conn *conn;
    uint64_t retry_ms;     /* BACKOFF: when to connect again */
    unsigned backoff_ms;
    bool has_layout;
    enum v12_layout layout; /* as the peer announced */
    char last_error[320];
    uint64_t blobs_sent, bytes_sent;
    /* Down: since when (monotonic ms and Unix seconds; 0 while up), and whether the warning for
     * peer_down_warn_s has been logged. A peer counts as down from the daemon's start until its
     * first Hello. */
    uint64_t down_since_ms;
    int64_t down_since_unix;
    bool down_warned;
    unsigned inbound;       /* inbound frame connections from this peer, from the certificate on
                             * until closed or become a stream channel (peer_in.c counts) */
    struct v12_transfer *transfers;
};

const char *v12_link_state_name(enum v12_link_state s);
void v12_link_start(struct v12_link *k);
void v12_link_stop(struct v12_link *k);
/* Deadlines: reconnects after backoff, transfers past their time. */
void v12_link_tick(struct v12_link *k, uint64_t now);
/* Hand a blob to the link: converted for the peer's layout and sent now, or when the link is up
 * (a link waiting out its backoff connects at once), within t->deadline_ms. Takes t. */
void v12_link_submit(struct v12_link *k, struct v12_transfer *t);
/* The client that waits for t is gone: t still completes, unheard. */
void v12_transfer_forget(struct v12_transfer *t);
void v12_transfer_free(struct v12_transfer *t);

/* ---- writer.c: the spool writers ----------------------------------------------------------------- */

/* A blob on its way into the spool: stored on a writer thread, completed on the main loop. */
struct v12_store {
    struct v12_spool_item item;
    char mig[V12_NAME_MAX], vm[V12_NAME_MAX];
    uint8_t *data;
    void (*done)(struct v12_store *s); /* on the main loop */
    void *arg;
    struct v12_store *next;
};

#define V12_MAX_SPOOL_THREADS 64
struct v12_writer {
    uv_thread_t threads[V12_MAX_SPOOL_THREADS];
    unsigned nthreads;
    const char *dir;
    uv_mutex_t mu;
    uv_cond_t cv;
    uv_async_t async;
    struct v12_store *pending, **pending_tail;
    struct v12_store *done, **done_tail;
    unsigned inflight;
    bool stop;
    bool running;
};
int v12_writer_start(struct v12_writer *w, uv_loop_t *uv, const char *dir, unsigned threads);
void v12_writer_submit(struct v12_writer *w, struct v12_store *s);
void v12_writer_stop(struct v12_writer *w); /* on the main loop: joins, completes what finished */

/* ---- stream.c ------------------------------------------------------------------------------------ */

/* One listening port (or unix socket) of a peer's stream_listen; its connections are one
 * migration at a time, delivered to its own target. */
struct v12_stream_listener {
    struct v12_listener l;
    struct v12_daemon *d;
    int peer;
    struct v12_endpoint listen, target;
    unsigned channels;
    struct v12_channel *order; /* channels in the order QEMU opened them, until each is acknowledged */
    atomic_uint active;        /* channels not ended (they end on any loop) */
    char migration_id[V12_NAME_MAX]; /* of the channels now active (main loop only) */
};

/* The shared side of stream mode: channels in flight and per-migration totals. */
struct v12_streams {
    uv_mutex_t mu;
    struct v12_channel *channels; /* every channel, for status */
    unsigned nchannels;
    struct v12_migration {
        char id[V12_NAME_MAX];
        bool source;
        unsigned active, channels;
        bool failed;
        uint64_t bytes, bytes_back, pages, start_ms;
        uint32_t regions;
        char peer[V12_NAME_MAX];
    } migrations[64];
};

int v12_stream_listen(struct v12_daemon *d);
void v12_stream_stop_listening(struct v12_daemon *d);
/* A peer asked for a stream on its inbound connection: the connection becomes the channel's. */
void v12_stream_incoming(struct v12_daemon *d, struct v12_conn *c, int peer, enum v12_layout remote_layout,
                         const Vmcs12d__V1__StreamOpen *so);
/* For status: at most max channels. */
void v12_stream_status(struct v12_daemon *d, Vmcs12d__V1__StreamStatus *out, Vmcs12d__V1__StreamStatus **ptrs, size_t max,
                       size_t *ret_n);
unsigned v12_stream_migrations_in_flight(struct v12_daemon *d);
/* Shutdown: end every channel now. */
void v12_stream_stop_all(struct v12_daemon *d);

/* ---- hello.c ------------------------------------------------------------------------------------------- */

void v12_hello_fill(const struct v12_config *cfg, Vmcs12d__V1__Hello *h);
/* A peer's Hello: our protocol version, the node its certificate names (peer), a layout we know. */
int v12_hello_check(const Vmcs12d__V1__Hello *h, const char *peer, enum v12_layout *ret, char *err,
                    size_t errlen) V12_MUST_USE;

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
int v12_check_names(const char *mig, const char *vm, char *msg, size_t len) V12_MUST_USE;

/* ---- peer_in.c, control.c ------------------------------------------------------------------------------ */

void v12_peer_accept(struct v12_daemon *d, int fd);
/* metrics.c: a scraper on [daemon] metrics_listen. */
void v12_metrics_accept(struct v12_daemon *d, int fd);
void v12_control_accept(struct v12_daemon *d, int fd);
/* A blob was stored: recv requests waiting for it are answered (control.c). */
void v12_control_stored(struct v12_daemon *d, const char *mig, const char *vm, uint32_t vcpu);
void v12_control_tick(struct v12_daemon *d, uint64_t now);

/* ---- the daemon ------------------------------------------------------------------------------------------ */

struct v12_daemon {
    struct v12_config cfg;
    struct v12_conn_limits limits;
    uv_loop_t *uv;
    struct v12_loop main;
    uv_mutex_t ctx_mu;
    SSL_CTX *tls_ctx;        /* accepting; replaced on SIGHUP; take it with v12_tls_ctx_get */
    SSL_CTX *tls_client_ctx; /* connecting (client_cert when set) */
    struct v12_listener peer_listener, control_listener, metrics_listener;
    struct v12_link links[V12_MAX_PEERS];
    /* Inbound peer connections whose certificate has not named a peer yet (main loop only):
     * anyone who reaches the port can hold these, so they get a quarter of max_connections
     * (at least 16), and the control socket and authenticated peers keep the rest. */
    unsigned handshakes;
    struct v12_stream_listener *stream_listeners; /* every port of every peer's stream_listen */
    unsigned nstream_listeners;
    struct v12_streams streams;
    struct v12_stats stats;
    struct v12_writer writer;
    struct v12_waiter *waiters;  /* control.c: recv requests waiting */
    atomic_bool stopping;
    uint64_t start_ms;
    /* worker loops for the data path of migration channels (stream.c) */
    unsigned nworkers;
    struct v12_worker *workers;
    atomic_uint next_worker;
    void (*status_changed)(struct v12_daemon *d); /* set by main.c */
};

/* A new reference to the current TLS context for accepting or connecting (SSL_CTX_free when done). */
SSL_CTX *v12_tls_ctx_get(struct v12_daemon *d, bool client);
/* May a frame connection be read: its queue and in-flight work under their limits, and the
 * daemon's buffers under theirs (control clients and inbound peers alike). */
bool v12_frames_may_read(const struct v12_daemon *d, const struct v12_conn *c, unsigned inflight);
/* Peers came or went: main.c tells systemd (STATUS=). */
static inline void v12_status_changed(struct v12_daemon *d)
{
    if (d->status_changed) d->status_changed(d);
}
bool v12_relay_busy(const struct v12_daemon *d);

#endif
