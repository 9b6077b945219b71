/* SPDX-License-Identifier: MIT */
/*
 * A client on the control socket: send (a Blob for a peer: answered with the destination's
 * end-to-end Ack, or an error), recv (a stored blob, now or when it arrives), status, ping.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relay_internal.h"

#define V12_DEFAULT_SEND_TIMEOUT_MS 30000u

struct client {
    struct v12_daemon *d;
    struct v12_conn *conn; /* NULL once closed */
    unsigned inflight;     /* transfers and recv waits for this client */
};

/* A recv request waiting for its blob to arrive. */
struct v12_waiter {
    struct client *client;
    char migration_id[V12_NAME_MAX], vm[V12_NAME_MAX];
    uint32_t vcpu;
    uint64_t deadline_ms;
    struct v12_waiter *next;
};

static void maybe_free(struct client *cl)
{
    if (!cl->conn && !cl->inflight) free(cl);
}

static void send_env(struct client *cl, const V12Envelope *env)
{
    if (!cl->conn) return;
    /* A failed write ends the connection from the loop (closed() then); never from here, where
     * the caller still holds the client. */
    int r = v12_conn_send(cl->conn, env);
    if (r && r != V12_E_PEER_DOWN) log_warn("%s: cannot answer: %s", v12_conn_name(cl->conn), v12_strerror(r));
}

static void send_ack(struct client *cl, const struct v12_ack_args *a)
{
    if (cl->conn) (void)v12_send_ack(cl->conn, a);
}

/* ---- send ------------------------------------------------------------------------------------------------ */

static void transfer_done(void *arg, struct v12_transfer *t, int code, const char *message, const Vmcs12d__V1__Ack *ack)
{
    struct client *cl = arg;
    cl->inflight--;
    send_ack(cl, &(struct v12_ack_args){.mig = t->migration_id,
                                        .vm = t->vm,
                                        .vcpu = t->vcpu,
                                        .seq = t->seq,
                                        .code = code,
                                        .message = message,
                                        .duplicate = ack && ack->duplicate,
                                        .conversion = &t->summary,
                                        .stored_as = ack ? ack->stored_as : NULL});
    if (cl->conn) v12_conn_update_reading(cl->conn);
    maybe_free(cl);
}

static void on_blob(struct client *cl, const Vmcs12d__V1__Blob *b)
{
    struct v12_daemon *d = cl->d;
    struct v12_errmsg msg = {""};
    int code = v12_check_names(b->migration_id, b->vm, &msg);
    struct v12_link *k = NULL;
    if (!code) {
        for (unsigned i = 0; i < d->cfg.npeers; i++)
            if (strcmp(d->cfg.peers[i].name, b->peer) == 0) k = &d->relay->links[i];
        if (!k) code = v12_fail(&msg, V12_E_PEER_UNKNOWN, "peer '%.64s' is not configured here", b->peer);
        else if (atomic_load(&d->stopping)) code = v12_fail(&msg, V12_E_BUSY, "daemon is shutting down");
        else if (b->data.len == 0) /* protobuf-c leaves data NULL: nothing to copy or check */
            code = v12_fail(&msg, V12_E_BLOB_TRUNCATED, "blob is empty");
        else if (b->data.len > V12_BLOB_MAX)
            code = v12_fail(&msg, V12_E_INPUT_TOO_LARGE, "blob is %zu bytes, at most %u", b->data.len, V12_BLOB_MAX);
    }
    struct v12_transfer *t = code ? NULL : calloc(1, sizeof(*t));
    uint8_t *raw = t ? malloc(b->data.len) : NULL;
    if (!code && !raw) {
        free(t);
        code = -ENOMEM;
    }
    if (code) {
        v12_count_reject(&d->stats, code);
        log_warn("%s: migration %.64s vm %.64s vcpu %u seq %llu: refused: %s", v12_conn_name(cl->conn), b->migration_id,
                 b->vm, b->vcpu, (unsigned long long)b->seq, msg.text[0] ? msg.text : v12_strerror(code));
        send_ack(cl, &(struct v12_ack_args){.mig = b->migration_id,
                                            .vm = b->vm,
                                            .vcpu = b->vcpu,
                                            .seq = b->seq,
                                            .code = code,
                                            .message = msg.text[0] ? msg.text : NULL});
        return;
    }
    memcpy(raw, b->data.data, b->data.len);
    t->raw = raw;
    t->len = b->data.len;
    snprintf(t->migration_id, sizeof(t->migration_id), "%s", b->migration_id);
    snprintf(t->vm, sizeof(t->vm), "%s", b->vm);
    t->vcpu = b->vcpu;
    t->seq = b->seq;
    t->deadline_ms = v12_clock_ms() + (b->timeout_ms ? b->timeout_ms : V12_DEFAULT_SEND_TIMEOUT_MS);
    vmcs12d__v1__conversion_summary__init(&t->summary);
    t->summary.from = t->sum_from;
    t->summary.to = t->sum_to;
    t->done = transfer_done;
    t->arg = cl;
    cl->inflight++;
    v12_link_submit(k, t);
}

/* ---- recv ------------------------------------------------------------------------------------------------ */

static void send_recv_reply(struct client *cl, int code, const char *message, const char *mig, const char *vm,
                            uint32_t vcpu, uint64_t seq, const uint8_t *data, size_t len, const char *rel)
{
    Vmcs12d__V1__RecvReply rr;
    vmcs12d__v1__recv_reply__init(&rr);
    Vmcs12d__V1__Blob b;
    vmcs12d__v1__blob__init(&b);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    rr.code = code;
    rr.error = v12_pb_str(v12_err_name(code));
    rr.message = v12_pb_str((message ? message : v12_strerror(code)));
    if (!code) {
        b.migration_id = v12_pb_str(mig);
        b.vm = v12_pb_str(vm);
        b.vcpu = vcpu;
        b.seq = seq;
        b.data.data = v12_pb_bytes(data);
        b.data.len = len;
        rr.blob = &b;
        rr.stored_as = v12_pb_str(rel);
    }
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_RECV_REPLY;
    env.recv_reply = &rr;
    send_env(cl, &env);
}

/* Answered (found, or an error)? false: not there yet. */
static bool try_recv(struct client *cl, const char *mig, const char *vm, uint32_t vcpu, bool final)
{
    uint8_t *data;
    size_t len;
    uint64_t seq;
    char found_mig[V12_NAME_MAX], rel[256];
    int r = v12_spool_find(cl->d->cfg.spool_dir, mig, vm, vcpu, &data, &len, &seq, found_mig, sizeof(found_mig), rel,
                           sizeof(rel));
    if (r == V12_E_NOT_FOUND && !final) return false;
    if (r) {
        char msg[256];
        if (r == V12_E_NOT_FOUND)
            snprintf(msg, sizeof(msg), "no blob stored for vm %s vcpu %u%s%s", vm, vcpu, mig[0] ? " in migration " : "",
                     mig);
        else snprintf(msg, sizeof(msg), "cannot read the spool: %s", v12_strerror(r));
        send_recv_reply(cl, r, msg, NULL, NULL, 0, 0, NULL, 0, NULL);
        return true;
    }
    send_recv_reply(cl, 0, "found", found_mig, vm, vcpu, seq, data, len, rel);
    free(data);
    return true;
}

static void on_recv(struct client *cl, const Vmcs12d__V1__RecvRequest *q)
{
    char msg[256];
    if (!v12_name_ok(q->vm) || (q->migration_id[0] && !v12_name_ok(q->migration_id))) {
        snprintf(msg, sizeof(msg), "vm '%.64s' or migration '%.64s' is not a valid name", q->vm, q->migration_id);
        send_recv_reply(cl, V12_E_INVALID_ARGUMENT, msg, NULL, NULL, 0, 0, NULL, 0, NULL);
        return;
    }
    if (try_recv(cl, q->migration_id, q->vm, q->vcpu, q->wait_ms == 0)) return;
    struct v12_waiter *w = calloc(1, sizeof(*w));
    if (!w) {
        send_recv_reply(cl, -ENOMEM, NULL, NULL, NULL, 0, 0, NULL, 0, NULL);
        return;
    }
    w->client = cl;
    snprintf(w->migration_id, sizeof(w->migration_id), "%s", q->migration_id);
    snprintf(w->vm, sizeof(w->vm), "%s", q->vm);
    w->vcpu = q->vcpu;
    w->deadline_ms = v12_clock_ms() + q->wait_ms;
    w->next = cl->d->relay->waiters;
    cl->d->relay->waiters = w;
    cl->inflight++;
}

static void waiter_done(struct v12_waiter **link)
{
    struct v12_waiter *w = *link;
    *link = w->next;
    w->client->inflight--;
    maybe_free(w->client);
    free(w);
}

void v12_control_stored(struct v12_daemon *d, const char *mig, const char *vm, uint32_t vcpu)
{
    for (struct v12_waiter **link = &d->relay->waiters; *link;) {
        struct v12_waiter *w = *link;
        bool match =
            w->vcpu == vcpu && strcmp(w->vm, vm) == 0 && (!w->migration_id[0] || strcmp(w->migration_id, mig) == 0);
        if (match && (!w->client->conn || try_recv(w->client, w->migration_id, w->vm, w->vcpu, true))) {
            waiter_done(link);
            continue;
        }
        link = &w->next;
    }
}

void v12_control_tick(struct v12_daemon *d, uint64_t now)
{
    for (struct v12_waiter **link = &d->relay->waiters; *link;) {
        struct v12_waiter *w = *link;
        if (w->deadline_ms <= now || !w->client->conn) {
            if (w->client->conn) (void)try_recv(w->client, w->migration_id, w->vm, w->vcpu, true);
            waiter_done(link);
            continue;
        }
        link = &w->next;
    }
}

/* ---- status ---------------------------------------------------------------------------------------------- */

static Vmcs12d__V1__Layout wire_layout(enum v12_layout l)
{
    return l == V12_LAYOUT_ENCODED ? VMCS12D__V1__LAYOUT__LAYOUT_ENCODED : VMCS12D__V1__LAYOUT__LAYOUT_LEGACY;
}

static void on_status(struct client *cl)
{
    struct v12_daemon *d = cl->d;
    Vmcs12d__V1__StatusReply s;
    vmcs12d__v1__status_reply__init(&s);
    static Vmcs12d__V1__PeerStatus ps[V12_MAX_PEERS], *psp[V12_MAX_PEERS];
    static Vmcs12d__V1__Counter cs[V12_MAX_REJECT_KINDS], *csp[V12_MAX_REJECT_KINDS];
    static char names[V12_MAX_REJECT_KINDS][40];
    s.node = d->cfg.node;
    s.layout = wire_layout(d->cfg.layout);
    s.profile = v12_pb_str(d->cfg.layout == V12_LAYOUT_ENCODED ? "" : v12_layout_name(d->cfg.layout));
    s.profile_source = d->cfg.profile_why;
    for (unsigned i = 0; i < d->cfg.npeers; i++) {
        struct v12_link *k = &d->relay->links[i];
        vmcs12d__v1__peer_status__init(&ps[i]);
        ps[i].name = v12_pb_str(k->cfg->name);
        ps[i].address = v12_pb_str(k->cfg->address.text);
        ps[i].state = v12_pb_str(v12_link_state_name(k->state));
        ps[i].layout = k->has_layout ? wire_layout(k->layout) : VMCS12D__V1__LAYOUT__LAYOUT_UNSPECIFIED;
        ps[i].profile = v12_pb_str(k->has_layout && k->layout != V12_LAYOUT_ENCODED ? v12_layout_name(k->layout) : "");
        ps[i].last_error = k->last_error;
        ps[i].blobs_sent = k->blobs_sent;
        ps[i].bytes_sent = k->bytes_sent;
        ps[i].inbound = k->inbound;
        psp[i] = &ps[i];
    }
    s.n_peers = d->cfg.npeers;
    s.peers = psp;
    size_t nc = 0;
    uv_mutex_lock(&d->stats.mu);
    for (int i = 0; i < V12_MAX_REJECT_KINDS && d->stats.rejected[i].code; i++, nc++) {
        vmcs12d__v1__counter__init(&cs[i]);
        snprintf(names[i], sizeof(names[i]), "%s", v12_err_name(d->stats.rejected[i].code));
        cs[i].name = names[i];
        cs[i].value = d->stats.rejected[i].count;
        csp[i] = &cs[i];
    }
    uv_mutex_unlock(&d->stats.mu);
    s.n_rejected = nc;
    s.rejected = csp;
    s.blobs_relayed = atomic_load(&d->stats.blobs_relayed);
    s.blobs_converted = atomic_load(&d->stats.blobs_converted);
    s.blobs_stored = atomic_load(&d->stats.blobs_stored);
    s.blobs_duplicate = atomic_load(&d->stats.blobs_duplicate);
    s.bytes_in = atomic_load(&d->stats.bytes_in);
    s.bytes_out = atomic_load(&d->stats.bytes_out);
    s.connections = d->main.nconns;
    s.uptime_s = (v12_clock_ms() - d->start_ms) / 1000;
    static Vmcs12d__V1__StreamStatus ss[64], *ssp[64];
    s.n_streams = 0;
    if (d->wire.stream_status) d->wire.stream_status(d, ss, ssp, 64, &s.n_streams);
    s.streams = ssp;
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_STATUS_REPLY;
    env.status_reply = &s;
    send_env(cl, &env);
}

/* ---- the connection ---------------------------------------------------------------------------------------- */

static void on_frame(void *owner, struct v12_conn *c, const V12Envelope *env)
{
    struct client *cl = owner;
    switch (env->msg_case) {
    case VMCS12D__V1__ENVELOPE__MSG_BLOB: on_blob(cl, env->blob); break;
    case VMCS12D__V1__ENVELOPE__MSG_RECV: on_recv(cl, env->recv); break;
    case VMCS12D__V1__ENVELOPE__MSG_STATUS: on_status(cl); break;
    case VMCS12D__V1__ENVELOPE__MSG_PING:
        if (cl->conn) v12_reply_ping(cl->conn, env->ping);
        break;
    default:
        v12_count_reject(&cl->d->stats, V12_E_PROTOCOL);
        v12_conn_close(c, V12_E_PROTOCOL, "protocol violation: unexpected message on the control socket");
        break;
    }
}

/* Tell the client why before hanging up. */
static void frame_error(void *owner, struct v12_conn *c, int code, const char *why)
{
    struct client *cl = owner;
    v12_count_reject(&cl->d->stats, code);
    send_ack(cl, &(struct v12_ack_args){.mig = "", .vm = "", .code = code, .message = why});
}

static void established(void *owner, struct v12_conn *c, X509 *cert)
{
    v12_conn_set_ready(c);
}

static bool may_read(void *owner, const struct v12_conn *c)
{
    const struct client *cl = owner;
    return v12_frames_may_read(cl->d, c, cl->inflight);
}

static bool busy(void *owner, const struct v12_conn *c)
{
    return ((const struct client *)owner)->inflight > 0;
}

static void closed(void *owner, struct v12_conn *c, int code, const char *why)
{
    struct client *cl = owner;
    log_debug("%s: closing: %s", v12_conn_name(c), why);
    cl->conn = NULL;
    /* Transfers still complete (the peer may be storing the blob); nobody hears of it. */
    for (unsigned i = 0; i < cl->d->cfg.npeers; i++)
        for (struct v12_transfer *t = cl->d->relay->links[i].transfers; t; t = t->next)
            if (t->arg == cl) {
                v12_transfer_forget(t);
                cl->inflight--;
            }
    maybe_free(cl);
}

static const struct v12_conn_ops control_ops = {
    .established = established,
    .frame = on_frame,
    .frame_error = frame_error,
    .may_read = may_read,
    .busy = busy,
    .closed = closed,
};

void v12_control_accept(struct v12_daemon *d, int fd)
{
    if (d->main.nconns >= d->cfg.max_connections || atomic_load(&d->stopping)) {
        v12_count_reject(&d->stats, V12_E_BUSY);
        log_warn("control connection refused: %s",
                 atomic_load(&d->stopping) ? "shutting down" : "max_connections reached");
        close(fd);
        return;
    }
    struct client *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        close(fd);
        return;
    }
    static unsigned long long n;
    cl->d = d;
    cl->conn = v12_conn_adopt(&d->main, fd, NULL, &control_ops, cl);
    if (!cl->conn) {
        free(cl);
        return;
    }
    v12_conn_set_name(cl->conn, "control#%llu", ++n);
}
