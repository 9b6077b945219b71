/* SPDX-License-Identifier: MIT */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v12/errors.h"

const char *v12_tls_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(buf, len, "no OpenSSL error recorded");
        return buf;
    }
    ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

SSL_CTX *v12_tls_ctx_new(const struct v12_config *cfg, bool client, const char **ret_key, struct v12_errmsg *err)
{
    /* Outbound connections present client_cert when one is configured (a PKI whose server
     * certificates do not allow client authentication), cert otherwise. */
    bool own = client && cfg->client_cert[0];
    const char *cert = own ? cfg->client_cert : cfg->cert, *key = own ? cfg->client_key : cfg->key;
    const char *cert_key = own ? "client_cert" : "cert", *key_key = own ? "client_key" : "key";
    const char *unused;
    if (!ret_key) ret_key = &unused;
    *ret_key = cert_key;
    char e[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        v12_errmsg_set(err, "SSL_CTX_new: %s", v12_tls_error(e, sizeof(e)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, cfg->min_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* Both ends are vmcs12d: the client's order decides. AES-128-GCM first: the same strength
     * class as the others and the cheapest per byte with AES-NI. */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    /* The socket is non-blocking: a write may take whole records only, and be retried from
     * another address (the write queue); reads take what the socket has, up to 64 KiB. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 65536);
    /* Session tickets and resumption are not needed: peers hold long-lived connections. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        v12_errmsg_set(err, "[tls] %s %s: %s", cert_key, cert, v12_tls_error(e, sizeof(e)));
        goto fail;
    }
    *ret_key = key_key;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        v12_errmsg_set(err, "[tls] %s %s: %s", key_key, key, v12_tls_error(e, sizeof(e)));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        v12_errmsg_set(err, "[tls] %s %s does not match %s %s", key_key, key, cert_key, cert);
        goto fail;
    }
    *ret_key = "ca";
    if (SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1) {
        v12_errmsg_set(err, "[tls] ca %s: %s", cfg->ca, v12_tls_error(e, sizeof(e)));
        goto fail;
    }
    *ret_key = "crl";
    if (cfg->crl[0]) {
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        if (X509_STORE_load_file(store, cfg->crl) != 1) {
            v12_errmsg_set(err, "[tls] crl %s: %s", cfg->crl, v12_tls_error(e, sizeof(e)));
            goto fail;
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    /* Mutual authentication, always: no certificate, no connection. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_verify_depth(ctx, 4);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/*
 * Does cert name this peer: SAN DNS = its name or address host, or SAN IP = address host? The
 * subject CN counts only in a certificate without DNS names in its subjectAltName (RFC 6125),
 * as certificates of an existing libvirt/QEMU PKI made by certtool with just a cn often are.
 */
static bool names_peer(X509 *cert, const struct v12_peer_config *p)
{
    const unsigned flags = X509_CHECK_FLAG_NO_WILDCARDS;
    if (X509_check_host(cert, p->name, 0, flags, NULL) == 1) return true;
    if (X509_check_ip_asc(cert, p->address.host, 0) == 1) return true;
    return X509_check_host(cert, p->address.host, 0, flags, NULL) == 1;
}

static void describe_sans(X509 *cert, char *buf, size_t len)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && used < len; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
            used += (size_t)snprintf(buf + used, len - used, "%sDNS:%.*s", used ? "," : "",
                                     ASN1_STRING_length(g->d.dNSName) > 64 ? 64 : ASN1_STRING_length(g->d.dNSName), s);
        } else if (g->type == GEN_IPADD) {
            used += (size_t)snprintf(buf + used, len - used, "%sIP", used ? "," : "");
        }
    }
    GENERAL_NAMES_free(names);
    if (!buf[0]) snprintf(buf, len, "no subjectAltName");
}

int v12_tls_match_peer(X509 *cert, const struct v12_config *cfg, int only, int *peer, struct v12_errmsg *err)
{
    if (!cert) {
        return v12_fail(err, V12_E_PEER_UNKNOWN, "peer presented no certificate");
    }
    for (unsigned i = 0; i < cfg->npeers; i++) {
        if (only >= 0 && (int)i != only) continue;
        if (names_peer(cert, &cfg->peers[i])) {
            if (peer) *peer = (int)i;
            return 0;
        }
    }
    char sans[256];
    describe_sans(cert, sans, sizeof(sans));
    if (only >= 0)
        v12_errmsg_set(err, "certificate (%s) does not name peer %s (%s)", sans, cfg->peers[only].name,
                       cfg->peers[only].address.text);
    else v12_errmsg_set(err, "certificate (%s) names no configured peer", sans);
    return V12_E_PEER_UNKNOWN;
}

SSL *v12_tls_new(SSL_CTX *ctx, bool server, const char *sni_host, int fd, struct v12_errmsg *err)
{
    char e[256];
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        v12_errmsg_set(err, "cannot create a TLS session: %s", v12_tls_error(e, sizeof(e)));
        SSL_free(ssl);
        return NULL;
    }
    if (server) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        if (sni_host && sni_host[0] && !strchr(sni_host, ':')) {
            /* SSL_set_tlsext_host_name casts the name to void *; OpenSSL copies it. */
            union {
                const char *in;
                void *out;
            } u = {.in = sni_host};
            (void)SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, u.out);
        }
    }
    return ssl;
}

int v12_tls_describe(SSL *ssl, int ret, const char *what, struct v12_errmsg *err)
{
    int sys = errno; /* the failed call's, before anything here can change it */
    char e[256];
    int code = SSL_get_error(ssl, ret), r = V12_E_TLS;
    long vr = SSL_get_verify_result(ssl);
    if (vr != X509_V_OK)
        v12_errmsg_set(err, "%s: certificate verification failed: %s", what, X509_verify_cert_error_string(vr));
    else if (code == SSL_ERROR_SSL) v12_errmsg_set(err, "%s: %s", what, v12_tls_error(e, sizeof(e)));
    else if (code == SSL_ERROR_SYSCALL && sys) r = v12_fail(err, -sys, "%s: %s", what, strerror(sys));
    else if (code == SSL_ERROR_SYSCALL) v12_errmsg_set(err, "%s: the other side closed the connection", what);
    else v12_errmsg_set(err, "%s: TLS error %d", what, code);
    ERR_clear_error();
    return r;
}
