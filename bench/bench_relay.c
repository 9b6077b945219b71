/* SPDX-License-Identifier: MIT */
/*
 * bench_relay: load generator and trivial ack sink for the relay benchmark (run_relay.sh).
 *
 *   bench_relay sink PORT
 *       TCP server: for every length-prefixed frame received, answer a 64-byte frame.
 *   bench_relay relay SOCKET PEER BLOB LATENCY_N THREADS SECONDS
 *       vmcs12ctl-send equivalent over the control socket: LATENCY_N sequential blobs (p50,
 *       p99 of send -> end-to-end ack), then THREADS senders back to back for SECONDS.
 *   bench_relay tcp PORT BLOB LATENCY_N THREADS SECONDS
 *       The same frames over plain TCP (to a stunnel client in front of the sink).
 *
 * Output: one line "latency_p50_us latency_p99_us blobs_per_s".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "v12/convert.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int read_full(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One length-prefixed frame; returns its length or -1. */
static long read_frame(int fd, uint8_t *buf, size_t cap)
{
    uint8_t h[4];
    if (read_full(fd, h, 4)) return -1;
    uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (len > cap || read_full(fd, buf, len)) return -1;
    return (long)len;
}

/* ---- the sink ----------------------------------------------------------------------------- */

static void *sink_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static const uint8_t ack[4 + 64] = {0, 0, 0, 64};
    uint8_t *buf = malloc(V12_FRAME_MAX);
    while (read_frame(fd, buf, V12_FRAME_MAX) >= 0)
        if (write_full(fd, ack, sizeof(ack))) break;
    free(buf);
    close(fd);
    return NULL;
}

static int sink(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 256)) {
        perror("sink");
        return 1;
    }
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_t t;
        pthread_create(&t, NULL, sink_conn, (void *)(intptr_t)c);
        pthread_detach(t);
    }
}

/* ---- the load --------------------------------------------------------------------------- */

static const char *g_target, *g_peer;
static int g_port;
static uint8_t *g_blob;
static size_t g_blob_len;
static atomic_long g_done;
static atomic_int g_failed;
static volatile int g_stop;

static int connect_target(void)
{
    int fd, one = 1;
    if (g_port) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {
            .sin_family = AF_INET, .sin_port = htons((uint16_t)g_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fd, (struct sockaddr *)&a, sizeof(a))) return -1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    } else {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", g_target);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a))) return -1;
    }
    return fd;
}

/* The frame a client sends: a Blob envelope with a unique key. */
static uint8_t *make_frame(int thread, uint64_t seq, size_t *len)
{
    char vm[32];
    snprintf(vm, sizeof(vm), "bench-%d", thread);
    Vmcs12d__V1__Blob b;
    vmcs12d__v1__blob__init(&b);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    b.peer = v12_pb_str(g_peer);
    b.vm = vm;
    b.migration_id = v12_pb_str("bench");
    b.vcpu = (uint32_t)thread;
    b.seq = seq;
    b.data.data = g_blob;
    b.data.len = g_blob_len;
    b.timeout_ms = 30000;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_BLOB;
    env.blob = &b;
    uint8_t *f;
    if (v12_frame_pack(&env, V12_FRAME_MAX, &f, len)) abort();
    return f;
}

/* One blob: send, wait for the ack; the round trip in microseconds, or -1. */
static double one(int fd, int thread, uint64_t seq, uint8_t *rbuf)
{
    size_t len;
    uint8_t *f = make_frame(thread, seq, &len);
    double t0 = now_us();
    int bad = write_full(fd, f, len);
    long n = bad ? -1 : read_frame(fd, rbuf, V12_FRAME_MAX);
    double t = now_us() - t0;
    free(f);
    if (n < 0) return -1;
    if (!g_port) {
        V12Envelope *env = vmcs12d__v1__envelope__unpack(NULL, (size_t)n, rbuf);
        int ok = env && env->msg_case == VMCS12D__V1__ENVELOPE__MSG_ACK && env->ack->code == 0;
        if (!ok) fprintf(stderr, "bench_relay: ack: %s\n", env && env->ack ? env->ack->message : "malformed");
        if (env) vmcs12d__v1__envelope__free_unpacked(env, NULL);
        if (!ok) return -1;
    }
    return t;
}

static uint64_t g_seq_base;

static void *sender(void *arg)
{
    int thread = (int)(intptr_t)arg, fd = connect_target();
    uint8_t *rbuf = malloc(V12_FRAME_MAX);
    uint64_t seq = g_seq_base;
    while (fd >= 0 && !g_stop) {
        if (one(fd, thread, seq++, rbuf) < 0) {
            atomic_fetch_add(&g_failed, 1);
            break;
        }
        atomic_fetch_add(&g_done, 1);
    }
    free(rbuf);
    if (fd >= 0) close(fd);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int load(int nlat, int threads, double seconds)
{
    /* Latency: one sender, sequential. */
    double *lat = malloc(sizeof(double) * (size_t)nlat);
    uint8_t *rbuf = malloc(V12_FRAME_MAX);
    int fd = connect_target();
    if (fd < 0) {
        perror("bench_relay: connect");
        return 1;
    }
    g_seq_base = (uint64_t)time(NULL) * 1000000;
    for (int i = 0; i < nlat; i++) {
        lat[i] = one(fd, 9999, g_seq_base + (uint64_t)i, rbuf);
        if (lat[i] < 0) {
            fprintf(stderr, "bench_relay: latency run failed at %d\n", i);
            return 1;
        }
    }
    close(fd);
    qsort(lat, (size_t)nlat, sizeof(double), cmp_d);
    double p50 = lat[nlat / 2], p99 = lat[(nlat * 99) / 100];
    /* Throughput: THREADS senders back to back. */
    g_seq_base += 1000000;
    pthread_t *t = malloc(sizeof(pthread_t) * (size_t)threads);
    double t0 = now_us();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, sender, (void *)(intptr_t)i);
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    g_stop = 1;
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    double el = (now_us() - t0) / 1e6;
    if (atomic_load(&g_failed)) {
        fprintf(stderr, "bench_relay: %d senders failed\n", atomic_load(&g_failed));
        return 1;
    }
    printf("%.1f %.1f %.1f\n", p50, p99, (double)atomic_load(&g_done) / el);
    free(lat);
    free(rbuf);
    free(t);
    return 0;
}

static int read_blob(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    g_blob = malloc(V12_BLOB_MAX);
    g_blob_len = fread(g_blob, 1, V12_BLOB_MAX, f);
    fclose(f);
    return g_blob_len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "sink") == 0) return sink(atoi(argv[2]));
    if (argc == 8 && strcmp(argv[1], "relay") == 0) {
        g_target = argv[2];
        g_peer = argv[3];
        if (read_blob(argv[4])) return 1;
        return load(atoi(argv[5]), atoi(argv[6]), atof(argv[7]));
    }
    if (argc == 7 && strcmp(argv[1], "tcp") == 0) {
        g_port = atoi(argv[2]);
        g_peer = "hostb";
        if (read_blob(argv[3])) return 1;
        return load(atoi(argv[4]), atoi(argv[5]), atof(argv[6]));
    }
    fprintf(
        stderr,
        "usage: bench_relay sink PORT | relay SOCKET PEER BLOB N THREADS SECONDS | tcp PORT BLOB N THREADS SECONDS\n");
    return 2;
}
