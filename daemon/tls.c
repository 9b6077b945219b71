/* SPDX-License-Identifier: MIT */
#include "tls.h"

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

SSL_CTX *v12_tls_ctx_new(const struct v12_config *cfg, const char **ret_key, char *err, size_t errlen)
{
    const char *unused;
    if (!ret_key) ret_key = &unused;
    *ret_key = "cert";
    char e[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        snprintf(err, errlen, "SSL_CTX_new: %s", v12_tls_error(e, sizeof(e)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, cfg->min_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* Session tickets and resumption are not needed: peers hold long-lived connections. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1) {
        snprintf(err, errlen, "[tls] cert %s: %s", cfg->cert, v12_tls_error(e, sizeof(e)));
        goto fail;
    }
    *ret_key = "key";
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "[tls] key %s: %s", cfg->key, v12_tls_error(e, sizeof(e)));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "[tls] key %s does not match cert %s", cfg->key, cfg->cert);
        goto fail;
    }
    *ret_key = "ca";
    if (SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1) {
        snprintf(err, errlen, "[tls] ca %s: %s", cfg->ca, v12_tls_error(e, sizeof(e)));
        goto fail;
    }
    *ret_key = "crl";
    if (cfg->crl[0]) {
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        if (X509_STORE_load_file(store, cfg->crl) != 1) {
            snprintf(err, errlen, "[tls] crl %s: %s", cfg->crl, v12_tls_error(e, sizeof(e)));
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

/* Does cert name this peer: SAN DNS = its name or address host, or SAN IP = address host? */
static bool names_peer(X509 *cert, const struct v12_peer_config *p)
{
    const unsigned flags = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS;
    if (X509_check_host(cert, p->name, 0, flags, NULL) == 1) return true;
    if (X509_check_ip_asc(cert, p->host, 0) == 1) return true;
    return X509_check_host(cert, p->host, 0, flags, NULL) == 1;
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

int v12_tls_match_peer(X509 *cert, const struct v12_config *cfg, int only, char *err, size_t errlen)
{
    if (!cert) {
        snprintf(err, errlen, "peer presented no certificate");
        return -1;
    }
    for (unsigned i = 0; i < cfg->npeers; i++) {
        if (only >= 0 && (int)i != only) continue;
        if (names_peer(cert, &cfg->peers[i])) return (int)i;
    }
    char sans[256];
    describe_sans(cert, sans, sizeof(sans));
    if (only >= 0)
        snprintf(err, errlen, "certificate (%s) does not name peer %s (%s)", sans, cfg->peers[only].name,
                 cfg->peers[only].address);
    else
        snprintf(err, errlen, "certificate (%s) names no configured peer", sans);
    return -1;
}

int v12_tls_init(struct v12_tls *t, SSL_CTX *ctx, bool server, const char *sni_host)
{
    memset(t, 0, sizeof(*t));
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        memset(t, 0, sizeof(*t));
        return V12_E_TLS;
    }
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both BIOs now */
    t->server = server;
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (sni_host && sni_host[0] && !strchr(sni_host, ':')) (void)SSL_set_tlsext_host_name(t->ssl, sni_host);
    }
    return 0;
}

void v12_tls_done(struct v12_tls *t)
{
    if (t->ssl) SSL_free(t->ssl);
    memset(t, 0, sizeof(*t));
}

static int fail(struct v12_tls *t, int ret, const char *what, char *err, size_t errlen)
{
    char e[256];
    int code = SSL_get_error(t->ssl, ret);
    long vr = SSL_get_verify_result(t->ssl);
    t->failed = true;
    if (vr != X509_V_OK)
        snprintf(err, errlen, "%s: certificate verification failed: %s", what, X509_verify_cert_error_string(vr));
    else if (code == SSL_ERROR_SSL)
        snprintf(err, errlen, "%s: %s", what, v12_tls_error(e, sizeof(e)));
    else
        snprintf(err, errlen, "%s: TLS error %d", what, code);
    ERR_clear_error();
    return V12_E_TLS;
}

int v12_tls_start(struct v12_tls *t, char *err, size_t errlen)
{
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) t->established = true;
    else if (SSL_get_error(t->ssl, r) != SSL_ERROR_WANT_READ) return fail(t, r, "handshake", err, errlen);
    return 0;
}

int v12_tls_feed(struct v12_tls *t, const uint8_t *data, size_t len, v12_tls_plain_cb on_plain, void *arg, char *err,
                 size_t errlen)
{
    if (t->failed) return V12_E_TLS;
    if (len && BIO_write(t->rbio, data, (int)len) != (int)len) return fail(t, 0, "buffer", err, errlen);
    if (!t->established) {
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int code = SSL_get_error(t->ssl, r);
            if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return 0;
            return fail(t, r, "handshake", err, errlen);
        }
        t->established = true;
    }
    uint8_t buf[16384];
    for (;;) {
        int n = SSL_read(t->ssl, buf, sizeof(buf));
        if (n > 0) {
            int rc = on_plain(arg, buf, (size_t)n);
            if (rc) return rc;
            continue;
        }
        int code = SSL_get_error(t->ssl, n);
        if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return 0;
        if (code == SSL_ERROR_ZERO_RETURN) {
            t->close_notify_seen = true;
            return 0;
        }
        return fail(t, n, "record", err, errlen);
    }
}

int v12_tls_write(struct v12_tls *t, const uint8_t *data, size_t len)
{
    if (t->failed || t->close_notify_sent) return V12_E_TLS;
    while (len) {
        int n = SSL_write(t->ssl, data, (int)(len > 65536 ? 65536 : len));
        if (n <= 0) {
            t->failed = true;
            ERR_clear_error();
            return V12_E_TLS;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

void v12_tls_shutdown(struct v12_tls *t)
{
    if (t->close_notify_sent || !t->established || t->failed) return;
    t->close_notify_sent = true;
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
}

uint8_t *v12_tls_take(struct v12_tls *t, size_t *ret_len)
{
    size_t n = (size_t)BIO_ctrl_pending(t->wbio);
    if (!n) return NULL;
    uint8_t *buf = malloc(n);
    if (!buf) return NULL;
    int got = BIO_read(t->wbio, buf, (int)n);
    if (got <= 0) {
        free(buf);
        return NULL;
    }
    *ret_len = (size_t)got;
    return buf;
}
