/* SPDX-License-Identifier: MIT */
/* The daemon the handler tests and the handler fuzz target drive (handlers_env.h). */
#define _GNU_SOURCE
#include "handlers_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "fake_conn.h"
#include "pki.h"

struct v12_daemon D;
X509 *cert_hostb, *cert_hostx;
char spool[300];

static X509 *read_cert(const char *file)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    CHECK(x != NULL);
    return x;
}

/* hosta (encoded layout) with one peer, hostb; streams to 127.0.0.1:5000 are allowed. */
void handlers_env_setup(void)
{
    CHECK(mkdtemp(dir) != NULL);
    EVP_PKEY *cak = new_key(), *ak = new_key(), *bk = new_key(), *xk = new_key();
    X509 *ca = new_cert(cak, "ca", NULL, NULL, NULL, 2);
    write_pem("ca.pem", ca, NULL);
    write_new_cert("hosta.pem", new_cert(ak, "a", ca, cak, "DNS:hosta", 2));
    write_pem("hosta.key", NULL, ak);
    write_new_cert("hostb.pem", new_cert(bk, "b", ca, cak, "DNS:hostb", 2));
    write_new_cert("hostx.pem", new_cert(xk, "x", ca, cak, "DNS:hostx", 2));
    X509_free(ca);
    EVP_PKEY_free(cak), EVP_PKEY_free(ak), EVP_PKEY_free(bk), EVP_PKEY_free(xk);
    cert_hostb = read_cert("hostb.pem");
    cert_hostx = read_cert("hostx.pem");
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    char ini[300], text[2048];
    snprintf(ini, sizeof(ini), "%s/hosta.ini", dir);
    snprintf(text, sizeof(text),
             "[daemon]\nnode = hosta\nlayout = encoded\ncontrol_socket = %s/c.sock\nspool_dir = %s\nlisten = "
             "127.0.0.1:7000\n"
             "max_inflight = 2\nstream_allow = tcp:127.0.0.1:5000\n[tls]\ncert = %s/hosta.pem\nkey = %s/hosta.key\n"
             "ca = %s/ca.pem\n[peer hostb]\naddress = 127.0.0.1:7001\nstream_listen = unix:%s/mig.sock\n"
             "stream_target = tcp:127.0.0.1:5000\n",
             dir, spool, dir, dir, dir, dir);
    FILE *f = fopen(ini, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    static struct v12_config_errors errs;
    int r = v12_config_load(ini, &D.cfg, &errs);
    if (r) fprintf(stderr, "%s\n", errs.line[0].text);
    CHECK_OK(r);
    struct v12_errmsg err;
    D.tls_ctx = v12_tls_ctx_new(&D.cfg, false, NULL, &err);
    D.tls_client_ctx = v12_tls_ctx_new(&D.cfg, true, NULL, &err);
    CHECK(D.tls_ctx != NULL && D.tls_client_ctx != NULL);
    CHECK_OK(v12_daemon_init(&D));
    CHECK_OK(v12_relay_init(&D));
    CHECK_OK(v12_streams_init(&D));
    /* The wiring main.c sets up between the rooms (no systemd here). */
    D.wire.stream_incoming = v12_stream_incoming;
    D.wire.stream_status = v12_stream_status;
    D.limits.max_frame = D.cfg.max_frame;
    D.limits.conn_buffer_limit = D.cfg.conn_buffer_limit;
    D.limits.global_buffer_limit = D.cfg.global_buffer_limit;
    D.uv = uv_default_loop();
    CHECK_OK(v12_loop_init(&D.main, D.uv, 0, &D.limits));
    D.main.data = &D;
    CHECK_OK(v12_mkdirs(spool, 0750));
    CHECK_OK(v12_writer_start(&D.relay->writer, D.uv, D.cfg.spool_dir, 2));
}

void handlers_env_teardown(void)
{
    v12_writer_stop(&D.relay->writer);
    fake_reset();
    v12_streams_free(&D);
    v12_relay_free(&D);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
}
