/* SPDX-License-Identifier: MIT */
/*
 * Connections: the libuv glue (thin callbacks) and the core that turns bytes into frames,
 * through TLS for peer links. Memory is freed only once every handle's close callback ran.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

struct write_req {
    uv_write_t req;
    uv_buf_t buf;
    struct v12_conn *c;
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void after_write(uv_write_t *req, int status);
static void after_shutdown(uv_shutdown_t *req, int status);
static void on_timer(uv_timer_t *t);
static void on_close(uv_handle_t *h);

/* One read buffer for every connection: the loop is single-threaded and read data is
 * consumed before on_read returns, so idle connections hold no buffer at all. */
static uint8_t read_buf[65536];

static struct v12_conn *conn_new(struct v12_daemon *d, enum v12_conn_kind kind, bool unix_socket)
{
    struct v12_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->d = d;
    c->kind = kind;
    c->id = ++d->next_conn_id;
    c->use_tls = kind == V12_CONN_PEER_IN || kind == V12_CONN_PEER_OUT;
    c->unix_socket = unix_socket;
    v12_frame_reader_init(&c->rd, d->cfg.max_frame);
    if (unix_socket) uv_pipe_init(d->loop, &c->h.pipe, 0);
    else uv_tcp_init(d->loop, &c->h.tcp);
    uv_timer_init(d->loop, &c->timer);
    c->open_handles = 2;
    c->h.handle.data = c;
    c->timer.data = c;
    snprintf(c->name, sizeof(c->name), "%s#%llu",
             kind == V12_CONN_CONTROL ? "control" : kind == V12_CONN_PEER_IN ? "peer-in" : kind == V12_CONN_PEER_OUT ? "peer-out" : "stream",
             (unsigned long long)c->id);
    c->next = d->conns;
    if (d->conns) d->conns->prev = c;
    d->conns = c;
    d->nconns++;
    return c;
}

struct v12_conn *v12_conn_new(struct v12_daemon *d, enum v12_conn_kind kind)
{
    return conn_new(d, kind, kind == V12_CONN_CONTROL);
}

struct v12_conn *v12_conn_new_local(struct v12_daemon *d, bool unix_socket)
{
    return conn_new(d, V12_CONN_STREAM_LOCAL, unix_socket);
}

static void flush_tls(struct v12_conn *c);

void v12_conn_start(struct v12_conn *c)
{
    struct v12_daemon *d = c->d;
    c->last_rx_ms = v12_now_ms(d);
    if (c->use_tls) {
        const char *sni = c->kind == V12_CONN_PEER_OUT ? c->peer->cfg->host : NULL;
        if (v12_tls_init(&c->tls, d->tls_ctx, c->kind == V12_CONN_PEER_IN, sni) != 0) {
            v12_conn_close(c, "cannot create a TLS session");
            return;
        }
        if (c->kind == V12_CONN_PEER_OUT) {
            char err[256];
            if (v12_tls_start(&c->tls, err, sizeof(err)) != 0) {
                v12_conn_close(c, err);
                return;
            }
            flush_tls(c);
        }
        uv_timer_start(&c->timer, on_timer, d->cfg.handshake_timeout_ms, 0);
    } else {
        c->ready = true;
        uv_timer_start(&c->timer, on_timer, d->cfg.idle_timeout_ms, d->cfg.idle_timeout_ms / 2);
    }
    v12_conn_update_reading(c);
}

static void queue_write(struct v12_conn *c, uint8_t *data, size_t len)
{
    struct write_req *w = malloc(sizeof(*w));
    if (!w) {
        free(data);
        v12_conn_close(c, "out of memory");
        return;
    }
    w->buf = uv_buf_init((char *)data, (unsigned)len);
    w->c = c;
    int r = uv_write(&w->req, &c->h.stream, &w->buf, 1, after_write);
    if (r) {
        free(data);
        free(w);
        c->closing = true; /* the stream is gone; close without flushing */
        return;
    }
    c->write_bytes += len;
    c->d->global_bytes += len;
    c->d->bytes_out += len;
    v12_conn_update_reading(c);
}

static void flush_tls(struct v12_conn *c)
{
    size_t len;
    uint8_t *buf;
    while ((buf = v12_tls_take(&c->tls, &len))) queue_write(c, buf, len);
}

int v12_conn_write_raw(struct v12_conn *c, const uint8_t *data, size_t len)
{
    if (c->closing) return V12_E_PEER_DOWN;
    if (c->use_tls) {
        int r = v12_tls_write(&c->tls, data, len);
        if (r) return r;
        flush_tls(c);
        return 0;
    }
    uint8_t *copy = malloc(len);
    if (!copy) return -ENOMEM;
    memcpy(copy, data, len);
    queue_write(c, copy, len);
    return 0;
}

int v12_conn_send(struct v12_conn *c, const V12Envelope *env)
{
    if (c->closing) return V12_E_PEER_DOWN;
    uint8_t *frame;
    size_t len;
    int r = v12_frame_pack(env, c->d->cfg.max_frame, &frame, &len);
    if (r) return r;
    if (!c->use_tls) {
        queue_write(c, frame, len);
        return 0;
    }
    r = v12_tls_write(&c->tls, frame, len);
    free(frame);
    if (r) return r;
    flush_tls(c);
    return 0;
}

static bool should_read(const struct v12_conn *c)
{
    const struct v12_config *cfg = &c->d->cfg;
    if (c->closing || c->eof) return false;
    /* A migration channel has its own flow control: each direction waits only for the side it
     * writes to (a full queue towards QEMU must not stop the acknowledgement coming back). */
    if (c->pipe) return v12_stream_may_read(c);
    if (c->write_bytes >= cfg->conn_buffer_limit) return false; /* the other side is not reading */
    if (c->inflight >= cfg->max_inflight) return false;
    if (c->d->global_bytes >= cfg->global_buffer_limit) return false;
    return true;
}

void v12_conn_update_reading(struct v12_conn *c)
{
    bool want = should_read(c);
    if (want == c->reading) return;
    if (want) {
        if (uv_read_start(&c->h.stream, on_alloc, on_read) == 0) c->reading = true;
    } else {
        uv_read_stop(&c->h.stream);
        c->reading = false;
    }
}

void v12_conns_update_reading(struct v12_daemon *d)
{
    for (struct v12_conn *c = d->conns; c; c = c->next) v12_conn_update_reading(c);
}

static void close_handles(struct v12_conn *c)
{
    if (!uv_is_closing(&c->h.handle)) uv_close(&c->h.handle, on_close);
    if (!uv_is_closing((uv_handle_t *)&c->timer)) uv_close((uv_handle_t *)&c->timer, on_close);
}

void v12_conn_close(struct v12_conn *c, const char *why)
{
    if (c->closing && (uv_is_closing(&c->h.handle) || c->shutdown_req.data)) return;
    bool was_closing = c->closing;
    c->closing = true;
    if (!was_closing && why) {
        int prio = c->kind == V12_CONN_CONTROL ? V12_LOG_DEBUG : V12_LOG_NOTICE;
        v12_log(prio, "%s: closing: %s", c->name, why);
    }
    if (c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = false;
    }
    uv_timer_stop(&c->timer);
    v12_relay_conn_gone(c);
    if (c->kind == V12_CONN_PEER_OUT && c->peer && c->peer->conn == c) v12_peer_link_down(c->peer, why ? why : "closed");
    if (c->use_tls && c->tls.ssl && c->tls.established && !c->tls.failed) {
        v12_tls_shutdown(&c->tls); /* close_notify, always */
        flush_tls(c);
    }
    /* Let queued writes (acks, close_notify) reach the socket, then close. */
    if (!uv_is_closing(&c->h.handle) && uv_is_writable(&c->h.stream) && c->write_bytes) {
        c->shutdown_req.data = c;
        if (uv_shutdown(&c->shutdown_req, &c->h.stream, after_shutdown) == 0) {
            uv_timer_start(&c->timer, on_timer, 2000, 0); /* bounded: a peer that never reads */
            return;
        }
        c->shutdown_req.data = NULL;
    }
    close_handles(c);
}

static void after_shutdown(uv_shutdown_t *req, int status)
{
    struct v12_conn *c = req->data;
    close_handles(c);
}

static void conn_free(struct v12_conn *c)
{
    struct v12_daemon *d = c->d;
    d->global_bytes -= v12_frame_reader_buffered(&c->rd);
    v12_frame_reader_done(&c->rd);
    if (c->use_tls) v12_tls_done(&c->tls);
    if (c->prev) c->prev->next = c->next;
    else d->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    d->nconns--;
    free(c);
    v12_conns_update_reading(d);
}

static void on_close(uv_handle_t *h)
{
    struct v12_conn *c = h->data;
    if (--c->open_handles > 0) return;
    /* A spool write still running holds this connection; the last one frees it. */
    if (c->works) return;
    conn_free(c);
}

void v12_conn_work_done(struct v12_conn *c)
{
    c->works--;
    if (c->open_handles == 0 && c->works == 0) {
        conn_free(c);
        return;
    }
    if (!c->closing) v12_conn_update_reading(c);
}

static void after_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct v12_conn *c = w->c;
    c->write_bytes -= w->buf.len;
    c->d->global_bytes -= w->buf.len;
    free(w->buf.base);
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->closing) {
        v12_conn_close(c, uv_strerror(status));
        return;
    }
    v12_conns_update_reading(c->d);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init((char *)read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct v12_conn *c = s->data;
    if (nread > 0) {
        v12_conn_on_bytes(c, (const uint8_t *)buf->base, (size_t)nread);
        return;
    }
    if (nread == 0) return;
    c->eof = true;
    if (nread != UV_EOF) {
        v12_conn_close(c, uv_strerror((int)nread));
        return;
    }
    if (c->use_tls && c->tls.established && !c->tls.close_notify_seen)
        v12_conn_close(c, "connection closed without TLS close_notify (truncated)");
    else
        v12_conn_close(c, "closed by the other side");
}

/* Plaintext from TLS (or the socket, for control connections): frames out of it. */
static bool on_established(struct v12_conn *c);

static int on_plain(void *arg, const uint8_t *data, size_t len)
{
    struct v12_conn *c = arg;
    /* TLS 1.3 can deliver the first frame in the same read that completes the handshake:
     * nothing is processed before the certificate has named a configured peer. */
    if (c->use_tls && !c->identified && !on_established(c)) return 0;
    if (c->raw) {
        v12_stream_bytes(c, data, len);
        return 0;
    }
    while (len && !c->closing) {
        V12Envelope *env = NULL;
        size_t used = 0;
        size_t before = v12_frame_reader_buffered(&c->rd);
        int r = v12_frame_feed(&c->rd, data, len, &used, &env, NULL);
        c->d->global_bytes += v12_frame_reader_buffered(&c->rd);
        c->d->global_bytes -= before;
        data += used;
        len -= used;
        if (r < 0) {
            char why[160];
            if (r == V12_E_FRAME_TOO_LARGE)
                snprintf(why, sizeof(why), "%s (limit %u bytes)", v12_strerror(r), c->rd.max);
            else
                snprintf(why, sizeof(why), "%s", v12_strerror(r));
            v12_count_reject(c->d, r);
            if (c->kind == V12_CONN_CONTROL) {
                /* Tell the client why before hanging up. */
                Vmcs12d__V1__Ack ack = VMCS12D__V1__ACK__INIT;
                V12Envelope env2 = VMCS12D__V1__ENVELOPE__INIT;
                ack.code = r;
                ack.error = (char *)v12_err_name(r);
                ack.message = why;
                env2.msg_case = VMCS12D__V1__ENVELOPE__MSG_ACK;
                env2.ack = &ack;
                (void)v12_conn_send(c, &env2);
            }
            v12_conn_close(c, why);
            return 0;
        }
        if (r == 0) break;
        v12_relay_on_frame(c, env);
        v12_envelope_free(env);
        if (c->raw && !c->closing) { /* the frame switched the connection to stream mode */
            if (len) v12_stream_bytes(c, data, len);
            return 0;
        }
    }
    return 0;
}

static bool identify_peer(struct v12_conn *c)
{
    char err[320];
    X509 *cert = SSL_get1_peer_certificate(c->tls.ssl);
    int only = c->kind == V12_CONN_PEER_OUT ? c->peer->idx : -1;
    int idx = v12_tls_match_peer(cert, &c->d->cfg, only, err, sizeof(err));
    X509_free(cert);
    if (idx < 0) {
        v12_count_reject(c->d, V12_E_PEER_UNKNOWN);
        log_warn("%s: refusing TLS peer: %s", c->name, err);
        if (c->kind == V12_CONN_PEER_OUT) snprintf(c->peer->last_error, sizeof(c->peer->last_error), "%s", err);
        v12_conn_close(c, NULL);
        return false;
    }
    if (c->kind == V12_CONN_PEER_IN) {
        c->peer = &c->d->peers[idx];
        snprintf(c->name, sizeof(c->name), "peer %s in#%llu", c->peer->cfg->name, (unsigned long long)c->id);
    }
    return true;
}

/* TLS is up: check whom the certificate names, and (outbound) say hello. Once. */
static bool on_established(struct v12_conn *c)
{
    if (c->identified) return true;
    if (!identify_peer(c)) return false;
    c->identified = true;
    if (c->kind == V12_CONN_PEER_OUT) {
        Vmcs12d__V1__Hello hello = VMCS12D__V1__HELLO__INIT;
        V12Envelope env = VMCS12D__V1__ENVELOPE__INIT;
        v12_hello_fill(c->d, &hello);
        env.msg_case = VMCS12D__V1__ENVELOPE__MSG_HELLO;
        env.hello = &hello;
        if (v12_conn_send(c, &env) != 0) {
            v12_conn_close(c, "cannot send hello");
            return false;
        }
    }
    return true;
}

void v12_conn_on_bytes(struct v12_conn *c, const uint8_t *data, size_t len)
{
    c->last_rx_ms = v12_now_ms(c->d);
    c->d->bytes_in += len;
    if (!c->use_tls) {
        (void)on_plain(c, data, len);
        return;
    }
    char err[320];
    int r = v12_tls_feed(&c->tls, data, len, on_plain, c, err, sizeof(err));
    if (!c->closing) flush_tls(c);
    if (r) {
        v12_count_reject(c->d, V12_E_TLS);
        if (c->kind == V12_CONN_PEER_OUT) snprintf(c->peer->last_error, sizeof(c->peer->last_error), "%s", err);
        log_warn("%s: TLS: %s", c->name, err);
        v12_conn_close(c, NULL);
        return;
    }
    if (c->tls.established && !c->closing && !on_established(c)) return;
    if (c->tls.close_notify_seen && !c->closing) v12_conn_close(c, "closed by the other side (close_notify)");
}

/* A connection became ready (Hello exchanged): from the handshake deadline to idle checks. */
void v12_conn_ready(struct v12_conn *c)
{
    c->ready = true;
    uv_timer_stop(&c->timer);
    unsigned idle = c->d->cfg.idle_timeout_ms;
    uv_timer_start(&c->timer, on_timer, idle / 3, idle / 3);
}

static void on_timer(uv_timer_t *t)
{
    struct v12_conn *c = t->data;
    if (c->closing) {
        /* The shutdown deadline: the other side never read what we queued. */
        close_handles(c);
        return;
    }
    if (!c->ready) {
        v12_count_reject(c->d, V12_E_TIMEOUT);
        v12_conn_close(c, "TLS handshake or hello not completed in time");
        return;
    }
    uint64_t last = c->last_rx_ms;
    if (c->pipe) { /* a migration channel is idle only when neither side moves */
        const struct v12_conn *o = c->pipe->local == c ? c->pipe->remote : c->pipe->local;
        if (o && o->last_rx_ms > last) last = o->last_rx_ms;
    }
    uint64_t idle = v12_now_ms(c->d) - last;
    bool busy = c->inflight > 0;
    if (idle >= c->d->cfg.idle_timeout_ms && !busy) {
        v12_conn_close(c, "idle timeout");
        return;
    }
    if (c->kind == V12_CONN_PEER_OUT && !c->pipe) {
        /* Keepalive: the inbound side's idle timer sees it, and our own sees its reply. */
        Vmcs12d__V1__Ping ping = VMCS12D__V1__PING__INIT;
        V12Envelope env = VMCS12D__V1__ENVELOPE__INIT;
        ping.nonce = v12_now_ms(c->d);
        env.msg_case = VMCS12D__V1__ENVELOPE__MSG_PING;
        env.ping = &ping;
        (void)v12_conn_send(c, &env);
    }
}
