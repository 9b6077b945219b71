/* SPDX-License-Identifier: MIT */
#ifndef V12_TESTS_FAKE_CONN_H
#define V12_TESTS_FAKE_CONN_H

/* The fake transport (fake_conn.c): struct v12_conn as the handlers see it in a test. */
#include "conn.h"

struct fake_conn {
    struct v12_loop *l;
    const struct v12_conn_ops *ops;
    void *owner;
    int fd;
    bool tls, unix_sock, adopted, raw, ready, closed;
    int close_code;
    char close_why[400];
    char target[300]; /* what was connected to */
    char name[128];
    uint8_t *out; /* everything written */
    size_t out_len, out_cap;
    unsigned writes, touched, reading_updates;
    size_t queued;            /* what v12_conn_queued says: set by a test for backpressure */
    int fail_writes;          /* non-zero: writes fail with this code */
    bool rx_idle;             /* what v12_conn_rx_idle says: true after each fake_raw() */
    uint64_t alarm_ms;        /* the owner's alarm (v12_conn_set_alarm) */
    struct v12_sockbufs bufs; /* what v12_conn_set_bufs set */
    struct fake_conn *next;
};

extern struct fake_conn *fake_conns;

void fake_set_clock(uint64_t now);
void fake_establish(struct fake_conn *c, X509 *cert);
void fake_frame(struct fake_conn *c, const V12Envelope *env);
void fake_raw(struct fake_conn *c, const uint8_t *data, size_t len);
/* The owner's alarm goes off (it must be set). */
void fake_alarm(struct fake_conn *c);
void fake_peer_closes(struct fake_conn *c, int code, const char *why);
bool fake_may_read(struct fake_conn *c);
V12Envelope **fake_take_frames(struct fake_conn *c, size_t *n);
struct fake_conn *fake_last(void);
void fake_reset(void);

#endif
