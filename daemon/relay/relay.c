/* SPDX-License-Identifier: MIT */
/* The relay room's state and what main.c calls (relay.h). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "relay_internal.h"

int v12_relay_init(struct v12_daemon *d)
{
    struct v12_relay *r = calloc(1, sizeof(*r));
    if (!r) {
        log_err("relay: out of memory");
        return -ENOMEM;
    }
    for (unsigned i = 0; i < d->cfg.npeers; i++) {
        r->links[i].d = d;
        r->links[i].cfg = &d->cfg.peers[i];
        r->links[i].idx = (int)i;
    }
    d->relay = r;
    return 0;
}

void v12_relay_free(struct v12_daemon *d)
{
    free(d->relay);
    d->relay = NULL;
}

/* A temporary file from a store that never finished: it was never acknowledged. */
static void spool_leftover(void *userdata, enum v12_scan_event what, const char *rel, int error)
{
    (void)userdata;
    switch (what) {
    case V12_SCAN_REMOVED: log_info("spool: removed partial file %s", rel); break;
    case V12_SCAN_NOT_REMOVED: log_warn("spool: cannot remove partial file %s: %s", rel, v12_strerror(error)); break;
    case V12_SCAN_UNREADABLE:
        log_warn("spool: cannot read directory %s: %s; partial files in it, if any, stay", rel, v12_strerror(error));
        break;
    }
}

int v12_relay_open_spool(struct v12_daemon *d)
{
    const char *dir = d->cfg.spool_dir;
    int r = v12_mkdirs(dir, 0750);
    if (r) {
        log_err("spool_dir %s: %s", dir, v12_strerror(r));
        return r;
    }
    struct v12_spool_scan scan;
    r = v12_spool_scan(dir, spool_leftover, NULL, &scan);
    if (r < 0) {
        log_err("spool_dir %s: cannot scan: %s", dir, v12_strerror(r));
        return r;
    }
    if (scan.removed || scan.failed || scan.unreadable)
        log_warn("spool %s: removed %u partial file%s left by an earlier run (never acknowledged)%s; %llu stored "
                 "blob%s kept%s",
                 dir, scan.removed, scan.removed == 1 ? "" : "s", scan.failed ? ", some could not be removed" : "",
                 scan.blobs, scan.blobs == 1 ? "" : "s",
                 scan.unreadable ? " (not counting directories that could not be read)" : "");
    return 0;
}

int v12_relay_start_writers(struct v12_daemon *d)
{
    return v12_writer_start(&d->relay->writer, d->uv, d->cfg.spool_dir, d->cfg.spool_threads);
}

void v12_relay_start_links(struct v12_daemon *d)
{
    for (unsigned i = 0; i < d->cfg.npeers; i++) v12_link_start(&d->relay->links[i]);
}

void v12_relay_tick(struct v12_daemon *d, uint64_t now)
{
    for (unsigned i = 0; i < d->cfg.npeers; i++) v12_link_tick(&d->relay->links[i], now);
    v12_control_tick(d, now);
}

bool v12_relay_busy(const struct v12_daemon *d)
{
    const struct v12_relay *r = d->relay;
    if (r->writer.inflight) return true;
    for (unsigned i = 0; i < d->cfg.npeers; i++)
        if (r->links[i].transfers) return true;
    return false;
}

void v12_relay_stop(struct v12_daemon *d)
{
    for (unsigned i = 0; i < d->cfg.npeers; i++) v12_link_stop(&d->relay->links[i]);
}

void v12_relay_stop_writers(struct v12_daemon *d)
{
    v12_writer_stop(&d->relay->writer);
}

unsigned v12_relay_peers_up(const struct v12_daemon *d)
{
    unsigned up = 0;
    for (unsigned i = 0; i < d->cfg.npeers; i++) up += d->relay->links[i].state == V12_LINK_READY;
    return up;
}

int64_t v12_relay_peer_down_since(const struct v12_daemon *d, unsigned i)
{
    return d->relay->links[i].down_since_unix;
}
