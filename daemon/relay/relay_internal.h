/* SPDX-License-Identifier: MIT */
#ifndef V12_RELAY_INTERNAL_H
#define V12_RELAY_INTERNAL_H

/*
 * Inside the relay room (not for other rooms: main.c and the stream room see relay.h only):
 *
 *   control.c   a client on the control socket (send, recv, status, ping)
 *   peer_in.c   an inbound peer connection (Hello; Blob -> spool -> Ack; StreamOpen -> the
 *               stream room, through d->wire)
 *   link.c      the outbound link to a peer (connect, backoff, Hello, blobs waiting for acks)
 *   writer.c    the spool writers (threads; completions on the main loop); spool.c the files
 *   relay.c     the room's state and what main.c calls
 *
 * Within the room the files call each other directly: control.c hands a transfer to a link,
 * peer_in.c wakes control.c's recv waiters when a blob is stored.
 */
#include "core.h"
#include "relay.h"
#include "spool.h"

struct v12_link;

/* ---- a transfer: a blob from a local client on its way to a peer --------------------------- */

struct v12_transfer {
    struct v12_link *link;
    char migration_id[V12_NAME_MAX], vm[V12_NAME_MAX];
    uint32_t vcpu;
    uint64_t seq;
    uint64_t deadline_ms;
    uint8_t *raw; /* the client's blob, until it is converted and sent */
    size_t len;
    bool sent; /* on the wire: only an Ack (or its absence) ends it now */
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
    uint64_t retry_ms; /* BACKOFF: when to connect again */
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
    unsigned inbound; /* inbound frame connections from this peer, from the certificate on
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

/* ---- the room ------------------------------------------------------------------------------------------ */

struct v12_relay {
    struct v12_link links[V12_MAX_PEERS];
    /* Inbound peer connections whose certificate has not named a peer yet (main loop only):
     * anyone who reaches the port can hold these, so they get a quarter of max_connections
     * (at least 16), and the control socket and authenticated peers keep the rest. */
    unsigned handshakes;
    struct v12_writer writer;
    struct v12_waiter *waiters; /* control.c: recv requests waiting */
};

/* A blob was stored: recv requests waiting for it are answered (control.c). */
void v12_control_stored(struct v12_daemon *d, const char *mig, const char *vm, uint32_t vcpu);
void v12_control_tick(struct v12_daemon *d, uint64_t now);

#endif
