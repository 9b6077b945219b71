/* SPDX-License-Identifier: MIT */
/* The INI configuration, read with inih. */
#include "config.h"

#include "v12/qemu_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Whole decimal numbers only: no sign, no base prefix, no leading zero. */
static int parse_dec(const char *v, unsigned long long min, unsigned long long max, unsigned long long *ret)
{
    unsigned long long x = 0;
    if (!*v || (v[0] == '0' && v[1])) return -EINVAL;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9') return -EINVAL;
        if (x > (ULLONG_MAX - 9) / 10) return -ERANGE;
        x = x * 10 + (unsigned)(*p - '0');
    }
    if (x < min || x > max) return -ERANGE;
    *ret = x;
    return 0;
}

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
    unsigned long long v;
    if (parse_dec(p, 1, 65535, &v) != 0) return -EINVAL;
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

static int endpoint_parse(const char *s, struct v12_endpoint *ret, bool range)
{
    memset(ret, 0, sizeof(*ret));
    if (strlen(s) >= sizeof(ret->text)) return -EINVAL;
    memcpy(ret->text, s, strlen(s) + 1);
    if (strncmp(s, "unix:", 5) == 0) {
        ret->unix_socket = true;
        return unix_path(s, ret->path, sizeof(ret->path));
    }
    if (strncmp(s, "tcp:", 4) != 0) return -EINVAL;
    char buf[300];
    snprintf(buf, sizeof(buf), "%s", s + 4);
    char *dash = strrchr(buf, '-'), *colon = strrchr(buf, ':');
    unsigned long long hi = 0;
    if (range && dash && colon && dash > colon) {
        if (parse_dec(dash + 1, 1, 65535, &hi) != 0) return -EINVAL;
        *dash = 0;
    }
    if (v12_split_hostport(buf, ret->host, sizeof(ret->host), ret->port, sizeof(ret->port)) != 0) return -EINVAL;
    ret->port_lo = (unsigned)strtoul(ret->port, NULL, 10);
    ret->port_hi = hi ? (unsigned)hi : ret->port_lo;
    if (ret->port_hi < ret->port_lo || ret->port_hi - ret->port_lo >= V12_MAX_STREAM_PORTS) return -EINVAL;
    return 0;
}

int v12_endpoint_parse(const char *s, struct v12_endpoint *ret)
{
    return endpoint_parse(s, ret, false);
}

int v12_endpoint_parse_range(const char *s, struct v12_endpoint *ret)
{
    return endpoint_parse(s, ret, true);
}

void v12_endpoint_at(const struct v12_endpoint *range, unsigned i, struct v12_endpoint *ret)
{
    *ret = *range;
    if (range->unix_socket) return;
    ret->port_lo = ret->port_hi = range->port_lo + i;
    snprintf(ret->port, sizeof(ret->port), "%u", ret->port_lo);
    snprintf(ret->text, sizeof(ret->text), strchr(range->host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", range->host,
             ret->port_lo);
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
        unsigned long long v;
        if (parse_dec(dash + 1, 1, 65535, &v) != 0) return -EINVAL;
        hi = (unsigned)v;
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

/* ---- the keys ---------------------------------------------------------------------------------------- */

/* Every key the parser takes, by section: the one list vmcs12d.conf(5) is checked against. */
static const struct v12_config_key keys[] = {
    {"daemon", "node"},
    {"daemon", "layout"},
    {"daemon", "profile"},
    {"daemon", "padding"},
    {"daemon", "control_socket"},
    {"daemon", "control_mode"},
    {"daemon", "spool_dir"},
    {"daemon", "listen"},
    {"daemon", "max_connections"},
    {"daemon", "max_peer_connections"},
    {"daemon", "max_frame"},
    {"daemon", "conn_buffer_limit"},
    {"daemon", "global_buffer_limit"},
    {"daemon", "max_inflight"},
    {"daemon", "spool_threads"},
    {"daemon", "workers"},
    {"daemon", "handshake_timeout_ms"},
    {"daemon", "idle_timeout_ms"},
    {"daemon", "shutdown_timeout_ms"},
    {"daemon", "reconnect_min_ms"},
    {"daemon", "reconnect_max_ms"},
    {"daemon", "log_level"},
    {"daemon", "stream_allow"},
    {"daemon", "metrics_listen"},
    {"daemon", "stream_hold_limit"},
    {"daemon", "stream_hold_timeout_ms"},
    {"daemon", "peer_down_warn_s"},
    {"tls", "cert"},
    {"tls", "key"},
    {"tls", "ca"},
    {"tls", "crl"},
    {"tls", "min_version"},
    {"tls", "client_cert"},
    {"tls", "client_key"},
    {"peer", "address"},
    {"peer", "stream_listen"},
    {"peer", "stream_target"},
    {"peer", "stream_passthrough"},
};

const struct v12_config_key *v12_config_keys(size_t *n)
{
    *n = sizeof(keys) / sizeof(keys[0]);
    return keys;
}

static bool known_key(const char *section, const char *key)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0) return true;
    return false;
}

/* ---- reading the file ----------------------------------------------------------------------------- */

enum section_kind { SEC_NONE, SEC_DAEMON, SEC_TLS, SEC_PEER, SEC_BAD };

struct parse_ctx {
    struct v12_config *cfg;
    struct v12_config_errors *errs;
    const char *p, *end; /* the file, in memory */
    unsigned line;       /* of the line inih is working on */
    enum section_kind kind;
    unsigned section; /* index for key lines: 0 [daemon], 1 [tls], 2 + i [peer i] */
    struct v12_peer_config *peer;
};

void v12_config_error(struct v12_config_errors *e, const char *path, unsigned line, const char *fmt, ...)
{
    if (e->n < V12_CONFIG_MAX_ERRORS) {
        char msg[320];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(e->line[e->n], sizeof(e->line[e->n]), "%s:%u: %s", path, line, msg);
    }
    e->n++;
}

#define ERR(c, ...) v12_config_error((c)->errs, (c)->cfg->path, (c)->line, __VA_ARGS__)

static const unsigned *key_line(const struct v12_config *cfg, unsigned section, const char *key)
{
    for (unsigned i = 0; i < cfg->nkeylines; i++)
        if (cfg->keylines[i].section == section && strcmp(cfg->keylines[i].key, key) == 0)
            return &cfg->keylines[i].line;
    return NULL;
}

unsigned v12_config_line(const struct v12_config *cfg, int peer, const char *key)
{
    unsigned section = peer == V12_CFG_DAEMON ? 0 : peer == V12_CFG_TLS ? 1 : 2 + (unsigned)peer;
    const unsigned *l = key_line(cfg, section, key);
    if (l) return *l;
    /* Not set: the section's own line, or the end of the file. */
    if (peer >= 0) return cfg->peers[peer].line;
    return cfg->section_line[section] ? cfg->section_line[section] : cfg->nlines;
}

static int set_str(struct parse_ctx *c, char *dst, size_t size, const char *key, const char *v)
{
    size_t n = strlen(v);
    if (n == 0) {
        ERR(c, "%s: empty value", key);
        return 0;
    }
    if (n >= size) {
        ERR(c, "%s: value is %zu bytes long, at most %zu", key, n, size - 1);
        return 0;
    }
    memcpy(dst, v, n + 1);
    return 1;
}

static int set_uint(struct parse_ctx *c, unsigned long long *dst, const char *key, const char *v,
                    unsigned long long min, unsigned long long max)
{
    if (parse_dec(v, min, max, dst) == 0) return 1;
    ERR(c, "%s: '%s' is not a whole decimal number in %llu..%llu", key, v, min, max);
    return 0;
}

#define UINT_KEY(field, key, min, max)                        \
    if (strcmp(name, key) == 0) {                             \
        unsigned long long x;                                 \
        if (!set_uint(c, &x, key, value, min, max)) return 0; \
        cfg->field = (__typeof__(cfg->field))x;               \
        return 1;                                             \
    }

static int daemon_key(struct parse_ctx *c, const char *name, const char *value)
{
    struct v12_config *cfg = c->cfg;
    if (strcmp(name, "node") == 0) {
        if (!v12_name_ok(value)) {
            ERR(c, "node: '%s' is not a valid name ([A-Za-z0-9._:-], 1..63)", value);
            return 0;
        }
        return set_str(c, cfg->node, sizeof(cfg->node), name, value);
    }
    if (strcmp(name, "layout") == 0) {
        if (strcmp(value, "encoded") == 0) cfg->layout = V12_LAYOUT_ENCODED;
        else if (strcmp(value, "legacy") == 0) {
            if (cfg->layout == V12_LAYOUT_ENCODED || cfg->layout == V12_LAYOUT_AUTO) cfg->layout = V12_LAYOUT_LEGACY;
        } else {
            ERR(c, "layout: '%s' is neither legacy nor encoded", value);
            return 0;
        }
        return 1;
    }
    if (strcmp(name, "profile") == 0) {
        enum v12_layout p;
        if (strcmp(value, "auto") == 0) {
            cfg->profile_auto = true;
            return 1;
        }
        if (v12_profile_from_name(value, &p) != 0) {
            ERR(c, "profile: unknown profile '%s' (auto, linux-4.19, linux-5.13, linux-5.14, linux-6.18)", value);
            return 0;
        }
        cfg->layout = cfg->layout == V12_LAYOUT_ENCODED ? V12_LAYOUT_ENCODED : p;
        /* Remember the profile even if layout = encoded comes first; it is unused then. */
        return 1;
    }
    if (strcmp(name, "padding") == 0) {
        if (v12_padding_from_name(value, &cfg->padding) != 0) {
            ERR(c, "padding: '%s' is neither strict nor ignore", value);
            return 0;
        }
        return 1;
    }
    if (strcmp(name, "control_socket") == 0 || strcmp(name, "spool_dir") == 0) {
        bool sock = name[0] == 'c';
        char *dst = sock ? cfg->control_socket : cfg->spool_dir;
        size_t size = sock ? sizeof(cfg->control_socket) : sizeof(cfg->spool_dir);
        if (!set_str(c, dst, size, name, value)) return 0;
        if (value[0] != '/') {
            ERR(c, "%s: '%s' is not an absolute path", name, value);
            return 0;
        }
        return 1;
    }
    if (strcmp(name, "listen") == 0) {
        if (v12_split_hostport(value, cfg->listen_host, sizeof(cfg->listen_host), cfg->listen_port,
                               sizeof(cfg->listen_port)) != 0) {
            ERR(c, "listen: '%s' is not host:port or [v6]:port", value);
            return 0;
        }
        return 1;
    }
    if (strcmp(name, "control_mode") == 0) {
        /* Permission bits, in octal as chmod takes them: 660 or 0660. */
        size_t n = strlen(value);
        char *end;
        unsigned long m = strtoul(value, &end, 8);
        if (n == 0 || n > 4 || strspn(value, "01234567") != n || *end || m > 0777) {
            ERR(c, "control_mode: '%s' is not octal permission bits (e.g. 0660)", value);
            return 0;
        }
        cfg->control_mode = (unsigned)m;
        return 1;
    }
    UINT_KEY(max_connections, "max_connections", 1, 100000)
    UINT_KEY(max_peer_connections, "max_peer_connections", 1, 100000)
    UINT_KEY(max_frame, "max_frame", 9216, V12_FRAME_MAX_CFG)
    UINT_KEY(conn_buffer_limit, "conn_buffer_limit", 65536, 1ull << 30)
    UINT_KEY(global_buffer_limit, "global_buffer_limit", 1ull << 20, 1ull << 34)
    UINT_KEY(max_inflight, "max_inflight", 1, 4096)
    UINT_KEY(spool_threads, "spool_threads", 1, 64)
    UINT_KEY(workers, "workers", 1, V12_MAX_WORKERS_CFG)
    UINT_KEY(handshake_timeout_ms, "handshake_timeout_ms", 100, 600000)
    UINT_KEY(idle_timeout_ms, "idle_timeout_ms", 1000, 86400000)
    UINT_KEY(shutdown_timeout_ms, "shutdown_timeout_ms", 0, 600000)
    UINT_KEY(reconnect_min_ms, "reconnect_min_ms", 10, 600000)
    UINT_KEY(reconnect_max_ms, "reconnect_max_ms", 10, 3600000)
    UINT_KEY(stream_hold_limit, "stream_hold_limit", V12_QS_HOLD_MIN, 1ull << 32)
    UINT_KEY(stream_hold_timeout_ms, "stream_hold_timeout_ms", 100, 600000)
    UINT_KEY(peer_down_warn_s, "peer_down_warn_s", 1, 604800)
    if (strcmp(name, "log_level") == 0) {
        static const char *const levels[] = {"err", "warning", "notice", "info", "debug"};
        for (int i = 0; i < 5; i++)
            if (strcmp(value, levels[i]) == 0) {
                cfg->log_level = 3 + i;
                return 1;
            }
        ERR(c, "log_level: '%s' is not err, warning, notice, info or debug", value);
        return 0;
    }
    if (strcmp(name, "metrics_listen") == 0) {
        char ep[300];
        snprintf(ep, sizeof(ep), "%s%s", strncmp(value, "unix:", 5) == 0 ? "" : "tcp:", value);
        if (v12_endpoint_parse(ep, &cfg->metrics_listen) != 0) {
            ERR(c, "metrics_listen: '%s' is not HOST:PORT or unix:/PATH", value);
            return 0;
        }
        cfg->has_metrics = true;
        return 1;
    }
    if (strcmp(name, "stream_allow") == 0) {
        char buf[1024];
        snprintf(buf, sizeof(buf), "%s", value);
        cfg->nallow = 0;
        for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
            if (cfg->nallow == V12_MAX_ALLOW) {
                ERR(c, "stream_allow: more than %d entries", V12_MAX_ALLOW);
                return 0;
            }
            if (allow_parse(tok, &cfg->stream_allow[cfg->nallow]) != 0) {
                ERR(c, "stream_allow: '%s' is not tcp:HOST:PORT[-PORT] or unix:/PATH", tok);
                return 0;
            }
            cfg->nallow++;
        }
        if (!cfg->nallow) ERR(c, "stream_allow: empty value");
        return cfg->nallow > 0;
    }
    ERR(c, "unknown key '%s' in [daemon]", name);
    return 0;
}

static int tls_key(struct parse_ctx *c, const char *name, const char *value)
{
    struct v12_config *cfg = c->cfg;
    if (strcmp(name, "cert") == 0) return set_str(c, cfg->cert, sizeof(cfg->cert), name, value);
    if (strcmp(name, "key") == 0) return set_str(c, cfg->key, sizeof(cfg->key), name, value);
    if (strcmp(name, "ca") == 0) return set_str(c, cfg->ca, sizeof(cfg->ca), name, value);
    if (strcmp(name, "crl") == 0) return set_str(c, cfg->crl, sizeof(cfg->crl), name, value);
    if (strcmp(name, "client_cert") == 0) return set_str(c, cfg->client_cert, sizeof(cfg->client_cert), name, value);
    if (strcmp(name, "client_key") == 0) return set_str(c, cfg->client_key, sizeof(cfg->client_key), name, value);
    if (strcmp(name, "min_version") == 0) {
        if (strcmp(value, "1.3") == 0) cfg->min_version = 13;
        else if (strcmp(value, "1.2") == 0) cfg->min_version = 12;
        else {
            ERR(c, "min_version: '%s' is neither 1.3 nor 1.2", value);
            return 0;
        }
        return 1;
    }
    ERR(c, "unknown key '%s' in [tls]", name);
    return 0;
}

static int peer_key(struct parse_ctx *c, const char *name, const char *value)
{
    struct v12_peer_config *p = c->peer;
    if (strcmp(name, "address") == 0) {
        if (!set_str(c, p->address, sizeof(p->address), name, value)) return 0;
        if (v12_split_hostport(value, p->host, sizeof(p->host), p->port, sizeof(p->port)) != 0) {
            ERR(c, "address: '%s' is not host:port or [v6]:port", value);
            return 0;
        }
        return 1;
    }
    if (strcmp(name, "stream_listen") == 0 || strcmp(name, "stream_target") == 0) {
        struct v12_endpoint *e = name[7] == 'l' ? &p->stream_listen : &p->stream_target;
        if (v12_endpoint_parse_range(value, e) != 0) {
            ERR(c, "%s: '%s' is not tcp:HOST:PORT, tcp:HOST:PORT-PORT (at most %d ports) or unix:/PATH", name, value,
                V12_MAX_STREAM_PORTS);
            return 0;
        }
        if (name[7] == 'l') p->has_stream = true;
        return 1;
    }
    if (strcmp(name, "stream_passthrough") == 0) {
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0) p->stream_passthrough = true;
        else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0) p->stream_passthrough = false;
        else {
            ERR(c, "stream_passthrough: '%s' is neither yes nor no", value);
            return 0;
        }
        return 1;
    }
    ERR(c, "unknown key '%s' in [peer %s]", name, p->name);
    return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *c = user;
    struct v12_config *cfg = c->cfg;
    if (!name) return 1;
    if (c->kind == SEC_BAD) return 1; /* the section's header was refused: said once there */
    if (c->kind == SEC_NONE) {
        ERR(c, "key '%s' outside any section ([daemon], [tls] or [peer NAME])", name);
        return 1;
    }
    /* A key set twice would silently take the last value: refused, naming the first line. */
    const unsigned *first = key_line(cfg, c->section, name);
    if (first) {
        ERR(c, "%s is set twice in [%s] (first at line %u)", name, section, *first);
        return 1;
    }
    const char *sect = c->kind == SEC_DAEMON ? "daemon" : c->kind == SEC_TLS ? "tls" : "peer";
    if (!known_key(sect, name)) {
        if (c->kind == SEC_PEER) ERR(c, "unknown key '%s' in [peer %s]", name, c->peer->name);
        else ERR(c, "unknown key '%s' in [%s]", name, sect);
        return 1;
    }
    if (cfg->nkeylines < V12_MAX_KEYLINES && strlen(name) < sizeof(cfg->keylines[0].key)) {
        struct v12_keyline *k = &cfg->keylines[cfg->nkeylines++];
        k->section = c->section;
        k->line = c->line;
        memcpy(k->key, name, strlen(name) + 1);
    }
    if (c->kind == SEC_DAEMON) daemon_key(c, name, value);
    else if (c->kind == SEC_TLS) tls_key(c, name, value);
    else peer_key(c, name, value);
    return 1; /* go on: every error in the file is reported, each with its own line */
}

/* A section header [NAME] at c->line: what it is, and whether it may be there. */
static void section_start(struct parse_ctx *c, const char *name)
{
    struct v12_config *cfg = c->cfg;
    c->kind = SEC_BAD;
    c->peer = NULL;
    if (strcmp(name, "daemon") == 0 || strcmp(name, "tls") == 0) {
        unsigned idx = name[0] == 'd' ? 0 : 1;
        if (cfg->section_line[idx]) {
            ERR(c, "[%s] appears twice (first at line %u)", name, cfg->section_line[idx]);
            return;
        }
        cfg->section_line[idx] = c->line;
        c->section = idx;
        c->kind = idx == 0 ? SEC_DAEMON : SEC_TLS;
        return;
    }
    if (strncmp(name, "peer ", 5) != 0) {
        ERR(c, "unknown section [%s] (sections are [daemon], [tls] and [peer NAME])", name);
        return;
    }
    const char *pname = name + 5;
    if (!v12_name_ok(pname)) {
        ERR(c, "[peer %s]: not a valid peer name ([A-Za-z0-9._:-], 1..63)", pname);
        return;
    }
    const struct v12_peer_config *dup = v12_config_peer(cfg, pname);
    if (dup) {
        ERR(c, "[peer %s] appears twice (first at line %u)", pname, dup->line);
        return;
    }
    if (cfg->npeers == V12_MAX_PEERS) {
        ERR(c, "more than %d peers", V12_MAX_PEERS);
        return;
    }
    c->peer = &cfg->peers[cfg->npeers];
    memset(c->peer, 0, sizeof(*c->peer));
    memcpy(c->peer->name, pname, strlen(pname) + 1);
    c->peer->line = c->line;
    c->section = 2 + cfg->npeers++;
    c->kind = SEC_PEER;
}

/*
 * inih's line reader: one line of the file per call, counted, so that every error carries its
 * own line. Leading blanks are removed (an indented line is never a continuation), section
 * headers are looked at here (inih says nothing of an empty section), and a line inih would
 * misread (too long, a NUL, neither header nor key = value nor comment) is reported and handed
 * over as an empty line.
 */
static char *read_line(char *str, int num, void *stream)
{
    struct parse_ctx *c = stream;
    if (c->p >= c->end) return NULL;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    const char *eol = nl ? nl : c->end;
    const char *s = c->p;
    c->p = nl ? nl + 1 : c->end;
    c->line++;
    while (s < eol && (*s == ' ' || *s == '\t')) s++;
    size_t n = (size_t)(eol - s);
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    str[0] = 0;
    if (memchr(s, 0, n)) {
        ERR(c, "a NUL byte in the line");
        return str;
    }
    if (n + 2 > (size_t)num) {
        ERR(c, "line is %zu characters long, at most %d", n, num - 2);
        return str;
    }
    if (n == 0 || s[0] == ';' || s[0] == '#') return str;
    memcpy(str, s, n);
    str[n] = '\n';
    str[n + 1] = 0;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close + 1 != s + n) {
            ERR(c, "section header '%.*s' is not [NAME]", (int)n, s);
            str[0] = 0;
            c->kind = SEC_BAD;
            return str;
        }
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(close - s - 1), s + 1);
        section_start(c, name);
        return str;
    }
    if (!memchr(s, '=', n)) {
        ERR(c, "'%.*s' is not key = value", (int)(n > 60 ? 60 : n), s);
        str[0] = 0;
    }
    return str;
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
    cfg->max_peer_connections = 64;
    cfg->max_frame = V12_FRAME_MAX_CFG;
    cfg->conn_buffer_limit = 1u << 20;
    cfg->global_buffer_limit = 64u << 20;
    cfg->max_inflight = 64;
    cfg->spool_threads = 16;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->workers = cpus < 1 ? 1 : cpus > V12_MAX_WORKERS_CFG ? V12_MAX_WORKERS_CFG : (unsigned)cpus;
    cfg->handshake_timeout_ms = 10000;
    cfg->idle_timeout_ms = 120000;
    cfg->shutdown_timeout_ms = 10000;
    cfg->reconnect_min_ms = 200;
    cfg->reconnect_max_ms = 30000;
    cfg->stream_hold_limit = V12_QS_HOLD_DEFAULT;
    cfg->stream_hold_timeout_ms = 5000;
    cfg->peer_down_warn_s = 60;
    cfg->log_level = 6;
    cfg->min_version = 13;
}

#define V12_CONFIG_FILE_MAX (1u << 20)

/* What needs the whole file: required keys, and keys that depend on each other. */
static void check_whole(struct v12_config *cfg, struct v12_config_errors *errs)
{
    static const struct {
        int section;
        const char *key;
        size_t off;
    } required[] = {
        {V12_CFG_DAEMON, "node", offsetof(struct v12_config, node)},
        {V12_CFG_DAEMON, "listen", offsetof(struct v12_config, listen_port)},
        {V12_CFG_TLS, "cert", offsetof(struct v12_config, cert)},
        {V12_CFG_TLS, "key", offsetof(struct v12_config, key)},
        {V12_CFG_TLS, "ca", offsetof(struct v12_config, ca)},
    };
    const char *path = cfg->path;
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (((const char *)cfg)[required[i].off]) continue;
        if (key_line(cfg, required[i].section == V12_CFG_DAEMON ? 0 : 1, required[i].key)) continue; /* refused there */
        v12_config_error(errs, path, v12_config_line(cfg, required[i].section, required[i].key), "[%s] %s is required",
                         required[i].section == V12_CFG_DAEMON ? "daemon" : "tls", required[i].key);
    }
    if (cfg->layout == V12_LAYOUT_AUTO && !key_line(cfg, 0, "layout"))
        v12_config_error(errs, path, v12_config_line(cfg, V12_CFG_DAEMON, "layout"), "[daemon] layout is required");
    /* The legacy profile: as configured, or (profile = auto, the default) from the running kernel. */
    if (cfg->layout != V12_LAYOUT_ENCODED && cfg->layout != V12_LAYOUT_AUTO) {
        if (key_line(cfg, 0, "profile") && !cfg->profile_auto) {
            snprintf(cfg->profile_why, sizeof(cfg->profile_why), "configured");
        } else {
            struct utsname u = {.release = "?"};
            enum v12_layout p;
            int r = uname(&u) == 0 ? v12_profile_for_kernel(u.release, &p) : V12_E_INVALID_ARGUMENT;
            if (r) {
                v12_config_error(
                    errs, path, v12_config_line(cfg, V12_CFG_DAEMON, "profile"),
                    "profile = auto: the running kernel %s is older than every legacy profile this vmcs12d "
                    "knows (linux-4.19 starts at 4.19); set [daemon] profile = linux-4.19, linux-5.13, "
                    "linux-5.14 or linux-6.18",
                    u.release);
            } else {
                cfg->layout = p;
                snprintf(cfg->profile_why, sizeof(cfg->profile_why), "auto: kernel %.64s is %s (%s)", u.release,
                         v12_layout_name(p), v12_layout_kernels(p));
            }
        }
    }
    for (unsigned i = 0; i < cfg->npeers; i++) {
        struct v12_peer_config *p = &cfg->peers[i];
        if (!p->address[0] && !key_line(cfg, 2 + i, "address"))
            v12_config_error(errs, path, p->line, "[peer %s] has no address", p->name);
        if (cfg->node[0] && strcmp(p->name, cfg->node) == 0)
            v12_config_error(errs, path, p->line, "[peer %s] names this node itself (node = %s)", p->name, cfg->node);
        if (key_line(cfg, 2 + i, "stream_target") && !key_line(cfg, 2 + i, "stream_listen"))
            v12_config_error(errs, path, v12_config_line(cfg, (int)i, "stream_target"),
                             "[peer %s] has stream_target but no stream_listen", p->name);
        if (p->has_stream && !p->stream_target.text[0]) p->stream_target = p->stream_listen;
        unsigned nl = p->has_stream ? v12_endpoint_ports(&p->stream_listen) : 1;
        if (p->has_stream && v12_endpoint_ports(&p->stream_target) != nl)
            v12_config_error(
                errs, path, v12_config_line(cfg, (int)i, "stream_target"),
                "[peer %s] stream_target '%s' has %u port%s, stream_listen '%s' has %u: each listening port "
                "needs its own target port",
                p->name, p->stream_target.text, v12_endpoint_ports(&p->stream_target),
                v12_endpoint_ports(&p->stream_target) == 1 ? "" : "s", p->stream_listen.text, nl);
    }
    if (!cfg->client_cert[0] != !cfg->client_key[0])
        v12_config_error(errs, path,
                         v12_config_line(cfg, V12_CFG_TLS, cfg->client_cert[0] ? "client_cert" : "client_key"),
                         "[tls] client_cert and client_key go together");
    if (cfg->reconnect_max_ms < cfg->reconnect_min_ms)
        v12_config_error(errs, path, v12_config_line(cfg, V12_CFG_DAEMON, "reconnect_max_ms"),
                         "reconnect_max_ms (%u) is below reconnect_min_ms (%u)", cfg->reconnect_max_ms,
                         cfg->reconnect_min_ms);
}

int v12_config_load(const char *path, struct v12_config *cfg, struct v12_config_errors *errs)
{
    defaults(cfg);
    memset(errs, 0, sizeof(*errs));
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        int r = -errno;
        v12_config_error(errs, path, 0, "cannot open: %s", strerror(-r));
        return r;
    }
    static char text[V12_CONFIG_FILE_MAX + 1];
    size_t len = fread(text, 1, sizeof(text), f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || len > V12_CONFIG_FILE_MAX) {
        v12_config_error(errs, path, 0, rerr ? "cannot read" : "larger than %u bytes", V12_CONFIG_FILE_MAX);
        return V12_E_CONFIG;
    }
    struct parse_ctx c = {.cfg = cfg, .errs = errs, .p = text, .end = text + len};
    int line = ini_parse_stream(read_line, &c, handler, &c);
    cfg->nlines = c.line;
    if (line > 0 && !errs->n) v12_config_error(errs, path, (unsigned)line, "syntax error");
    check_whole(cfg, errs);
    return errs->n ? V12_E_CONFIG : 0;
}

/* ---- what the file names on this host -------------------------------------------------------------- */

/* Resolve host:port for listening: 0 with *ret (freeaddrinfo), or an error with msg. */
int v12_resolve_listen(const char *host, const char *port, struct addrinfo **ret, char *msg, size_t msglen)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    int r = getaddrinfo(host, port, &hints, ret);
    if (r) {
        snprintf(msg, msglen, "cannot resolve '%s': %s", host, gai_strerror(r));
        return -EINVAL;
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

int v12_config_check_host(const struct v12_config *cfg, struct v12_config_errors *errs)
{
    unsigned before = errs->n;
    char msg[300];
    struct addrinfo *res;
    if (cfg->listen_host[0]) {
        if (v12_resolve_listen(cfg->listen_host, cfg->listen_port, &res, msg, sizeof(msg)) == 0) freeaddrinfo(res);
        else v12_config_error(errs, cfg->path, v12_config_line(cfg, V12_CFG_DAEMON, "listen"), "listen: %s", msg);
    }
    check_dir(errs, cfg, "spool_dir", cfg->spool_dir);
    check_socket_path(errs, cfg, v12_config_line(cfg, V12_CFG_DAEMON, "control_socket"), "control_socket",
                      cfg->control_socket, true);
    if (cfg->has_metrics) {
        const struct v12_endpoint *e = &cfg->metrics_listen;
        unsigned line = v12_config_line(cfg, V12_CFG_DAEMON, "metrics_listen");
        if (e->unix_socket) {
            check_socket_path(errs, cfg, line, "metrics_listen", e->path, false);
        } else if (v12_resolve_listen(e->host, e->port, &res, msg, sizeof(msg)) != 0) {
            v12_config_error(errs, cfg->path, line, "metrics_listen: %s", msg);
        } else {
            for (struct addrinfo *a = res; a; a = a->ai_next)
                if (!is_loopback(a->ai_addr)) {
                    v12_config_error(errs, cfg->path, line,
                                     "metrics_listen: '%s:%s' is not a loopback address (use 127.0.0.1, [::1] or "
                                     "unix:/PATH; put a proxy in front to publish it)",
                                     e->host, e->port);
                    break;
                }
            freeaddrinfo(res);
        }
    }
    for (unsigned i = 0; i < cfg->npeers; i++) {
        const struct v12_peer_config *p = &cfg->peers[i];
        if (!p->has_stream) continue;
        const struct v12_endpoint *e = &p->stream_listen;
        unsigned line = v12_config_line(cfg, (int)i, "stream_listen");
        if (e->unix_socket) {
            check_socket_path(errs, cfg, line, "stream_listen", e->path, false);
            continue;
        }
        if (v12_resolve_listen(e->host, e->port, &res, msg, sizeof(msg)) != 0) {
            v12_config_error(errs, cfg->path, line, "[peer %s] stream_listen: %s", p->name, msg);
            continue;
        }
        for (struct addrinfo *a = res; a; a = a->ai_next)
            if (!is_loopback(a->ai_addr)) {
                v12_config_error(errs, cfg->path, line,
                                 "[peer %s] stream_listen: '%s' is not a loopback address: QEMU's unencrypted stream "
                                 "must not be reachable from the network (use 127.0.0.1, [::1] or unix:/PATH)",
                                 p->name, e->text);
                break;
            }
        freeaddrinfo(res);
    }
    return errs->n > before ? V12_E_CONFIG : 0;
}

void v12_unlink_stale_socket(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) (void)unlink(path);
}
