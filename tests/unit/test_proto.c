/* SPDX-License-Identifier: MIT */
/*
 * The loop-free pieces of the daemon: the frame reader fed in every split, its limits, and two
 * TLS sessions driven against each other in memory (no sockets, no loop): mutual
 * authentication, SAN-based peer identity, close_notify, and refusals.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../check.h"
#include "config.h"
#include "frame.h"
#include "pki.h"
#include "spool.h"
#include "tls.h"

static size_t pack_blob(uint8_t **ret, size_t data_len)
{
    static uint8_t data[V12_BLOB_MAX];
    for (size_t i = 0; i < sizeof(data); i++) data[i] = (uint8_t)(i * 7);
    Vmcs12d__V1__Blob b;
    vmcs12d__v1__blob__init(&b);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    b.migration_id = v12_pb_str("m");
    b.vm = v12_pb_str("vm1");
    b.vcpu = 3;
    b.seq = 9;
    b.data.data = data;
    b.data.len = data_len;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_BLOB;
    env.blob = &b;
    size_t len;
    CHECK_OK(v12_frame_pack(&env, V12_FRAME_MAX, ret, &len));
    return len;
}

static void frames_in_every_split(void)
{
    uint8_t *f1, *f2;
    size_t l1 = pack_blob(&f1, 8320), l2 = pack_blob(&f2, 17);
    uint8_t stream[2 * 9000];
    memcpy(stream, f1, l1);
    memcpy(stream + l1, f2, l2);
    size_t total = l1 + l2;
    /* Two cut points anywhere: every chunking of the two frames into three pieces (sampled
     * densely at the edges, every position for the first cut). */
    for (size_t a = 0; a <= total; a += (a < 16 || a > total - 16 || (a > l1 - 8 && a < l1 + 8)) ? 1 : 97) {
        for (size_t b = a; b <= total; b += (b < a + 8 || b > total - 8) ? 1 : 1013) {
            struct v12_frame_reader r;
            v12_frame_reader_init(&r, V12_FRAME_MAX);
            size_t cuts[4] = {0, a, b, total};
            int frames = 0;
            for (int k = 0; k < 3; k++) {
                size_t pos = cuts[k];
                while (pos < cuts[k + 1]) {
                    V12Envelope *env;
                    size_t used;
                    int rc = v12_frame_feed(&r, stream + pos, cuts[k + 1] - pos, &used, &env, NULL);
                    CHECK(rc == 0 || rc == 1);
                    pos += used;
                    if (rc == 1) {
                        CHECK_EQ(env->msg_case, VMCS12D__V1__ENVELOPE__MSG_BLOB);
                        CHECK_EQ(env->blob->data.len, frames == 0 ? 8320 : 17);
                        CHECK_EQ(env->blob->data.data[5], 35);
                        CHECK_EQ(env->blob->vcpu, 3);
                        v12_envelope_free(env);
                        frames++;
                    }
                }
            }
            CHECK_EQ(frames, 2);
            CHECK_EQ(v12_frame_reader_buffered(&r), 0);
            v12_frame_reader_done(&r);
        }
    }
    free(f1);
    free(f2);
}

static void frame_limits(void)
{
    struct v12_frame_reader r;
    V12Envelope *env;
    size_t used;
    /* One byte over the limit is refused from the header alone, before any allocation. */
    v12_frame_reader_init(&r, 1000);
    uint8_t hdr[4] = {0, 0, 0x03, 0xe9};
    CHECK_EQ(v12_frame_feed(&r, hdr, 4, &used, &env, NULL), V12_E_FRAME_TOO_LARGE);
    CHECK_EQ(v12_frame_reader_buffered(&r), 0);
    v12_frame_reader_done(&r);
    /* Exactly at the limit is read (and then found malformed: it is not a message). */
    v12_frame_reader_init(&r, 1000);
    uint8_t at[4 + 1000] = {0, 0, 0x03, 0xe8};
    memset(at + 4, 0xff, 1000);
    CHECK_EQ(v12_frame_feed(&r, at, sizeof(at), &used, &env, NULL), V12_E_FRAME_MALFORMED);
    v12_frame_reader_done(&r);
    uint8_t zero[4] = {0};
    v12_frame_reader_init(&r, 1000);
    CHECK_EQ(v12_frame_feed(&r, zero, 4, &used, &env, NULL), V12_E_FRAME_MALFORMED);
    v12_frame_reader_done(&r);
    /* Whole-frame decode: truncated and trailing bytes are errors. */
    uint8_t *f;
    size_t l = pack_blob(&f, 100);
    CHECK_OK(v12_frame_decode(f, l, V12_FRAME_MAX, &env));
    v12_envelope_free(env);
    CHECK_EQ(v12_frame_decode(f, l - 1, V12_FRAME_MAX, &env), V12_E_FRAME_MALFORMED);
    free(f);
    /* Packing refuses what the receiver would refuse. */
    Vmcs12d__V1__Blob b;
    vmcs12d__v1__blob__init(&b);
    V12Envelope e;
    vmcs12d__v1__envelope__init(&e);
    static uint8_t big[70000];
    b.data.data = big;
    b.data.len = sizeof(big);
    e.msg_case = VMCS12D__V1__ENVELOPE__MSG_BLOB;
    e.blob = &b;
    CHECK_EQ(v12_frame_pack(&e, V12_FRAME_MAX, &f, &l), V12_E_FRAME_TOO_LARGE);
}

/* Replace the first occurrence of marker in buf by the same bytes with a NUL at position at. */
static void poke_nul(uint8_t *buf, size_t len, const char *marker, size_t at)
{
    size_t m = strlen(marker);
    for (size_t i = 0; i + m <= len; i++)
        if (memcmp(buf + i, marker, m) == 0) {
            buf[i + at] = 0;
            return;
        }
    CHECK(!"marker not found");
}

/* A NUL inside any string field refuses the frame, nested messages included; bytes may hold NULs. */
static void frame_strings(void)
{
    Vmcs12d__V1__Blob b;
    vmcs12d__v1__blob__init(&b);
    V12Envelope e, *env;
    vmcs12d__v1__envelope__init(&e);
    static uint8_t zeros[64];
    b.migration_id = v12_pb_str("mig-1");
    b.vm = v12_pb_str("vmAB..xy");
    b.data.data = zeros;
    b.data.len = sizeof(zeros);
    b.peer = v12_pb_str("hostb");
    e.msg_case = VMCS12D__V1__ENVELOPE__MSG_BLOB;
    e.blob = &b;
    uint8_t *f;
    size_t l;
    CHECK_OK(v12_frame_pack(&e, V12_FRAME_MAX, &f, &l));
    CHECK_OK(v12_frame_decode(f, l, V12_FRAME_MAX, &env)); /* 64 zero bytes of data are fine */
    CHECK_EQ(env->blob->data.len, 64);
    v12_envelope_free(env);
    poke_nul(f, l, "vmAB..xy", 2); /* "vm\0B..xy" would have been stored as "vm" */
    CHECK_EQ(v12_frame_decode(f, l, V12_FRAME_MAX, &env), V12_E_STRING_NUL);
    /* The streaming reader refuses it too, in every split. */
    for (size_t cut = 0; cut <= l; cut++) {
        struct v12_frame_reader r;
        v12_frame_reader_init(&r, V12_FRAME_MAX);
        size_t used = 0, used2 = 0;
        int rc = v12_frame_feed(&r, f, cut, &used, &env, NULL);
        if (rc == 0) rc = v12_frame_feed(&r, f + used, l - used, &used2, &env, NULL);
        CHECK_EQ(rc, V12_E_STRING_NUL);
        v12_frame_reader_done(&r);
    }
    free(f);

    /* A string two messages deep: Ack.conversion.from. */
    Vmcs12d__V1__Ack a;
    vmcs12d__v1__ack__init(&a);
    Vmcs12d__V1__ConversionSummary cs;
    vmcs12d__v1__conversion_summary__init(&cs);
    cs.from = v12_pb_str("legacyQQ");
    a.conversion = &cs;
    e.msg_case = VMCS12D__V1__ENVELOPE__MSG_ACK;
    e.ack = &a;
    CHECK_OK(v12_frame_pack(&e, V12_FRAME_MAX, &f, &l));
    CHECK_OK(v12_frame_decode(f, l, V12_FRAME_MAX, &env));
    v12_envelope_free(env);
    poke_nul(f, l, "legacyQQ", 7);
    CHECK_EQ(v12_frame_decode(f, l, V12_FRAME_MAX, &env), V12_E_STRING_NUL);
    free(f);

    /* A nested message whose length runs past its parent, and a group wire type: malformed. */
    const uint8_t past[] = {0, 0, 0, 4, 0x12, 0x02, 0x12, 0x05};
    CHECK_EQ(v12_frame_decode(past, sizeof(past), V12_FRAME_MAX, &env), V12_E_FRAME_MALFORMED);
    const uint8_t group[] = {0, 0, 0, 2, 0x13, 0x14};
    CHECK_EQ(v12_frame_decode(group, sizeof(group), V12_FRAME_MAX, &env), V12_E_FRAME_MALFORMED);
}

/* ---- an in-memory PKI ---------------------------------------------------------------------------- */

static void make_config(struct v12_config *cfg, const char *node, const char *peer)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->node, sizeof(cfg->node), "%s", node);
    snprintf(cfg->cert, sizeof(cfg->cert), "%s/%s.pem", dir, node);
    snprintf(cfg->key, sizeof(cfg->key), "%s/%s.key", dir, node);
    snprintf(cfg->ca, sizeof(cfg->ca), "%s/ca.pem", dir);
    cfg->min_version = 13;
    cfg->npeers = 1;
    snprintf(cfg->peers[0].name, sizeof(cfg->peers[0].name), "%s", peer);
    snprintf(cfg->peers[0].address.host, sizeof(cfg->peers[0].address.host), "127.0.0.1");
}

/* Two TLS sessions on the two ends of a non-blocking socketpair, driven by hand. */
struct pair {
    int fd[2];
    SSL *a, *b; /* a: client on fd[0], b: server on fd[1] */
};

static void pair_open(struct pair *p, SSL_CTX *client, SSL_CTX *server)
{
    struct v12_errmsg err;
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd));
    p->a = v12_tls_new(client, false, "hostb", p->fd[0], &err);
    p->b = v12_tls_new(server, true, NULL, p->fd[1], &err);
    CHECK(p->a && p->b);
}

static void pair_close(struct pair *p)
{
    SSL_free(p->a);
    SSL_free(p->b);
    close(p->fd[0]);
    close(p->fd[1]);
}

/* Step both handshakes until both are done (0) or one fails (V12_E_TLS, err says why). */
static int handshake(struct pair *p, struct v12_errmsg *err)
{
    int da = 0, db = 0;
    for (int round = 0; round < 100 && !(da && db); round++) {
        SSL *s[2] = {p->a, p->b};
        int *done[2] = {&da, &db};
        for (int i = 0; i < 2; i++) {
            if (*done[i]) continue;
            ERR_clear_error();
            int r = SSL_do_handshake(s[i]);
            if (r == 1) {
                *done[i] = 1;
                continue;
            }
            int e = SSL_get_error(s[i], r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) continue;
            v12_tls_describe(s[i], r, "handshake", err);
            return V12_E_TLS;
        }
    }
    /* TLS 1.3: the client finishes first; a refusal by the server arrives as an alert on its next read. */
    char c;
    ERR_clear_error();
    int r = SSL_read(p->a, &c, 1);
    if (r <= 0 && SSL_get_error(p->a, r) == SSL_ERROR_SSL) {
        v12_tls_describe(p->a, r, "record", err);
        return V12_E_TLS;
    }
    return da && db ? 0 : V12_E_TIMEOUT;
}

static void tls_in_memory(void)
{
    CHECK(mkdtemp(dir) != NULL);
    EVP_PKEY *cak = new_key(), *ak = new_key(), *bk = new_key(), *rk = new_key(), *rcak = new_key();
    X509 *ca = new_cert(cak, "ca", NULL, NULL, NULL, 2);
    X509 *rogue_ca = new_cert(rcak, "rogue", NULL, NULL, NULL, 2);
    write_pem("ca.pem", ca, NULL);
    write_new_cert("hosta.pem", new_cert(ak, "a", ca, cak, "DNS:hosta", 2));
    write_pem("hosta.key", NULL, ak);
    write_new_cert("hostb.pem", new_cert(bk, "b", ca, cak, "DNS:hostb", 2));
    write_pem("hostb.key", NULL, bk);
    write_new_cert("hostx.pem", new_cert(rk, "x", ca, cak, "DNS:hostx", 2));
    write_pem("hostx.key", NULL, rk);
    write_new_cert("rogue.pem", new_cert(rk, "r", rogue_ca, rcak, "DNS:hosta", 2));
    write_pem("rogue.key", NULL, rk);
    write_new_cert("old.pem", new_cert(rk, "o", ca, cak, "DNS:hosta", -1));
    write_pem("old.key", NULL, rk);

    struct v12_config ca_cfg, cb_cfg;
    struct v12_errmsg err;
    make_config(&ca_cfg, "hosta", "hostb");
    make_config(&cb_cfg, "hostb", "hosta");
    SSL_CTX *cta = v12_tls_ctx_new(&ca_cfg, true, NULL, &err);
    SSL_CTX *ctb = v12_tls_ctx_new(&cb_cfg, false, NULL, &err);
    CHECK(cta && ctb);

    /* Mutual TLS 1.3, identities by SAN, data both ways, close_notify. */
    struct pair p;
    pair_open(&p, cta, ctb);
    CHECK_OK(handshake(&p, &err));
    CHECK_EQ(SSL_version(p.a), TLS1_3_VERSION);
    /* AES-128-GCM is what two vmcs12d agree on. */
    CHECK(strcmp(SSL_get_cipher_name(p.a), "TLS_AES_128_GCM_SHA256") == 0);
    X509 *pb = SSL_get1_peer_certificate(p.a);
    CHECK_OK(v12_tls_match_peer(pb, &ca_cfg, 0, NULL, &err));
    X509_free(pb);
    X509 *pa = SSL_get1_peer_certificate(p.b);
    int who = -1;
    CHECK_OK(v12_tls_match_peer(pa, &cb_cfg, -1, &who, &err));
    CHECK_EQ(who, 0);
    X509_free(pa);
    CHECK_EQ(SSL_write(p.a, "hello", 5), 5);
    char got[16];
    CHECK_EQ(SSL_read(p.b, got, sizeof(got)), 5);
    CHECK(memcmp(got, "hello", 5) == 0);
    CHECK(SSL_shutdown(p.a) >= 0);
    CHECK_EQ(SSL_read(p.b, got, sizeof(got)), 0);
    CHECK_EQ(SSL_get_error(p.b, 0), SSL_ERROR_ZERO_RETURN); /* close_notify seen */
    pair_close(&p);

    /* A certificate with only a subject CN (an existing libvirt/QEMU PKI's) names its peer; with a
     * DNS subjectAltName the CN no longer counts. */
    X509 *cn_only = new_cert(rk, "hostb", ca, cak, NULL, 2);
    CHECK_OK(v12_tls_match_peer(cn_only, &ca_cfg, 0, NULL, &err));
    X509_free(cn_only);
    X509 *cn_and_san = new_cert(rk, "hostb", ca, cak, "DNS:hostz", 2);
    CHECK_EQ(v12_tls_match_peer(cn_and_san, &ca_cfg, 0, NULL, &err), V12_E_PEER_UNKNOWN);
    X509_free(cn_and_san);

    /* Refusals: an untrusted CA, an expired certificate, a name no peer has. */
    const char *bad[] = {"rogue", "old", "hostx"};
    for (int i = 0; i < 3; i++) {
        struct v12_config cx;
        make_config(&cx, bad[i], "hostb");
        SSL_CTX *ctx = v12_tls_ctx_new(&cx, true, NULL, &err);
        CHECK(ctx != NULL);
        pair_open(&p, ctx, ctb);
        int r = handshake(&p, &err);
        if (i < 2) {
            CHECK_EQ(r, V12_E_TLS); /* the server refuses the certificate */
            CHECK(strstr(err.text, i == 0 ? "unable to get local issuer" : "expired") != NULL ||
                  strstr(err.text, i == 0 ? "unknown ca" : "certificate expired") != NULL);
        } else {
            CHECK_OK(r); /* verifies, but names no configured peer */
            X509 *c = SSL_get1_peer_certificate(p.b);
            CHECK_EQ(v12_tls_match_peer(c, &cb_cfg, -1, NULL, &err), V12_E_PEER_UNKNOWN);
            CHECK(strstr(err.text, "names no configured peer") != NULL);
            X509_free(c);
        }
        pair_close(&p);
        SSL_CTX_free(ctx);
    }
    SSL_CTX_free(cta);
    SSL_CTX_free(ctb);
    X509_free(ca);
    X509_free(rogue_ca);
    EVP_PKEY_free(cak), EVP_PKEY_free(ak), EVP_PKEY_free(bk), EVP_PKEY_free(rk), EVP_PKEY_free(rcak);
}

static void spool_semantics(void)
{
    char sp[300], rel[256], mig[64];
    snprintf(sp, sizeof(sp), "%s/spool/deep", dir);
    bool dup;
    uint8_t a[100], b[100];
    memset(a, 1, sizeof(a));
    memset(b, 2, sizeof(b));
    CHECK_OK(v12_spool_store(sp, "m1", "vm", 0, 5, a, sizeof(a), &dup, rel, sizeof(rel)));
    CHECK(!dup);
    CHECK(strcmp(rel, "m1/vm/vcpu-0.seq-5.bin") == 0);
    CHECK_OK(v12_spool_store(sp, "m1", "vm", 0, 5, a, sizeof(a), &dup, rel, sizeof(rel)));
    CHECK(dup); /* stored once */
    CHECK_EQ(v12_spool_store(sp, "m1", "vm", 0, 5, b, sizeof(b), &dup, rel, sizeof(rel)), -EEXIST);
    CHECK_OK(v12_spool_store(sp, "m1", "vm", 0, 6, b, sizeof(b), &dup, rel, sizeof(rel)));
    uint8_t *data;
    size_t len;
    uint64_t seq;
    CHECK_OK(v12_spool_find(sp, "m1", "vm", 0, &data, &len, &seq, mig, sizeof(mig), rel, sizeof(rel)));
    CHECK_EQ(seq, 6);
    CHECK_EQ(data[0], 2);
    free(data);
    CHECK_OK(v12_spool_find(sp, "", "vm", 0, &data, &len, &seq, mig, sizeof(mig), rel, sizeof(rel)));
    CHECK(strcmp(mig, "m1") == 0);
    free(data);
    CHECK_EQ(v12_spool_find(sp, "m1", "vm", 1, &data, &len, &seq, mig, sizeof(mig), rel, sizeof(rel)), V12_E_NOT_FOUND);
    CHECK_EQ(v12_spool_find(sp, "m2", "vm", 0, &data, &len, &seq, mig, sizeof(mig), rel, sizeof(rel)), V12_E_NOT_FOUND);
    /* No temporary files are left behind. */
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "test -z \"$(find %s -name '.tmp-*')\"", sp);
    CHECK_EQ(system(cmd), 0);
}

static void names_and_addresses(void)
{
    CHECK(v12_name_ok("vm-1.prod_a:b"));
    CHECK(!v12_name_ok(""));
    CHECK(!v12_name_ok(".."));
    CHECK(!v12_name_ok("a/b"));
    CHECK(!v12_name_ok("a b"));
    char h[64], p[8];
    CHECK_OK(v12_split_hostport("hostb.example.org:7443", h, sizeof(h), p, sizeof(p)));
    CHECK(strcmp(h, "hostb.example.org") == 0 && strcmp(p, "7443") == 0);
    CHECK_OK(v12_split_hostport("[::1]:7443", h, sizeof(h), p, sizeof(p)));
    CHECK(strcmp(h, "::1") == 0);
    CHECK(v12_split_hostport("::1:7443", h, sizeof(h), p, sizeof(p)) != 0);
    CHECK(v12_split_hostport("host:0", h, sizeof(h), p, sizeof(p)) != 0);
    CHECK(v12_split_hostport("host:65536", h, sizeof(h), p, sizeof(p)) != 0);
    CHECK(v12_split_hostport("host", h, sizeof(h), p, sizeof(p)) != 0);
}

int main(void)
{
    RUN(frames_in_every_split);
    RUN(frame_limits);
    RUN(frame_strings);
    RUN(tls_in_memory);
    RUN(spool_semantics);
    RUN(names_and_addresses);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    printf("test_proto: all passed\n");
    return 0;
}
