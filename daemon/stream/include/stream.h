/* SPDX-License-Identifier: MIT */
#ifndef V12_STREAM_H
#define V12_STREAM_H

/*
 * The stream room: QEMU migration channels relayed between a local QEMU and the peer daemon,
 * the main channel of each migration checked and converted by the stream parser at the
 * destination (docs/stream.md).
 *
 * What main.c calls: init, listen; wire stream_incoming and stream_status (struct v12_wiring)
 * to the functions below; at shutdown stop_listening, busy until it is not, stop_all, free.
 * Errors: 0 or a negative code (errors.h), logged with what and where.
 */
#include <stdbool.h>
#include <stddef.h>

#include "core.h"

int v12_streams_init(struct v12_daemon *d) V12_MUST_USE;
void v12_streams_free(struct v12_daemon *d);
/* Every port of every peer's stream_listen. */
int v12_stream_listen(struct v12_daemon *d) V12_MUST_USE;
void v12_stream_stop_listening(struct v12_daemon *d);
/* A peer asked for a stream on its inbound connection: the connection becomes the channel's. */
void v12_stream_incoming(struct v12_daemon *d, struct v12_conn *c, int peer, enum v12_layout remote_layout,
                         const Vmcs12d__V1__StreamOpen *so);
/* For status: at most max channels. */
void v12_stream_status(struct v12_daemon *d, Vmcs12d__V1__StreamStatus *out, Vmcs12d__V1__StreamStatus **ptrs,
                       size_t max, size_t *ret_n);
unsigned v12_stream_migrations_in_flight(struct v12_daemon *d);
/* Channels not yet ended (on any loop). */
bool v12_streams_busy(struct v12_daemon *d);
/* Shutdown: end every channel now. */
void v12_stream_stop_all(struct v12_daemon *d);

#endif
