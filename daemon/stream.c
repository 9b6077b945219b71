/* SPDX-License-Identifier: MIT */
/*
 * Stream mode: vmcs12d as a transparent proxy for QEMU live migration.
 *
 *   source QEMU --tcp/unix--> vmcs12d (stream_listen) ==mutual TLS==> vmcs12d --> QEMU (target)
 *
 * Each connection QEMU opens (main channel, multifd channels) becomes its own TLS connection:
 * Hello, then StreamOpen naming the target, then raw bytes both ways (the return path flows
 * back on the same connection). The destination checks the target against stream_allow, and
 * runs the main channel through the stream parser, which converts every nested-state region to
 * this host's layout and refuses a stream it cannot check: then both QEMUs see the connection
 * close, and the source QEMU keeps running the guest, as after any failed migration.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define WIN_SIZE (V12_QS_LOOKAHEAD + 256u * 1024u)
#define MULTIFD_MAGIC 0x11223344u

static void on_stream_accept(uv_stream_t *server, int status);
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);
static int resolve(struct v12_pipe *pp, const char *host, const char *port);
static void on_remote_connected(uv_connect_t *req, int status);
static void on_target_connected(uv_connect_t *req, int status);

static const char *kind_name(int k)
{
    static const char *const names[] = {"?", "main", "multifd", "passthrough"};
    return names[k & 3];
}

/* ---- listeners (source side) ------------------------------------------------------------- */

int v12_stream_listen(struct v12_daemon *d)
{
    for (unsigned i = 0; i < d->cfg.npeers; i++) {
        const struct v12_peer_config *pc = &d->cfg.peers[i];
        struct v12_stream_listener *l = &d->stream_listeners[i];
        if (!pc->has_stream) continue;
        l->d = d;
        l->peer = &d->peers[i];
        const struct v12_endpoint *e = &pc->stream_listen;
        int r;
        if (e->unix_socket) {
            uv_pipe_init(d->loop, &l->h.pipe, 0);
            v12_unlink_stale_socket(e->path);
            r = uv_pipe_bind(&l->h.pipe, e->path);
        } else {
            struct addrinfo *res;
            char msg[300];
            uv_tcp_init(d->loop, &l->h.tcp);
            r = v12_resolve_listen(e->host, e->port, &res, msg, sizeof(msg));
            if (!r) {
                r = uv_tcp_bind(&l->h.tcp, res->ai_addr, 0);
                freeaddrinfo(res);
            }
        }
        l->h.handle.data = l;
        l->open = true;
        if (!r) r = uv_listen(&l->h.stream, 16, on_stream_accept);
        if (r) {
            log_err("peer %s: stream_listen %s: %s", pc->name, e->text, uv_strerror(r));
            return r;
        }
        log_notice("peer %s: QEMU migrations to %s are relayed from %s (delivered to %s there)", pc->name, pc->name,
                   e->text, pc->stream_target.text);
    }
    return 0;
}

void v12_stream_stop_listening(struct v12_daemon *d)
{
    for (unsigned i = 0; i < d->cfg.npeers; i++) {
        struct v12_stream_listener *l = &d->stream_listeners[i];
        if (!l->open) continue;
        uv_close(&l->h.handle, NULL);
        l->open = false;
        if (d->cfg.peers[i].stream_listen.unix_socket) v12_unlink_stale_socket(d->cfg.peers[i].stream_listen.path);
    }
}

/* ---- pipes ------------------------------------------------------------------------------------ */

static struct v12_pipe *pipe_new(struct v12_daemon *d, struct v12_peer *p, bool source)
{
    struct v12_pipe *pp = calloc(1, sizeof(*pp));
    if (!pp) return NULL;
    pp->d = d;
    pp->peer = p;
    pp->source = source;
    pp->start_ms = v12_now_ms(d);
    pp->next = d->pipes;
    d->pipes = pp;
    return pp;
}

static void send_opens(struct v12_stream_listener *l);

static void pipe_free(struct v12_pipe *pp)
{
    if (pp->listener) {
        for (struct v12_pipe **o = &pp->listener->order; *o; o = &(*o)->next_in_order)
            if (*o == pp) {
                *o = pp->next_in_order;
                break;
            }
    }
    for (struct v12_pipe **l = &pp->d->pipes; *l; l = &(*l)->next)
        if (*l == pp) {
            *l = pp->next;
            break;
        }
    free(pp->qs);
    free(pp->win);
    free(pp);
}

/* Freed only when no connection, callback or pending request points at it any more. */
static void pipe_release(struct v12_pipe *pp)
{
    if (pp->holds) pp->holds--;
    if (!pp->holds && !pp->local && !pp->remote) pipe_free(pp);
}

/*
 * Per-migration totals: the channels of one migration (main, multifd) share its id; when the
 * last one ends, one line sums them up.
 */
struct migration {
    char id[V12_NAME_MAX];
    bool source;
    unsigned active, channels;
    bool failed;
    uint64_t bytes, bytes_back, pages, start_ms;
    uint32_t regions;
};
static struct migration migrations[32];

static struct migration *migration_of(const struct v12_pipe *pp, bool create)
{
    struct migration *free_slot = NULL;
    for (size_t i = 0; i < sizeof(migrations) / sizeof(migrations[0]); i++) {
        struct migration *m = &migrations[i];
        if (m->active && m->source == pp->source && strcmp(m->id, pp->migration_id) == 0) return m;
        if (!m->active && !free_slot) free_slot = m;
    }
    if (!create || !free_slot) return NULL;
    memset(free_slot, 0, sizeof(*free_slot));
    snprintf(free_slot->id, sizeof(free_slot->id), "%s", pp->migration_id);
    free_slot->source = pp->source;
    free_slot->start_ms = pp->start_ms;
    return free_slot;
}

static void migration_channel_start(struct v12_pipe *pp)
{
    struct migration *m = migration_of(pp, true);
    if (m) m->active++, m->channels++;
}

static void migration_channel_end(struct v12_pipe *pp)
{
    struct migration *m = migration_of(pp, false);
    if (!m) return;
    m->bytes += pp->bytes;
    m->bytes_back += pp->bytes_back;
    m->pages += pp->qs ? pp->qs->stats.ram_pages : 0;
    m->regions += pp->qs ? pp->qs->stats.regions : 0;
    m->failed |= pp->failed;
    if (--m->active) return;
    uint64_t ms = v12_now_ms(pp->d) - m->start_ms;
    double mib = (double)m->bytes / 1048576.0;
    v12_log(m->failed ? V12_LOG_ERR : V12_LOG_NOTICE,
            "migration %s %s peer %s %s: %u channel%s, %.1f MiB, %llu RAM pages parsed, %u nested-state regions "
            "converted, %.1f s, %.1f MiB/s",
            m->id, pp->source ? "to" : "from", pp->peer->cfg->name, m->failed ? "FAILED" : "ended", m->channels,
            m->channels == 1 ? "" : "s", mib, (unsigned long long)m->pages, m->regions, (double)ms / 1000.0,
            ms ? mib * 1000.0 / (double)ms : 0.0);
}

static void pipe_log_end(struct v12_pipe *pp, const char *how)
{
    uint64_t ms = v12_now_ms(pp->d) - pp->start_ms;
    double mib = (double)pp->bytes / 1048576.0;
    v12_log(pp->failed ? V12_LOG_ERR : V12_LOG_NOTICE,
            "stream %s peer %s migration %s channel %u (%s, %s): %s: %.1f MiB forwarded, %llu bytes back, %llu RAM pages, "
            "%u nested-state regions converted, %.1f s, %.1f MiB/s",
            pp->source ? "to" : "from", pp->peer->cfg->name, pp->migration_id, pp->channel, kind_name(pp->kind),
            pp->target.text, how, mib, (unsigned long long)pp->bytes_back,
            (unsigned long long)(pp->qs ? pp->qs->stats.ram_pages : 0), pp->qs ? pp->qs->stats.regions : 0,
            (double)ms / 1000.0, ms ? mib * 1000.0 / (double)ms : 0.0);
}

/* End the channel: both connections close (after what is queued has been written). */
static void pipe_end(struct v12_pipe *pp, const char *why, bool failed)
{
    if (pp->ended) return;
    pp->ended = true;
    pp->failed = failed;
    pipe_log_end(pp, why);
    migration_channel_end(pp);
    pp->holds++;
    if (pp->listener) send_opens(pp->listener); /* an ended channel no longer holds the next back */
    struct v12_conn *l = pp->local, *r = pp->remote;
    if (l) v12_conn_close(l, why);
    if (r && r == pp->remote) v12_conn_close(r, why);
    pipe_release(pp);
}

static void process_window(struct v12_pipe *pp, bool eof);

/* Destination: the peer has sent everything (or vanished); deliver what checks out, then end. */
static void finish_destination(struct v12_pipe *pp)
{
    pp->holds++;
    process_window(pp, true);
    if (!pp->ended) pipe_end(pp, pp->remote_clean ? "ended" : "peer connection lost (no close_notify)", !pp->remote_clean);
    pipe_release(pp);
}

void v12_stream_conn_gone(struct v12_conn *c)
{
    struct v12_pipe *pp = c->pipe;
    c->pipe = NULL;
    if (!pp) return;
    if (!pp->source && c == pp->remote && !pp->ended && pp->local) {
        /* The stream's end: what is in the window still goes to QEMU once checked. */
        pp->remote = NULL;
        pp->remote_eof = true;
        pp->remote_clean = c->tls.close_notify_seen;
        if (pp->flowing) finish_destination(pp);
        return;
    }
    if (pp->local == c) pp->local = NULL;
    if (pp->remote == c) pp->remote = NULL;
    pp->holds++;
    pipe_end(pp, c->eof ? "ended" : "connection closed", false);
    pipe_release(pp);
}

bool v12_stream_may_read(const struct v12_conn *c)
{
    const struct v12_pipe *pp = c->pipe;
    if (c == pp->remote && !c->raw) return !pp->ended; /* TLS handshake, Hello, the acknowledgement first */
    if (!pp->flowing || pp->ended) return false;
    /* Backpressure: never read faster than the other side drains. */
    const struct v12_conn *other = pp->local == c ? pp->remote : pp->local;
    if (other && other->write_bytes >= c->d->cfg.conn_buffer_limit) return false;
    if (c->d->global_bytes >= c->d->cfg.global_buffer_limit) return false;
    if (!pp->source && pp->remote == c && pp->wlen > WIN_SIZE - 65536) return false;
    return true;
}

static void set_flowing(struct v12_pipe *pp)
{
    pp->flowing = true;
    if (pp->local) v12_conn_update_reading(pp->local);
    if (pp->remote) v12_conn_update_reading(pp->remote);
}

/* ---- source side ------------------------------------------------------------------------------ */

static void on_stream_accept(uv_stream_t *server, int status)
{
    struct v12_stream_listener *l = server->data;
    struct v12_daemon *d = l->d;
    if (status < 0) return;
    const struct v12_peer_config *pc = l->peer->cfg;
    struct v12_conn *local = v12_conn_new_local(d, pc->stream_listen.unix_socket);
    if (!local) return;
    if (uv_accept(server, &local->h.stream) != 0 || d->stopping || d->nconns + 1 > d->cfg.max_connections) {
        v12_conn_close(local, d->stopping ? "shutting down" : "max_connections reached");
        return;
    }
    struct v12_pipe *pp = pipe_new(d, l->peer, true);
    struct v12_conn *remote = pp ? v12_conn_new(d, V12_CONN_PEER_OUT) : NULL;
    if (!remote) {
        v12_conn_close(local, "out of memory");
        if (pp) pipe_free(pp);
        return;
    }
    pp->target = pc->stream_target;
    pp->channel = l->channels++;
    pp->listener = l;
    struct v12_pipe **tail = &l->order;
    while (*tail) tail = &(*tail)->next_in_order;
    *tail = pp;
    pp->kind = 3;
    const struct v12_pipe *sibling = NULL;
    for (const struct v12_pipe *o = d->pipes; o; o = o->next)
        if (o != pp && o->listener == l && !o->ended) sibling = o;
    if (sibling) /* QEMU opens the multifd channels while the main one is up: one migration */
        snprintf(pp->migration_id, sizeof(pp->migration_id), "%s", sibling->migration_id);
    else
        snprintf(pp->migration_id, sizeof(pp->migration_id), "%.40s-%llu", pc->name,
                 (unsigned long long)(uv_hrtime() / 1000000) % 100000000000ull);
    migration_channel_start(pp);
    pp->local = local;
    pp->remote = remote;
    local->pipe = remote->pipe = pp;
    local->raw = remote->raw = false;
    local->raw = true;
    remote->peer = l->peer;
    snprintf(local->name, sizeof(local->name), "stream %s#%u qemu", pc->name, pp->channel);
    snprintf(remote->name, sizeof(remote->name), "stream %s#%u tls", pc->name, pp->channel);
    v12_conn_start(local); /* not read until the remote end is up */
    log_info("stream to peer %s channel %u: QEMU connected on %s; connecting to %s", pc->name, pp->channel,
             pc->stream_listen.text, pc->address);
    (void)resolve(pp, pc->host, pc->port);
}

/*
 * Resolution then connection of one end of a channel: the source resolves its peer (remote),
 * the destination its QEMU target (local). The channel is held until the connect callback.
 */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct v12_pipe *pp = req->data;
    struct v12_conn *c = pp->source ? pp->remote : pp->local;
    const char *what = pp->source ? "the peer" : "the target";
    if (status < 0 || !c || pp->ended) {
        char why[64];
        if (res) uv_freeaddrinfo(res);
        snprintf(why, sizeof(why), "cannot resolve %s", what);
        if (!pp->ended) pipe_end(pp, why, true);
        pipe_release(pp);
        return;
    }
    pp->connect_req.data = pp;
    int r = uv_tcp_connect(&pp->connect_req, &c->h.tcp, res->ai_addr, pp->source ? on_remote_connected : on_target_connected);
    uv_freeaddrinfo(res);
    if (r) {
        char why[64];
        snprintf(why, sizeof(why), "cannot connect to %s", what);
        pipe_end(pp, why, true);
        pipe_release(pp);
    } /* else the hold passes to the connect request */
}

static int resolve(struct v12_pipe *pp, const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    pp->gai.data = pp;
    pp->holds++;
    if (uv_getaddrinfo(pp->d->loop, &pp->gai, on_resolved, host, port, &hints) == 0) return 0;
    pipe_end(pp, pp->source ? "cannot resolve the peer" : "cannot resolve the target", true);
    pipe_release(pp);
    return -1;
}

static void on_remote_connected(uv_connect_t *req, int status)
{
    struct v12_pipe *pp = req->data;
    if (!pp->remote || pp->ended) {
        pipe_release(pp);
        return;
    }
    if (status < 0) {
        char why[128];
        snprintf(why, sizeof(why), "cannot connect to peer %s: %s", pp->peer->cfg->name, uv_strerror(status));
        pipe_end(pp, why, true);
        pipe_release(pp);
        return;
    }
    uv_tcp_nodelay(&pp->remote->h.tcp, 1);
    v12_conn_start(pp->remote); /* TLS, then Hello (conn.c), then v12_stream_remote_hello */
    pipe_release(pp);
}

/*
 * QEMU (7.2) takes the first connection of a migration as its main channel, so the destination
 * must connect to QEMU in the order the source QEMU connected: StreamOpen for a channel goes out
 * only once every earlier channel of this listener is acknowledged (connected there) or ended.
 */
/* StreamOpen naming this channel: the source's request, and the destination's acknowledgement. */
static int send_stream_open(struct v12_conn *c, const struct v12_pipe *pp)
{
    Vmcs12d__V1__StreamOpen so = VMCS12D__V1__STREAM_OPEN__INIT;
    V12Envelope env = VMCS12D__V1__ENVELOPE__INIT;
    so.target = (char *)pp->target.text;
    so.migration_id = (char *)pp->migration_id;
    so.channel = pp->channel;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN;
    env.stream_open = &so;
    return v12_conn_send(c, &env);
}

static void send_opens(struct v12_stream_listener *l)
{
    for (struct v12_pipe *pp = l->order, *next; pp; pp = next) {
        next = pp->next_in_order; /* pipe_end below may unlink and free pp */
        if (pp->acked || pp->ended) continue;
        if (pp->open_sent || !pp->hello_done) return; /* wait for it */
        pp->open_sent = true;
        if (send_stream_open(pp->remote, pp) != 0) {
            pipe_end(pp, "cannot open the stream", true);
            continue;
        }
        log_info("stream to peer %s migration %s channel %u: relaying to %s", pp->peer->cfg->name, pp->migration_id,
                 pp->channel, pp->target.text);
        set_flowing(pp); /* QEMU's bytes may go; the destination holds them until its QEMU is connected */
        return;
    }
}

void v12_stream_remote_hello(struct v12_conn *c, const Vmcs12d__V1__Hello *hello)
{
    struct v12_pipe *pp = c->pipe;
    v12_conn_ready(c);
    pp->hello_done = true;
    send_opens(pp->listener);
}

void v12_stream_remote_ack(struct v12_conn *c, const Vmcs12d__V1__StreamOpen *so)
{
    struct v12_pipe *pp = c->pipe;
    if (!pp->open_sent || pp->acked || so->channel != pp->channel) {
        pipe_end(pp, "unexpected stream acknowledgement", true);
        return;
    }
    pp->acked = true;
    log_info("stream to peer %s migration %s channel %u: open at the destination", pp->peer->cfg->name,
             pp->migration_id, pp->channel);
    c->raw = true; /* from here on the destination sends the return path, raw */
    v12_conn_update_reading(c);
    send_opens(pp->listener);
}

/* ---- destination side --------------------------------------------------------------------------- */

void v12_stream_open(struct v12_conn *c, const Vmcs12d__V1__StreamOpen *so)
{
    struct v12_daemon *d = c->d;
    struct v12_endpoint target;
    if (v12_endpoint_parse(so->target, &target) != 0 || !v12_stream_allowed(d->cfg.stream_allow, d->cfg.nallow, &target)) {
        v12_count_reject(d, V12_E_PEER_UNKNOWN);
        log_warn("%s: stream to '%.100s' refused: not permitted by stream_allow", c->name, so->target);
        v12_conn_close(c, NULL);
        return;
    }
    struct v12_pipe *pp = pipe_new(d, c->peer, false);
    struct v12_conn *local = pp ? v12_conn_new_local(d, target.unix_socket) : NULL;
    uint8_t *win = malloc(WIN_SIZE);
    if (!local || !win) {
        free(win);
        if (local) v12_conn_close(local, NULL);
        if (pp) pipe_free(pp);
        v12_conn_close(c, "out of memory");
        return;
    }
    pp->win = win;
    pp->target = target;
    pp->channel = so->channel;
    pp->parse = !c->peer->cfg->stream_passthrough;
    snprintf(pp->migration_id, sizeof(pp->migration_id), "%.60s", v12_name_ok(so->migration_id) ? so->migration_id : "?");
    migration_channel_start(pp);
    pp->remote = c;
    pp->local = local;
    c->pipe = local->pipe = pp;
    c->raw = true;
    local->raw = true;
    v12_conn_update_reading(c); /* nothing more from the peer until QEMU's side is connected */
    snprintf(local->name, sizeof(local->name), "stream %s#%u qemu", c->peer->cfg->name, pp->channel);
    log_info("stream from peer %s migration %s channel %u: delivering to %s%s", c->peer->cfg->name, pp->migration_id,
             pp->channel, target.text, pp->parse ? "" : " (pass-through: not checked)");
    if (target.unix_socket) {
        pp->holds++; /* the connection */
        pp->connect_req.data = pp;
        uv_pipe_connect(&pp->connect_req, &local->h.pipe, target.path, on_target_connected);
        return;
    }
    (void)resolve(pp, target.host, target.port);
}

static void on_target_connected(uv_connect_t *req, int status)
{
    struct v12_pipe *pp = req->data;
    if (!pp->local || pp->ended) {
        pipe_release(pp);
        return;
    }
    if (status < 0) {
        char why[512];
        snprintf(why, sizeof(why), "cannot connect to QEMU at %s: %s", pp->target.text, uv_strerror(status));
        pipe_end(pp, why, true);
        pipe_release(pp);
        return;
    }
    if (!pp->target.unix_socket) uv_tcp_nodelay(&pp->local->h.tcp, 1);
    /* Acknowledge to the source: its next channel may now open. Before any return-path byte. */
    if (pp->remote) {
        int r = send_stream_open(pp->remote, pp);
        log_info("stream from peer %s migration %s channel %u: connected to QEMU at %s%s", pp->peer->cfg->name,
                 pp->migration_id, pp->channel, pp->target.text, r ? " (the acknowledgement could not be sent)" : "");
    }
    v12_conn_start(pp->local);
    set_flowing(pp);
    if (pp->remote_eof) finish_destination(pp);
    else process_window(pp, false);
    pipe_release(pp);
}

/* Destination: run what the peer sent through the parser (or not) and on to QEMU. */
static void process_window(struct v12_pipe *pp, bool eof)
{
    struct v12_daemon *d = pp->d;
    size_t s = 0;
    if (!pp->flowing || pp->ended || !pp->local) return;
    if (pp->kind == 0) {
        if (pp->wlen == 0 && eof) return;
        if (pp->wlen < 4 && !eof) return;
        uint32_t magic = pp->wlen >= 4 ? (uint32_t)pp->win[0] << 24 | (uint32_t)pp->win[1] << 16 | (uint32_t)pp->win[2] << 8 | pp->win[3] : 0;
        if (!pp->parse) pp->kind = 3;
        else if (magic == 0x5145564du) pp->kind = 1;
        else if (magic == MULTIFD_MAGIC) pp->kind = 2;
        else {
            v12_count_reject(d, V12_E_STREAM);
            pipe_end(pp, "the channel is neither a QEMU migration stream nor a multifd channel", true);
            return;
        }
        if (pp->kind == 1) {
            pp->qs = malloc(sizeof(*pp->qs));
            if (!pp->qs) {
                pipe_end(pp, "out of memory", true);
                return;
            }
            struct v12_convert_opts o;
            v12_convert_opts_init(&o);
            o.legacy_profile = pp->remote && pp->remote->remote_layout_set && v12_layout_is_legacy(pp->remote->remote_layout)
                                   ? pp->remote->remote_layout
                                   : V12_LAYOUT_LEGACY;
            o.to = d->cfg.layout;
            o.padding = d->cfg.padding;
            v12_qs_init(pp->qs, &o);
        }
    }
    if (pp->kind != 1) { /* multifd (RAM only) and pass-through: unchanged */
        if (pp->wlen && v12_conn_write_raw(pp->local, pp->win, pp->wlen) == 0) pp->bytes += pp->wlen;
        pp->wlen = 0;
        return;
    }
    for (;;) {
        size_t n;
        int r = v12_qs_step(pp->qs, pp->win + s, pp->wlen - s, eof, &n);
        if (r == V12_QS_FORWARD) {
            if (v12_conn_write_raw(pp->local, pp->win + s, n) != 0) break;
            pp->bytes += n;
            s += n;
            continue;
        }
        if (r == V12_QS_NEED || r == V12_QS_END) break;
        v12_count_reject(d, r);
        log_err("stream from peer %s migration %s: %s; ending the migration (the source keeps running the guest)",
                pp->peer->cfg->name, pp->migration_id, pp->qs->msg);
        pipe_end(pp, "stream refused", true);
        return;
    }
    memmove(pp->win, pp->win + s, pp->wlen - s);
    pp->wlen -= s;
}

void v12_stream_bytes(struct v12_conn *c, const uint8_t *data, size_t len)
{
    struct v12_pipe *pp = c->pipe;
    if (!pp || pp->ended || !len) return;
    if (pp->local == c) {
        /* From QEMU: towards the other daemon (source: the stream; destination: the return path). */
        if (!pp->remote || v12_conn_write_raw(pp->remote, data, len) != 0) return;
        if (pp->source) pp->bytes += len;
        else pp->bytes_back += len;
        return;
    }
    if (pp->source) { /* the return path, back to the source QEMU */
        if (pp->local && v12_conn_write_raw(pp->local, data, len) == 0) pp->bytes_back += len;
        return;
    }
    if (pp->wlen + len > WIN_SIZE) {
        pipe_end(pp, "stream window overflow", true);
        return;
    }
    memcpy(pp->win + pp->wlen, data, len);
    pp->wlen += len;
    pp->holds++; /* process_window may end (and so release) the channel */
    process_window(pp, false);
    if (pp->remote) v12_conn_update_reading(pp->remote);
    pipe_release(pp);
}

void v12_stream_status(struct v12_daemon *d, Vmcs12d__V1__StreamStatus *out, Vmcs12d__V1__StreamStatus **ptrs,
                       size_t max, size_t *ret_n)
{
    size_t n = 0;
    for (struct v12_pipe *pp = d->pipes; pp && n < max; pp = pp->next, n++) {
        Vmcs12d__V1__StreamStatus *s = &out[n];
        vmcs12d__v1__stream_status__init(s);
        s->peer = (char *)pp->peer->cfg->name;
        s->direction = (char *)(pp->source ? "out" : "in");
        s->target = pp->target.text;
        s->migration_id = pp->migration_id;
        s->channel = pp->channel;
        s->bytes = pp->bytes;
        s->bytes_back = pp->bytes_back;
        s->ram_pages = pp->qs ? pp->qs->stats.ram_pages : 0;
        s->regions = pp->qs ? pp->qs->stats.regions : 0;
        s->seconds = (v12_now_ms(d) - pp->start_ms) / 1000;
        s->kind = (char *)kind_name(pp->kind);
        ptrs[n] = s;
    }
    *ret_n = n;
}
