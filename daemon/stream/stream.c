/* SPDX-License-Identifier: MIT */
/*
 * Stream mode: vmcs12d as a transparent proxy for QEMU live migration.
 *
 *   source QEMU --tcp/unix--> vmcs12d (stream_listen) ==mutual TLS==> vmcs12d --> QEMU (target)
 *
 * Each connection QEMU opens (main channel, multifd channels) becomes a channel with its own
 * TLS connection: Hello, then StreamOpen naming the target, then raw bytes both ways (the
 * return path flows back on the same connection). The destination checks the target against
 * stream_allow, and runs the main channel through the stream parser, which converts every
 * nested-state region to this host's layout and refuses a stream it cannot check: then both
 * QEMUs see the connection close, and the source QEMU keeps running the guest, as after any
 * failed migration.
 *
 * The data path: on the source, QEMU's bytes are read into the channel's buffer and encrypted
 * from there; on the destination, TLS decrypts straight into the parse window, the parser says
 * how far the bytes may go, and that run of the window is written to QEMU in one call. Bytes are
 * copied again only when a socket cannot take them at once (the transport's queue).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "stream_internal.h"
#include "v12/qemu_stream.h"
#include "worker.h"

#define WIN_SIZE (V12_QS_LOOKAHEAD + 256u * 1024u) /* destination: the parse window */
#define SRC_BUF (256u * 1024u)                     /* source: QEMU's bytes, read at once */
#define BACK_BUF (64u * 1024u)                     /* the return path */
#define MULTIFD_MAGIC 0x11223344u
#define QEVM_MAGIC 0x5145564du

enum kind { KIND_UNDECIDED, KIND_MAIN, KIND_MULTIFD, KIND_PASSTHROUGH };

/*
 * A channel's life, one phase at a time (each of its connections has its own state in the
 * transport):
 *   source:       HELLO -> READY -> OPENING -> OPEN -> ENDED
 *   destination:                   CONNECTING -> FLOWING -> ENDED
 * Any phase may go to ENDED. Bytes move between QEMU and the peer in OPENING, OPEN and FLOWING
 * (flowing()). Beside the phase, not phases themselves: how the peer's side ended (destination:
 * it may end while QEMU is still being connected), a hand-over to a worker loop in progress, and
 * the released device phase still draining to QEMU.
 */
enum phase {
    PH_HELLO,      /* source: TLS and Hello with the peer */
    PH_READY,      /* source: Hello done; its StreamOpen waits until the channels before it are open */
    PH_OPENING,    /* source: StreamOpen sent, QEMU's bytes go; the destination has not acknowledged */
    PH_OPEN,       /* source: acknowledged: connected to QEMU at the destination */
    PH_CONNECTING, /* destination: connecting to QEMU; the peer's bytes wait in the window */
    PH_FLOWING,    /* destination: connected to QEMU */
    PH_ENDED,
};

enum peer_end { PEER_OPEN, PEER_DONE, PEER_LOST }; /* destination: the peer's side, ended with close_notify or not */

struct v12_channel {
    struct v12_daemon *d;
    struct v12_loop *loop;   /* where both connections live */
    struct v12_conn *local;  /* the QEMU side (plain TCP or unix) */
    struct v12_conn *remote; /* the mutual-TLS connection to the other daemon */
    int peer;
    bool source;             /* this daemon is on the source host */
    bool parse;              /* destination: check and convert with the stream parser */
    atomic_int kind;         /* enum kind: status reads it from the main loop */
    enum phase phase;        /* on the loop that owns the channel */
    bool failed;             /* ended, and how */
    enum peer_end peer_side; /* destination */
    bool moving;             /* being handed to a worker loop */
    unsigned holds;          /* callbacks on the stack: not freed under them */
    int moving_conns;
    /* source: channels open at the destination in QEMU's order */
    struct v12_stream_listener *listener; /* until acknowledged (main loop only) */
    struct v12_stream_listener *from;     /* source: the port it came in on, for its whole life */
    struct v12_channel *next_in_order;
    struct v12_endpoint target;
    const struct v12_endpoint *listen; /* source: where QEMU connected (NULL at the destination) */
    enum v12_layout remote_layout;
    char migration_id[V12_NAME_MAX];
    uint32_t channel;
    atomic_uint_fast64_t bytes, bytes_back, pages;
    atomic_uint regions;
    uint64_t start_ms;
    uint64_t hold_start_ns;             /* destination: when the device phase began to be held (uv_hrtime) */
    uint64_t hold_end_ns;               /* ... when its description released it (0: not yet) */
    uint64_t switch_end_ns;             /* ... when its last byte was in QEMU's socket (0: not yet) */
    atomic_uint_fast64_t switchover_us; /* switch_end_ns - hold_start_ns, for status (other thread) */
    uint64_t answer_ns;                 /* ... when QEMU's first return-path byte after that came */
    bool awaiting_drain;                /* released, not yet all in QEMU's socket */
    struct v12_qs *qs;
    uint8_t *buf;             /* source: QEMU's bytes; destination: the parse window */
    size_t wlen;              /* destination: bytes in the window */
    size_t wcap;              /* destination: the window's size (grows while the device phase is held) */
    uint8_t *back;            /* the return path's buffer */
    struct v12_channel *next; /* d->streams->channels */
};

/* The four ends' callback tables: {source, destination} x {QEMU's side, the peer's}. */
static const struct v12_conn_ops source_local_ops, source_remote_ops, dest_local_ops, dest_remote_ops;

/*
 * Queues in front of the switchover. QEMU decides to stop the guest from the rate its socket
 * accepts; every byte queued downstream of that socket is invisible to it and must still drain
 * after the guest has stopped (spec/qemu-stream-exactness.md §7). So the legs to the local QEMUs
 * (loopback or unix: no bandwidth-delay product to cover) get small fixed socket buffers; the
 * link between the daemons holds little unsent (TCP_NOTSENT_LOWAT), and the destination sizes its
 * receive buffer to the link's bandwidth-delay product (measured minimum RTT × LINK_RATE_MAX,
 * autotuning kept where that is more than the host lets a socket set): left to autotuning, a
 * fast short link's buffer grew to 5 MiB, all of it standing queue while the destination QEMU
 * was the slower end (bench/RESULTS.md). A channel reads one side only while the daemon's own
 * queue for the other is short.
 */
/* Not smaller: loopback's segments are 64 KiB, and a 32 KiB SO_SNDBUF (64 KiB as the kernel counts
 * it) holds one, each waiting for the receiver's delayed ACK: 2 MiB/s, measured. */
#define QEMU_LEG_BUF (128 * 1024)      /* SO_RCVBUF from the source QEMU, SO_SNDBUF to the destination's */
#define LINK_NOTSENT (128 * 1024)      /* TCP_NOTSENT_LOWAT on the link between the daemons */
#define LINK_RCVBUF_MIN (128 * 1024)   /* the destination's SO_RCVBUF on the link, at least */
#define LINK_RATE_MAX (4ull << 30)     /* bytes/s: above what one TLS connection carries on hosts we know */
#define STREAM_QUEUE_MAX (64u * 1024u) /* the daemon's own queue towards either side */
/*
 * The MSS the stream listener announces to the source QEMU: Ethernet's (1500 bytes less the IP and
 * TCP headers), not loopback's 32-64 KiB. QEMU leaves its send buffer to the kernel, which sizes it
 * as segments (the congestion window, at least the path's reordering estimate plus one) times the
 * memory one segment takes, about twice its size rounded up to a power of two. With loopback's
 * segments QEMU's buffer reaches tcp_wmem's 4 MiB maximum at once, all of it to drain after the
 * guest has stopped; with this MSS it stayed near 2 MiB (bench/RESULTS.md). Loopback still moves
 * the bytes in packets of tens of KiB (segmentation offload); the kernel's own cost per byte on
 * that leg rises by about half, which the relay's CPU figures do not show above their noise.
 */
#define QEMU_LEG_MSS 1460

static bool ended(const struct v12_channel *ch)
{
    return ch->phase == PH_ENDED;
}

static bool flowing(const struct v12_channel *ch)
{
    return ch->phase == PH_OPENING || ch->phase == PH_OPEN || ch->phase == PH_FLOWING;
}

static const char *kind_name(int k)
{
    static const char *const names[] = {"?", "main", "multifd", "passthrough"};
    return names[k & 3];
}

static const char *peer_name(const struct v12_channel *ch)
{
    return ch->d->cfg.peers[ch->peer].name;
}

/* ---- the shared registry and per-migration totals ---------------------------------------------------- */

static struct v12_channel *channel_new(struct v12_daemon *d, int peer, bool source)
{
    struct v12_channel *ch = calloc(1, sizeof(*ch));
    if (!ch) return NULL;
    ch->d = d;
    ch->loop = &d->main;
    ch->peer = peer;
    ch->source = source;
    ch->phase = source ? PH_HELLO : PH_CONNECTING;
    ch->start_ms = v12_clock_ms();
    uv_mutex_lock(&d->streams->mu);
    ch->next = d->streams->channels;
    d->streams->channels = ch;
    d->streams->nchannels++;
    uv_mutex_unlock(&d->streams->mu);
    return ch;
}

static struct v12_migration *migration_of(struct v12_streams *s, const struct v12_channel *ch, bool create)
{
    struct v12_migration *free_slot = NULL;
    for (size_t i = 0; i < sizeof(s->migrations) / sizeof(s->migrations[0]); i++) {
        struct v12_migration *m = &s->migrations[i];
        if (m->active && m->source == ch->source && strcmp(m->id, ch->migration_id) == 0) return m;
        if (!m->active && !free_slot) free_slot = m;
    }
    if (!create || !free_slot) return NULL;
    memset(free_slot, 0, sizeof(*free_slot));
    snprintf(free_slot->id, sizeof(free_slot->id), "%s", ch->migration_id);
    snprintf(free_slot->peer, sizeof(free_slot->peer), "%s", peer_name(ch));
    free_slot->source = ch->source;
    free_slot->start_ms = ch->start_ms;
    return free_slot;
}

static void migration_channel_start(struct v12_channel *ch)
{
    struct v12_streams *s = ch->d->streams;
    uv_mutex_lock(&s->mu);
    struct v12_migration *m = migration_of(s, ch, true);
    if (m && m->active == 0) atomic_fetch_add(&ch->d->stats.migrations_started, 1);
    if (m) m->active++, m->channels++;
    uv_mutex_unlock(&s->mu);
    atomic_fetch_add(&ch->d->stats.channels_started, 1);
}

/* The channels of one migration (main, multifd) share its id; when the last ends, one line sums
 * them up. */
static void migration_channel_end(struct v12_channel *ch)
{
    struct v12_streams *s = ch->d->streams;
    char line[512] = "";
    bool failed = false;
    uv_mutex_lock(&s->mu);
    struct v12_migration *m = migration_of(s, ch, false);
    if (m) {
        m->bytes += atomic_load(&ch->bytes);
        m->bytes_back += atomic_load(&ch->bytes_back);
        m->pages += atomic_load(&ch->pages);
        m->regions += atomic_load(&ch->regions);
        m->failed |= ch->failed;
        if (--m->active == 0) {
            atomic_fetch_add(m->failed ? &ch->d->stats.migrations_failed : &ch->d->stats.migrations_finished, 1);
            uint64_t ms = v12_clock_ms() - m->start_ms;
            double mib = (double)m->bytes / 1048576.0;
            failed = m->failed;
            snprintf(
                line, sizeof(line),
                "migration %s %s peer %s %s: %u channel%s, %.1f MiB, %llu RAM pages parsed, %u nested-state regions "
                "converted, %.1f s, %.1f MiB/s",
                m->id, m->source ? "to" : "from", m->peer, m->failed ? "FAILED" : "ended", m->channels,
                m->channels == 1 ? "" : "s", mib, (unsigned long long)m->pages, m->regions, (double)ms / 1000.0,
                ms ? mib * 1000.0 / (double)ms : 0.0);
        }
    }
    uv_mutex_unlock(&s->mu);
    if (line[0]) v12_log(failed ? V12_LOG_ERR : V12_LOG_NOTICE, "%s", line);
}

static void order_remove(struct v12_channel *ch)
{
    if (!ch->listener) return;
    for (struct v12_channel **o = &ch->listener->order; *o; o = &(*o)->next_in_order)
        if (*o == ch) {
            *o = ch->next_in_order;
            break;
        }
    ch->listener = NULL;
}

/* Freed once both connections are gone and no callback of its own is on the stack. */
static void maybe_free(struct v12_channel *ch)
{
    if (ch->local || ch->remote || ch->moving || ch->holds) return;
    struct v12_streams *s = ch->d->streams;
    uv_mutex_lock(&s->mu);
    for (struct v12_channel **l = &s->channels; *l; l = &(*l)->next)
        if (*l == ch) {
            *l = ch->next;
            break;
        }
    s->nchannels--;
    uv_mutex_unlock(&s->mu);
    free(ch->qs);
    free(ch->buf);
    free(ch->back);
    free(ch);
}

/* Every entry from the transport (its hold/release, around each callback) or from a worker's
 * message holds the channel until it returns: a channel ended inside is freed after it. */
static void hold(void *owner)
{
    struct v12_channel *ch = owner;
    ch->holds++;
}

static void release(void *owner)
{
    struct v12_channel *ch = owner;
    ch->holds--;
    maybe_free(ch);
}

static void send_opens(struct v12_stream_listener *l);

/* The destination's switchover is over: the device phase is in QEMU's socket. */
static void switchover_done(struct v12_channel *ch)
{
    ch->awaiting_drain = false;
    ch->switch_end_ns = uv_hrtime();
    uint64_t us = (ch->switch_end_ns - ch->hold_start_ns) / 1000u;
    atomic_store(&ch->switchover_us, us);
    v12_count_switchover(&ch->d->stats, us);
}

/* End the channel: both connections close (after what is queued has been written). */
static void channel_end(struct v12_channel *ch, const char *why, bool failed)
{
    if (ended(ch)) return;
    ch->holds++;
    ch->phase = PH_ENDED;
    ch->failed = failed;
    uint64_t ms = v12_clock_ms() - ch->start_ms;
    uint64_t bytes = atomic_load(&ch->bytes);
    double mib = (double)bytes / 1048576.0;
    char held[300] = "";
    /* Ended with the last of the device phase still queued for QEMU (its socket is flushed while
     * closing): the switchover ends here. */
    if (ch->awaiting_drain && !failed) switchover_done(ch);
    if (ch->hold_end_ns && ch->qs) {
        int k = snprintf(held, sizeof(held), ", device state and description (%llu bytes) held %.2f ms until walked",
                         (unsigned long long)ch->qs->stats.held, (double)(ch->hold_end_ns - ch->hold_start_ns) / 1e6);
        if (ch->switch_end_ns && k > 0 && (size_t)k < sizeof(held))
            k += snprintf(held + k, sizeof(held) - (size_t)k, ", switchover %.2f ms",
                          (double)(ch->switch_end_ns - ch->hold_start_ns) / 1e6);
        if (ch->answer_ns && k > 0 && (size_t)k < sizeof(held))
            snprintf(held + k, sizeof(held) - (size_t)k, " (QEMU answered %.2f ms later)",
                     (double)(ch->answer_ns - ch->switch_end_ns) / 1e6);
    }
    v12_log(
        failed ? V12_LOG_ERR : V12_LOG_NOTICE,
        "stream %s peer %s migration %s channel %u (%s, %s): %s: %.1f MiB forwarded, %llu bytes back, %llu RAM pages, "
        "%u nested-state regions converted%s, %.1f s, %.1f MiB/s",
        ch->source ? "to" : "from", peer_name(ch), ch->migration_id, ch->channel, kind_name(ch->kind), ch->target.text,
        why, mib, (unsigned long long)atomic_load(&ch->bytes_back), (unsigned long long)atomic_load(&ch->pages),
        atomic_load(&ch->regions), held, (double)ms / 1000.0, ms ? mib * 1000.0 / (double)ms : 0.0);
    migration_channel_end(ch);
    struct v12_stats *st = &ch->d->stats;
    atomic_fetch_add(failed ? &st->channels_failed : &st->channels_finished, 1);
    atomic_fetch_add(&st->stream_bytes_forward, bytes);
    atomic_fetch_add(&st->stream_bytes_back, atomic_load(&ch->bytes_back));
    atomic_fetch_add(&st->regions_converted, atomic_load(&ch->regions));
    if (ch->from) atomic_fetch_sub(&ch->from->active, 1);
    if (ch->listener) {
        struct v12_stream_listener *l = ch->listener;
        order_remove(ch);
        send_opens(l); /* an ended channel no longer holds the next one back */
    }
    struct v12_conn *local = ch->local, *remote = ch->remote;
    ch->local = ch->remote = NULL;
    if (local) v12_conn_close(local, failed ? V12_E_STREAM : 0, why);
    if (remote) v12_conn_close(remote, failed ? V12_E_STREAM : 0, why);
    release(ch);
}

static void update_both(struct v12_channel *ch)
{
    if (ch->local) v12_conn_update_reading(ch->local);
    if (ch->remote) v12_conn_update_reading(ch->remote);
}

/* Bytes may move from here on (OPENING at the source, FLOWING at the destination). */
static void start_flowing(struct v12_channel *ch, enum phase p)
{
    ch->phase = p;
    update_both(ch);
}

/* ---- moving the data path to a worker loop --------------------------------------------------------------- */

/* Both connections are detached from the main loop: attach them on the worker's (its message). */
static void attach_on_worker(void *arg)
{
    struct v12_channel *ch = arg;
    struct v12_loop *l = ch->loop;
    hold(ch);
    ch->moving = false;
    if (ch->local && v12_conn_attach(ch->local, l) != 0) channel_end(ch, "cannot move to a worker loop", true);
    if (ch->remote && !ended(ch) && v12_conn_attach(ch->remote, l) != 0)
        channel_end(ch, "cannot move to a worker loop", true);
    if (!ended(ch)) update_both(ch);
    release(ch);
}

static void detached(struct v12_conn *c, void *arg)
{
    struct v12_channel *ch = arg;
    if (--ch->moving_conns) return;
    v12_worker_post(ch->loop, attach_on_worker, ch);
}

/* Once a channel is flowing, its bytes move on a worker loop (channels spread over them). */
static void move_to_worker(struct v12_channel *ch)
{
    struct v12_daemon *d = ch->d;
    if (ended(ch) || !ch->local || !ch->remote) return;
    struct v12_loop *l = v12_worker_pick(&d->workers);
    if (!l || l == ch->loop) return;
    ch->moving = true;
    ch->moving_conns = 2;
    ch->loop = l;
    v12_conn_detach(ch->local, detached, ch);
    v12_conn_detach(ch->remote, detached, ch);
}

/* ---- source side ------------------------------------------------------------------------------------------ */

static void on_stream_accept(struct v12_listener *ll, int fd)
{
    struct v12_stream_listener *l = ll->arg;
    struct v12_daemon *d = l->d;
    const struct v12_peer_config *pc = &d->cfg.peers[l->peer];
    if (atomic_load(&d->stopping) || d->main.nconns + 2 > d->cfg.max_connections) {
        log_warn("stream to peer %s: QEMU connection refused: %s", pc->name,
                 atomic_load(&d->stopping) ? "shutting down" : "max_connections reached");
        close(fd);
        return;
    }
    struct v12_channel *ch = channel_new(d, l->peer, true);
    uint8_t *buf = ch ? malloc(SRC_BUF) : NULL;
    uint8_t *back = buf ? malloc(BACK_BUF) : NULL;
    if (!back) {
        close(fd);
        free(buf);
        if (ch) {
            ch->phase = PH_ENDED;
            maybe_free(ch);
        }
        return;
    }
    ch->buf = buf;
    ch->back = back;
    ch->target = l->target;
    ch->listen = &l->listen;
    ch->channel = l->channels++;
    ch->listener = l;
    ch->kind = KIND_PASSTHROUGH;
    struct v12_channel **tail = &l->order;
    while (*tail) tail = &(*tail)->next_in_order;
    *tail = ch;
    /* QEMU opens the multifd channels while the main one is up: one migration, until every
     * channel of this port has ended. */
    ch->from = l;
    if (atomic_fetch_add(&l->active, 1) > 0)
        snprintf(ch->migration_id, sizeof(ch->migration_id), "%s", l->migration_id);
    else if (v12_endpoint_ports(&pc->stream_listen) > 1) /* one migration per endpoint: its number names it */
        snprintf(ch->migration_id, sizeof(ch->migration_id), "%.32s-%u-%llu", pc->name, l->listen.port_lo,
                 (unsigned long long)(uv_hrtime() / 1000000) % 100000000000ull);
    else
        snprintf(ch->migration_id, sizeof(ch->migration_id), "%.40s-%llu", pc->name,
                 (unsigned long long)(uv_hrtime() / 1000000) % 100000000000ull);
    snprintf(l->migration_id, sizeof(l->migration_id), "%s", ch->migration_id);
    migration_channel_start(ch);
    ch->local = v12_conn_adopt(&d->main, fd, NULL, &source_local_ops, ch);
    if (!ch->local) {
        channel_end(ch, "out of memory", true);
        return;
    }
    v12_conn_set_name(ch->local, "stream %s#%u qemu", pc->name, ch->channel);
    v12_conn_set_raw(ch->local);
    struct v12_sockbufs qb = {.rcvbuf = QEMU_LEG_BUF};
    v12_conn_set_bufs(ch->local, &qb);
    SSL_CTX *ctx = v12_tls_ctx_get(d, true);
    ch->remote = v12_conn_connect_tcp(&d->main, pc->address.host, pc->address.port, ctx, pc->address.host,
                                      &source_remote_ops, ch);
    SSL_CTX_free(ctx);
    if (!ch->remote) {
        channel_end(ch, "out of memory", true);
        return;
    }
    v12_conn_set_name(ch->remote, "stream %s#%u tls", pc->name, ch->channel);
    struct v12_sockbufs tb = {.notsent_lowat = LINK_NOTSENT};
    v12_conn_set_bufs(ch->remote, &tb);
    log_info("stream to peer %s channel %u: QEMU connected on %s; connecting to %s", pc->name, ch->channel,
             l->listen.text, pc->address.text);
}

/* StreamOpen naming this channel: the source's request, and the destination's acknowledgement. */
static int send_stream_open(struct v12_conn *c, const struct v12_channel *ch)
{
    Vmcs12d__V1__StreamOpen so;
    vmcs12d__v1__stream_open__init(&so);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    so.target = v12_pb_str(ch->target.text);
    so.migration_id = v12_pb_str(ch->migration_id);
    so.channel = ch->channel;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN;
    env.stream_open = &so;
    return v12_conn_send(c, &env);
}

/*
 * QEMU (7.2) takes the first connection of a migration as its main channel, so the destination
 * must connect to QEMU in the order the source QEMU connected: StreamOpen for a channel goes out
 * only once every earlier channel of this listener is acknowledged (connected there) or ended.
 */
static void send_opens(struct v12_stream_listener *l)
{
    for (struct v12_channel *ch = l->order, *next; ch; ch = next) {
        next = ch->next_in_order; /* channel_end below may unlink ch */
        if (ch->phase == PH_OPEN || ch->phase == PH_ENDED) continue;
        if (ch->phase != PH_READY) return; /* wait for it */
        if (send_stream_open(ch->remote, ch) != 0) {
            channel_end(ch, "cannot open the stream", true);
            continue;
        }
        log_info("stream to peer %s migration %s channel %u: relaying to %s", peer_name(ch), ch->migration_id,
                 ch->channel, ch->target.text);
        start_flowing(ch, PH_OPENING); /* QEMU's bytes go; the destination holds them until its QEMU is connected */
        return;
    }
}

static void source_remote_frame(void *owner, struct v12_conn *c, const V12Envelope *env)
{
    struct v12_channel *ch = owner;
    if (ch->phase == PH_HELLO) {
        enum v12_layout l;
        struct v12_errmsg err;
        if (env->msg_case != VMCS12D__V1__ENVELOPE__MSG_HELLO) {
            v12_count_reject(&ch->d->stats, V12_E_PROTOCOL);
            channel_end(ch, "protocol violation: expected hello", true);
            return;
        }
        int r = v12_hello_check(env->hello, peer_name(ch), &l, &err);
        if (r) {
            char why[sizeof(err.text) + 8];
            snprintf(why, sizeof(why), "hello: %s", err.text);
            v12_count_reject(&ch->d->stats, r);
            channel_end(ch, why, true);
            return;
        }
        v12_conn_set_ready(c);
        ch->phase = PH_READY;
        send_opens(ch->listener);
        return;
    }
    if (env->msg_case != VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN || ch->phase != PH_OPENING ||
        env->stream_open->channel != ch->channel) {
        channel_end(ch, "unexpected stream acknowledgement", true);
        return;
    }
    ch->phase = PH_OPEN;
    log_info("stream to peer %s migration %s channel %u: open at the destination", peer_name(ch), ch->migration_id,
             ch->channel);
    v12_conn_set_raw(c); /* from here on the destination sends the return path, raw */
    struct v12_stream_listener *l = ch->listener;
    order_remove(ch);
    send_opens(l);
    move_to_worker(ch);
}

/* ---- destination side ------------------------------------------------------------------------------------- */

void v12_stream_incoming(struct v12_daemon *d, struct v12_conn *c, int peer, enum v12_layout remote_layout,
                         const Vmcs12d__V1__StreamOpen *so)
{
    struct v12_endpoint target;
    const struct v12_peer_config *pc = &d->cfg.peers[peer];
    if (v12_endpoint_parse(so->target, &target) != 0 ||
        !v12_stream_allowed(d->cfg.stream_allow, d->cfg.nallow, &target)) {
        v12_count_reject(&d->stats, V12_E_PEER_UNKNOWN);
        log_warn("%s: stream to '%.100s' refused: not permitted by stream_allow", v12_conn_name(c), so->target);
        v12_conn_close(c, V12_E_PEER_UNKNOWN, "stream target not permitted");
        return;
    }
    struct v12_channel *ch = channel_new(d, peer, false);
    uint8_t *win = ch ? malloc(WIN_SIZE) : NULL;
    uint8_t *back = win ? malloc(BACK_BUF) : NULL;
    if (!back) {
        free(win);
        if (ch) {
            ch->phase = PH_ENDED;
            maybe_free(ch);
        }
        v12_conn_close(c, -ENOMEM, "out of memory");
        return;
    }
    ch->buf = win;
    ch->wcap = WIN_SIZE;
    ch->back = back;
    ch->target = target;
    ch->channel = so->channel;
    ch->remote_layout = remote_layout;
    ch->parse = !pc->stream_passthrough;
    snprintf(ch->migration_id, sizeof(ch->migration_id), "%.60s",
             v12_name_ok(so->migration_id) ? so->migration_id : "?");
    migration_channel_start(ch);
    ch->remote = c;
    v12_conn_set_owner(c, &dest_remote_ops, ch);
    v12_conn_set_raw(c);
    v12_conn_update_reading(c); /* no more from the peer than the window holds until QEMU's side is connected */
    log_info("stream from peer %s migration %s channel %u: delivering to %s%s", pc->name, ch->migration_id, ch->channel,
             target.text, ch->parse ? "" : " (pass-through: not checked)");
    ch->local = target.unix_socket
                    ? v12_conn_connect_unix(&d->main, target.path, &dest_local_ops, ch)
                    : v12_conn_connect_tcp(&d->main, target.host, target.port, NULL, NULL, &dest_local_ops, ch);
    if (!ch->local) {
        channel_end(ch, "out of memory", true);
        return;
    }
    v12_conn_set_name(ch->local, "stream %s#%u qemu", pc->name, ch->channel);
    v12_conn_set_raw(ch->local);
    struct v12_sockbufs qb = {.sndbuf = QEMU_LEG_BUF};
    v12_conn_set_bufs(ch->local, &qb);
    /* The stream's way in, sized to the link; the return path's way back holds little unsent. */
    struct v12_sockbufs rb = {.rcvbuf = LINK_RCVBUF_MIN, .notsent_lowat = LINK_NOTSENT, .bdp_rate = LINK_RATE_MAX};
    v12_conn_set_bufs(ch->remote, &rb);
}

static int hold_more(struct v12_channel *ch, size_t s);

/* The released device phase has been written: in QEMU's socket now, or once the queue drains. */
static void switchover_sent(struct v12_channel *ch)
{
    if (v12_conn_queued(ch->local)) {
        ch->awaiting_drain = true;
        return;
    }
    switchover_done(ch);
}

/* Destination: run what the peer sent through the parser (or not) and on to QEMU. */
static void process_window(struct v12_channel *ch, bool eof)
{
    struct v12_daemon *d = ch->d;
    if (!flowing(ch) || !ch->local) return;
    if (ch->kind == KIND_UNDECIDED) {
        if (ch->wlen == 0 && eof) return;
        if (ch->wlen < 4 && !eof) return;
        const uint8_t *w = ch->buf;
        uint32_t magic = ch->wlen >= 4 ? (uint32_t)w[0] << 24 | (uint32_t)w[1] << 16 | (uint32_t)w[2] << 8 | w[3] : 0;
        if (!ch->parse) ch->kind = KIND_PASSTHROUGH;
        else if (magic == QEVM_MAGIC) ch->kind = KIND_MAIN;
        else if (magic == MULTIFD_MAGIC) ch->kind = KIND_MULTIFD;
        else {
            v12_count_reject(&d->stats, V12_E_STREAM);
            channel_end(ch, "the channel is neither a QEMU migration stream nor a multifd channel", true);
            return;
        }
        if (ch->kind == KIND_MAIN) {
            ch->qs = malloc(sizeof(*ch->qs));
            if (!ch->qs) {
                channel_end(ch, "out of memory", true);
                return;
            }
            struct v12_convert_opts o;
            v12_convert_opts_init(&o);
            o.legacy_profile = v12_layout_is_legacy(ch->remote_layout) ? ch->remote_layout : V12_LAYOUT_LEGACY;
            o.to = d->cfg.layout;
            o.padding = d->cfg.padding;
            v12_qs_init(ch->qs, &o);
            ch->qs->hold_limit = d->cfg.stream_hold_limit;
        }
    }
    size_t s = 0;
    if (ch->kind != KIND_MAIN) { /* multifd (RAM only) and pass-through: unchanged */
        s = ch->wlen;
    } else {
        /* At rest (nothing more to read now) the window's end may be the description's. */
        unsigned flags = eof ? V12_QS_EOF : ch->remote && v12_conn_rx_idle(ch->remote) ? V12_QS_REST : 0;
        uint64_t now_ns = uv_hrtime();
        bool was_holding = v12_qs_holding(ch->qs);
        for (;;) {
            size_t n;
            int r = v12_qs_step(ch->qs, ch->buf + s, ch->wlen - s, flags, &n);
            if (r == V12_QS_FORWARD) {
                s += n; /* consecutive runs of the window: one write for all of them */
                continue;
            }
            if (r == V12_QS_NEED || r == V12_QS_END) break;
            v12_count_reject(&d->stats, r);
            atomic_store(&ch->pages, ch->qs->stats.ram_pages);
            atomic_store(&ch->regions, ch->qs->stats.regions);
            log_err("stream from peer %s migration %s: %s; ending the migration (the source keeps running the guest)",
                    peer_name(ch), ch->migration_id, ch->qs->msg.text);
            channel_end(ch, "stream refused", true);
            return;
        }
        atomic_store(&ch->pages, ch->qs->stats.ram_pages);
        atomic_store(&ch->regions, ch->qs->stats.regions);
        bool holding = v12_qs_holding(ch->qs);
        if (!was_holding && (holding || ch->qs->stats.held) && !ch->hold_start_ns) ch->hold_start_ns = now_ns;
        if (!holding && ch->qs->stats.held && !ch->hold_end_ns) ch->hold_end_ns = uv_hrtime();
        if (holding && hold_more(ch, s) != 0) return;
    }
    if (s) {
        int r = v12_conn_write(ch->local, ch->buf, s);
        if (r) {
            channel_end(ch, "cannot write to QEMU", true);
            return;
        }
        if (ch->hold_end_ns && !ch->switch_end_ns && !ch->awaiting_drain) switchover_sent(ch);
        atomic_fetch_add(&ch->bytes, s);
        memmove(ch->buf, ch->buf + s, ch->wlen - s);
        ch->wlen -= s;
    }
}

/*
 * The device phase is held until its description has arrived (convert/qemu_stream.h): the
 * window grows for it, up to stream_hold_limit, and a hold that stops growing for
 * stream_hold_timeout_ms without a description ends the migration (a source with
 * suppress-vmdesc=on and a return path would otherwise wait for ever). s bytes before the hold
 * are about to be forwarded.
 */
static int hold_more(struct v12_channel *ch, size_t s)
{
    const struct v12_config *cfg = &ch->d->cfg;
    size_t held = ch->wlen - s;
    if (ch->wcap - held < V12_QS_LOOKAHEAD && ch->wcap < cfg->stream_hold_limit + V12_QS_LOOKAHEAD) {
        size_t want = ch->wcap * 2;
        if (want > cfg->stream_hold_limit + V12_QS_LOOKAHEAD) want = cfg->stream_hold_limit + V12_QS_LOOKAHEAD;
        uint8_t *nb = realloc(ch->buf, want);
        if (!nb) {
            log_err("stream from peer %s migration %s: out of memory holding %zu bytes of device state; ending the "
                    "migration (the source keeps running the guest)",
                    peer_name(ch), ch->migration_id, held);
            channel_end(ch, "out of memory", true);
            return -ENOMEM;
        }
        ch->buf = nb;
        ch->wcap = want;
        if (ch->remote) v12_conn_update_reading(ch->remote); /* room again: read on, learn if drained */
    }
    if (ch->remote) v12_conn_set_alarm(ch->remote, v12_clock_ms() + cfg->stream_hold_timeout_ms);
    return 0;
}

/* A held device phase stopped growing and no description came. */
static void dest_remote_alarm(void *owner, struct v12_conn *c)
{
    struct v12_channel *ch = owner;
    if (ended(ch) || !ch->qs || !v12_qs_holding(ch->qs)) return;
    v12_count_reject(&ch->d->stats, V12_E_STREAM);
    log_err("stream from peer %s migration %s: migration stream offset %llu: no VM description arrived within %u ms "
            "after %zu bytes of device state (QEMU sends none with -machine suppress-vmdesc=on): its device sections "
            "cannot be walked exactly, and nothing of them was forwarded; for guests known to have no nested state, "
            "set stream_passthrough = yes; ending the migration (the source keeps running the guest)",
            peer_name(ch), ch->migration_id, (unsigned long long)ch->qs->pos, ch->d->cfg.stream_hold_timeout_ms,
            ch->wlen);
    channel_end(ch, "stream refused", true);
}

/* The peer's side ended: deliver what checks out, then end. */
static void finish_destination(struct v12_channel *ch)
{
    process_window(ch, true);
    if (ended(ch)) return;
    bool clean = ch->peer_side == PEER_DONE;
    channel_end(ch, clean ? "ended" : "peer connection lost (no close_notify)", !clean);
}

/* ---- the four ends' callbacks -------------------------------------------------------------------------- */

/* Bytes from one side to the other, counted in *count: 0, or the channel ends naming what failed. */
static int relay(struct v12_channel *ch, struct v12_conn *to, const uint8_t *data, size_t n,
                 atomic_uint_fast64_t *count, const char *what)
{
    if (!to) return 0;
    v12_conn_touch(to);
    int r = v12_conn_write(to, data, n);
    if (r) {
        channel_end(ch, what, true);
        return r;
    }
    atomic_fetch_add(count, n);
    return 0;
}

/* Backpressure: may the side opposite `other` be read, with other's queue and the daemon's as they are? */
static bool room_in(const struct v12_channel *ch, const struct v12_conn *other)
{
    const struct v12_daemon *d = ch->d;
    size_t ql = d->cfg.conn_buffer_limit < STREAM_QUEUE_MAX ? d->cfg.conn_buffer_limit : STREAM_QUEUE_MAX;
    if (ch->moving || !flowing(ch)) return false;
    if (other && v12_conn_queued(other) >= ql) return false;
    return atomic_load(&d->limits.global_bytes) < d->cfg.global_buffer_limit;
}

/* The queue towards one side emptied: the other side may be read again. */
static void drained_toward(struct v12_conn *other)
{
    if (other) v12_conn_update_reading(other);
}

/* Either end's TLS connection to the peer: the certificate must name the configured peer; our Hello. */
static void remote_established(void *owner, struct v12_conn *c, X509 *cert)
{
    struct v12_channel *ch = owner;
    struct v12_errmsg err;
    if (v12_tls_match_peer(cert, &ch->d->cfg, ch->peer, NULL, &err) != 0) {
        v12_count_reject(&ch->d->stats, V12_E_PEER_UNKNOWN);
        v12_count_tls_failure(&ch->d->stats, V12_E_PEER_UNKNOWN, err.text);
        log_warn("%s: refusing TLS peer: %s", v12_conn_name(c), err.text);
        channel_end(ch, err.text, true);
        return;
    }
    if (v12_send_hello(c, &ch->d->cfg) != 0) channel_end(ch, "cannot send hello", true);
}

/* Either end's QEMU side is gone. */
static void local_closed(void *owner, struct v12_conn *c, int code, const char *why)
{
    struct v12_channel *ch = owner;
    ch->local = NULL;
    if (!ended(ch)) channel_end(ch, code ? why : "ended", false);
}

/* -- source: QEMU migrates to us (local); we carry its stream to the destination daemon (remote) -- */

static void source_local_established(void *owner, struct v12_conn *c, X509 *cert)
{
    v12_conn_set_ready(c); /* QEMU connected; it is read once the peer has opened the stream */
}

static void source_local_buf(void *owner, struct v12_conn *c, uint8_t **buf, size_t *len)
{
    struct v12_channel *ch = owner;
    *buf = ch->buf;
    *len = SRC_BUF;
}

static void source_local_read(void *owner, struct v12_conn *c, size_t n)
{
    struct v12_channel *ch = owner;
    if (ended(ch) || n == 0) return;
    (void)relay(ch, ch->remote, ch->buf, n, &ch->bytes, "cannot write to the peer");
}

static bool source_local_may_read(void *owner, const struct v12_conn *c)
{
    const struct v12_channel *ch = owner;
    return room_in(ch, ch->remote);
}

static void source_local_drained(void *owner, struct v12_conn *c)
{
    struct v12_channel *ch = owner;
    drained_toward(ch->remote);
}

static void source_remote_buf(void *owner, struct v12_conn *c, uint8_t **buf, size_t *len)
{
    struct v12_channel *ch = owner;
    *buf = ch->back;
    *len = BACK_BUF;
}

static void source_remote_read(void *owner, struct v12_conn *c, size_t n) /* the return path */
{
    struct v12_channel *ch = owner;
    if (ended(ch) || n == 0) return;
    (void)relay(ch, ch->local, ch->back, n, &ch->bytes_back, "cannot write to QEMU");
}

static bool source_remote_may_read(void *owner, const struct v12_conn *c)
{
    const struct v12_channel *ch = owner;
    if (!ch->moving && (ch->phase == PH_HELLO || ch->phase == PH_READY || ch->phase == PH_OPENING))
        return true; /* TLS, Hello, the acknowledgement */
    return room_in(ch, ch->local);
}

static void source_remote_drained(void *owner, struct v12_conn *c)
{
    struct v12_channel *ch = owner;
    drained_toward(ch->local);
}

static void source_remote_closed(void *owner, struct v12_conn *c, int code, const char *why)
{
    struct v12_channel *ch = owner;
    ch->remote = NULL;
    if (code == V12_E_TLS) {
        v12_count_reject(&ch->d->stats, V12_E_TLS);
        if (ch->phase == PH_HELLO) v12_count_tls_failure(&ch->d->stats, code, why);
        log_warn("%s: TLS: %s", v12_conn_name(c), why);
    }
    if (!ended(ch)) channel_end(ch, code ? why : "ended", false);
}

static const struct v12_conn_ops source_local_ops = {
    .established = source_local_established,
    .raw_buf = source_local_buf,
    .raw_read = source_local_read,
    .may_read = source_local_may_read,
    .drained = source_local_drained,
    .closed = local_closed,
    .hold = hold,
    .release = release,
};

static const struct v12_conn_ops source_remote_ops = {
    .established = remote_established,
    .frame = source_remote_frame,
    .raw_buf = source_remote_buf,
    .raw_read = source_remote_read,
    .may_read = source_remote_may_read,
    .drained = source_remote_drained,
    .closed = source_remote_closed,
    .hold = hold,
    .release = release,
};

/* -- destination: the source daemon's stream arrives (remote); we deliver it to QEMU (local) -- */

static void dest_local_established(void *owner, struct v12_conn *c, X509 *cert)
{
    struct v12_channel *ch = owner;
    v12_conn_set_ready(c);
    /* Acknowledge to the source: its next channel may now open. Before any return-path byte. */
    if (ch->remote) {
        int r = send_stream_open(ch->remote, ch);
        log_info("stream from peer %s migration %s channel %u: connected to QEMU at %s%s", peer_name(ch),
                 ch->migration_id, ch->channel, ch->target.text, r ? " (the acknowledgement could not be sent)" : "");
    }
    start_flowing(ch, PH_FLOWING);
    if (ch->peer_side != PEER_OPEN) finish_destination(ch);
    else process_window(ch, false);
    if (!ended(ch) && ch->remote) move_to_worker(ch);
}

static void dest_local_buf(void *owner, struct v12_conn *c, uint8_t **buf, size_t *len)
{
    struct v12_channel *ch = owner;
    *buf = ch->back;
    *len = BACK_BUF;
}

static void dest_local_read(void *owner, struct v12_conn *c, size_t n) /* QEMU's return path */
{
    struct v12_channel *ch = owner;
    if (ended(ch) || n == 0) return;
    if (ch->switch_end_ns && !ch->answer_ns) ch->answer_ns = uv_hrtime();
    (void)relay(ch, ch->remote, ch->back, n, &ch->bytes_back, "cannot write to the peer");
}

static bool dest_local_may_read(void *owner, const struct v12_conn *c)
{
    const struct v12_channel *ch = owner;
    return room_in(ch, ch->remote);
}

static void dest_local_drained(void *owner, struct v12_conn *c)
{
    struct v12_channel *ch = owner;
    if (ch->awaiting_drain) switchover_sent(ch);
    drained_toward(ch->remote);
}

static void dest_remote_frame(void *owner, struct v12_conn *c, const V12Envelope *env)
{
    channel_end(owner, "frame on a stream", true);
}

/* Into the window; parsed at the end of the batch or when full. */
static void dest_remote_buf(void *owner, struct v12_conn *c, uint8_t **buf, size_t *len)
{
    struct v12_channel *ch = owner;
    *buf = ch->buf + ch->wlen;
    *len = ch->wcap - ch->wlen;
}

static void dest_remote_read(void *owner, struct v12_conn *c, size_t n)
{
    struct v12_channel *ch = owner;
    if (ended(ch)) return;
    ch->wlen += n;
    if (n == 0 || ch->wcap - ch->wlen < V12_QS_LOOKAHEAD) process_window(ch, false);
}

static bool dest_remote_may_read(void *owner, const struct v12_conn *c)
{
    const struct v12_channel *ch = owner;
    if (ended(ch) || ch->moving || ch->wcap - ch->wlen < V12_QS_LOOKAHEAD) return false;
    return ch->phase == PH_CONNECTING ||
           room_in(ch, ch->local); /* until QEMU is connected the window takes what comes */
}

static void dest_remote_drained(void *owner, struct v12_conn *c)
{
    struct v12_channel *ch = owner;
    drained_toward(ch->local);
}

static void dest_remote_closed(void *owner, struct v12_conn *c, int code, const char *why)
{
    struct v12_channel *ch = owner;
    ch->remote = NULL;
    if (code == V12_E_TLS) {
        v12_count_reject(&ch->d->stats, V12_E_TLS);
        log_warn("%s: TLS: %s", v12_conn_name(c), why);
    }
    if (!ended(ch) && ch->local) {
        /* The stream's end: what is in the window still goes to QEMU once checked. */
        ch->peer_side = code == 0 ? PEER_DONE : PEER_LOST;
        if (ch->phase == PH_FLOWING) finish_destination(ch);
        return;
    }
    if (!ended(ch)) channel_end(ch, code ? why : "ended", false);
}

static const struct v12_conn_ops dest_local_ops = {
    .established = dest_local_established,
    .raw_buf = dest_local_buf,
    .raw_read = dest_local_read,
    .may_read = dest_local_may_read,
    .drained = dest_local_drained,
    .closed = local_closed,
    .hold = hold,
    .release = release,
};

static const struct v12_conn_ops dest_remote_ops = {
    .established = remote_established,
    .alarm = dest_remote_alarm,
    .frame = dest_remote_frame,
    .raw_buf = dest_remote_buf,
    .raw_read = dest_remote_read,
    .may_read = dest_remote_may_read,
    .drained = dest_remote_drained,
    .closed = dest_remote_closed,
    .hold = hold,
    .release = release,
};

/* ---- the room: listeners, status, shutdown ----------------------------------------------------------------- */

int v12_streams_init(struct v12_daemon *d)
{
    struct v12_streams *s = calloc(1, sizeof(*s));
    if (!s) {
        log_err("stream: out of memory");
        return -ENOMEM;
    }
    int r = uv_mutex_init(&s->mu);
    if (r) {
        log_err("stream: %s", uv_strerror(r));
        free(s);
        return r;
    }
    d->streams = s;
    return 0;
}

void v12_streams_free(struct v12_daemon *d)
{
    struct v12_streams *s = d->streams;
    if (!s) return;
    uv_mutex_destroy(&s->mu);
    free(s->listeners);
    free(s);
    d->streams = NULL;
}

bool v12_streams_busy(struct v12_daemon *d)
{
    uv_mutex_lock(&d->streams->mu);
    bool busy = d->streams->nchannels > 0;
    uv_mutex_unlock(&d->streams->mu);
    return busy;
}

int v12_stream_listen(struct v12_daemon *d)
{
    unsigned n = 0;
    for (unsigned i = 0; i < d->cfg.npeers; i++)
        if (d->cfg.peers[i].has_stream) n += v12_endpoint_ports(&d->cfg.peers[i].stream_listen);
    if (!n) return 0;
    d->streams->listeners = calloc(n, sizeof(*d->streams->listeners));
    d->streams->nlisteners = 0;
    if (!d->streams->listeners) return -ENOMEM;
    for (unsigned i = 0; i < d->cfg.npeers; i++) {
        const struct v12_peer_config *pc = &d->cfg.peers[i];
        if (!pc->has_stream) continue;
        for (unsigned k = 0; k < v12_endpoint_ports(&pc->stream_listen); k++) {
            struct v12_stream_listener *l = &d->streams->listeners[d->streams->nlisteners];
            l->d = d;
            l->peer = (int)i;
            v12_endpoint_at(&pc->stream_listen, k, &l->listen);
            v12_endpoint_at(&pc->stream_target, k, &l->target);
            l->l.on_accept = on_stream_accept;
            l->l.arg = l;
            const struct v12_endpoint *e = &l->listen;
            struct v12_errmsg err;
            int r = e->unix_socket ? v12_listen_unix(&l->l, d->uv, e->path, 0, 16, &err)
                                   : v12_listen_tcp(&l->l, d->uv, e->host, e->port, 16, &err);
            if (r) {
                log_err("peer %s: stream_listen %s: %s", pc->name, e->text, err.text);
                return r;
            }
            if (!e->unix_socket) v12_listener_clamp_mss(&l->l, QEMU_LEG_MSS);
            d->streams->nlisteners++;
        }
        log_notice("peer %s: QEMU migrations to %s are relayed from %s (delivered to %s there)", pc->name, pc->name,
                   pc->stream_listen.text, pc->stream_target.text);
    }
    return 0;
}

void v12_stream_stop_listening(struct v12_daemon *d)
{
    for (unsigned i = 0; i < d->streams->nlisteners; i++) v12_listener_close(&d->streams->listeners[i].l);
}

void v12_stream_status(struct v12_daemon *d, Vmcs12d__V1__StreamStatus *out, Vmcs12d__V1__StreamStatus **ptrs,
                       size_t max, size_t *ret_n)
{
    static char texts[64][4][V12_NAME_MAX + 300];
    size_t n = 0;
    uv_mutex_lock(&d->streams->mu);
    for (struct v12_channel *ch = d->streams->channels; ch && n < max && n < 64; ch = ch->next, n++) {
        Vmcs12d__V1__StreamStatus *s = &out[n];
        vmcs12d__v1__stream_status__init(s);
        snprintf(texts[n][0], sizeof(texts[n][0]), "%s", peer_name(ch));
        snprintf(texts[n][1], sizeof(texts[n][1]), "%s", ch->target.text);
        snprintf(texts[n][2], sizeof(texts[n][2]), "%s", ch->migration_id);
        snprintf(texts[n][3], sizeof(texts[n][3]), "%s", ch->listen ? ch->listen->text : "");
        s->listen = texts[n][3];
        s->peer = texts[n][0];
        s->direction = v12_pb_str((ch->source ? "out" : "in"));
        s->target = texts[n][1];
        s->migration_id = texts[n][2];
        s->channel = ch->channel;
        s->bytes = atomic_load(&ch->bytes);
        s->bytes_back = atomic_load(&ch->bytes_back);
        s->ram_pages = atomic_load(&ch->pages);
        s->regions = atomic_load(&ch->regions);
        s->seconds = (v12_clock_ms() - ch->start_ms) / 1000;
        s->kind = v12_pb_str(kind_name(ch->kind));
        s->switchover_us = atomic_load(&ch->switchover_us);
        ptrs[n] = s;
    }
    uv_mutex_unlock(&d->streams->mu);
    *ret_n = n;
}

/* End every channel living on loop l (on l's thread). */
static void end_channels_on(void *arg)
{
    struct v12_loop *l = arg;
    struct v12_daemon *d = l->data;
    for (;;) {
        struct v12_channel *mine = NULL;
        uv_mutex_lock(&d->streams->mu);
        for (struct v12_channel *ch = d->streams->channels; ch; ch = ch->next)
            if (ch->loop == l && !ended(ch) && !ch->moving) {
                mine = ch;
                break;
            }
        uv_mutex_unlock(&d->streams->mu);
        if (!mine) return;
        hold(mine);
        channel_end(mine, "daemon stopping", false);
        release(mine);
    }
}

void v12_stream_stop_all(struct v12_daemon *d)
{
    end_channels_on(&d->main);
    v12_workers_each(&d->workers, end_channels_on);
}

unsigned v12_stream_migrations_in_flight(struct v12_daemon *d)
{
    unsigned n = 0;
    uv_mutex_lock(&d->streams->mu);
    for (size_t i = 0; i < sizeof(d->streams->migrations) / sizeof(d->streams->migrations[0]); i++)
        n += d->streams->migrations[i].active > 0;
    uv_mutex_unlock(&d->streams->mu);
    return n;
}
