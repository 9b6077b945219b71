/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint ([daemon] metrics_listen, off by default): one HTTP/1.0-style exchange per
 * connection, "GET /metrics" answered with the Prometheus text format (version 0.0.4), anything
 * else with an error status; the request is bounded (4 KiB, and the connection's deadlines).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "stream.h"

#define REQUEST_MAX 4096u

struct scrape {
    struct v12_daemon *d;
    struct v12_conn *conn;
    uint8_t req[REQUEST_MAX + 1];
    size_t len;
    bool answered;
};

struct text {
    char *buf;
    size_t len, cap;
    bool oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (t->buf && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 8192;
        while (cap < t->len + (size_t)n + 1) cap *= 2;
        char *nb = realloc(t->buf, cap);
        if (!nb) {
            t->oom = true;
            return;
        }
        t->buf = nb;
        t->cap = cap;
    }
}

static void counter(struct text *t, const char *name, const char *help, uint64_t v)
{
    put(t, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void gauge(struct text *t, const char *name, const char *help, uint64_t v)
{
    put(t, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void render(struct v12_daemon *d, struct text *t)
{
    struct v12_stats *s = &d->stats;
    put(t,
        "# HELP vmcs12d_build_info The running vmcs12d.\n# TYPE vmcs12d_build_info gauge\n"
        "vmcs12d_build_info{version=\"%s\",layout=\"%s\"} 1\n",
        V12_VERSION, v12_layout_name(d->cfg.layout));
    counter(t, "vmcs12d_blobs_relayed_total", "Blobs relayed to a peer and acknowledged as stored there.",
            atomic_load(&s->blobs_relayed));
    counter(t, "vmcs12d_blobs_converted_total", "Blobs whose vmcs12 regions were converted before relaying.",
            atomic_load(&s->blobs_converted));
    counter(t, "vmcs12d_blobs_stored_total", "Blobs received from peers and stored durably.",
            atomic_load(&s->blobs_stored));
    counter(t, "vmcs12d_blobs_duplicate_total", "Blobs received again and found already stored.",
            atomic_load(&s->blobs_duplicate));
    counter(t, "vmcs12d_blob_bytes_received_total", "Bytes of blobs received from peers.", atomic_load(&s->bytes_in));
    counter(t, "vmcs12d_blob_bytes_sent_total", "Bytes of blobs sent to peers.", atomic_load(&s->bytes_out));
    put(t, "# HELP vmcs12d_refused_total Blobs, frames, connections and streams refused, by reason.\n"
           "# TYPE vmcs12d_refused_total counter\n");
    uv_mutex_lock(&s->mu);
    for (int i = 0; i < V12_MAX_REJECT_KINDS && s->rejected[i].code; i++)
        put(t, "vmcs12d_refused_total{reason=\"%s\"} %" PRIu64 "\n", v12_err_name(s->rejected[i].code),
            s->rejected[i].count);
    uv_mutex_unlock(&s->mu);
    counter(t, "vmcs12d_stream_migrations_started_total", "Migrations (stream mode) started.",
            atomic_load(&s->migrations_started));
    counter(t, "vmcs12d_stream_migrations_finished_total", "Migrations (stream mode) ended cleanly.",
            atomic_load(&s->migrations_finished));
    counter(t, "vmcs12d_stream_migrations_failed_total", "Migrations (stream mode) that failed.",
            atomic_load(&s->migrations_failed));
    gauge(t, "vmcs12d_stream_migrations_in_flight", "Migrations (stream mode) in progress.",
          v12_stream_migrations_in_flight(d));
    counter(t, "vmcs12d_stream_channels_started_total", "Migration channels (main, multifd) started.",
            atomic_load(&s->channels_started));
    counter(t, "vmcs12d_stream_channels_finished_total", "Migration channels ended cleanly.",
            atomic_load(&s->channels_finished));
    counter(t, "vmcs12d_stream_channels_failed_total", "Migration channels that failed.",
            atomic_load(&s->channels_failed));
    put(t,
        "# HELP vmcs12d_stream_bytes_total Bytes of ended migration channels, towards the destination QEMU "
        "(forward) and back.\n# TYPE vmcs12d_stream_bytes_total counter\n"
        "vmcs12d_stream_bytes_total{direction=\"forward\"} %" PRIu64 "\n"
        "vmcs12d_stream_bytes_total{direction=\"back\"} %" PRIu64 "\n",
        atomic_load(&s->stream_bytes_forward), atomic_load(&s->stream_bytes_back));
    counter(t, "vmcs12d_nested_state_regions_converted_total", "vmcs12 regions converted inside migration streams.",
            atomic_load(&s->regions_converted));
    static const unsigned bounds[] = V12_SWITCHOVER_BOUNDS;
    put(t, "# HELP vmcs12d_stream_switchover_seconds Destination side: from a migration's first device-state "
           "byte to its last byte in the destination QEMU's socket (docs/metrics.md).\n"
           "# TYPE vmcs12d_stream_switchover_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i <= V12_SWITCHOVER_BUCKETS; i++) {
        cum += atomic_load(&s->switchover_le[i]);
        if (i < V12_SWITCHOVER_BUCKETS)
            put(t, "vmcs12d_stream_switchover_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", bounds[i] / 1000.0, cum);
        else put(t, "vmcs12d_stream_switchover_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    put(t, "vmcs12d_stream_switchover_seconds_sum %.6f\nvmcs12d_stream_switchover_seconds_count %" PRIu64 "\n",
        (double)atomic_load(&s->switchover_sum_us) / 1e6, atomic_load(&s->switchover_count));
    static const char *const why[] = {"certificate", "unknown_peer", "timeout", "protocol"};
    put(t, "# HELP vmcs12d_tls_handshake_failures_total TLS connections refused before they were usable, by "
           "reason.\n# TYPE vmcs12d_tls_handshake_failures_total counter\n");
    for (int i = 0; i < 4; i++)
        put(t, "vmcs12d_tls_handshake_failures_total{reason=\"%s\"} %" PRIu64 "\n", why[i],
            atomic_load(&s->tls_failures[i]));
    gauge(t, "vmcs12d_peers_connected", "Configured peers whose outbound link is up.", v12_relay_peers_up(d));
    gauge(t, "vmcs12d_peers_configured", "Configured peers.", d->cfg.npeers);
    put(t, "# HELP vmcs12d_peer_down_since_seconds Since when (Unix time) a peer's outbound link has been "
           "down; 0 while it is up.\n# TYPE vmcs12d_peer_down_since_seconds gauge\n");
    for (unsigned i = 0; i < d->cfg.npeers; i++)
        put(t, "vmcs12d_peer_down_since_seconds{peer=\"%s\"} %" PRId64 "\n", d->cfg.peers[i].name,
            v12_relay_peer_down_since(d, i));
}

static void answer(struct scrape *sc, const char *status, const char *type, const char *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     type, len);
    struct iovec v[2] = {{head, (size_t)n}, v12_iov(body, len)};
    sc->answered = true;
    if (v12_conn_writev(sc->conn, v, 2) == 0) v12_conn_close(sc->conn, 0, "answered");
    /* a failed write closes it from the loop */
}

static void on_request(struct scrape *sc)
{
    char *req = (char *)sc->req;
    req[sc->len] = 0;
    char *eol = strstr(req, "\r\n");
    if (eol) *eol = 0;
    static const char plain[] = "text/plain; charset=utf-8";
    if (strncmp(req, "GET ", 4) != 0) {
        static const char msg[] = "only GET /metrics is served here\n";
        answer(sc, "405 Method Not Allowed", plain, msg, sizeof(msg) - 1);
        return;
    }
    if (strncmp(req + 4, "/metrics ", 9) != 0 && strcmp(req + 4, "/metrics") != 0) {
        static const char msg[] = "not found: the metrics are at /metrics\n";
        answer(sc, "404 Not Found", plain, msg, sizeof(msg) - 1);
        return;
    }
    struct text t = {0};
    render(sc->d, &t);
    if (t.oom) {
        static const char msg[] = "out of memory\n";
        answer(sc, "500 Internal Server Error", plain, msg, sizeof(msg) - 1);
    } else {
        answer(sc, "200 OK", "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len);
    }
    free(t.buf);
}

static void established(void *owner, struct v12_conn *c, X509 *cert)
{
    v12_conn_set_ready(c);
}

static void raw_buf(void *owner, struct v12_conn *c, uint8_t **buf, size_t *len)
{
    struct scrape *sc = owner;
    *buf = sc->req + sc->len;
    *len = REQUEST_MAX - sc->len;
}

static void raw_read(void *owner, struct v12_conn *c, size_t n)
{
    struct scrape *sc = owner;
    sc->len += n;
    if (sc->answered) return;
    sc->req[sc->len] = 0;
    if (strstr((char *)sc->req, "\r\n\r\n") || strstr((char *)sc->req, "\n\n")) {
        on_request(sc);
        return;
    }
    if (sc->len == REQUEST_MAX) {
        static const char msg[] = "request too large\n";
        answer(sc, "431 Request Header Fields Too Large", "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
    }
}

static bool may_read(void *owner, const struct v12_conn *c)
{
    const struct scrape *sc = owner;
    return !sc->answered && sc->len < REQUEST_MAX;
}

static void closed(void *owner, struct v12_conn *c, int code, const char *why)
{
    free(owner);
}

static const struct v12_conn_ops metrics_ops = {
    .established = established,
    .raw_buf = raw_buf,
    .raw_read = raw_read,
    .may_read = may_read,
    .closed = closed,
};

void v12_metrics_accept(struct v12_daemon *d, int fd)
{
    struct scrape *sc = calloc(1, sizeof(*sc));
    if (!sc) {
        close(fd);
        return;
    }
    sc->d = d;
    sc->conn = v12_conn_adopt(&d->main, fd, NULL, &metrics_ops, sc);
    if (!sc->conn) {
        free(sc);
        return;
    }
    v12_conn_set_name(sc->conn, "metrics");
    v12_conn_set_raw(sc->conn);
}
