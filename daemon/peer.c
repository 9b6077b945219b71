/* SPDX-License-Identifier: MIT */
/*
 * Outbound peer links: resolve, connect, TLS, Hello; on any failure back off (doubling from
 * reconnect_min_ms to reconnect_max_ms) and try again, until the daemon stops.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res);
static void on_connected(uv_connect_t *req, int status);
static void on_backoff(uv_timer_t *t);

const char *v12_peer_state_name(enum v12_peer_state s)
{
    static const char *const names[] = {"idle", "resolving", "connecting", "handshake", "connected", "backoff"};
    return s <= V12_PEER_BACKOFF ? names[s] : "?";
}

void v12_hello_fill(struct v12_daemon *d, Vmcs12d__V1__Hello *h)
{
    static char software[] = "vmcs12d " V12_VERSION;
    h->protocol_version = V12_PROTOCOL_VERSION;
    h->node = d->cfg.node;
    if (d->cfg.layout == V12_LAYOUT_ENCODED) {
        h->layout = VMCS12D__V1__LAYOUT__LAYOUT_ENCODED;
        h->profile = (char *)"";
    } else {
        h->layout = VMCS12D__V1__LAYOUT__LAYOUT_LEGACY;
        h->profile = (char *)v12_layout_name(d->cfg.layout);
    }
    h->max_frame = d->cfg.max_frame;
    h->max_blob = V12_BLOB_MAX;
    h->software = software;
}

int v12_hello_layout(const Vmcs12d__V1__Hello *h, enum v12_layout *ret, char *err, size_t errlen)
{
    if (h->protocol_version != V12_PROTOCOL_VERSION) {
        snprintf(err, errlen, "protocol version %u, this daemon speaks %u", h->protocol_version, V12_PROTOCOL_VERSION);
        return V12_E_PROTOCOL;
    }
    if (h->layout == VMCS12D__V1__LAYOUT__LAYOUT_ENCODED) {
        *ret = V12_LAYOUT_ENCODED;
        return 0;
    }
    if (h->layout == VMCS12D__V1__LAYOUT__LAYOUT_LEGACY && v12_profile_from_name(h->profile, ret) == 0) return 0;
    snprintf(err, errlen, "unknown layout %d / profile '%.40s'", h->layout, h->profile ? h->profile : "");
    return V12_E_PROTOCOL;
}

static void schedule_retry(struct v12_peer *p)
{
    struct v12_daemon *d = p->d;
    if (d->stopping) {
        p->state = V12_PEER_IDLE;
        return;
    }
    p->state = V12_PEER_BACKOFF;
    if (!p->backoff_ms) p->backoff_ms = d->cfg.reconnect_min_ms;
    uv_timer_start(&p->timer, on_backoff, p->backoff_ms, 0);
    p->backoff_ms = p->backoff_ms * 2 > d->cfg.reconnect_max_ms ? d->cfg.reconnect_max_ms : p->backoff_ms * 2;
}

static void fail(struct v12_peer *p, const char *what, const char *detail)
{
    snprintf(p->last_error, sizeof(p->last_error), "%s: %s", what, detail);
    log_info("peer %s (%s): %s; retrying in %u ms", p->cfg->name, p->cfg->address, p->last_error,
             p->backoff_ms ? p->backoff_ms : p->d->cfg.reconnect_min_ms);
    schedule_retry(p);
}

void v12_peer_start(struct v12_peer *p)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (p->d->stopping) return;
    p->state = V12_PEER_RESOLVING;
    p->gai.data = p;
    int r = uv_getaddrinfo(p->d->loop, &p->gai, on_resolved, p->cfg->host, p->cfg->port, &hints);
    if (r) fail(p, "cannot resolve", uv_strerror(r));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct v12_peer *p = req->data;
    if (status < 0) {
        fail(p, "cannot resolve", uv_strerror(status));
        return;
    }
    if (p->d->stopping) {
        uv_freeaddrinfo(res);
        p->state = V12_PEER_IDLE;
        return;
    }
    struct v12_conn *c = v12_conn_new(p->d, V12_CONN_PEER_OUT);
    if (!c) {
        uv_freeaddrinfo(res);
        fail(p, "cannot connect", "out of memory");
        return;
    }
    c->peer = p;
    snprintf(c->name, sizeof(c->name), "peer %s out#%llu", p->cfg->name, (unsigned long long)c->id);
    p->conn = c;
    p->state = V12_PEER_CONNECTING;
    p->connect_req.data = c;
    int r = uv_tcp_connect(&p->connect_req, &c->h.tcp, res->ai_addr, on_connected);
    uv_freeaddrinfo(res);
    if (r) {
        p->conn = NULL;
        c->peer = NULL;
        v12_conn_close(c, NULL);
        fail(p, "cannot connect", uv_strerror(r));
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    struct v12_conn *c = req->data;
    struct v12_peer *p = c->peer;
    if (status < 0 || !p || p->conn != c) {
        if (p && p->conn == c) {
            p->conn = NULL;
            c->peer = NULL;
            v12_conn_close(c, NULL);
            fail(p, "cannot connect", uv_strerror(status));
        } else {
            v12_conn_close(c, NULL);
        }
        return;
    }
    uv_tcp_nodelay(&c->h.tcp, 1);
    p->state = V12_PEER_HANDSHAKE;
    v12_conn_start(c);
}

void v12_peer_link_up(struct v12_peer *p, struct v12_conn *c, const Vmcs12d__V1__Hello *hello)
{
    char err[160];
    enum v12_layout l;
    if (v12_hello_layout(hello, &l, err, sizeof(err)) != 0) {
        v12_count_reject(p->d, V12_E_PROTOCOL);
        snprintf(p->last_error, sizeof(p->last_error), "hello: %s", err);
        v12_conn_close(c, p->last_error);
        return;
    }
    p->layout = l;
    p->has_layout = true;
    p->state = V12_PEER_READY;
    p->backoff_ms = 0;
    p->last_error[0] = 0;
    v12_conn_ready(c);
    log_notice("peer %s (%s): connected, node %.64s, layout %s", p->cfg->name, p->cfg->address, hello->node,
               v12_layout_name(l));
    v12_notify_status(p->d);
    v12_relay_peer_up(p);
}

void v12_peer_link_down(struct v12_peer *p, const char *why)
{
    bool was_ready = p->state == V12_PEER_READY;
    p->conn = NULL;
    v12_relay_peer_down(p, why);
    if (was_ready) log_notice("peer %s (%s): disconnected: %s", p->cfg->name, p->cfg->address, why);
    if (!p->last_error[0] || was_ready) snprintf(p->last_error, sizeof(p->last_error), "%s", why);
    schedule_retry(p);
    v12_notify_status(p->d);
}

static void on_backoff(uv_timer_t *t)
{
    v12_peer_start(t->data);
}

void v12_peer_kick(struct v12_peer *p)
{
    if (p->d->stopping || (p->state != V12_PEER_BACKOFF && p->state != V12_PEER_IDLE)) return;
    uv_timer_stop(&p->timer);
    p->backoff_ms = 0;
    v12_peer_start(p);
}

void v12_peer_stop(struct v12_peer *p)
{
    uv_timer_stop(&p->timer);
    if (p->conn) v12_conn_close(p->conn, "daemon stopping");
}
