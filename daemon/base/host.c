/* SPDX-License-Identifier: MIT */
/* What a configuration names on this host: addresses, directories, socket paths. The only part of
 * the configuration that looks at the system; config.c reads the file alone. */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Resolve host:port for listening: 0 with *ret (freeaddrinfo), or an error with msg. */
int v12_resolve_listen(const char *host, const char *port, struct addrinfo **ret, struct v12_errmsg *msg)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    int r = getaddrinfo(host, port, &hints, ret);
    if (r) {
        return v12_fail(msg, V12_E_INVALID_ARGUMENT, "cannot resolve '%s': %s", host, gai_strerror(r));
    }
    return 0;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* A directory the daemon will create if missing: it must be one, or be creatable as one. */
static void check_dir(struct v12_config_errors *errs, const struct v12_config *cfg, const char *key, const char *dir)
{
    struct stat st;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    unsigned line = v12_config_line(cfg, V12_CFG_DAEMON, key);
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            v12_config_error(errs, cfg->path, line, "%s: %s exists and is not a directory", key, dir);
        return;
    }
    /* The nearest existing ancestor must be a directory. */
    for (char *slash = strrchr(path, '/'); slash; slash = strrchr(path, '/')) {
        *slash = 0;
        if (stat(path[0] ? path : "/", &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                v12_config_error(errs, cfg->path, line, "%s: %s cannot be created: %s is not a directory", key, dir,
                                 path);
            return;
        }
    }
}

/* A unix socket path the daemon binds (after removing a stale socket, and nothing else). */
static void check_socket_path(struct v12_config_errors *errs, const struct v12_config *cfg, unsigned line,
                              const char *key, const char *path, bool own_dir)
{
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        v12_config_error(errs, cfg->path, line, "%s: %s exists and is not a socket; it is never removed", key, path);
        return;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return;
    *slash = 0;
    if (own_dir) {
        check_dir(errs, cfg, key, dir);
    } else if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        v12_config_error(errs, cfg->path, line, "%s: directory %s does not exist", key, dir);
    }
}

/*
 * A listening endpoint the daemon binds: a unix socket path it may use, or a tcp address that
 * resolves and is loopback only (what listens there is not encrypted, or is not for the network).
 */
static void check_local_endpoint(struct v12_config_errors *errs, const struct v12_config *cfg, unsigned line,
                                 const char *key, const char *what, const struct v12_endpoint *e, const char *why)
{
    struct v12_errmsg msg;
    struct addrinfo *res;
    if (e->unix_socket) {
        unsigned before = errs->n;
        for (unsigned i = 0; i < v12_endpoint_ports(e) && errs->n == before; i++) { /* each path of a range */
            struct v12_endpoint one;
            v12_endpoint_at(e, i, &one);
            check_socket_path(errs, cfg, line, key, one.path, false);
        }
        return;
    }
    if (v12_resolve_listen(e->host, e->port, &res, &msg) != 0) {
        v12_config_error(errs, cfg->path, line, "%s: %s", what, msg.text);
        return;
    }
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (!is_loopback(a->ai_addr)) {
            v12_config_error(errs, cfg->path, line, "%s: '%s' is not a loopback address: %s", what, e->text, why);
            break;
        }
    freeaddrinfo(res);
}

int v12_config_check_host(const struct v12_config *cfg, struct v12_config_errors *errs)
{
    unsigned before = errs->n;
    struct v12_errmsg msg;
    struct addrinfo *res;
    if (cfg->listen.host[0]) {
        if (v12_resolve_listen(cfg->listen.host, cfg->listen.port, &res, &msg) == 0) freeaddrinfo(res);
        else v12_config_error(errs, cfg->path, v12_config_line(cfg, V12_CFG_DAEMON, "listen"), "listen: %s", msg.text);
    }
    check_dir(errs, cfg, "spool_dir", cfg->spool_dir);
    check_socket_path(errs, cfg, v12_config_line(cfg, V12_CFG_DAEMON, "control_socket"), "control_socket",
                      cfg->control_socket, true);
    if (cfg->has_metrics)
        check_local_endpoint(errs, cfg, v12_config_line(cfg, V12_CFG_DAEMON, "metrics_listen"), "metrics_listen",
                             "metrics_listen", &cfg->metrics_listen,
                             "use 127.0.0.1, [::1] or unix:/PATH; put a proxy in front to publish it");
    for (unsigned i = 0; i < cfg->npeers; i++) {
        const struct v12_peer_config *p = &cfg->peers[i];
        if (!p->has_stream) continue;
        char what[V12_NAME_MAX + 32];
        snprintf(what, sizeof(what), "[peer %s] stream_listen", p->name);
        check_local_endpoint(errs, cfg, v12_config_line(cfg, (int)i, "stream_listen"), "stream_listen", what,
                             &p->stream_listen,
                             "QEMU's unencrypted stream must not be reachable from the network (use 127.0.0.1, "
                             "[::1] or unix:/PATH)");
    }
    return errs->n > before ? V12_E_CONFIG : 0;
}

void v12_unlink_stale_socket(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) (void)unlink(path);
}
