/* SPDX-License-Identifier: MIT */
/*
 * The outbound link to a peer: connect, TLS, Hello; on any failure back off (doubling from
 * reconnect_min_ms to reconnect_max_ms) and try again, until the daemon stops. Blobs handed to
 * the link are validated and converted for the layout the peer announced, sent, and completed
 * by the peer's end-to-end Ack (stored durably there), or by an error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "relay_internal.h"

static const struct v12_conn_ops link_ops;

const char *v12_link_state_name(enum v12_link_state s)
{
    static const char *const names[] = {"idle", "connecting", "handshake", "connected", "backoff"};
    return s <= V12_LINK_BACKOFF ? names[s] : "?";
}

void v12_transfer_free(struct v12_transfer *t)
{
    free(t->raw);
    free(t);
}

/* ---- transfers ---------------------------------------------------------------------------------------- */

static void finish(struct v12_transfer **link, int code, const char *message, const Vmcs12d__V1__Ack *ack)
{
    struct v12_transfer *t = *link;
    *link = t->next;
    struct v12_link *k = t->link;
    struct v12_daemon *d = k->d;
    if (code == 0) atomic_fetch_add(&d->stats.blobs_relayed, 1);
    else v12_count_reject(&d->stats, code);
    /* One line per transfer: who, which migration, what conversion, and how it ended. */
    char conv[128] = "not sent";
    if (t->sent)
        snprintf(conv, sizeof(conv), "%s -> %s, %u regions, %u fields%s", t->summary.from, t->summary.to,
                 t->summary.regions, t->summary.fields, t->summary.bytes_dropped ? ", padding dropped" : "");
    v12_log(code ? V12_LOG_WARNING : V12_LOG_INFO, "peer %s: migration %s vm %s vcpu %u seq %llu: %s: %s%s%s",
            k->cfg->name, t->migration_id, t->vm, t->vcpu, (unsigned long long)t->seq, conv,
            code ? "failed: " : "acknowledged, stored at destination",
            code ? (message ? message : v12_strerror(code)) : "", ack && ack->duplicate ? " (duplicate)" : "");
    if (t->done) t->done(t->arg, t, code, message, ack);
    v12_transfer_free(t);
}

static void fail_one(struct v12_transfer *t, int code, const char *message)
{
    for (struct v12_transfer **l = &t->link->transfers; *l; l = &(*l)->next)
        if (*l == t) {
            finish(l, code, message, NULL);
            return;
        }
}

void v12_transfer_forget(struct v12_transfer *t)
{
    t->done = NULL;
    t->arg = NULL;
}

/* The link is up: validate and convert for the layout the peer announced, then send. */
static void send_one(struct v12_transfer *t)
{
    struct v12_link *k = t->link;
    struct v12_daemon *d = k->d;
    struct v12_report rep;
    struct v12_convert_opts o;
    struct v12_diag diag;
    v12_convert_opts_init(&o);
    o.legacy_profile = d->cfg.layout == V12_LAYOUT_ENCODED ? V12_LAYOUT_LEGACY : d->cfg.layout;
    o.to = k->layout;
    o.padding = d->cfg.padding;
    uint8_t *out = malloc(t->len ? t->len : 1);
    if (!out) {
        fail_one(t, -ENOMEM, NULL);
        return;
    }
    int code = v12_blob_convert(t->raw, t->len, out, t->len, &o, &rep, &diag);
    if (code) {
        struct v12_errmsg msg;
        v12_errmsg_set(&msg, "not relayed to %s (layout %s): ", k->cfg->name, v12_layout_name(k->layout));
        (void)v12_diag_format(&diag, &msg);
        free(out);
        fail_one(t, code, msg.text);
        return;
    }
    snprintf(t->sum_from, sizeof(t->sum_from), "%s", v12_layout_name(rep.from));
    snprintf(t->sum_to, sizeof(t->sum_to), "%s", v12_layout_name(rep.to));
    t->summary.regions = rep.nregions;
    t->summary.fields = rep.fields_converted;
    t->summary.bytes_dropped = rep.bytes_dropped;

    Vmcs12d__V1__Blob fwd;
    vmcs12d__v1__blob__init(&fwd);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    fwd.migration_id = t->migration_id;
    fwd.vm = t->vm;
    fwd.vcpu = t->vcpu;
    fwd.seq = t->seq;
    fwd.data.data = out;
    fwd.data.len = t->len;
    fwd.peer = v12_pb_str("");
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_BLOB;
    env.blob = &fwd;
    int r = v12_conn_send(k->conn, &env);
    free(out);
    log_debug("peer %s: migration %s vm %s vcpu %u seq %llu: %zu bytes sent", k->cfg->name, t->migration_id, t->vm,
              t->vcpu, (unsigned long long)t->seq, t->len);
    if (r) {
        /* The connection died under us (the transport reports it from the loop): nothing of this
         * frame can be stored whole at the peer, so it waits for the next connection within its
         * deadline, as a blob sent before the link came up does. */
        log_info("peer %s: migration %s vm %s vcpu %u seq %llu: not sent (%s); waiting for the link", k->cfg->name,
                 t->migration_id, t->vm, t->vcpu, (unsigned long long)t->seq, v12_strerror(r));
        return;
    }
    free(t->raw);
    t->raw = NULL;
    t->sent = true;
    if (rep.nregions && rep.from != rep.to) atomic_fetch_add(&d->stats.blobs_converted, 1);
    k->blobs_sent++;
    k->bytes_sent += t->len;
    atomic_fetch_add(&d->stats.bytes_out, t->len);
}

static void connect_now(struct v12_link *k);

void v12_link_submit(struct v12_link *k, struct v12_transfer *t)
{
    t->link = k;
    t->next = k->transfers;
    k->transfers = t;
    if (k->state == V12_LINK_READY) {
        send_one(t);
        return;
    }
    /* The link is down or still coming up: the blob waits for it within its timeout, and a link
     * waiting out its reconnect backoff tries again now. */
    log_info("migration %s vm %s vcpu %u seq %llu: waiting for peer %s (%s)", t->migration_id, t->vm, t->vcpu,
             (unsigned long long)t->seq, k->cfg->name, v12_link_state_name(k->state));
    if (k->state == V12_LINK_BACKOFF || k->state == V12_LINK_IDLE) {
        k->backoff_ms = 0;
        connect_now(k);
    }
}

/* The link went down: what was sent may or may not have arrived, so those fail; what waits for
 * the link keeps waiting, within its own timeout. */
static void link_lost(struct v12_link *k, const char *why)
{
    char msg[400];
    snprintf(msg, sizeof(msg), "connection to peer %s lost before it acknowledged: %s", k->cfg->name, why);
    for (struct v12_transfer **l = &k->transfers; *l;) {
        if ((*l)->sent) finish(l, V12_E_PEER_DOWN, msg, NULL);
        else l = &(*l)->next;
    }
}

static void on_ack(struct v12_link *k, const Vmcs12d__V1__Ack *a)
{
    for (struct v12_transfer **l = &k->transfers; *l; l = &(*l)->next) {
        struct v12_transfer *t = *l;
        if (t->sent && t->vcpu == a->vcpu && t->seq == a->seq && strcmp(t->vm, a->vm) == 0 &&
            strcmp(t->migration_id, a->migration_id) == 0) {
            finish(l, a->code, a->code ? a->message : NULL, a);
            return;
        }
    }
    log_debug("peer %s: ack for nothing pending (migration %.64s vm %.64s)", k->cfg->name, a->migration_id, a->vm);
}

/* ---- the connection ---------------------------------------------------------------------------------- */

static void backoff(struct v12_link *k, const char *what)
{
    struct v12_daemon *d = k->d;
    snprintf(k->last_error, sizeof(k->last_error), "%s", what);
    k->conn = NULL;
    if (atomic_load(&d->stopping)) {
        k->state = V12_LINK_IDLE;
        return;
    }
    if (!k->backoff_ms) k->backoff_ms = d->cfg.reconnect_min_ms;
    log_info("peer %s (%s): %s; retrying in %u ms", k->cfg->name, k->cfg->address.text, k->last_error, k->backoff_ms);
    k->state = V12_LINK_BACKOFF;
    k->retry_ms = v12_clock_ms() + k->backoff_ms;
    k->backoff_ms = k->backoff_ms * 2 > d->cfg.reconnect_max_ms ? d->cfg.reconnect_max_ms : k->backoff_ms * 2;
}

static void connect_now(struct v12_link *k)
{
    struct v12_daemon *d = k->d;
    if (atomic_load(&d->stopping)) return;
    SSL_CTX *ctx = v12_tls_ctx_get(d, true);
    k->state = V12_LINK_CONNECTING;
    k->conn = v12_conn_connect_tcp(&d->main, k->cfg->address.host, k->cfg->address.port, ctx, k->cfg->address.host,
                                   &link_ops, k);
    SSL_CTX_free(ctx);
    if (!k->conn) {
        backoff(k, "cannot connect: out of memory");
        return;
    }
    v12_conn_set_name(k->conn, "peer %s out", k->cfg->name);
}

static void mark_down(struct v12_link *k)
{
    if (k->down_since_ms) return;
    k->down_since_ms = v12_clock_ms();
    k->down_since_unix = (int64_t)time(NULL);
    k->down_warned = false;
}

void v12_link_start(struct v12_link *k)
{
    mark_down(k);
    connect_now(k);
}

static void established(void *owner, struct v12_conn *c, X509 *cert)
{
    struct v12_link *k = owner;
    struct v12_errmsg err;
    if (v12_tls_match_peer(cert, &k->d->cfg, k->idx, NULL, &err) != 0) {
        v12_count_reject(&k->d->stats, V12_E_PEER_UNKNOWN);
        log_warn("%s: refusing TLS peer: %s", v12_conn_name(c), err.text);
        v12_conn_close(c, V12_E_PEER_UNKNOWN, err.text);
        return;
    }
    k->state = V12_LINK_HANDSHAKE;
    if (v12_send_hello(c, &k->d->cfg) != 0) v12_conn_close(c, V12_E_PEER_DOWN, "cannot send hello");
}

static void protocol_error(struct v12_link *k, struct v12_conn *c, const char *what)
{
    char why[256];
    v12_count_reject(&k->d->stats, V12_E_PROTOCOL);
    snprintf(why, sizeof(why), "protocol violation: %s", what);
    v12_conn_close(c, V12_E_PROTOCOL, why);
}

static void on_frame(void *owner, struct v12_conn *c, const V12Envelope *env)
{
    struct v12_link *k = owner;
    if (k->state != V12_LINK_READY) {
        if (env->msg_case != VMCS12D__V1__ENVELOPE__MSG_HELLO) {
            protocol_error(k, c, "expected hello");
            return;
        }
        struct v12_errmsg err;
        enum v12_layout l;
        int r = v12_hello_check(env->hello, k->cfg->name, &l, &err);
        if (r) {
            v12_count_reject(&k->d->stats, r);
            char why[sizeof(err.text) + 8];
            snprintf(why, sizeof(why), "hello: %s", err.text);
            v12_conn_close(c, r, why);
            return;
        }
        k->layout = l;
        k->has_layout = true;
        k->state = V12_LINK_READY;
        if (k->down_warned)
            log_notice("peer %s (%s): reachable again after %llu s down", k->cfg->name, k->cfg->address.text,
                       (unsigned long long)((v12_clock_ms() - k->down_since_ms) / 1000));
        k->down_since_ms = 0;
        k->down_since_unix = 0;
        k->down_warned = false;
        k->backoff_ms = 0;
        k->last_error[0] = 0;
        v12_conn_set_ready(c);
        log_notice("peer %s (%s): connected, node %.64s, layout %s", k->cfg->name, k->cfg->address.text,
                   env->hello->node, v12_layout_name(l));
        v12_status_changed(k->d);
        for (struct v12_transfer *t = k->transfers, *next; t && k->state == V12_LINK_READY; t = next) {
            next = t->next; /* send_one may finish t, and only t */
            if (!t->sent) send_one(t);
        }
        return;
    }
    switch (env->msg_case) {
    case VMCS12D__V1__ENVELOPE__MSG_ACK: on_ack(k, env->ack); break;
    case VMCS12D__V1__ENVELOPE__MSG_PING: v12_reply_ping(c, env->ping); break;
    default: protocol_error(k, c, "unexpected message from a peer"); break;
    }
}

/* Keepalive: the inbound side's idle timer sees it, and our own sees its reply. No "busy" rule
 * here: a peer that is alive answers pings and acks even while it stores (its writers are
 * threads), so a link that hears nothing for idle_timeout_ms with blobs on the wire is stalled
 * (a middlebox holding the connection open) and is closed; its blobs fail as "may or may not be
 * stored" and the next send gets a fresh connection. */
static void tick(void *owner, struct v12_conn *c)
{
    Vmcs12d__V1__Ping ping;
    vmcs12d__v1__ping__init(&ping);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    ping.nonce = v12_clock_ms();
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_PING;
    env.ping = &ping;
    if (v12_conn_send(c, &env) != 0) return; /* the transport ends the connection and says why */
}

static void closed(void *owner, struct v12_conn *c, int code, const char *why)
{
    struct v12_link *k = owner;
    bool was_ready = k->state == V12_LINK_READY;
    if (code == V12_E_TLS) {
        v12_count_reject(&k->d->stats, V12_E_TLS);
        log_warn("%s: TLS: %s", v12_conn_name(c), why);
    }
    if (!was_ready &&
        (code == V12_E_TLS || code == V12_E_PEER_UNKNOWN || (code == V12_E_TIMEOUT && k->state == V12_LINK_HANDSHAKE)))
        v12_count_tls_failure(&k->d->stats, code, why);
    if (was_ready) {
        log_notice("peer %s (%s): disconnected: %s", k->cfg->name, k->cfg->address.text, why);
        mark_down(k);
    }
    link_lost(k, why);
    backoff(k, why);
    v12_status_changed(k->d);
}

static const struct v12_conn_ops link_ops = {
    .established = established,
    .frame = on_frame,
    .tick = tick,
    .closed = closed,
};

void v12_link_tick(struct v12_link *k, uint64_t now)
{
    if (k->state == V12_LINK_BACKOFF && now >= k->retry_ms) connect_now(k);
    if (k->down_since_ms && !k->down_warned && k->state != V12_LINK_READY &&
        now - k->down_since_ms >= (uint64_t)k->d->cfg.peer_down_warn_s * 1000u) {
        log_warn("peer %s (%s): unreachable for %llu s (peer_down_warn_s = %u)%s%s", k->cfg->name, k->cfg->address.text,
                 (unsigned long long)((now - k->down_since_ms) / 1000), k->d->cfg.peer_down_warn_s,
                 k->last_error[0] ? ": " : "", k->last_error);
        k->down_warned = true;
    }
    bool stopping = atomic_load(&k->d->stopping);
    for (struct v12_transfer **l = &k->transfers; *l;) {
        struct v12_transfer *t = *l;
        char msg[1024];
        if (!t->sent && stopping) {
            finish(l, V12_E_BUSY, "daemon is shutting down; nothing was sent", NULL);
            continue;
        }
        if (t->deadline_ms > now) {
            l = &t->next;
            continue;
        }
        if (!t->sent) {
            snprintf(msg, sizeof(msg), "peer %s (%s) did not connect in time (%s)%s%s; nothing was sent", k->cfg->name,
                     k->cfg->address.text, v12_link_state_name(k->state), k->last_error[0] ? ": " : "", k->last_error);
            finish(l, V12_E_PEER_DOWN, msg, NULL);
            continue;
        }
        snprintf(msg, sizeof(msg),
                 "no acknowledgement from peer %s in time; the blob may or may not be stored there "
                 "(resending it is safe)",
                 k->cfg->name);
        finish(l, V12_E_TIMEOUT, msg, NULL);
    }
}

void v12_link_stop(struct v12_link *k)
{
    if (k->conn) v12_conn_close(k->conn, 0, "daemon stopping");
    k->state = V12_LINK_IDLE;
}
