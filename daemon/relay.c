/* SPDX-License-Identifier: MIT */
/*
 * What the daemon does with each frame.
 *
 * Source side: a client's Blob (control socket) is validated and converted for the layout the
 * peer announced, then relayed; the client hears back only the destination's end-to-end Ack,
 * or an error. Destination side: a peer's Blob is validated again (nothing from the network is
 * trusted), stored durably, and only then acknowledged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "spool.h"

#define V12_DEFAULT_SEND_TIMEOUT_MS 30000u

static void send_env(struct v12_conn *c, V12Envelope *env)
{
    int r = v12_conn_send(c, env);
    if (r && r != V12_E_PEER_DOWN) v12_conn_close(c, v12_strerror(r));
}

static void send_ack(struct v12_conn *c, const char *mig, const char *vm, uint32_t vcpu, uint64_t seq, int code,
                     const char *message, bool dup, Vmcs12d__V1__ConversionSummary *sum, const char *stored_as)
{
    Vmcs12d__V1__Ack ack = VMCS12D__V1__ACK__INIT;
    V12Envelope env = VMCS12D__V1__ENVELOPE__INIT;
    ack.migration_id = (char *)mig;
    ack.vm = (char *)vm;
    ack.vcpu = vcpu;
    ack.seq = seq;
    ack.code = code;
    ack.error = (char *)v12_err_name(code);
    ack.message = (char *)(message ? message : (code ? v12_strerror(code) : "stored"));
    ack.duplicate = dup;
    ack.conversion = sum;
    ack.stored_as = (char *)(stored_as ? stored_as : "");
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_ACK;
    env.ack = &ack;
    send_env(c, &env);
}

void v12_count_reject(struct v12_daemon *d, int code)
{
    for (int i = 0; i < V12_MAX_REJECT_KINDS; i++) {
        if (d->rejected[i].code == code || d->rejected[i].code == 0) {
            d->rejected[i].code = code;
            d->rejected[i].count++;
            return;
        }
    }
}

static void protocol_error(struct v12_conn *c, const char *what)
{
    v12_count_reject(c->d, V12_E_PROTOCOL);
    char why[256];
    snprintf(why, sizeof(why), "protocol violation: %s", what);
    v12_conn_close(c, why);
}

/* ---- source side: a client hands over a blob ------------------------------------------ */

static int check_key(const char *mig, const char *vm, char *msg, size_t len)
{
    if (!v12_name_ok(mig)) {
        snprintf(msg, len, "migration id '%.64s' is not allowed (1..63 of [A-Za-z0-9._:-], not starting with '.')", mig);
        return V12_E_INVALID_ARGUMENT;
    }
    if (!v12_name_ok(vm)) {
        snprintf(msg, len, "vm name '%.64s' is not allowed (1..63 of [A-Za-z0-9._:-], not starting with '.')", vm);
        return V12_E_INVALID_ARGUMENT;
    }
    return 0;
}

static void finish_transfer(struct v12_transfer **link, int code, const char *message, const Vmcs12d__V1__Ack *ack);

static void fail_transfer(struct v12_transfer *t, int code, const char *message)
{
    for (struct v12_transfer **link = &t->d->transfers; *link; link = &(*link)->next)
        if (*link == t) {
            finish_transfer(link, code, message, NULL);
            return;
        }
}

/* The peer's link is up: validate and convert for the layout it announced, then send. */
static void transfer_start(struct v12_transfer *t)
{
    struct v12_daemon *d = t->d;
    struct v12_peer *p = t->peer;
    char msg[1024];
    struct v12_report rep;
    struct v12_convert_opts o;
    struct v12_diag diag;
    v12_convert_opts_init(&o);
    o.legacy_profile = d->cfg.layout == V12_LAYOUT_ENCODED ? V12_LAYOUT_LEGACY : d->cfg.layout;
    o.to = p->layout;
    o.padding = d->cfg.padding;
    uint8_t *out = malloc(t->len ? t->len : 1);
    if (!out) {
        fail_transfer(t, -ENOMEM, NULL);
        return;
    }
    int code = v12_blob_convert(t->raw, t->len, out, t->len, &o, &rep, &diag);
    if (code) {
        int n = snprintf(msg, sizeof(msg), "not relayed to %s (layout %s): ", p->cfg->name, v12_layout_name(p->layout));
        v12_diag_format(&diag, msg + n, sizeof(msg) - (size_t)n);
        log_warn("%s: migration %s vm %s vcpu %u seq %llu: refused: %s", t->client ? t->client->name : "control",
                 t->migration_id, t->vm, t->vcpu, (unsigned long long)t->seq, msg);
        free(out);
        fail_transfer(t, code, msg);
        return;
    }
    snprintf(t->sum_from, sizeof(t->sum_from), "%s", v12_layout_name(rep.from));
    snprintf(t->sum_to, sizeof(t->sum_to), "%s", v12_layout_name(rep.to));
    t->summary.regions = rep.nregions;
    t->summary.fields = rep.fields_converted;
    t->summary.bytes_dropped = rep.bytes_dropped;
    free(t->raw);
    t->raw = NULL;
    t->sent = true;

    Vmcs12d__V1__Blob fwd = VMCS12D__V1__BLOB__INIT;
    V12Envelope env = VMCS12D__V1__ENVELOPE__INIT;
    fwd.migration_id = t->migration_id;
    fwd.vm = t->vm;
    fwd.vcpu = t->vcpu;
    fwd.seq = t->seq;
    fwd.data.data = out;
    fwd.data.len = t->len;
    fwd.peer = (char *)"";
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_BLOB;
    env.blob = &fwd;
    int r = v12_conn_send(p->conn, &env);
    free(out);
    if (rep.nregions && rep.from != rep.to) d->blobs_converted++;
    log_debug("peer %s: migration %s vm %s vcpu %u seq %llu: %zu bytes sent", p->cfg->name, t->migration_id, t->vm,
              t->vcpu, (unsigned long long)t->seq, t->len);
    if (r) v12_conn_close(p->conn, v12_strerror(r)); /* fails this transfer through peer_down */
    else p->blobs_sent++, p->bytes_sent += t->len;
}

static void control_blob(struct v12_conn *c, const Vmcs12d__V1__Blob *b)
{
    struct v12_daemon *d = c->d;
    char msg[1024] = "";
    int code = check_key(b->migration_id, b->vm, msg, sizeof(msg));
    struct v12_peer *p = NULL;
    if (!code) {
        for (unsigned i = 0; i < d->cfg.npeers; i++)
            if (strcmp(d->cfg.peers[i].name, b->peer) == 0) p = &d->peers[i];
        if (!p) {
            code = V12_E_PEER_UNKNOWN;
            snprintf(msg, sizeof(msg), "peer '%.64s' is not configured here", b->peer);
        } else if (d->stopping) {
            code = V12_E_BUSY;
            snprintf(msg, sizeof(msg), "daemon is shutting down");
        } else if (b->data.len > V12_BLOB_MAX) {
            code = V12_E_INPUT_TOO_LARGE;
            snprintf(msg, sizeof(msg), "blob is %zu bytes, at most %u", b->data.len, V12_BLOB_MAX);
        }
    }
    struct v12_transfer *t = code ? NULL : calloc(1, sizeof(*t));
    uint8_t *raw = t ? malloc(b->data.len ? b->data.len : 1) : NULL;
    if (!code && !raw) {
        free(t);
        code = -ENOMEM;
    }
    if (code) {
        v12_count_reject(d, code);
        log_warn("%s: migration %.64s vm %.64s vcpu %u seq %llu: refused: %s", c->name, b->migration_id, b->vm, b->vcpu,
                 (unsigned long long)b->seq, msg[0] ? msg : v12_strerror(code));
        send_ack(c, b->migration_id, b->vm, b->vcpu, b->seq, code, msg[0] ? msg : NULL, false, NULL, NULL);
        return;
    }
    memcpy(raw, b->data.data, b->data.len);
    t->d = d;
    t->client = c;
    t->peer = p;
    t->raw = raw;
    t->len = b->data.len;
    snprintf(t->migration_id, sizeof(t->migration_id), "%s", b->migration_id);
    snprintf(t->vm, sizeof(t->vm), "%s", b->vm);
    t->vcpu = b->vcpu;
    t->seq = b->seq;
    t->deadline_ms = v12_now_ms(d) + (b->timeout_ms ? b->timeout_ms : V12_DEFAULT_SEND_TIMEOUT_MS);
    vmcs12d__v1__conversion_summary__init(&t->summary);
    t->summary.from = t->sum_from;
    t->summary.to = t->sum_to;
    t->next = d->transfers;
    d->transfers = t;
    c->inflight++;
    if (p->state == V12_PEER_READY && p->conn) {
        transfer_start(t);
        return;
    }
    /* The link is down or still coming up: the blob waits for it within its timeout, and a link
     * waiting out its reconnect backoff tries again now. */
    log_info("%s: migration %s vm %s vcpu %u seq %llu: waiting for peer %s (%s)", c->name, t->migration_id, t->vm,
             t->vcpu, (unsigned long long)t->seq, p->cfg->name, v12_peer_state_name(p->state));
    v12_peer_kick(p);
}

void v12_relay_peer_up(struct v12_peer *p)
{
    for (struct v12_transfer *t = p->d->transfers, *next; t; t = next) {
        next = t->next; /* transfer_start may finish t (and only t) */
        if (t->peer == p && !t->sent && p->state == V12_PEER_READY) transfer_start(t);
    }
}

static void finish_transfer(struct v12_transfer **link, int code, const char *message, const Vmcs12d__V1__Ack *ack)
{
    struct v12_transfer *t = *link;
    *link = t->next;
    struct v12_daemon *d = t->d;
    if (code == 0) d->blobs_relayed++;
    else v12_count_reject(d, code);
    if (t->client) {
        t->client->inflight--;
        send_ack(t->client, t->migration_id, t->vm, t->vcpu, t->seq, code, message, ack && ack->duplicate,
                 &t->summary, ack ? ack->stored_as : NULL);
        v12_conn_update_reading(t->client);
    }
    /* One line per transfer: who, which migration, what conversion, and how it ended. */
    int prio = code ? V12_LOG_WARNING : V12_LOG_INFO;
    char conv[128] = "not sent";
    if (t->sent)
        snprintf(conv, sizeof(conv), "%s -> %s, %u regions, %u fields%s", t->summary.from, t->summary.to,
                 t->summary.regions, t->summary.fields, t->summary.bytes_dropped ? ", padding dropped" : "");
    v12_log(prio, "peer %s: migration %s vm %s vcpu %u seq %llu: %s: %s%s%s", t->peer->cfg->name, t->migration_id,
            t->vm, t->vcpu, (unsigned long long)t->seq, conv, code ? "failed: " : "acknowledged, stored at destination",
            code ? (message ? message : v12_strerror(code)) : "", ack && ack->duplicate ? " (duplicate)" : "");
    free(t->raw);
    free(t);
}

static void peer_ack(struct v12_conn *c, const Vmcs12d__V1__Ack *a)
{
    struct v12_daemon *d = c->d;
    int matched = 0;
    for (struct v12_transfer **link = &d->transfers; *link;) {
        struct v12_transfer *t = *link;
        if (t->peer == c->peer && t->vcpu == a->vcpu && t->seq == a->seq && strcmp(t->vm, a->vm) == 0 &&
            strcmp(t->migration_id, a->migration_id) == 0) {
            finish_transfer(link, a->code, a->code ? a->message : NULL, a);
            matched++;
            continue;
        }
        link = &t->next;
    }
    if (!matched) log_debug("%s: ack for nothing pending (migration %.64s vm %.64s)", c->name, a->migration_id, a->vm);
}

void v12_relay_peer_down(struct v12_peer *p, const char *why)
{
    char msg[320];
    snprintf(msg, sizeof(msg), "connection to peer %s lost before it acknowledged: %s", p->cfg->name, why ? why : "closed");
    /* What was sent may or may not have arrived: those fail. What waits for the link keeps
     * waiting, within its own timeout. */
    for (struct v12_transfer **link = &p->d->transfers; *link;) {
        if ((*link)->peer == p && (*link)->sent) finish_transfer(link, V12_E_PEER_DOWN, msg, NULL);
        else link = &(*link)->next;
    }
}

/* ---- destination side: a peer relays a blob --------------------------------------------- */

static void notify_waiters(struct v12_daemon *d, const char *mig, const char *vm, uint32_t vcpu);

void v12_relay_stored(struct v12_store *s)
{
    struct v12_conn *c = s->c;
    struct v12_daemon *d = c->d;
    const struct v12_spool_item *it = &s->item;
    d->global_bytes -= it->len;
    d->spool_inflight--;
    c->inflight--;
    char msg[320] = "";
    int code = it->result;
    if (code == -EEXIST)
        snprintf(msg, sizeof(msg), "a different blob is already stored as %s; not replaced", it->rel);
    else if (code)
        snprintf(msg, sizeof(msg), "cannot store %s: %s", it->rel, v12_strerror(code));
    if (code) {
        v12_count_reject(d, code);
        log_err("%s: migration %s vm %s vcpu %u seq %llu: %s", c->name, s->mig, s->vm, it->vcpu,
                (unsigned long long)it->seq, msg);
    } else {
        if (it->duplicate) d->blobs_duplicate++;
        else d->blobs_stored++;
        log_info("%s: migration %s vm %s vcpu %u seq %llu: stored %s (%zu bytes)%s", c->name, s->mig, s->vm, it->vcpu,
                 (unsigned long long)it->seq, it->rel, it->len, it->duplicate ? ", duplicate of what was stored" : "");
        notify_waiters(d, s->mig, s->vm, it->vcpu);
    }
    /* The ack goes out only now that the blob is durable (or definitely not stored). */
    if (!c->closing)
        send_ack(c, s->mig, s->vm, it->vcpu, it->seq, code, msg[0] ? msg : NULL, it->duplicate, NULL, it->rel);
    free(s->data);
    free(s);
    v12_conn_work_done(c);
}

static void peer_blob(struct v12_conn *c, const Vmcs12d__V1__Blob *b)
{
    struct v12_daemon *d = c->d;
    char msg[512] = "";
    int code = check_key(b->migration_id, b->vm, msg, sizeof(msg));
    if (!code && b->data.len > V12_BLOB_MAX) {
        code = V12_E_INPUT_TOO_LARGE;
        snprintf(msg, sizeof(msg), "blob is %zu bytes, at most %u", b->data.len, V12_BLOB_MAX);
    }
    if (!code) {
        /* Trust nothing from the network: the blob must be valid, and in this host's layout. */
        struct v12_check_opts co;
        struct v12_diag diag;
        size_t n;
        v12_check_opts_init(&co);
        co.legacy_profile = d->cfg.layout == V12_LAYOUT_ENCODED ? V12_LAYOUT_LEGACY : d->cfg.layout;
        co.expect = d->cfg.layout;
        co.padding = d->cfg.padding;
        code = v12_blob_check(b->data.data, b->data.len, &co, &diag, 1, &n, NULL);
        if (code) {
            int k = snprintf(msg, sizeof(msg), "refused by %s: ", d->cfg.node);
            v12_diag_format(&diag, msg + k, sizeof(msg) - (size_t)k);
        }
    }
    if (code) {
        v12_count_reject(d, code);
        log_warn("%s: migration %.64s vm %.64s vcpu %u seq %llu: refused: %s", c->name, b->migration_id, b->vm, b->vcpu,
                 (unsigned long long)b->seq, msg);
        send_ack(c, b->migration_id, b->vm, b->vcpu, b->seq, code, msg, false, NULL, NULL);
        return;
    }
    struct v12_store *s = calloc(1, sizeof(*s));
    uint8_t *data = malloc(b->data.len ? b->data.len : 1);
    if (!s || !data) {
        free(s);
        free(data);
        send_ack(c, b->migration_id, b->vm, b->vcpu, b->seq, -ENOMEM, NULL, false, NULL, NULL);
        return;
    }
    memcpy(data, b->data.data, b->data.len);
    s->c = c;
    s->data = data;
    snprintf(s->mig, sizeof(s->mig), "%s", b->migration_id);
    snprintf(s->vm, sizeof(s->vm), "%s", b->vm);
    s->item = (struct v12_spool_item){
        .migration = s->mig, .vm = s->vm, .vcpu = b->vcpu, .seq = b->seq, .data = data, .len = b->data.len};
    c->inflight++;
    c->works++;
    d->spool_inflight++;
    d->global_bytes += b->data.len;
    v12_writer_submit(d, s);
    v12_conn_update_reading(c);
}

/* ---- control: recv and status --------------------------------------------------------------- */

static void send_recv_reply(struct v12_conn *c, int code, const char *message, const char *mig, const char *vm,
                            uint32_t vcpu, uint64_t seq, const uint8_t *data, size_t len, const char *rel)
{
    Vmcs12d__V1__RecvReply rr = VMCS12D__V1__RECV_REPLY__INIT;
    Vmcs12d__V1__Blob b = VMCS12D__V1__BLOB__INIT;
    V12Envelope env = VMCS12D__V1__ENVELOPE__INIT;
    rr.code = code;
    rr.error = (char *)v12_err_name(code);
    rr.message = (char *)(message ? message : v12_strerror(code));
    if (!code) {
        b.migration_id = (char *)mig;
        b.vm = (char *)vm;
        b.vcpu = vcpu;
        b.seq = seq;
        b.data.data = (uint8_t *)data;
        b.data.len = len;
        rr.blob = &b;
        rr.stored_as = (char *)rel;
    }
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_RECV_REPLY;
    env.recv_reply = &rr;
    send_env(c, &env);
}

/* 1 if answered (found, or an error), 0 if not there yet. */
static int try_recv(struct v12_conn *c, const char *mig, const char *vm, uint32_t vcpu, bool final)
{
    uint8_t *data;
    size_t len;
    uint64_t seq;
    char found_mig[V12_NAME_MAX], rel[256];
    int r = v12_spool_find(c->d->cfg.spool_dir, mig, vm, vcpu, &data, &len, &seq, found_mig, sizeof(found_mig), rel,
                           sizeof(rel));
    if (r == V12_E_NOT_FOUND && !final) return 0;
    if (r) {
        char msg[256];
        if (r == V12_E_NOT_FOUND)
            snprintf(msg, sizeof(msg), "no blob stored for vm %s vcpu %u%s%s", vm, vcpu, mig[0] ? " in migration " : "", mig);
        else
            snprintf(msg, sizeof(msg), "cannot read the spool: %s", v12_strerror(r));
        send_recv_reply(c, r, msg, NULL, NULL, 0, 0, NULL, 0, NULL);
        return 1;
    }
    send_recv_reply(c, 0, "found", found_mig, vm, vcpu, seq, data, len, rel);
    free(data);
    return 1;
}

static void control_recv(struct v12_conn *c, const Vmcs12d__V1__RecvRequest *q)
{
    char msg[256];
    if (!v12_name_ok(q->vm) || (q->migration_id[0] && !v12_name_ok(q->migration_id))) {
        snprintf(msg, sizeof(msg), "vm '%.64s' or migration '%.64s' is not a valid name", q->vm, q->migration_id);
        send_recv_reply(c, V12_E_INVALID_ARGUMENT, msg, NULL, NULL, 0, 0, NULL, 0, NULL);
        return;
    }
    if (try_recv(c, q->migration_id, q->vm, q->vcpu, q->wait_ms == 0)) return;
    struct v12_waiter *w = calloc(1, sizeof(*w));
    if (!w) {
        send_recv_reply(c, -ENOMEM, NULL, NULL, NULL, 0, 0, NULL, 0, NULL);
        return;
    }
    w->client = c;
    snprintf(w->migration_id, sizeof(w->migration_id), "%s", q->migration_id);
    snprintf(w->vm, sizeof(w->vm), "%s", q->vm);
    w->vcpu = q->vcpu;
    w->deadline_ms = v12_now_ms(c->d) + q->wait_ms;
    w->next = c->d->waiters;
    c->d->waiters = w;
    c->inflight++;
}

static void notify_waiters(struct v12_daemon *d, const char *mig, const char *vm, uint32_t vcpu)
{
    for (struct v12_waiter **link = &d->waiters; *link;) {
        struct v12_waiter *w = *link;
        bool match = w->vcpu == vcpu && strcmp(w->vm, vm) == 0 && (!w->migration_id[0] || strcmp(w->migration_id, mig) == 0);
        if (match && w->client && try_recv(w->client, w->migration_id, w->vm, w->vcpu, true)) {
            w->client->inflight--;
            *link = w->next;
            free(w);
            continue;
        }
        link = &w->next;
    }
}

static Vmcs12d__V1__Layout wire_layout(enum v12_layout l)
{
    return l == V12_LAYOUT_ENCODED ? VMCS12D__V1__LAYOUT__LAYOUT_ENCODED : VMCS12D__V1__LAYOUT__LAYOUT_LEGACY;
}

static void control_status(struct v12_conn *c)
{
    struct v12_daemon *d = c->d;
    Vmcs12d__V1__StatusReply s = VMCS12D__V1__STATUS_REPLY__INIT;
    Vmcs12d__V1__PeerStatus ps[V12_MAX_PEERS], *psp[V12_MAX_PEERS];
    Vmcs12d__V1__Counter cs[V12_MAX_REJECT_KINDS], *csp[V12_MAX_REJECT_KINDS];
    s.node = d->cfg.node;
    s.layout = wire_layout(d->cfg.layout);
    s.profile = d->cfg.layout == V12_LAYOUT_ENCODED ? (char *)"" : (char *)v12_layout_name(d->cfg.layout);
    for (unsigned i = 0; i < d->cfg.npeers; i++) {
        struct v12_peer *p = &d->peers[i];
        vmcs12d__v1__peer_status__init(&ps[i]);
        ps[i].name = (char *)p->cfg->name;
        ps[i].address = (char *)p->cfg->address;
        ps[i].state = (char *)v12_peer_state_name(p->state);
        ps[i].layout = p->has_layout ? wire_layout(p->layout) : VMCS12D__V1__LAYOUT__LAYOUT_UNSPECIFIED;
        ps[i].profile = p->has_layout && p->layout != V12_LAYOUT_ENCODED ? (char *)v12_layout_name(p->layout) : (char *)"";
        ps[i].last_error = p->last_error;
        ps[i].blobs_sent = p->blobs_sent;
        ps[i].bytes_sent = p->bytes_sent;
        ps[i].inbound = p->inbound;
        psp[i] = &ps[i];
    }
    s.n_peers = d->cfg.npeers;
    s.peers = psp;
    size_t nc = 0;
    for (int i = 0; i < V12_MAX_REJECT_KINDS && d->rejected[i].code; i++, nc++) {
        vmcs12d__v1__counter__init(&cs[i]);
        cs[i].name = (char *)v12_err_name(d->rejected[i].code);
        cs[i].value = d->rejected[i].count;
        csp[i] = &cs[i];
    }
    s.n_rejected = nc;
    s.rejected = csp;
    s.blobs_relayed = d->blobs_relayed;
    s.blobs_converted = d->blobs_converted;
    s.blobs_stored = d->blobs_stored;
    s.blobs_duplicate = d->blobs_duplicate;
    s.bytes_in = d->bytes_in;
    s.bytes_out = d->bytes_out;
    s.connections = d->nconns;
    s.uptime_s = (v12_now_ms(d) - d->start_ms) / 1000;
    Vmcs12d__V1__StreamStatus ss[64], *ssp[64];
    v12_stream_status(d, ss, ssp, 64, &s.n_streams);
    s.streams = ssp;
    V12Envelope env = VMCS12D__V1__ENVELOPE__INIT;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_STATUS_REPLY;
    env.status_reply = &s;
    send_env(c, &env);
}

static void reply_ping(struct v12_conn *c, const Vmcs12d__V1__Ping *ping)
{
    if (ping->reply) return;
    Vmcs12d__V1__Ping pong = VMCS12D__V1__PING__INIT;
    V12Envelope env = VMCS12D__V1__ENVELOPE__INIT;
    pong.nonce = ping->nonce;
    pong.reply = true;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_PING;
    env.ping = &pong;
    send_env(c, &env);
}

/* ---- dispatch -------------------------------------------------------------------------------- */

static void peer_in_hello(struct v12_conn *c, const Vmcs12d__V1__Hello *h)
{
    char err[160];
    enum v12_layout l;
    if (v12_hello_layout(h, &l, err, sizeof(err)) != 0) {
        protocol_error(c, err);
        return;
    }
    Vmcs12d__V1__Hello mine = VMCS12D__V1__HELLO__INIT;
    V12Envelope env = VMCS12D__V1__ENVELOPE__INIT;
    v12_hello_fill(c->d, &mine);
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_HELLO;
    env.hello = &mine;
    send_env(c, &env);
    c->peer->inbound++;
    c->remote_layout = l;
    c->remote_layout_set = true;
    v12_conn_ready(c);
    log_notice("%s: peer %s connected (node %.64s, layout %s)", c->name, c->peer->cfg->name, h->node, v12_layout_name(l));
}

void v12_relay_on_frame(struct v12_conn *c, V12Envelope *env)
{
    switch (c->kind) {
    case V12_CONN_CONTROL:
        if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_BLOB) control_blob(c, env->blob);
        else if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_RECV) control_recv(c, env->recv);
        else if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_STATUS) control_status(c);
        else if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_PING) reply_ping(c, env->ping);
        else protocol_error(c, "unexpected message on the control socket");
        return;
    case V12_CONN_PEER_IN:
        if (!c->ready) {
            if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_HELLO) peer_in_hello(c, env->hello);
            else protocol_error(c, "expected hello");
        } else if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_BLOB) {
            peer_blob(c, env->blob);
        } else if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN) {
            v12_stream_open(c, env->stream_open);
        } else if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_PING) {
            reply_ping(c, env->ping);
        } else {
            protocol_error(c, "unexpected message from a peer");
        }
        return;
    case V12_CONN_PEER_OUT:
        if (!c->ready) {
            if (env->msg_case != VMCS12D__V1__ENVELOPE__MSG_HELLO) protocol_error(c, "expected hello");
            else if (c->pipe) v12_stream_remote_hello(c, env->hello);
            else v12_peer_link_up(c->peer, c, env->hello);
        } else if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN && c->pipe) {
            v12_stream_remote_ack(c, env->stream_open);
        } else if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_ACK) {
            peer_ack(c, env->ack);
        } else if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG_PING) {
            reply_ping(c, env->ping);
        } else {
            protocol_error(c, "unexpected message from a peer");
        }
        return;
    default:
        protocol_error(c, "frame on a stream connection");
        return;
    }
}

void v12_relay_conn_gone(struct v12_conn *c)
{
    struct v12_daemon *d = c->d;
    for (struct v12_transfer *t = d->transfers; t; t = t->next)
        if (t->client == c) t->client = NULL;
    for (struct v12_waiter **link = &d->waiters; *link;) {
        if ((*link)->client == c) {
            struct v12_waiter *w = *link;
            *link = w->next;
            free(w);
            continue;
        }
        link = &(*link)->next;
    }
    if (c->kind == V12_CONN_PEER_IN && c->peer && c->ready && c->peer->inbound) c->peer->inbound--;
    if (c->pipe) v12_stream_conn_gone(c);
}

void v12_relay_tick(struct v12_daemon *d)
{
    uint64_t now = v12_now_ms(d);
    for (struct v12_transfer **link = &d->transfers; *link;) {
        struct v12_transfer *t = *link;
        const struct v12_peer *p = t->peer;
        char msg[1024];
        if (!t->sent && d->stopping) {
            finish_transfer(link, V12_E_BUSY, "daemon is shutting down; nothing was sent", NULL);
            continue;
        }
        if (t->deadline_ms > now) {
            link = &t->next;
            continue;
        }
        if (!t->sent) {
            snprintf(msg, sizeof(msg), "peer %s (%s) did not connect in time (%s)%s%s; nothing was sent", p->cfg->name,
                     p->cfg->address, v12_peer_state_name(p->state), p->last_error[0] ? ": " : "", p->last_error);
            finish_transfer(link, V12_E_PEER_DOWN, msg, NULL);
            continue;
        }
        snprintf(msg, sizeof(msg), "no acknowledgement from peer %s in time; the blob may or may not be stored there "
                                   "(resending it is safe)", p->cfg->name);
        finish_transfer(link, V12_E_TIMEOUT, msg, NULL);
    }
    for (struct v12_waiter **link = &d->waiters; *link;) {
        struct v12_waiter *w = *link;
        if (w->deadline_ms <= now) {
            if (w->client) {
                (void)try_recv(w->client, w->migration_id, w->vm, w->vcpu, true);
                w->client->inflight--;
            }
            *link = w->next;
            free(w);
            continue;
        }
        link = &w->next;
    }
}

bool v12_relay_busy(const struct v12_daemon *d)
{
    return d->transfers || d->spool_inflight;
}
