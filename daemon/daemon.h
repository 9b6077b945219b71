/* SPDX-License-Identifier: MIT */
#ifndef V12_DAEMON_H
#define V12_DAEMON_H

/*
 * vmcs12d's state. One libuv loop, one thread (plus libuv's pool for spool writes). Each
 * connection embeds its handles and TLS state; libuv callbacks only translate nread/status
 * into calls on the connection core (conn.c), which tests can drive without a loop.
 */
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "frame.h"
#include "spool.h"
#include "tls.h"
#include "v12/qemu_stream.h"

struct v12_daemon;
struct v12_peer;

enum v12_conn_kind { V12_CONN_CONTROL, V12_CONN_PEER_IN, V12_CONN_PEER_OUT, V12_CONN_STREAM_LOCAL };
struct v12_pipe;

struct v12_conn {
    struct v12_daemon *d;
    enum v12_conn_kind kind;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t timer; /* handshake deadline, then idle checks and pings */
    uv_shutdown_t shutdown_req;
    int open_handles;
    bool use_tls;
    struct v12_tls tls;
    struct v12_frame_reader rd;
    struct v12_peer *peer; /* PEER_OUT: whose link; PEER_IN: who the certificate names */
    bool identified;       /* the certificate named a configured peer */
    bool ready;            /* TLS established, peer identified, Hello exchanged (control: at once) */
    bool closing;
    bool reading;
    bool eof;
    size_t write_bytes;    /* handed to uv_write, not completed */
    unsigned inflight;     /* spool writes, relays or recv waits started for this connection */
    unsigned works;        /* spool writes on the pool that still point here */
    uint64_t last_rx_ms;
    uint64_t id;
    struct v12_pipe *pipe; /* stream mode: the migration channel this connection carries */
    bool raw;              /* stream mode: bytes, no more frames */
    bool unix_socket;      /* STREAM_LOCAL: a unix socket rather than TCP */
    bool remote_layout_set;
    enum v12_layout remote_layout; /* PEER_IN: the layout the peer announced */
    char name[128];        /* for logs: "control#3", "peer hostb in#5" */
    struct v12_conn *next, *prev;
};

enum v12_peer_state { V12_PEER_IDLE, V12_PEER_RESOLVING, V12_PEER_CONNECTING, V12_PEER_HANDSHAKE, V12_PEER_READY, V12_PEER_BACKOFF };

struct v12_peer {
    struct v12_daemon *d;
    const struct v12_peer_config *cfg;
    int idx;
    enum v12_peer_state state;
    struct v12_conn *conn; /* outbound link while connecting or connected */
    uv_timer_t timer;      /* backoff, then keepalive pings */
    uv_getaddrinfo_t gai;
    uv_connect_t connect_req;
    unsigned backoff_ms;
    bool has_layout;
    enum v12_layout layout; /* as the peer announced */
    char last_error[320];
    uint64_t blobs_sent, bytes_sent;
    unsigned inbound;
};

/* A blob relayed for a local client, waiting for the destination's end-to-end ack. */
struct v12_transfer {
    struct v12_daemon *d;
    struct v12_conn *client; /* NULL once the client has gone */
    struct v12_peer *peer;
    char migration_id[V12_NAME_MAX], vm[V12_NAME_MAX];
    uint32_t vcpu;
    uint64_t seq;
    uint64_t deadline_ms;
    uint8_t *raw;  /* the client's blob, until it is converted and sent */
    size_t len;
    bool sent;     /* on the wire: only an Ack (or its absence) ends it now */
    Vmcs12d__V1__ConversionSummary summary;
    char sum_from[16], sum_to[16];
    struct v12_transfer *next;
};

/* A recv request waiting for its blob to arrive. */
struct v12_waiter {
    struct v12_conn *client;
    char migration_id[V12_NAME_MAX], vm[V12_NAME_MAX];
    uint32_t vcpu;
    uint64_t deadline_ms;
    struct v12_waiter *next;
};

/* A blob on its way into the spool: queued to the writer thread, completed on the loop. */
struct v12_store {
    struct v12_spool_item item;
    struct v12_conn *c;
    char mig[V12_NAME_MAX], vm[V12_NAME_MAX];
    uint8_t *data;
    struct v12_store *next;
};

/* The spool writers: a queue drained by spool_threads threads. */
#define V12_MAX_SPOOL_THREADS 64
struct v12_writer {
    uv_thread_t threads[V12_MAX_SPOOL_THREADS];
    unsigned nthreads;
    uv_mutex_t mu;
    uv_cond_t cv;
    uv_async_t async;
    struct v12_store *pending, **pending_tail;
    struct v12_store *done, **done_tail;
    bool stop;
    bool running;
};

/* Stream mode: one QEMU migration channel relayed between a local QEMU and the other daemon. */
struct v12_pipe {
    struct v12_daemon *d;
    struct v12_conn *local;  /* the QEMU side (plain TCP or unix) */
    struct v12_conn *remote; /* the mutual-TLS link to the other daemon */
    struct v12_peer *peer;
    bool source;             /* this daemon is on the source host */
    bool flowing;            /* both ends connected: bytes may move */
    bool parse;              /* destination: check and convert with the stream parser */
    int kind;                /* 0 undecided, 1 main, 2 multifd, 3 passthrough */
    bool failed, ended;
    bool remote_eof, remote_clean; /* destination: the peer's side has ended (cleanly) */
    unsigned holds;          /* callbacks in progress or requests pending that point here */
    struct v12_stream_listener *listener; /* source: the listener QEMU connected to */
    bool hello_done, open_sent, acked;    /* source: channels open at the destination in QEMU's order */
    struct v12_pipe *next_in_order;
    struct v12_endpoint target;
    char migration_id[V12_NAME_MAX];
    uint32_t channel;
    uint64_t bytes, bytes_back, start_ms;
    struct v12_qs *qs;
    uint8_t *win;            /* destination: bytes from the peer not yet forwarded to QEMU */
    size_t wlen;
    uv_getaddrinfo_t gai;
    uv_connect_t connect_req;
    struct v12_pipe *next;
};

struct v12_stream_listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    struct v12_daemon *d;
    struct v12_peer *peer;
    unsigned channels;
    bool open;
    struct v12_pipe *order; /* channels in the order QEMU opened them, until each is acknowledged */
};

#define V12_MAX_REJECT_KINDS 64

struct v12_daemon {
    uv_loop_t *loop;
    struct v12_config cfg;
    SSL_CTX *tls_ctx;
    uv_tcp_t listener;
    uv_pipe_t control;
    bool listener_open, control_open;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t tick;         /* transfer/waiter deadlines, shutdown progress, watchdog */
    uint64_t watchdog_usec;
    uint64_t last_watchdog_ms;
    struct v12_conn *conns;
    unsigned nconns;
    uint64_t next_conn_id;
    struct v12_peer peers[V12_MAX_PEERS];
    struct v12_transfer *transfers;
    struct v12_waiter *waiters;
    size_t global_bytes;     /* buffered: pending writes, partial frames, blobs being stored */
    bool stopping;
    uint64_t stop_deadline_ms;
    uint64_t start_ms;
    unsigned spool_inflight;
    struct v12_writer writer;
    struct v12_stream_listener stream_listeners[V12_MAX_PEERS];
    struct v12_pipe *pipes;
    /* counters */
    uint64_t blobs_relayed, blobs_converted, blobs_stored, blobs_duplicate, bytes_in, bytes_out;
    struct {
        int code;
        uint64_t count;
    } rejected[V12_MAX_REJECT_KINDS];
};

/* conn.c */
struct v12_conn *v12_conn_new(struct v12_daemon *d, enum v12_conn_kind kind);
void v12_conn_start(struct v12_conn *c); /* after accept/connect: reading, timers, TLS */
int v12_conn_send(struct v12_conn *c, const V12Envelope *env);
void v12_conn_close(struct v12_conn *c, const char *why);
void v12_conn_ready(struct v12_conn *c);
void v12_conn_work_done(struct v12_conn *c);
void v12_conn_update_reading(struct v12_conn *c);
void v12_conns_update_reading(struct v12_daemon *d);
/* The loop-free core: bytes as read from the socket. */
void v12_conn_on_bytes(struct v12_conn *c, const uint8_t *data, size_t len);

/* peer.c */
void v12_peer_start(struct v12_peer *p);
void v12_peer_link_up(struct v12_peer *p, struct v12_conn *c, const Vmcs12d__V1__Hello *hello);
void v12_peer_link_down(struct v12_peer *p, const char *why);
void v12_peer_stop(struct v12_peer *p);
void v12_peer_kick(struct v12_peer *p); /* a blob waits: connect now rather than after the backoff */
void v12_hello_fill(struct v12_daemon *d, Vmcs12d__V1__Hello *h);
int v12_hello_layout(const Vmcs12d__V1__Hello *h, enum v12_layout *ret, char *err, size_t errlen);
const char *v12_peer_state_name(enum v12_peer_state s);

/* relay.c */
void v12_relay_on_frame(struct v12_conn *c, V12Envelope *env);
void v12_relay_conn_gone(struct v12_conn *c);
void v12_relay_peer_down(struct v12_peer *p, const char *why);
void v12_relay_peer_up(struct v12_peer *p);
void v12_relay_tick(struct v12_daemon *d);
bool v12_relay_busy(const struct v12_daemon *d);
void v12_count_reject(struct v12_daemon *d, int code);

/* stream.c */
int v12_stream_listen(struct v12_daemon *d);
void v12_stream_stop_listening(struct v12_daemon *d);
void v12_stream_remote_hello(struct v12_conn *c, const Vmcs12d__V1__Hello *hello);
void v12_stream_remote_ack(struct v12_conn *c, const Vmcs12d__V1__StreamOpen *so);
void v12_stream_open(struct v12_conn *c, const Vmcs12d__V1__StreamOpen *so);
void v12_stream_bytes(struct v12_conn *c, const uint8_t *data, size_t len);
void v12_stream_conn_gone(struct v12_conn *c);
bool v12_stream_may_read(const struct v12_conn *c);
void v12_stream_status(struct v12_daemon *d, Vmcs12d__V1__StreamStatus *out, Vmcs12d__V1__StreamStatus **ptrs,
                       size_t max, size_t *ret_n);
struct v12_conn *v12_conn_new_local(struct v12_daemon *d, bool unix_socket);
int v12_conn_write_raw(struct v12_conn *c, const uint8_t *data, size_t len);

/* writer.c */
int v12_writer_start(struct v12_daemon *d);
void v12_writer_submit(struct v12_daemon *d, struct v12_store *s);
void v12_writer_stop(struct v12_daemon *d); /* on the loop: closes the async handle, joins */
void v12_relay_stored(struct v12_store *s);  /* relay.c: a store finished */

/* main.c */
uint64_t v12_now_ms(const struct v12_daemon *d);
void v12_notify_status(struct v12_daemon *d);

#endif
