/* SPDX-License-Identifier: MIT */
/*
 * An inbound peer connection. The certificate must name a configured peer; the peer says Hello
 * first. A Blob is validated again (nothing from the network is trusted: it must be valid and
 * in this host's layout), stored durably, and only then acknowledged. A StreamOpen hands the
 * connection to stream mode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relay_internal.h"

struct peer_in {
    struct v12_daemon *d;
    struct v12_conn *conn; /* NULL once closed or handed on */
    int peer;              /* -1 until the certificate named one */
    bool unidentified;     /* counted in d->relay->handshakes */
    bool hello;
    enum v12_layout remote_layout;
    unsigned inflight; /* blobs being stored for this connection */
    char name[128];
};

static const struct v12_conn_ops peer_in_ops;

static void identified(struct peer_in *p)
{
    if (!p->unidentified) return;
    p->unidentified = false;
    p->d->relay->handshakes--;
}

static void maybe_free(struct peer_in *p)
{
    if (!p->conn && !p->inflight) free(p);
}

static void protocol_error(struct peer_in *p, struct v12_conn *c, const char *what)
{
    char why[V12_ERRMSG_SIZE + 32];
    v12_count_reject(&p->d->stats, V12_E_PROTOCOL);
    snprintf(why, sizeof(why), "protocol violation: %s", what);
    v12_conn_close(c, V12_E_PROTOCOL, why);
}

/* A store finished on a writer thread; we are back on the main loop. */
static void stored(struct v12_store *s)
{
    struct peer_in *p = s->arg;
    struct v12_daemon *d = p->d;
    const struct v12_spool_item *it = &s->item;
    atomic_fetch_sub(&d->limits.global_bytes, it->len);
    p->inflight--;
    char msg[320] = "";
    int code = it->result;
    if (code == -EEXIST) snprintf(msg, sizeof(msg), "a different blob is already stored as %s; not replaced", it->rel);
    else if (code) snprintf(msg, sizeof(msg), "cannot store %s: %s", it->rel, v12_strerror(code));
    if (code) {
        v12_count_reject(&d->stats, code);
        log_err("%s: migration %s vm %s vcpu %u seq %llu: %s", p->name, s->mig, s->vm, it->vcpu,
                (unsigned long long)it->seq, msg);
    } else {
        atomic_fetch_add(it->duplicate ? &d->stats.blobs_duplicate : &d->stats.blobs_stored, 1);
        log_info("%s: migration %s vm %s vcpu %u seq %llu: stored %s (%zu bytes)%s", p->name, s->mig, s->vm, it->vcpu,
                 (unsigned long long)it->seq, it->rel, it->len, it->duplicate ? ", duplicate of what was stored" : "");
        v12_control_stored(d, s->mig, s->vm, it->vcpu);
    }
    /* The ack goes out only now that the blob is durable (or definitely not stored). */
    if (p->conn) {
        v12_send_ack(p->conn, &(struct v12_ack_args){.mig = s->mig,
                                                     .vm = s->vm,
                                                     .vcpu = it->vcpu,
                                                     .seq = it->seq,
                                                     .code = code,
                                                     .message = msg[0] ? msg : NULL,
                                                     .duplicate = it->duplicate,
                                                     .stored_as = it->rel});
        if (p->conn) v12_conn_update_reading(p->conn);
    }
    free(s->data);
    free(s);
    maybe_free(p);
}

static void on_blob(struct peer_in *p, struct v12_conn *c, const Vmcs12d__V1__Blob *b)
{
    struct v12_daemon *d = p->d;
    struct v12_errmsg msg = {""};
    int code = v12_check_names(b->migration_id, b->vm, &msg);
    if (!code && b->data.len > V12_BLOB_MAX)
        code = v12_fail(&msg, V12_E_INPUT_TOO_LARGE, "blob is %zu bytes, at most %u", b->data.len, V12_BLOB_MAX);
    if (!code) {
        struct v12_check_opts co;
        struct v12_diag diag;
        size_t n;
        v12_check_opts_init(&co);
        co.legacy_profile = d->cfg.layout == V12_LAYOUT_ENCODED ? V12_LAYOUT_LEGACY : d->cfg.layout;
        co.expect = d->cfg.layout;
        co.padding = d->cfg.padding;
        code = v12_blob_check(b->data.data, b->data.len, &co, &diag, 1, &n, NULL);
        if (code) {
            v12_errmsg_set(&msg, "refused by %s: ", d->cfg.node);
            (void)v12_diag_format(&diag, &msg);
        }
    }
    if (code) {
        v12_count_reject(&d->stats, code);
        log_warn("%s: migration %.64s vm %.64s vcpu %u seq %llu: refused: %s", p->name, b->migration_id, b->vm, b->vcpu,
                 (unsigned long long)b->seq, msg.text);
        v12_send_ack(c, &(struct v12_ack_args){.mig = b->migration_id,
                                               .vm = b->vm,
                                               .vcpu = b->vcpu,
                                               .seq = b->seq,
                                               .code = code,
                                               .message = msg.text});
        return;
    }
    struct v12_store *s = calloc(1, sizeof(*s));
    uint8_t *data = malloc(b->data.len ? b->data.len : 1);
    if (!s || !data) {
        free(s);
        free(data);
        v12_send_ack(c, &(struct v12_ack_args){
                            .mig = b->migration_id, .vm = b->vm, .vcpu = b->vcpu, .seq = b->seq, .code = -ENOMEM});
        return;
    }
    memcpy(data, b->data.data, b->data.len);
    s->data = data;
    s->done = stored;
    s->arg = p;
    snprintf(s->mig, sizeof(s->mig), "%s", b->migration_id);
    snprintf(s->vm, sizeof(s->vm), "%s", b->vm);
    s->item = (struct v12_spool_item){
        .migration = s->mig, .vm = s->vm, .vcpu = b->vcpu, .seq = b->seq, .data = data, .len = b->data.len};
    p->inflight++;
    atomic_fetch_add(&d->limits.global_bytes, b->data.len);
    atomic_fetch_add(&d->stats.bytes_in, b->data.len);
    v12_writer_submit(&d->relay->writer, s);
    v12_conn_update_reading(c);
}

static void on_hello(struct peer_in *p, struct v12_conn *c, const Vmcs12d__V1__Hello *h)
{
    struct v12_errmsg err;
    int r = v12_hello_check(h, p->d->cfg.peers[p->peer].name, &p->remote_layout, &err);
    if (r == V12_E_PEER_UNKNOWN) {
        v12_count_reject(&p->d->stats, r);
        log_warn("%s: refusing: %s", p->name, err.text);
        v12_conn_close(c, r, err.text);
        return;
    }
    if (r) {
        protocol_error(p, c, err.text);
        return;
    }
    if (v12_send_hello(c, &p->d->cfg) != 0) {
        v12_conn_close(c, V12_E_PEER_DOWN, "cannot send hello");
        return;
    }
    p->hello = true;
    v12_conn_set_ready(c);
    log_notice("%s: peer %s connected (node %.64s, layout %s)", p->name, p->d->cfg.peers[p->peer].name, h->node,
               v12_layout_name(p->remote_layout));
}

static void on_frame(void *owner, struct v12_conn *c, const V12Envelope *env)
{
    struct peer_in *p = owner;
    if (!p->hello) {
        if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_HELLO) on_hello(p, c, env->hello);
        else protocol_error(p, c, "expected hello");
        return;
    }
    switch (env->msg_case) {
    case VMCS12D__V1__ENVELOPE__MSG_BLOB: on_blob(p, c, env->blob); break;
    case VMCS12D__V1__ENVELOPE__MSG_PING: v12_reply_ping(c, env->ping); break;
    case VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN:
        if (p->inflight) {
            protocol_error(p, c, "stream opened while blobs are being stored");
            return;
        }
        /* The connection is the stream channel's from now on (or closed by it): nothing more
         * of it reaches this handler. */
        p->d->relay->links[p->peer].inbound--;
        p->conn = NULL;
        v12_conn_set_owner(c, NULL, NULL);
        if (p->d->wire.stream_incoming)
            p->d->wire.stream_incoming(p->d, c, p->peer, p->remote_layout, env->stream_open);
        else v12_conn_close(c, V12_E_PROTOCOL, "stream mode is not wired in this daemon");
        maybe_free(p);
        break;
    default: protocol_error(p, c, "unexpected message from a peer"); break;
    }
}

static void established(void *owner, struct v12_conn *c, X509 *cert)
{
    struct peer_in *p = owner;
    identified(p);
    struct v12_errmsg err;
    int idx = -1;
    if (v12_tls_match_peer(cert, &p->d->cfg, -1, &idx, &err) != 0) {
        v12_count_reject(&p->d->stats, V12_E_PEER_UNKNOWN);
        log_warn("%s: refusing TLS peer: %s", p->name, err.text);
        v12_conn_close(c, V12_E_PEER_UNKNOWN, err.text);
        return;
    }
    snprintf(p->name, sizeof(p->name), "peer %s in", p->d->cfg.peers[idx].name);
    v12_conn_set_name(c, "%s", p->name);
    /* One peer cannot take every connection (max_connections) from the others and the control
     * socket: its certificate says who it is, and it gets max_peer_connections. */
    if (p->d->relay->links[idx].inbound >= p->d->cfg.max_peer_connections) {
        char why[160];
        snprintf(why, sizeof(why), "max_peer_connections (%u) reached", p->d->cfg.max_peer_connections);
        v12_count_reject(&p->d->stats, V12_E_BUSY);
        v12_conn_close(c, V12_E_BUSY, why); /* closed() logs it */
        return;
    }
    p->peer = idx;
    p->d->relay->links[idx].inbound++;
}

static bool may_read(void *owner, const struct v12_conn *c)
{
    const struct peer_in *p = owner;
    return v12_frames_may_read(p->d, c, p->inflight);
}

static bool busy(void *owner, const struct v12_conn *c)
{
    return ((const struct peer_in *)owner)->inflight > 0;
}

static void frame_error(void *owner, struct v12_conn *c, int code, const char *why)
{
    struct peer_in *p = owner;
    v12_count_reject(&p->d->stats, code);
}

static void closed(void *owner, struct v12_conn *c, int code, const char *why)
{
    struct peer_in *p = owner;
    if (code == V12_E_TLS) {
        v12_count_reject(&p->d->stats, V12_E_TLS);
        if (!p->hello) v12_count_tls_failure(&p->d->stats, code, why);
        log_warn("%s: TLS: %s", p->name, why);
    } else if (code == V12_E_TIMEOUT && !p->hello) {
        v12_count_reject(&p->d->stats, V12_E_TIMEOUT);
        v12_count_tls_failure(&p->d->stats, code, why);
        log_notice("%s: closing: %s", p->name, why);
    } else if (code == V12_E_PEER_UNKNOWN && !p->hello) {
        v12_count_tls_failure(&p->d->stats, code, why);
    } else if (code && code != V12_E_PEER_UNKNOWN) {
        log_notice("%s: closing: %s", p->name, why);
    }
    identified(p);
    if (p->peer >= 0) p->d->relay->links[p->peer].inbound--;
    p->conn = NULL;
    maybe_free(p);
}

static const struct v12_conn_ops peer_in_ops = {
    .established = established,
    .frame = on_frame,
    .frame_error = frame_error,
    .may_read = may_read,
    .busy = busy,
    .closed = closed,
};

void v12_peer_accept(struct v12_daemon *d, int fd)
{
    unsigned max_handshakes = d->cfg.max_connections / 4 > 16 ? d->cfg.max_connections / 4 : 16;
    const char *why = atomic_load(&d->stopping)                  ? "shutting down"
                      : d->main.nconns >= d->cfg.max_connections ? "max_connections reached"
                      : d->relay->handshakes >= max_handshakes   ? "too many connections not yet authenticated"
                                                                 : NULL;
    if (why) {
        v12_count_reject(&d->stats, V12_E_BUSY);
        log_warn("peer connection refused: %s", why);
        close(fd);
        return;
    }
    struct peer_in *p = calloc(1, sizeof(*p));
    if (!p) {
        close(fd);
        return;
    }
    static unsigned long long n;
    p->d = d;
    p->peer = -1;
    snprintf(p->name, sizeof(p->name), "peer-in#%llu", ++n);
    SSL_CTX *ctx = v12_tls_ctx_get(d, false);
    p->conn = v12_conn_adopt(&d->main, fd, ctx, &peer_in_ops, p);
    SSL_CTX_free(ctx);
    if (!p->conn) {
        free(p);
        return;
    }
    v12_conn_set_name(p->conn, "%s", p->name);
    p->unidentified = true;
    d->relay->handshakes++;
}
