/* SPDX-License-Identifier: MIT */
/* The INI configuration, read with inih. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse_ctx {
    struct v12_config *cfg;
    char err[256];
    struct v12_peer_config *peer; /* the [peer NAME] section being read */
};

bool v12_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > V12_NAME_MAX - 1 || s[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-' || c == ':'))
            return false;
    }
    return true;
}

int v12_split_hostport(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':') return -EINVAL;
        s++;
        hl = (size_t)(end - s);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon) return -EINVAL;
        hl = (size_t)(colon - s);
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen) return -EINVAL;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || *end || v < 1 || v > 65535) return -EINVAL;
    memcpy(host, s, hl);
    host[hl] = 0;
    memcpy(port, p, pl + 1);
    return 0;
}

const struct v12_peer_config *v12_config_peer(const struct v12_config *cfg, const char *name)
{
    for (unsigned i = 0; i < cfg->npeers; i++)
        if (strcmp(cfg->peers[i].name, name) == 0) return &cfg->peers[i];
    return NULL;
}

/* "unix:/PATH" into path: an absolute path that fits a sockaddr_un. */
static int unix_path(const char *s, char *path, size_t size)
{
    size_t n = strlen(s + 5);
    if (n == 0 || n >= size || s[5] != '/') return -EINVAL;
    memcpy(path, s + 5, n + 1);
    return 0;
}

int v12_endpoint_parse(const char *s, struct v12_endpoint *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (strlen(s) >= sizeof(ret->text)) return -EINVAL;
    memcpy(ret->text, s, strlen(s) + 1);
    if (strncmp(s, "unix:", 5) == 0) {
        ret->unix_socket = true;
        return unix_path(s, ret->path, sizeof(ret->path));
    }
    if (strncmp(s, "tcp:", 4) == 0)
        return v12_split_hostport(s + 4, ret->host, sizeof(ret->host), ret->port, sizeof(ret->port));
    return -EINVAL;
}

static int allow_parse(const char *s, struct v12_allow *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (strncmp(s, "unix:", 5) == 0) {
        ret->unix_socket = true;
        return unix_path(s, ret->path, sizeof(ret->path));
    }
    if (strncmp(s, "tcp:", 4) != 0) return -EINVAL;
    char buf[300], port[16];
    snprintf(buf, sizeof(buf), "%s", s + 4);
    char *dash = strrchr(buf, '-');
    char *colon = strrchr(buf, ':');
    if (!colon) return -EINVAL;
    unsigned hi = 0;
    if (dash && dash > colon) {
        char *end;
        hi = (unsigned)strtoul(dash + 1, &end, 10);
        if (*end || hi < 1 || hi > 65535) return -EINVAL;
        *dash = 0;
    }
    if (v12_split_hostport(buf, ret->host, sizeof(ret->host), port, sizeof(port)) != 0) return -EINVAL;
    ret->port_lo = (unsigned)strtoul(port, NULL, 10);
    ret->port_hi = hi ? hi : ret->port_lo;
    return ret->port_hi >= ret->port_lo ? 0 : -EINVAL;
}

bool v12_stream_allowed(const struct v12_allow *rules, unsigned n, const struct v12_endpoint *t)
{
    for (unsigned i = 0; i < n; i++) {
        const struct v12_allow *a = &rules[i];
        if (a->unix_socket != t->unix_socket) continue;
        if (a->unix_socket && strcmp(a->path, t->path) == 0) return true;
        if (!a->unix_socket && strcmp(a->host, t->host) == 0) {
            unsigned p = (unsigned)strtoul(t->port, NULL, 10);
            if (p >= a->port_lo && p <= a->port_hi) return true;
        }
    }
    return false;
}

static int set_str(struct parse_ctx *c, char *dst, size_t size, const char *key, const char *v)
{
    size_t n = strlen(v);
    if (n >= size) {
        snprintf(c->err, sizeof(c->err), "%s: value is %zu bytes long, at most %zu", key, n, size - 1);
        return 0;
    }
    memcpy(dst, v, n + 1);
    return 1;
}

static int set_uint(struct parse_ctx *c, unsigned long long *dst, const char *key, const char *v,
                    unsigned long long min, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 0);
    if (!*v || *v == '-' || errno || *end || x < min || x > max) {
        snprintf(c->err, sizeof(c->err), "%s: '%s' is not a whole number in %llu..%llu", key, v, min, max);
        return 0;
    }
    *dst = x;
    return 1;
}

#define UINT_KEY(field, key, min, max)                                      \
    if (strcmp(name, key) == 0) {                                           \
        unsigned long long x;                                               \
        if (!set_uint(c, &x, key, value, min, max)) return 0;               \
        cfg->field = (__typeof__(cfg->field))x;                             \
        return 1;                                                           \
    }

static int daemon_key(struct parse_ctx *c, const char *name, const char *value)
{
    struct v12_config *cfg = c->cfg;
    if (strcmp(name, "node") == 0) {
        if (!v12_name_ok(value)) {
            snprintf(c->err, sizeof(c->err), "node: '%s' is not a valid name ([A-Za-z0-9._:-], 1..63)", value);
            return 0;
        }
        return set_str(c, cfg->node, sizeof(cfg->node), name, value);
    }
    if (strcmp(name, "layout") == 0) {
        if (strcmp(value, "encoded") == 0) cfg->layout = V12_LAYOUT_ENCODED;
        else if (strcmp(value, "legacy") == 0) {
            if (cfg->layout == V12_LAYOUT_ENCODED || cfg->layout == V12_LAYOUT_AUTO) cfg->layout = V12_LAYOUT_LEGACY;
        } else {
            snprintf(c->err, sizeof(c->err), "layout: '%s' is neither legacy nor encoded", value);
            return 0;
        }
        return 1;
    }
    if (strcmp(name, "profile") == 0) {
        enum v12_layout p;
        if (v12_profile_from_name(value, &p) != 0) {
            snprintf(c->err, sizeof(c->err),
                     "profile: unknown profile '%s' (linux-4.19, linux-5.13, linux-5.14, linux-6.18)", value);
            return 0;
        }
        cfg->layout = cfg->layout == V12_LAYOUT_ENCODED ? V12_LAYOUT_ENCODED : p;
        /* Remember the profile even if layout = encoded comes first; it is unused then. */
        return 1;
    }
    if (strcmp(name, "padding") == 0) {
        if (v12_padding_from_name(value, &cfg->padding) != 0) {
            snprintf(c->err, sizeof(c->err), "padding: '%s' is neither strict nor ignore", value);
            return 0;
        }
        return 1;
    }
    if (strcmp(name, "control_socket") == 0) return set_str(c, cfg->control_socket, sizeof(cfg->control_socket), name, value);
    if (strcmp(name, "spool_dir") == 0) return set_str(c, cfg->spool_dir, sizeof(cfg->spool_dir), name, value);
    if (strcmp(name, "listen") == 0) {
        if (v12_split_hostport(value, cfg->listen_host, sizeof(cfg->listen_host), cfg->listen_port,
                               sizeof(cfg->listen_port)) != 0) {
            snprintf(c->err, sizeof(c->err), "listen: '%s' is not host:port or [v6]:port", value);
            return 0;
        }
        return 1;
    }
    UINT_KEY(control_mode, "control_mode", 0, 0777)
    UINT_KEY(max_connections, "max_connections", 1, 100000)
    UINT_KEY(max_frame, "max_frame", 9216, V12_FRAME_MAX_CFG)
    UINT_KEY(conn_buffer_limit, "conn_buffer_limit", 65536, 1ull << 30)
    UINT_KEY(global_buffer_limit, "global_buffer_limit", 1ull << 20, 1ull << 34)
    UINT_KEY(max_inflight, "max_inflight", 1, 4096)
    UINT_KEY(spool_threads, "spool_threads", 1, 64)
    UINT_KEY(handshake_timeout_ms, "handshake_timeout_ms", 100, 600000)
    UINT_KEY(idle_timeout_ms, "idle_timeout_ms", 1000, 86400000)
    UINT_KEY(shutdown_timeout_ms, "shutdown_timeout_ms", 0, 600000)
    UINT_KEY(reconnect_min_ms, "reconnect_min_ms", 10, 600000)
    UINT_KEY(reconnect_max_ms, "reconnect_max_ms", 10, 3600000)
    if (strcmp(name, "log_level") == 0) {
        static const char *const levels[] = {"err", "warning", "notice", "info", "debug"};
        for (int i = 0; i < 5; i++)
            if (strcmp(value, levels[i]) == 0) {
                cfg->log_level = 3 + i;
                return 1;
            }
        snprintf(c->err, sizeof(c->err), "log_level: '%s' is not err, warning, notice, info or debug", value);
        return 0;
    }
    if (strcmp(name, "stream_allow") == 0) {
        char buf[1024];
        snprintf(buf, sizeof(buf), "%s", value);
        cfg->nallow = 0;
        for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
            if (cfg->nallow == V12_MAX_ALLOW) {
                snprintf(c->err, sizeof(c->err), "stream_allow: more than %d entries", V12_MAX_ALLOW);
                return 0;
            }
            if (allow_parse(tok, &cfg->stream_allow[cfg->nallow]) != 0) {
                snprintf(c->err, sizeof(c->err), "stream_allow: '%s' is not tcp:HOST:PORT[-PORT] or unix:/PATH", tok);
                return 0;
            }
            cfg->nallow++;
        }
        return 1;
    }
    snprintf(c->err, sizeof(c->err), "unknown key '%s' in [daemon]", name);
    return 0;
}

static int tls_key(struct parse_ctx *c, const char *name, const char *value)
{
    struct v12_config *cfg = c->cfg;
    if (strcmp(name, "cert") == 0) return set_str(c, cfg->cert, sizeof(cfg->cert), name, value);
    if (strcmp(name, "key") == 0) return set_str(c, cfg->key, sizeof(cfg->key), name, value);
    if (strcmp(name, "ca") == 0) return set_str(c, cfg->ca, sizeof(cfg->ca), name, value);
    if (strcmp(name, "crl") == 0) return set_str(c, cfg->crl, sizeof(cfg->crl), name, value);
    if (strcmp(name, "min_version") == 0) {
        if (strcmp(value, "1.3") == 0) cfg->min_version = 13;
        else if (strcmp(value, "1.2") == 0) cfg->min_version = 12;
        else {
            snprintf(c->err, sizeof(c->err), "min_version: '%s' is neither 1.3 nor 1.2", value);
            return 0;
        }
        return 1;
    }
    snprintf(c->err, sizeof(c->err), "unknown key '%s' in [tls]", name);
    return 0;
}

static int peer_key(struct parse_ctx *c, const char *name, const char *value)
{
    struct v12_peer_config *p = c->peer;
    if (strcmp(name, "address") == 0) {
        if (!set_str(c, p->address, sizeof(p->address), name, value)) return 0;
        if (v12_split_hostport(value, p->host, sizeof(p->host), p->port, sizeof(p->port)) != 0) {
            snprintf(c->err, sizeof(c->err), "address: '%s' is not host:port or [v6]:port", value);
            return 0;
        }
        return 1;
    }
    if (strcmp(name, "stream_listen") == 0 || strcmp(name, "stream_target") == 0) {
        struct v12_endpoint *e = name[7] == 'l' ? &p->stream_listen : &p->stream_target;
        if (v12_endpoint_parse(value, e) != 0) {
            snprintf(c->err, sizeof(c->err), "%s: '%s' is not tcp:HOST:PORT or unix:/PATH", name, value);
            return 0;
        }
        if (name[7] == 'l') p->has_stream = true;
        return 1;
    }
    if (strcmp(name, "stream_passthrough") == 0) {
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0) p->stream_passthrough = true;
        else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0) p->stream_passthrough = false;
        else {
            snprintf(c->err, sizeof(c->err), "stream_passthrough: '%s' is neither yes nor no", value);
            return 0;
        }
        return 1;
    }
    snprintf(c->err, sizeof(c->err), "unknown key '%s' in [peer %s]", name, p->name);
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *c = user;
    if (!name) return 1; /* section start (INI_CALL_HANDLER_ON_NEW_SECTION builds) */
    if (strcmp(section, "daemon") == 0) return daemon_key(c, name, value);
    if (strcmp(section, "tls") == 0) return tls_key(c, name, value);
    if (strncmp(section, "peer ", 5) == 0) {
        const char *pname = section + 5;
        if (!c->peer || strcmp(c->peer->name, pname) != 0) {
            if (!v12_name_ok(pname)) {
                snprintf(c->err, sizeof(c->err), "[peer %s]: not a valid peer name ([A-Za-z0-9._:-], 1..63)", pname);
                return 0;
            }
            if (v12_config_peer(c->cfg, pname)) {
                snprintf(c->err, sizeof(c->err), "[peer %s] appears twice", pname);
                return 0;
            }
            if (c->cfg->npeers == V12_MAX_PEERS) {
                snprintf(c->err, sizeof(c->err), "more than %d peers", V12_MAX_PEERS);
                return 0;
            }
            c->peer = &c->cfg->peers[c->cfg->npeers++];
            memset(c->peer, 0, sizeof(*c->peer));
            memcpy(c->peer->name, pname, strlen(pname) + 1);
        }
        return peer_key(c, name, value);
    }
    snprintf(c->err, sizeof(c->err), "unknown section [%s]", section);
    return 0;
}

static void defaults(struct v12_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->layout = V12_LAYOUT_AUTO;
    cfg->padding = V12_PADDING_STRICT;
    snprintf(cfg->control_socket, sizeof(cfg->control_socket), "/run/vmcs12d/control.sock");
    cfg->control_mode = 0660;
    snprintf(cfg->spool_dir, sizeof(cfg->spool_dir), "/var/lib/vmcs12d/spool");
    cfg->max_connections = 1024;
    cfg->max_frame = V12_FRAME_MAX_CFG;
    cfg->conn_buffer_limit = 1u << 20;
    cfg->global_buffer_limit = 64u << 20;
    cfg->max_inflight = 64;
    cfg->spool_threads = 16;
    cfg->handshake_timeout_ms = 10000;
    cfg->idle_timeout_ms = 120000;
    cfg->shutdown_timeout_ms = 10000;
    cfg->reconnect_min_ms = 200;
    cfg->reconnect_max_ms = 30000;
    cfg->log_level = 6;
    cfg->min_version = 13;
}

int v12_config_load(const char *path, struct v12_config *cfg, char *err, size_t errlen)
{
    struct parse_ctx c = {.cfg = cfg};
    defaults(cfg);
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -errno;
    }
    int line = ini_parse_file(f, handler, &c);
    fclose(f);
    if (line != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line, c.err[0] ? c.err : "syntax error");
        return V12_E_CONFIG;
    }
    const char *missing = !cfg->node[0] ? "[daemon] node" : cfg->layout == V12_LAYOUT_AUTO ? "[daemon] layout"
                          : !cfg->listen_port[0] ? "[daemon] listen" : !cfg->cert[0] ? "[tls] cert"
                          : !cfg->key[0] ? "[tls] key" : !cfg->ca[0] ? "[tls] ca" : NULL;
    if (missing) {
        snprintf(err, errlen, "%s: %s is required", path, missing);
        return V12_E_CONFIG;
    }
    for (unsigned i = 0; i < cfg->npeers; i++) {
        struct v12_peer_config *p = &cfg->peers[i];
        if (!p->address[0]) {
            snprintf(err, errlen, "%s: [peer %s] has no address", path, p->name);
            return V12_E_CONFIG;
        }
        if (p->stream_target.text[0] && !p->has_stream) {
            snprintf(err, errlen, "%s: [peer %s] has stream_target but no stream_listen", path, p->name);
            return V12_E_CONFIG;
        }
        if (p->has_stream && !p->stream_target.text[0]) p->stream_target = p->stream_listen;
    }
    if (cfg->reconnect_max_ms < cfg->reconnect_min_ms) {
        snprintf(err, errlen, "%s: reconnect_max_ms (%u) is below reconnect_min_ms (%u)", path, cfg->reconnect_max_ms,
                 cfg->reconnect_min_ms);
        return V12_E_CONFIG;
    }
    return 0;
}
