/* SPDX-License-Identifier: MIT */
#ifndef V12_METRICS_H
#define V12_METRICS_H

/* The metrics endpoint (docs/metrics.md): Prometheus text format over HTTP/1.0, one scrape per
 * connection, on the main loop. */
struct v12_daemon;

/* An accepted socket on metrics_listen: answered and closed (the caller checked the limits). */
void v12_metrics_accept(struct v12_daemon *d, int fd);

#endif
