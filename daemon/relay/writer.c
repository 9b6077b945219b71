/* SPDX-License-Identifier: MIT */
/*
 * The spool writers: spool_threads threads, each storing one blob at a time. Each blob waits
 * for two flushes (its file, its directory); with several in flight the filesystem merges their
 * journal commits (measured on ext4: one thread storing batches sequentially was 4x slower than
 * parallel single stores, because each new file's fsync is its own commit). Completions go back
 * to the main loop through a uv_async_t; acks are sent only from there, after the flushes.
 */
#include <stdlib.h>

#include "log.h"
#include "relay_internal.h"

static void writer_main(void *arg)
{
    struct v12_writer *w = arg;
    struct v12_spool_item *items[1];
    for (;;) {
        uv_mutex_lock(&w->mu);
        while (!w->pending && !w->stop) uv_cond_wait(&w->cv, &w->mu);
        if (!w->pending) { /* stopping, nothing left */
            uv_mutex_unlock(&w->mu);
            return;
        }
        struct v12_store *s = w->pending;
        w->pending = s->next;
        if (!w->pending) w->pending_tail = &w->pending;
        uv_mutex_unlock(&w->mu);

        s->next = NULL;
        items[0] = &s->item;
        v12_spool_store_batch(w->dir, items, 1);

        uv_mutex_lock(&w->mu);
        *w->done_tail = s;
        w->done_tail = &s->next;
        uv_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
    }
}

static void on_done(uv_async_t *a)
{
    struct v12_writer *w = a->data;
    uv_mutex_lock(&w->mu);
    struct v12_store *list = w->done;
    w->done = NULL;
    w->done_tail = &w->done;
    uv_mutex_unlock(&w->mu);
    while (list) {
        struct v12_store *next = list->next;
        w->inflight--;
        list->done(list);
        list = next;
    }
}

int v12_writer_start(struct v12_writer *w, uv_loop_t *uv, const char *dir, unsigned threads)
{
    w->dir = dir;
    w->pending_tail = &w->pending;
    w->done_tail = &w->done;
    int r = uv_mutex_init(&w->mu);
    if (!r) r = uv_cond_init(&w->cv);
    if (!r) r = uv_async_init(uv, &w->async, on_done);
    if (r) {
        log_err("spool writers: %s", uv_strerror(r));
        return r;
    }
    w->async.data = w;
    for (unsigned i = 0; i < threads && i < V12_MAX_SPOOL_THREADS; i++) {
        r = uv_thread_create(&w->threads[i], writer_main, w);
        if (r) {
            log_err("spool writer thread: %s", uv_strerror(r));
            return r;
        }
        w->nthreads++;
    }
    w->running = true;
    return 0;
}

void v12_writer_submit(struct v12_writer *w, struct v12_store *s)
{
    s->next = NULL;
    w->inflight++;
    uv_mutex_lock(&w->mu);
    *w->pending_tail = s;
    w->pending_tail = &s->next;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
}

void v12_writer_stop(struct v12_writer *w)
{
    if (!w->running) return;
    uv_mutex_lock(&w->mu);
    w->stop = true;
    uv_cond_broadcast(&w->cv);
    uv_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->nthreads; i++) uv_thread_join(&w->threads[i]);
    on_done(&w->async); /* whatever finished last is completed (acks go out if connections remain) */
    uv_close((uv_handle_t *)&w->async, NULL);
    w->running = false;
}
