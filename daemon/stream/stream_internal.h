/* SPDX-License-Identifier: MIT */
#ifndef V12_STREAM_INTERNAL_H
#define V12_STREAM_INTERNAL_H

/*
 * Inside the stream room (main.c and the relay see stream.h only). Tests that drive the room
 * through the fake transport read these.
 */
#include <stdatomic.h>

#include "listener.h"
#include "stream.h"

struct v12_channel;

/* One listening port (or unix socket) of a peer's stream_listen; its connections are one
 * migration at a time, delivered to its own target. */
struct v12_stream_listener {
    struct v12_listener l;
    struct v12_daemon *d;
    int peer;
    struct v12_endpoint listen, target;
    unsigned channels;
    struct v12_channel *order;       /* channels in the order QEMU opened them, until each is acknowledged */
    atomic_uint active;              /* channels not ended (they end on any loop) */
    char migration_id[V12_NAME_MAX]; /* of the channels now active (main loop only) */
};

/* The room's state: listeners (main loop only), channels in flight and per-migration totals
 * (any loop, under mu). */
struct v12_streams {
    struct v12_stream_listener *listeners; /* every port of every peer's stream_listen */
    unsigned nlisteners;
    uv_mutex_t mu;
    struct v12_channel *channels; /* every channel, for status */
    unsigned nchannels;
    struct v12_migration {
        char id[V12_NAME_MAX];
        bool source;
        unsigned active, channels;
        bool failed;
        uint64_t bytes, bytes_back, pages, start_ms;
        uint32_t regions;
        char peer[V12_NAME_MAX];
    } migrations[64];
};

#endif
