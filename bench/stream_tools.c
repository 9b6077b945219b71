/* SPDX-License-Identifier: MIT */
/*
 * Bench helpers for bench/run_stream_cpu.sh:
 *   stream_tools send FILE HOST PORT        connect and send FILE with sendfile(2), then half-close
 *                                           and wait for the other side to close
 *   stream_tools sink PORT CONNS BYTES      accept CONNS connections on 127.0.0.1:PORT, read them
 *                                           all (one thread each), exit 0 once BYTES arrived in total
 *                                           and every connection ended; prints "BYTES"
 * Neither is measured: they only need to be faster than what is between them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int tcp_connect(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    for (int i = 0; i < 200; i++) { /* the relay may still be starting */
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) return fd;
        usleep(10000);
        close(fd);
        fd = socket(AF_INET, SOCK_STREAM, 0);
    }
    close(fd);
    return -1;
}

static int do_send(const char *file, const char *host, int port)
{
    int in = open(file, O_RDONLY);
    struct stat st;
    if (in < 0 || fstat(in, &st) < 0) {
        perror(file);
        return 1;
    }
    int fd = tcp_connect(host, port);
    if (fd < 0) {
        perror("connect");
        return 1;
    }
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t n = sendfile(fd, in, &off, (size_t)(st.st_size - off));
        if (n <= 0) {
            perror("sendfile");
            return 1;
        }
    }
    shutdown(fd, SHUT_WR);
    char b[4096];
    while (read(fd, b, sizeof(b)) > 0) {
    }
    close(fd);
    return 0;
}

static atomic_ullong total;

static void *drain(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t cap = 1u << 20;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n <= 0) break;
        atomic_fetch_add(&total, (unsigned long long)n);
    }
    free(buf);
    close(fd);
    return NULL;
}

static int do_sink(int port, int conns, unsigned long long want)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
    if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 16) < 0) {
        perror("sink");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    pthread_t t[64];
    for (int i = 0; i < conns && i < 64; i++) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0) return 1;
        pthread_create(&t[i], NULL, drain, (void *)(intptr_t)fd);
    }
    for (int i = 0; i < conns && i < 64; i++) pthread_join(t[i], NULL);
    printf("%llu\n", (unsigned long long)atomic_load(&total));
    return atomic_load(&total) == want ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "send") == 0) return do_send(argv[2], argv[3], atoi(argv[4]));
    if (argc == 5 && strcmp(argv[1], "sink") == 0)
        return do_sink(atoi(argv[2]), atoi(argv[3]), strtoull(argv[4], NULL, 10));
    fprintf(stderr, "usage: stream_tools send FILE HOST PORT | sink PORT CONNS BYTES\n");
    return 2;
}
