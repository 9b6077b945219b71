/* SPDX-License-Identifier: MIT */
/* vmcs12d: wiring (configuration, loops, listeners, the rooms), signals, systemd, shutdown. */
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

#include "core.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "spool.h"
#include "stream.h"

_Static_assert(V12_FRAME_MAX_CFG == V12_FRAME_MAX, "config and protocol frame ceilings differ");

static struct v12_daemon daemon_state;

struct runtime {
    struct v12_listener peer_listener, control_listener, metrics_listener;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t tick;
    uint64_t watchdog_usec, last_watchdog_ms;
    uint64_t stop_deadline_ms;
    bool stopped;                      /* handlers stopped; waiting for the last connections to go */
    bool control_passed, peers_passed; /* by systemd (socket activation) */
};
static struct runtime rt;

static void notify_status(struct v12_daemon *d)
{
    sd_notifyf(0, "STATUS=%s: %u/%u peers connected, %llu relayed, %llu stored, %u connections%s", d->cfg.node,
               v12_relay_peers_up(d), d->cfg.npeers, (unsigned long long)atomic_load(&d->stats.blobs_relayed),
               (unsigned long long)atomic_load(&d->stats.blobs_stored), d->main.nconns,
               atomic_load(&d->stopping) ? ", stopping" : "");
}

static const char usage[] =
    "usage: vmcs12d --config FILE [--check-config] [--foreground]\n"
    "\n"
    "The vmcs12 relay daemon: accepts kvm_nested_state blobs on its control socket, converts them\n"
    "for the layout of the destination host and relays them over mutual TLS; stores blobs relayed\n"
    "to it durably in its spool. See docs/configuration.md.\n"
    "\n"
    "  -c, --config FILE   configuration (INI)\n"
    "      --check-config  run every check the start runs (file, host, TLS files), report, exit 0 or 1\n"
    "      --list-config-keys  every configuration key, by section (vmcs12d.conf(5) documents them)\n"
    "  -h, --help          this text\n"
    "      --version\n";

static void on_peer_accept(struct v12_listener *l, int fd)
{
    v12_peer_accept(l->arg, fd);
}

static void on_control_accept(struct v12_listener *l, int fd)
{
    v12_control_accept(l->arg, fd);
}

/*
 * Socket activation: sockets named "control" (the control socket) and "peers" (the TLS listener)
 * are taken as they are; whatever was not passed is bound here from the configuration.
 */
static int take_activated(struct v12_daemon *d, int *control_fd, int *peers_fd)
{
    char **names = NULL;
    int n = sd_listen_fds_with_names(1, &names);
    if (n < 0) {
        log_err("socket activation: %s", strerror(-n));
        return n;
    }
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        const char *name = names && names[i] ? names[i] : "";
        if (strcmp(name, "control") == 0 && *control_fd < 0) *control_fd = fd;
        else if (strcmp(name, "peers") == 0 && *peers_fd < 0) *peers_fd = fd;
        else {
            log_warn("socket activation: ignoring socket %d named '%s' (vmcs12d takes 'control' and 'peers')", fd,
                     name);
            close(fd);
        }
    }
    if (names)
        for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    rt.control_passed = *control_fd >= 0;
    rt.peers_passed = *peers_fd >= 0;
    if (n > 0)
        log_notice("socket activation: control socket %s, peer listener %s",
                   rt.control_passed ? "passed" : "bound here", rt.peers_passed ? "passed" : "bound here");
    return 0;
}

static void on_metrics_accept(struct v12_listener *l, int fd)
{
    struct v12_daemon *d = l->arg;
    if (d->main.nconns >= d->cfg.max_connections || atomic_load(&d->stopping)) {
        close(fd);
        return;
    }
    v12_metrics_accept(d, fd);
}

static int listen_metrics(struct v12_daemon *d)
{
    if (!d->cfg.has_metrics) return 0;
    const struct v12_endpoint *e = &d->cfg.metrics_listen;
    struct v12_errmsg err;
    rt.metrics_listener.on_accept = on_metrics_accept;
    rt.metrics_listener.arg = d;
    int r = e->unix_socket ? v12_listen_unix(&rt.metrics_listener, d->uv, e->path, 0666, 16, &err)
                           : v12_listen_tcp(&rt.metrics_listener, d->uv, e->host, e->port, 16, &err);
    if (r) {
        log_err("metrics_listen %s: %s", e->text, err.text);
        return r;
    }
    log_notice("metrics: Prometheus text format at %s/metrics", e->text);
    return 0;
}

static int listen_all(struct v12_daemon *d)
{
    struct v12_errmsg err;
    int control_fd = -1, peers_fd = -1;
    int r = take_activated(d, &control_fd, &peers_fd);
    if (!r) r = listen_metrics(d);
    if (r) return r;
    rt.peer_listener.on_accept = on_peer_accept;
    rt.peer_listener.arg = d;
    r = peers_fd >= 0
            ? v12_listen_adopt(&rt.peer_listener, d->uv, peers_fd, &err)
            : v12_listen_tcp(&rt.peer_listener, d->uv, d->cfg.listen.host, d->cfg.listen.port, SOMAXCONN, &err);
    if (r) {
        log_err("listen %s:%s: %s", d->cfg.listen.host, d->cfg.listen.port, err.text);
        return r;
    }
    rt.control_listener.on_accept = on_control_accept;
    rt.control_listener.arg = d;
    if (control_fd >= 0) {
        r = v12_listen_adopt(&rt.control_listener, d->uv, control_fd, &err);
        if (r) log_err("control socket (socket activation): %s", err.text);
        return r;
    }
    char dir[sizeof(d->cfg.control_socket)];
    snprintf(dir, sizeof(dir), "%s", d->cfg.control_socket);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        int mr = v12_mkdirs(dir, 0755);
        if (mr) log_warn("control socket directory %s: %s", dir, v12_strerror(mr));
    }
    r = v12_listen_unix(&rt.control_listener, d->uv, d->cfg.control_socket, d->cfg.control_mode, SOMAXCONN, &err);
    if (r) log_err("control socket %s: %s", d->cfg.control_socket, err.text);
    return r;
}

/* In-flight work: blobs on their way (relay) or migration channels (stream). */
static bool busy(struct v12_daemon *d)
{
    return v12_relay_busy(d) || v12_streams_busy(d);
}

static void begin_stop(struct v12_daemon *d, const char *why)
{
    if (atomic_load(&d->stopping)) return;
    atomic_store(&d->stopping, true);
    rt.stop_deadline_ms = v12_clock_ms() + d->cfg.shutdown_timeout_ms;
    log_notice("stopping (%s): no new connections; finishing %s in-flight transfers within %u ms", why,
               busy(d) ? "the" : "no", d->cfg.shutdown_timeout_ms);
    sd_notify(0, "STOPPING=1");
    notify_status(d);
    v12_listener_close(&rt.peer_listener);
    v12_listener_close(&rt.control_listener);
    v12_listener_close(&rt.metrics_listener);
    v12_stream_stop_listening(d);
}

/* In-flight work is done (or its time is up): stop every handler; the loop ends when the last
 * connection has flushed and closed. */
static void finish_stop(struct v12_daemon *d)
{
    rt.stopped = true;
    v12_stream_stop_all(d);
    v12_relay_stop(d);
    v12_loop_close_all(&d->main, "daemon stopping");
    v12_relay_stop_writers(d);
    uv_close((uv_handle_t *)&rt.sig_term, NULL);
    uv_close((uv_handle_t *)&rt.sig_int, NULL);
    uv_close((uv_handle_t *)&rt.sig_hup, NULL);
}

static void reload_tls(struct v12_daemon *d)
{
    struct v12_errmsg err;
    SSL_CTX *ctx = v12_tls_ctx_new(&d->cfg, false, NULL, &err);
    SSL_CTX *cctx = ctx ? v12_tls_ctx_new(&d->cfg, true, NULL, &err) : NULL;
    if (!cctx) {
        SSL_CTX_free(ctx);
        log_err("SIGHUP: keeping the current certificate: %s", err.text);
        return;
    }
    /* Established sessions hold a reference to the old contexts and keep running. */
    uv_mutex_lock(&d->ctx_mu);
    SSL_CTX *old = d->tls_ctx, *cold = d->tls_client_ctx;
    d->tls_ctx = ctx;
    d->tls_client_ctx = cctx;
    uv_mutex_unlock(&d->ctx_mu);
    SSL_CTX_free(old);
    SSL_CTX_free(cold);
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
    uint64_t now = v12_clock_ms();
    if (rt.stopped) {
        /* The last connections flush and close (bounded by their close timeout); the workers
         * stop once the channels are gone. */
        if (d->main.nconns || v12_streams_busy(d)) return;
        v12_workers_stop(&d->workers);
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, NULL);
        v12_loop_close(&d->main);
        return;
    }
    v12_relay_tick(d, now);
    if (rt.watchdog_usec && now - rt.last_watchdog_ms >= rt.watchdog_usec / 2000) {
        sd_notify(0, "WATCHDOG=1");
        rt.last_watchdog_ms = now;
    }
    if (atomic_load(&d->stopping) && (!busy(d) || now >= rt.stop_deadline_ms)) {
        if (busy(d)) log_warn("shutdown timeout: abandoning in-flight transfers (their senders get no ack)");
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
        for (int client = 0; client < 2; client++) {
            if (client && !cfg->client_cert[0]) break; /* the same files as for accepting */
            struct v12_errmsg err;
            const char *key;
            SSL_CTX *ctx = v12_tls_ctx_new(cfg, client, &key, &err);
            if (ctx) SSL_CTX_free(ctx);
            else v12_config_error(&errs, path, v12_config_line(cfg, V12_CFG_TLS, key), "%s", err.text);
        }
    }
    if (!errs.n) return 0;
    for (unsigned i = 0; i < errs.n && i < V12_CONFIG_MAX_ERRORS; i++) {
        if (to_log) log_err("%s", errs.line[i].text);
        else fprintf(stderr, "vmcs12d: %s\n", errs.line[i].text);
    }
    if (errs.n > V12_CONFIG_MAX_ERRORS) {
        if (to_log) log_err("%s: %u more errors", path, errs.n - V12_CONFIG_MAX_ERRORS);
        else fprintf(stderr, "vmcs12d: %s: %u more errors\n", path, errs.n - V12_CONFIG_MAX_ERRORS);
    }
    return 1;
}

/* The process's own set-up: SIGPIPE off, and one descriptor per connection (the soft limit raised to the hard one). */
static void process_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* TLS contexts, limits, every room's state, the loop and the wiring: 0, or 1 with the reason logged. */
static int daemon_setup(struct v12_daemon *d)
{
    struct v12_errmsg err;
    d->tls_ctx = v12_tls_ctx_new(&d->cfg, false, NULL, &err);
    d->tls_client_ctx = d->tls_ctx ? v12_tls_ctx_new(&d->cfg, true, NULL, &err) : NULL;
    if (!d->tls_client_ctx) {
        log_err("%s", err.text);
        return 1;
    }
    d->limits.max_frame = d->cfg.max_frame;
    d->limits.conn_buffer_limit = d->cfg.conn_buffer_limit;
    d->limits.global_buffer_limit = d->cfg.global_buffer_limit;
    d->limits.handshake_timeout_ms = d->cfg.handshake_timeout_ms;
    d->limits.idle_timeout_ms = d->cfg.idle_timeout_ms;
    d->limits.close_timeout_ms = 2000;
    if (v12_daemon_init(d) || v12_relay_init(d) || v12_streams_init(d) || v12_relay_open_spool(d)) return 1;
    d->uv = uv_default_loop();
    d->start_ms = v12_clock_ms();
    if (v12_loop_init(&d->main, d->uv, 0, &d->limits)) return 1;
    d->main.data = d;
    d->wire = (struct v12_wiring){
        .status_changed = notify_status,
        .stream_incoming = v12_stream_incoming,
        .stream_status = v12_stream_status,
    };
    return 0;
}

/* Signals, the tick and systemd's watchdog on the main loop. */
static void loop_services_start(struct v12_daemon *d)
{
    uv_signal_init(d->uv, &rt.sig_term);
    uv_signal_init(d->uv, &rt.sig_int);
    uv_signal_init(d->uv, &rt.sig_hup);
    rt.sig_term.data = rt.sig_int.data = rt.sig_hup.data = d;
    uv_signal_start(&rt.sig_term, on_signal, SIGTERM);
    uv_signal_start(&rt.sig_int, on_signal, SIGINT);
    uv_signal_start(&rt.sig_hup, on_signal, SIGHUP);
    uv_timer_init(d->uv, &rt.tick);
    rt.tick.data = d;
    uv_timer_start(&rt.tick, on_tick, 100, 100);
    if (sd_watchdog_enabled(0, &rt.watchdog_usec) <= 0) rt.watchdog_usec = 0;
}

static void log_started(const struct v12_daemon *d)
{
    const char *passed = "the socket systemd passed";
    if (d->cfg.profile_why[0]) log_notice("legacy profile %s (%s)", v12_layout_name(d->cfg.layout), d->cfg.profile_why);
    log_notice("vmcs12d %s: node %s, layout %s, padding %s, listening on %s%s%s, control %s, spool %s, %u peer%s, "
               "%u worker%s",
               V12_VERSION, d->cfg.node, v12_layout_name(d->cfg.layout), v12_padding_name(d->cfg.padding),
               rt.peers_passed ? passed : d->cfg.listen.host, rt.peers_passed ? "" : ":",
               rt.peers_passed ? "" : d->cfg.listen.port, rt.control_passed ? passed : d->cfg.control_socket,
               d->cfg.spool_dir, d->cfg.npeers, d->cfg.npeers == 1 ? "" : "s", d->workers.n,
               d->workers.n == 1 ? "" : "s");
}

/* The command line: -1 to go on with *config and *check set, or the exit status. */
static int parse_options(int argc, char **argv, const char **config, bool *check)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"check-config", no_argument, NULL, 'k'},
                                            {"foreground", no_argument, NULL, 'f'},
                                            {"version", no_argument, NULL, 'v'},
                                            {"list-config-keys", no_argument, NULL, 'K'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': *config = optarg; break;
        case 'k': *check = true; break;
        case 'f': break; /* always in the foreground: systemd supervises */
        case 'v': printf("vmcs12d %s\n", V12_VERSION); return 0;
        case 'K': {
            size_t n;
            const struct v12_config_key *k = v12_config_keys(&n);
            for (size_t i = 0; i < n; i++) printf("%s %s\n", v12_key_section_name(k[i].section), k[i].key);
            return 0;
        }
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!*config || optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    bool check = false;
    int status = parse_options(argc, argv, &config, &check);
    if (status >= 0) return status;
    struct v12_daemon *d = &daemon_state;
    if (check_config(config, &d->cfg, !check)) return 1;
    if (check) {
        printf("%s: configuration valid: node %s, layout %s, %u peer%s, listen %s:%s\n", config, d->cfg.node,
               v12_layout_name(d->cfg.layout), d->cfg.npeers, d->cfg.npeers == 1 ? "" : "s", d->cfg.listen.host,
               d->cfg.listen.port);
        return 0;
    }
    v12_log_level = d->cfg.log_level;
    process_setup();
    if (daemon_setup(d)) return 1;
    if (listen_all(d) || v12_relay_start_writers(d)) return 1;
    if (v12_workers_start(&d->workers, d->cfg.workers, &d->limits, d)) return 1;
    loop_services_start(d);
    if (v12_stream_listen(d)) return 1;
    v12_relay_start_links(d);
    log_started(d);
    sd_notify(0, "READY=1");
    notify_status(d);

    uv_run(d->uv, UV_RUN_DEFAULT);
    int r = uv_loop_close(d->uv);
    if (r) log_warn("loop closed with handles still open: %s", uv_strerror(r));
    SSL_CTX_free(d->tls_ctx);
    SSL_CTX_free(d->tls_client_ctx);
    v12_streams_free(d);
    v12_relay_free(d);
    log_notice("stopped");
    return 0;
}
