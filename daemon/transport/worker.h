/* SPDX-License-Identifier: MIT */
#ifndef V12_WORKER_H
#define V12_WORKER_H

/*
 * Worker loops: one thread each, running a libuv loop that the data path of migration channels
 * is moved to once they flow. Work reaches a worker only as a message (a function and its
 * argument) run on that worker's thread.
 */
#include <stdatomic.h>
#include <uv.h>

#include "conn.h"

struct v12_msg;

struct v12_worker {
    struct v12_loop loop;
    uv_loop_t uv;
    uv_thread_t thread;
    uv_async_t async;
    uv_timer_t stop_check;
    uv_mutex_t mu;
    struct v12_msg *head, **tail;
    bool started;
};

/* The pool: n workers, handed out round robin. */
struct v12_workers {
    struct v12_worker *w;
    unsigned n;
    atomic_uint next;
};

/* n threads, each with its loop; every loop's data is loop_data. 0 or a negative libuv error
 * (logged). */
int v12_workers_start(struct v12_workers *ws, unsigned n, struct v12_conn_limits *limits, void *loop_data) V12_MUST_USE;
/* Stop every worker once its connections are gone (bounded by their close timeout) and join. */
void v12_workers_stop(struct v12_workers *ws);
/* Run fn(arg) on the thread of the worker that owns l. */
void v12_worker_post(struct v12_loop *l, void (*fn)(void *arg), void *arg);
/* Run fn(loop) on every worker's thread, with that worker's loop. */
void v12_workers_each(struct v12_workers *ws, void (*fn)(void *loop));
/* The loop for the next channel: round robin over the workers (none: NULL). */
struct v12_loop *v12_worker_pick(struct v12_workers *ws);

#endif
