/* SPDX-License-Identifier: MIT */
/* vmcs12d: start-up, signals, systemd notification, listeners, shutdown. */
#include <errno.h>
#include <getopt.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "spool.h"

_Static_assert(V12_FRAME_MAX_CFG == V12_FRAME_MAX, "config and protocol frame ceilings differ");

static void on_peer_conn(uv_stream_t *server, int status);
static void on_control_conn(uv_stream_t *server, int status);
static void on_signal(uv_signal_t *s, int signum);
static void on_tick(uv_timer_t *t);
static void on_closed_quietly(uv_handle_t *h);

uint64_t v12_now_ms(const struct v12_daemon *d)
{
    return uv_now(d->loop);
}

void v12_notify_status(struct v12_daemon *d)
{
    unsigned up = 0;
    for (unsigned i = 0; i < d->cfg.npeers; i++) up += d->peers[i].state == V12_PEER_READY;
    sd_notifyf(0, "STATUS=%s: %u/%u peers connected, %llu relayed, %llu stored, %u connections%s", d->cfg.node, up,
               d->cfg.npeers, (unsigned long long)d->blobs_relayed, (unsigned long long)d->blobs_stored, d->nconns,
               d->stopping ? ", stopping" : "");
}

static const char usage[] =
    "usage: vmcs12d --config FILE [--check-config] [--foreground]\n"
    "\n"
    "The vmcs12 relay daemon: accepts kvm_nested_state blobs on its control socket, converts them\n"
    "for the layout of the destination host and relays them over mutual TLS; stores blobs relayed\n"
    "to it durably in its spool. See docs/configuration.md.\n"
    "\n"
    "  -c, --config FILE   configuration (INI)\n"
    "      --check-config  read the configuration and the TLS files, report, exit 0 or 1\n"
    "  -h, --help          this text\n"
    "      --version\n";

static int accept_into(struct v12_daemon *d, uv_stream_t *server, enum v12_conn_kind kind)
{
    struct v12_conn *c = v12_conn_new(d, kind);
    if (!c) return -ENOMEM;
    int r = uv_accept(server, &c->h.stream);
    if (r) {
        v12_conn_close(c, NULL);
        return r;
    }
    if (d->nconns > d->cfg.max_connections || d->stopping) {
        v12_count_reject(d, V12_E_BUSY);
        log_warn("%s: refused: %s", c->name, d->stopping ? "shutting down" : "max_connections reached");
        v12_conn_close(c, NULL);
        return 0;
    }
    if (kind == V12_CONN_PEER_IN) uv_tcp_nodelay(&c->h.tcp, 1);
    v12_conn_start(c);
    return 0;
}

static void on_peer_conn(uv_stream_t *server, int status)
{
    struct v12_daemon *d = server->data;
    if (status < 0) {
        log_warn("listener: %s", uv_strerror(status));
        return;
    }
    int r = accept_into(d, server, V12_CONN_PEER_IN);
    if (r) log_warn("listener: accept: %s", uv_strerror(r));
}

static void on_control_conn(uv_stream_t *server, int status)
{
    struct v12_daemon *d = server->data;
    if (status < 0) {
        log_warn("control socket: %s", uv_strerror(status));
        return;
    }
    int r = accept_into(d, server, V12_CONN_CONTROL);
    if (r) log_warn("control socket: accept: %s", uv_strerror(r));
}

static int listen_peers(struct v12_daemon *d)
{
    struct addrinfo *res;
    char msg[300];
    int r = v12_resolve_listen(d->cfg.listen_host, d->cfg.listen_port, &res, msg, sizeof(msg));
    if (r) {
        log_err("listen %s:%s: %s", d->cfg.listen_host, d->cfg.listen_port, msg);
        return r;
    }
    uv_tcp_init(d->loop, &d->listener);
    d->listener.data = d;
    d->listener_open = true;
    r = uv_tcp_bind(&d->listener, res->ai_addr, 0);
    freeaddrinfo(res);
    if (!r) r = uv_listen((uv_stream_t *)&d->listener, 128, on_peer_conn);
    if (r) log_err("listen %s:%s: %s", d->cfg.listen_host, d->cfg.listen_port, uv_strerror(r));
    return r;
}

static int listen_control(struct v12_daemon *d)
{
    char dir[sizeof(d->cfg.control_socket)];
    snprintf(dir, sizeof(dir), "%s", d->cfg.control_socket);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (v12_mkdirs(dir, 0755) != 0) log_warn("control socket directory %s: %s", dir, strerror(errno));
    }
    v12_unlink_stale_socket(d->cfg.control_socket); /* from an earlier run; nothing but a socket */
    uv_pipe_init(d->loop, &d->control, 0);
    d->control.data = d;
    d->control_open = true;
    int r = uv_pipe_bind(&d->control, d->cfg.control_socket);
    if (!r && chmod(d->cfg.control_socket, d->cfg.control_mode) < 0) r = -errno;
    if (!r) r = uv_listen((uv_stream_t *)&d->control, 128, on_control_conn);
    if (r) log_err("control socket %s: %s", d->cfg.control_socket, uv_strerror(r));
    return r;
}

static void begin_stop(struct v12_daemon *d, const char *why)
{
    if (d->stopping) return;
    d->stopping = true;
    d->stop_deadline_ms = v12_now_ms(d) + d->cfg.shutdown_timeout_ms;
    log_notice("stopping (%s): no new connections; finishing %s in-flight transfers within %u ms", why,
               v12_relay_busy(d) ? "the" : "no", d->cfg.shutdown_timeout_ms);
    sd_notify(0, "STOPPING=1");
    v12_notify_status(d);
    if (d->listener_open) uv_close((uv_handle_t *)&d->listener, NULL), d->listener_open = false;
    v12_stream_stop_listening(d);
    if (d->control_open) {
        uv_close((uv_handle_t *)&d->control, NULL);
        d->control_open = false;
        v12_unlink_stale_socket(d->cfg.control_socket);
    }
}

static void finish_stop(struct v12_daemon *d)
{
    for (unsigned i = 0; i < d->cfg.npeers; i++) v12_peer_stop(&d->peers[i]);
    for (struct v12_conn *c = d->conns; c; c = c->next) v12_conn_close(c, "daemon stopping");
    uv_timer_stop(&d->tick);
    uv_close((uv_handle_t *)&d->tick, on_closed_quietly);
    v12_writer_stop(d);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
    for (unsigned i = 0; i < d->cfg.npeers; i++) uv_close((uv_handle_t *)&d->peers[i].timer, NULL);
}

static void on_closed_quietly(uv_handle_t *h)
{
}

static void reload_tls(struct v12_daemon *d)
{
    char err[512];
    SSL_CTX *ctx = v12_tls_ctx_new(&d->cfg, NULL, err, sizeof(err));
    if (!ctx) {
        log_err("SIGHUP: keeping the current certificate: %s", err);
        return;
    }
    /* Established sessions hold a reference to the old context and keep running. */
    SSL_CTX_free(d->tls_ctx);
    d->tls_ctx = ctx;
    log_notice("SIGHUP: certificate, key, CA and CRL reloaded; new connections use them");
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct v12_daemon *d = s->data;
    if (signum == SIGHUP) reload_tls(d);
    else begin_stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_tick(uv_timer_t *t)
{
    struct v12_daemon *d = t->data;
    v12_relay_tick(d);
    uint64_t now = v12_now_ms(d);
    if (d->watchdog_usec && now - d->last_watchdog_ms >= d->watchdog_usec / 2000) {
        sd_notify(0, "WATCHDOG=1");
        d->last_watchdog_ms = now;
    }
    if (d->stopping && ((!v12_relay_busy(d) && !d->pipes) || now >= d->stop_deadline_ms)) {
        if (v12_relay_busy(d)) log_warn("shutdown timeout: abandoning in-flight transfers (their senders get no ack)");
        finish_stop(d);
    }
}

/*
 * Everything the daemon needs from its configuration before it starts, for --check-config and
 * for the start alike, so that the two never disagree: the file, what it names on this host,
 * and the TLS files. Every error is printed, each with its own FILE:LINE. 0 or 1.
 */
static int check_config(const char *path, struct v12_config *cfg, bool to_log)
{
    static struct v12_config_errors errs;
    int r = v12_config_load(path, cfg, &errs);
    if (r == 0 || r == V12_E_CONFIG) (void)v12_config_check_host(cfg, &errs); /* all problems in one go */
    if (r == 0) {
        char err[512];
        const char *key;
        SSL_CTX *ctx = v12_tls_ctx_new(cfg, &key, err, sizeof(err));
        if (ctx) SSL_CTX_free(ctx);
        else v12_config_error(&errs, path, v12_config_line(cfg, V12_CFG_TLS, key), "%s", err);
    }
    if (!errs.n) return 0;
    for (unsigned i = 0; i < errs.n && i < V12_CONFIG_MAX_ERRORS; i++) {
        if (to_log) log_err("%s", errs.line[i]);
        else fprintf(stderr, "vmcs12d: %s\n", errs.line[i]);
    }
    if (errs.n > V12_CONFIG_MAX_ERRORS) {
        if (to_log) log_err("%s: %u more errors", path, errs.n - V12_CONFIG_MAX_ERRORS);
        else fprintf(stderr, "vmcs12d: %s: %u more errors\n", path, errs.n - V12_CONFIG_MAX_ERRORS);
    }
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"check-config", no_argument, NULL, 'k'},
                                            {"foreground", no_argument, NULL, 'f'},
                                            {"version", no_argument, NULL, 'v'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *config = NULL;
    bool check = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'k': check = true; break;
        case 'f': break; /* always in the foreground: systemd supervises */
        case 'v': printf("vmcs12d %s\n", V12_VERSION); return 0;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!config || optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static struct v12_daemon daemon;
    struct v12_daemon *d = &daemon;
    if (check_config(config, &d->cfg, !check)) return 1;
    if (check) {
        printf("%s: configuration valid: node %s, layout %s, %u peer%s, listen %s:%s\n", config, d->cfg.node,
               v12_layout_name(d->cfg.layout), d->cfg.npeers, d->cfg.npeers == 1 ? "" : "s", d->cfg.listen_host,
               d->cfg.listen_port);
        return 0;
    }
    v12_log_level = d->cfg.log_level;
    /* One descriptor per connection: raise the soft limit to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    char err[512];
    d->tls_ctx = v12_tls_ctx_new(&d->cfg, NULL, err, sizeof(err));
    if (!d->tls_ctx) {
        log_err("%s", err);
        return 1;
    }
    int r = v12_mkdirs(d->cfg.spool_dir, 0750);
    if (r) {
        log_err("spool_dir %s: %s", d->cfg.spool_dir, v12_strerror(r));
        return 1;
    }
    d->loop = uv_default_loop();
    d->start_ms = uv_now(d->loop);
    if (listen_peers(d) || listen_control(d) || v12_writer_start(d)) return 1;

    uv_signal_init(d->loop, &d->sig_term);
    uv_signal_init(d->loop, &d->sig_int);
    uv_signal_init(d->loop, &d->sig_hup);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
    uv_timer_init(d->loop, &d->tick);
    d->tick.data = d;
    uv_timer_start(&d->tick, on_tick, 100, 100);
    if (sd_watchdog_enabled(0, &d->watchdog_usec) <= 0) d->watchdog_usec = 0;

    for (unsigned i = 0; i < d->cfg.npeers; i++) {
        d->peers[i].d = d;
        d->peers[i].cfg = &d->cfg.peers[i];
    }
    if (v12_stream_listen(d)) return 1;
    for (unsigned i = 0; i < d->cfg.npeers; i++) {
        struct v12_peer *p = &d->peers[i];
        p->d = d;
        p->cfg = &d->cfg.peers[i];
        p->idx = (int)i;
        uv_timer_init(d->loop, &p->timer);
        p->timer.data = p;
        v12_peer_start(p);
    }
    log_notice("vmcs12d %s: node %s, layout %s, padding %s, listening on %s:%s, control %s, spool %s, %u peer%s",
               V12_VERSION, d->cfg.node, v12_layout_name(d->cfg.layout), v12_padding_name(d->cfg.padding),
               d->cfg.listen_host, d->cfg.listen_port, d->cfg.control_socket, d->cfg.spool_dir, d->cfg.npeers,
               d->cfg.npeers == 1 ? "" : "s");
    sd_notify(0, "READY=1");
    v12_notify_status(d);

    uv_run(d->loop, UV_RUN_DEFAULT);
    r = uv_loop_close(d->loop);
    if (r) log_warn("loop closed with handles still open: %s", uv_strerror(r));
    SSL_CTX_free(d->tls_ctx);
    log_notice("stopped");
    return 0;
}
