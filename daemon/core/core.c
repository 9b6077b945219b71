/* SPDX-License-Identifier: MIT */
/* What every room shares: counters, the current TLS context, the read limits. */
#include <string.h>

#include "core.h"

void v12_count_reject(struct v12_stats *s, int code)
{
    uv_mutex_lock(&s->mu);
    for (int i = 0; i < V12_MAX_REJECT_KINDS; i++) {
        if (s->rejected[i].code == code || s->rejected[i].code == 0) {
            s->rejected[i].code = code;
            s->rejected[i].count++;
            break;
        }
    }
    uv_mutex_unlock(&s->mu);
}

int v12_daemon_init(struct v12_daemon *d)
{
    int r = uv_mutex_init(&d->ctx_mu);
    if (r) return r;
    r = uv_mutex_init(&d->stats.mu);
    if (r) uv_mutex_destroy(&d->ctx_mu);
    return r;
}

SSL_CTX *v12_tls_ctx_get(struct v12_daemon *d, bool client)
{
    uv_mutex_lock(&d->ctx_mu);
    SSL_CTX *ctx = client ? d->tls_client_ctx : d->tls_ctx;
    SSL_CTX_up_ref(ctx);
    uv_mutex_unlock(&d->ctx_mu);
    return ctx;
}

void v12_count_tls_failure(struct v12_stats *s, int code, const char *why)
{
    enum v12_tls_failure f = V12_TLS_FAIL_PROTOCOL;
    if (code == V12_E_PEER_UNKNOWN) f = V12_TLS_FAIL_UNKNOWN_PEER;
    else if (code == V12_E_TIMEOUT) f = V12_TLS_FAIL_TIMEOUT;
    else if (why && (strstr(why, "certificate") || strstr(why, "unknown ca"))) f = V12_TLS_FAIL_CERTIFICATE;
    atomic_fetch_add(&s->tls_failures[f], 1);
}

bool v12_frames_may_read(const struct v12_daemon *d, const struct v12_conn *c, unsigned inflight)
{
    const struct v12_config *cfg = &d->cfg;
    return v12_conn_queued(c) < cfg->conn_buffer_limit && inflight < cfg->max_inflight &&
           atomic_load(&d->limits.global_bytes) < cfg->global_buffer_limit;
}

void v12_count_switchover(struct v12_stats *s, uint64_t us)
{
    static const unsigned bounds[] = V12_SWITCHOVER_BOUNDS;
    int i = 0;
    while (i < V12_SWITCHOVER_BUCKETS && us > (uint64_t)bounds[i] * 1000u) i++;
    atomic_fetch_add(&s->switchover_le[i], 1);
    atomic_fetch_add(&s->switchover_count, 1);
    atomic_fetch_add(&s->switchover_sum_us, us);
}
