/* SPDX-License-Identifier: MIT */
/* Worker loops (worker.h). */
#include "worker.h"

#include <stddef.h>
#include <stdlib.h>

#include "daemon.h"
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

int v12_workers_start(struct v12_daemon *d, unsigned n)
{
    if (!n) return 0;
    d->workers = calloc(n, sizeof(*d->workers));
    if (!d->workers) return -1;
    for (unsigned i = 0; i < n; i++) {
        struct v12_worker *w = &d->workers[i];
        w->d = d;
        w->tail = &w->head;
        int r = uv_loop_init(&w->uv);
        if (!r) r = uv_mutex_init(&w->mu);
        if (!r) r = uv_async_init(&w->uv, &w->async, on_async);
        if (!r) r = uv_timer_init(&w->uv, &w->stop_check);
        if (!r) r = v12_loop_init(&w->loop, &w->uv, i + 1, &d->limits);
        w->loop.data = d;
        w->async.data = w;
        w->stop_check.data = w;
        if (!r) r = uv_thread_create(&w->thread, worker_main, w);
        if (r) {
            log_err("worker %u: %s", i + 1, uv_strerror(r));
            return r;
        }
        w->started = true;
        d->nworkers++;
    }
    return 0;
}

struct v12_loop *v12_worker_pick(struct v12_daemon *d)
{
    unsigned i = atomic_fetch_add(&d->next_worker, 1) % d->nworkers;
    return &d->workers[i].loop;
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

void v12_workers_stop(struct v12_daemon *d)
{
    for (unsigned i = 0; i < d->nworkers; i++) v12_worker_post(&d->workers[i].loop, begin_stop, &d->workers[i]);
    for (unsigned i = 0; i < d->nworkers; i++) {
        struct v12_worker *w = &d->workers[i];
        uv_thread_join(&w->thread);
        /* Messages that came after the stop (none should): freed, not run on this thread. */
        for (struct v12_msg *m = w->head, *next; m; m = next) {
            next = m->next;
            free(m);
        }
        if (uv_loop_close(&w->uv)) log_warn("worker %u: loop closed with handles open", i + 1);
        uv_mutex_destroy(&w->mu);
    }
    free(d->workers);
    d->workers = NULL;
    d->nworkers = 0;
}
