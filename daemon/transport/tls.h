/* SPDX-License-Identifier: MIT */
#ifndef V12_TLS_H
#define V12_TLS_H

/*
 * TLS for the peer links: OpenSSL 3.0 contexts, peer identity, and sessions on a socket that
 * the transport (conn.c) drives.
 * Mutual authentication always: both sides present a certificate signed by the configured CA,
 * and the certificate must name the configured peer (SAN DNS or IP; the subject CN is never
 * consulted).
 */
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* A new context from cfg's [tls] section, for accepting (client false) or connecting (true: it
 * presents client_cert/client_key when they are set); NULL and err filled on failure, *ret_key (if not NULL)
 * naming the [tls] key whose file failed. */
SSL_CTX *v12_tls_ctx_new(const struct v12_config *cfg, bool client, const char **ret_key, struct v12_errmsg *err);

/* Which configured peer a verified certificate names (only >= 0: must be that one): 0 with *peer
 * (if not NULL) its index, or V12_E_PEER_UNKNOWN with err saying what the certificate names. */
int v12_tls_match_peer(X509 *cert, const struct v12_config *cfg, int only, int *peer, struct v12_errmsg *err);

/* The last OpenSSL error as text (and the queue cleared). */
const char *v12_tls_error(char *buf, size_t len);

/*
 * A TLS session on a connected socket (non-blocking): the caller drives SSL_do_handshake,
 * SSL_read and SSL_write itself. client: SNI set to sni_host (may be NULL). NULL and err on
 * failure.
 */
SSL *v12_tls_new(SSL_CTX *ctx, bool server, const char *sni_host, int fd, struct v12_errmsg *err);

/* One line on why an SSL call that returned ret failed ("handshake: certificate verification
 * failed: certificate has expired"); clears OpenSSL's error queue. Returns the failure's code:
 * -errno for a failed system call, else V12_E_TLS. Call it before anything else can change errno. */
int v12_tls_describe(SSL *ssl, int ret, const char *what, struct v12_errmsg *err);

#endif
