/* SPDX-License-Identifier: MIT */
/*
 * The simplest TLS relay pair: the floor vmcs12d's stream path is measured against
 * (bench/run_stream_cpu.sh). Blocking sockets, OpenSSL reading and writing the socket itself,
 * 256 KiB reads, mutual TLS 1.3 with the cipher suite given, one thread per connection.
 *
 *   tls_relay client LISTEN_PORT PEER_PORT CERT KEY CA SUITES   plain in, TLS out to the server
 *   tls_relay server LISTEN_PORT TARGET_PORT CERT KEY CA SUITES TLS in, plain out to the target
 * Everything is on 127.0.0.1. Bytes go one way (what a migration stream needs here).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256u * 1024u)

static SSL_CTX *ctx;
static bool is_client;
static int next_port;

static int listen_on(int port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
    if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 16) < 0) {
        perror("listen");
        exit(1);
    }
    return l;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    return fd;
}

static void *relay(void *arg)
{
    int in = (int)(intptr_t)arg;
    int out = connect_to(next_port);
    char *buf = malloc(BUF);
    SSL *ssl = SSL_new(ctx);
    if (out < 0 || !buf || !ssl) goto done;
    if (is_client) { /* plain in -> TLS out */
        SSL_set_fd(ssl, out);
        if (SSL_connect(ssl) != 1) goto fail;
        for (;;) {
            ssize_t n = read(in, buf, BUF);
            if (n <= 0) break;
            if (SSL_write(ssl, buf, (int)n) != (int)n) goto fail;
        }
        SSL_shutdown(ssl);
        /* Drain before closing: unread bytes at close() turn the FIN into a reset, and a reset
         * can destroy what the server has not read yet. */
        shutdown(out, SHUT_WR);
        while (read(out, buf, BUF) > 0) {
        }
    } else { /* TLS in -> plain out */
        SSL_set_fd(ssl, in);
        if (SSL_accept(ssl) != 1) goto fail;
        for (;;) {
            int n = SSL_read(ssl, buf, BUF);
            if (n <= 0) break;
            for (int off = 0; off < n;) {
                ssize_t w = write(out, buf + off, (size_t)(n - off));
                if (w <= 0) goto done;
                off += (int)w;
            }
        }
    }
    goto done;
fail:
    ERR_print_errors_fp(stderr);
done:
    SSL_free(ssl);
    free(buf);
    close(in);
    if (out >= 0) close(out);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 8 || (strcmp(argv[1], "client") && strcmp(argv[1], "server"))) {
        fprintf(stderr, "usage: tls_relay client|server LISTEN_PORT NEXT_PORT CERT KEY CA SUITES\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    is_client = strcmp(argv[1], "client") == 0;
    next_port = atoi(argv[3]);
    ctx = SSL_CTX_new(is_client ? TLS_client_method() : TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_set_ciphersuites(ctx, argv[7]) != 1 || SSL_CTX_use_certificate_chain_file(ctx, argv[4]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[5], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, argv[6], NULL) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_num_tickets(ctx, 0); /* one long connection: no resumption (as vmcs12d) */
    int l = listen_on(atoi(argv[2]));
    for (;;) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0) continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
        pthread_t t;
        pthread_create(&t, NULL, relay, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}
