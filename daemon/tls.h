/* SPDX-License-Identifier: MIT */
#ifndef V12_TLS_H
#define V12_TLS_H

/*
 * TLS for the peer links: OpenSSL 3.0 driven through memory BIOs, so that this file never
 * touches a socket and a pair of sessions can be tested against each other in memory.
 * Mutual authentication always: both sides present a certificate signed by the configured CA,
 * and the certificate must name the configured peer (SAN DNS or IP; the subject CN is never
 * consulted).
 */
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* A new context from cfg's [tls] section; NULL and err filled on failure, *ret_key (if not NULL)
 * naming the [tls] key whose file failed. */
SSL_CTX *v12_tls_ctx_new(const struct v12_config *cfg, const char **ret_key, char *err, size_t errlen);

/* Which configured peer a verified certificate names: index, or -1 (err says what it names). */
int v12_tls_match_peer(X509 *cert, const struct v12_config *cfg, int only, char *err, size_t errlen);

/* The last OpenSSL error as text (and the queue cleared). */
const char *v12_tls_error(char *buf, size_t len);

struct v12_tls {
    SSL *ssl;
    BIO *rbio; /* ciphertext in: written by v12_tls_feed */
    BIO *wbio; /* ciphertext out: drained by v12_tls_take */
    bool server;
    bool established;
    bool close_notify_seen;
    bool close_notify_sent;
    bool failed;
};

/* client: SNI set to sni_host (may be NULL). */
int v12_tls_init(struct v12_tls *t, SSL_CTX *ctx, bool server, const char *sni_host) V12_MUST_USE;
void v12_tls_done(struct v12_tls *t);

/*
 * Give ciphertext; plaintext comes out through on_plain (which may send). Returns 0, or
 * V12_E_TLS with err filled (handshake or record failure; the connection must close), and sets
 * established / close_notify_seen as they happen.
 */
typedef int (*v12_tls_plain_cb)(void *arg, const uint8_t *data, size_t len);
int v12_tls_feed(struct v12_tls *t, const uint8_t *data, size_t len, v12_tls_plain_cb on_plain, void *arg,
                 char *err, size_t errlen) V12_MUST_USE;
/* Start a client handshake (writes the ClientHello into the output). */
int v12_tls_start(struct v12_tls *t, char *err, size_t errlen) V12_MUST_USE;
/* Encrypt plaintext into the output. */
int v12_tls_write(struct v12_tls *t, const uint8_t *data, size_t len) V12_MUST_USE;
/* Queue close_notify. */
void v12_tls_shutdown(struct v12_tls *t);
/* Ciphertext waiting to be sent: a new buffer (malloc) or NULL when none. */
uint8_t *v12_tls_take(struct v12_tls *t, size_t *ret_len);

#endif
