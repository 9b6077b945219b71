/* SPDX-License-Identifier: MIT */
#ifndef V12_RELAY_H
#define V12_RELAY_H

/*
 * The relay room: blobs from the control socket, converted for each peer's layout, through
 * the outbound links; blobs from inbound peers validated into the durable spool and
 * acknowledged only once stored; recv and status for local clients.
 *
 * What main.c calls, in this order: init, open_spool, start_writers, (listeners accept into
 * v12_peer_accept / v12_control_accept), start_links; tick every 100 ms; at shutdown busy
 * until it is not, stop, then stop_writers once the main loop's connections are closed, free.
 * Errors: 0 or a negative code (errors.h), logged with what and where.
 */
#include <stdbool.h>
#include <stdint.h>

struct v12_daemon;

int v12_relay_init(struct v12_daemon *d);
/* spool_dir created if missing; partial files of an earlier run (never acknowledged) removed. */
int v12_relay_open_spool(struct v12_daemon *d);
int v12_relay_start_writers(struct v12_daemon *d);
void v12_relay_start_links(struct v12_daemon *d);
/* An accepted socket on the peer listener / the control socket: the relay's from now on
 * (refused and closed while stopping or over max_connections, and for peers, while a quarter
 * of max_connections (at least 16) is still unauthenticated). */
void v12_peer_accept(struct v12_daemon *d, int fd);
void v12_control_accept(struct v12_daemon *d, int fd);
/* Deadlines: reconnects after backoff, transfers and recv requests past their time. */
void v12_relay_tick(struct v12_daemon *d, uint64_t now);
/* Blobs still in the spool writers or on a link waiting for their acks. */
bool v12_relay_busy(const struct v12_daemon *d);
void v12_relay_stop(struct v12_daemon *d);
void v12_relay_stop_writers(struct v12_daemon *d);
void v12_relay_free(struct v12_daemon *d);

/* For status lines and metrics: configured peers whose outbound link is up; since when (Unix
 * seconds) peer i has been down, 0 while it is up. */
unsigned v12_relay_peers_up(const struct v12_daemon *d);
int64_t v12_relay_peer_down_since(const struct v12_daemon *d, unsigned i);

#endif
