/* SPDX-License-Identifier: MIT */
/* Worker loops (worker.h). */
#include "worker.h"

#include <stddef.h>
#include <stdlib.h>

#include "log.h"

struct v12_msg {
    void (*fn)(void *arg);
    void *arg;
    struct v12_msg *next;
};

static struct v12_worker *worker_of(struct v12_loop *l)
{
    return (struct v12_worker *)((char *)l - offsetof(struct v12_worker, loop));
}

static void on_async(uv_async_t *a)
{
    struct v12_worker *w = a->data;
    uv_mutex_lock(&w->mu);
    struct v12_msg *m = w->head;
    w->head = NULL;
    w->tail = &w->head;
    uv_mutex_unlock(&w->mu);
    while (m) {
        struct v12_msg *next = m->next;
        m->fn(m->arg);
        free(m);
        m = next;
    }
}

void v12_worker_post(struct v12_loop *l, void (*fn)(void *arg), void *arg)
{
    struct v12_worker *w = worker_of(l);
    struct v12_msg *m = malloc(sizeof(*m));
    if (!m) {
        log_err("worker %u: out of memory for a message", l->index);
        abort(); /* a lost message would strand a channel: nothing sane is left to do */
    }
    m->fn = fn;
    m->arg = arg;
    m->next = NULL;
    uv_mutex_lock(&w->mu);
    *w->tail = m;
    w->tail = &m->next;
    uv_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

static void worker_main(void *arg)
{
    struct v12_worker *w = arg;
    uv_run(&w->uv, UV_RUN_DEFAULT);
}

int v12_workers_start(struct v12_workers *ws, unsigned n, struct v12_conn_limits *limits, void *loop_data)
{
    if (!n) return 0;
    ws->w = calloc(n, sizeof(*ws->w));
    if (!ws->w) {
        log_err("workers: out of memory for %u", n);
        return UV_ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        struct v12_worker *w = &ws->w[i];
        w->tail = &w->head;
        int r = uv_loop_init(&w->uv);
        if (!r) r = uv_mutex_init(&w->mu);
        if (!r) r = uv_async_init(&w->uv, &w->async, on_async);
        if (!r) r = uv_timer_init(&w->uv, &w->stop_check);
        if (!r) r = v12_loop_init(&w->loop, &w->uv, i + 1, limits);
        w->loop.data = loop_data;
        w->async.data = w;
        w->stop_check.data = w;
        if (!r) r = uv_thread_create(&w->thread, worker_main, w);
        if (r) {
            log_err("worker %u: %s", i + 1, uv_strerror(r));
            return r;
        }
        w->started = true;
        ws->n++;
    }
    return 0;
}

struct v12_loop *v12_worker_pick(struct v12_workers *ws)
{
    if (!ws->n) return NULL;
    unsigned i = atomic_fetch_add(&ws->next, 1) % ws->n;
    return &ws->w[i].loop;
}

void v12_workers_each(struct v12_workers *ws, void (*fn)(void *loop))
{
    for (unsigned i = 0; i < ws->n; i++) v12_worker_post(&ws->w[i].loop, fn, &ws->w[i].loop);
}

static void on_stop_check(uv_timer_t *t)
{
    struct v12_worker *w = t->data;
    if (w->loop.nconns) return; /* connections still flushing or lingering: bounded by their timeout */
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    uv_close((uv_handle_t *)&w->async, NULL);
    v12_loop_close(&w->loop);
}

static void begin_stop(void *arg)
{
    struct v12_worker *w = arg;
    uv_timer_start(&w->stop_check, on_stop_check, 0, 50);
}

void v12_workers_stop(struct v12_workers *ws)
{
    for (unsigned i = 0; i < ws->n; i++) v12_worker_post(&ws->w[i].loop, begin_stop, &ws->w[i]);
    for (unsigned i = 0; i < ws->n; i++) {
        struct v12_worker *w = &ws->w[i];
        uv_thread_join(&w->thread);
        /* Messages that came after the stop (none should): freed, not run on this thread. */
        for (struct v12_msg *m = w->head, *next; m; m = next) {
            next = m->next;
            free(m);
        }
        if (uv_loop_close(&w->uv)) log_warn("worker %u: loop closed with handles open", i + 1);
        uv_mutex_destroy(&w->mu);
    }
    free(ws->w);
    ws->w = NULL;
    ws->n = 0;
}
