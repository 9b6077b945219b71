/* SPDX-License-Identifier: MIT */
/* The INI configuration, read with inih. */
#include "config.h"

#include "v12/qemu_stream.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    if (n == 0 || n >= size || s[5] != '/') return V12_E_INVALID_ARGUMENT;
    memcpy(path, s + 5, n + 1);
    return 0;
}

/* The number in the n bytes at s, as parse_dec reads one (decimal, no leading zeros), at most
 * 999999: the numbers of a unix range. */
static int parse_dec_span(const char *s, size_t n, unsigned long long *ret)
{
    char num[8];
    if (n == 0 || n >= sizeof(num)) return -EINVAL;
    memcpy(num, s, n);
    num[n] = 0;
    return parse_dec(num, 0, 999999, ret);
}

/* A unix range: "{LO-HI}" once in ret->path, LO <= HI, at most max_ports paths. A path without
 * braces is one endpoint. Each path of the range is shorter than the pattern ("{LO-HI}" is
 * longer than HI), so it fits where the pattern did. */
static int unix_range(struct v12_endpoint *ret, unsigned max_ports)
{
    char *open = strchr(ret->path, '{');
    if (!open) return strchr(ret->path, '}') ? V12_E_INVALID_ARGUMENT : 0;
    char *close = strchr(open, '}'), *dash = strchr(open, '-');
    if (!close || !dash || dash > close || strchr(close + 1, '{') || strchr(close + 1, '}'))
        return V12_E_INVALID_ARGUMENT;
    unsigned long long lo, hi;
    if (parse_dec_span(open + 1, (size_t)(dash - open - 1), &lo) != 0 ||
        parse_dec_span(dash + 1, (size_t)(close - dash - 1), &hi) != 0 || hi < lo || hi - lo >= max_ports)
        return V12_E_INVALID_ARGUMENT;
    ret->brace_at = (unsigned short)(open - ret->path);
    ret->brace_len = (unsigned short)(close - open + 1);
    ret->port_lo = (unsigned)lo;
    ret->port_hi = (unsigned)hi;
    return 0;
}

/*
 * The one endpoint parser: "unix:/PATH", "tcp:HOST:PORT", and with max_ports > 1 the ranges
 * "tcp:HOST:LO-HI" and "unix:/PATH{LO-HI}SUFFIX" of at most max_ports endpoints; with bare_tcp,
 * "HOST:PORT" means tcp. 0, or V12_E_INVALID_ARGUMENT with *ret all zero.
 */
static int endpoint_parse(const char *s, struct v12_endpoint *ret, unsigned max_ports, bool bare_tcp)
{
    memset(ret, 0, sizeof(*ret));
    int r = V12_E_INVALID_ARGUMENT;
    if (strncmp(s, "unix:", 5) == 0) {
        ret->unix_socket = true;
        r = unix_path(s, ret->path, sizeof(ret->path));
        if (r == 0 && max_ports > 1) r = unix_range(ret, max_ports);
    } else if (strncmp(s, "tcp:", 4) == 0 || bare_tcp) {
        char buf[sizeof(ret->text)];
        const char *hp = strncmp(s, "tcp:", 4) == 0 ? s + 4 : s;
        if (strlen(hp) >= sizeof(buf)) goto out;
        memcpy(buf, hp, strlen(hp) + 1);
        char *dash = strrchr(buf, '-'), *colon = strrchr(buf, ':');
        unsigned long long hi = 0;
        if (max_ports > 1 && dash && colon && dash > colon) {
            if (parse_dec(dash + 1, 1, 65535, &hi) != 0) goto out;
            *dash = 0;
        }
        if (v12_split_hostport(buf, ret->host, sizeof(ret->host), ret->port, sizeof(ret->port)) != 0) goto out;
        ret->port_lo = (unsigned)strtoul(ret->port, NULL, 10);
        ret->port_hi = hi ? (unsigned)hi : ret->port_lo;
        if (ret->port_hi < ret->port_lo || ret->port_hi - ret->port_lo >= max_ports) goto out;
        r = 0;
    }
    if (r == 0 && strlen(s) < sizeof(ret->text)) memcpy(ret->text, s, strlen(s) + 1);
    else r = V12_E_INVALID_ARGUMENT;
out:
    if (r) memset(ret, 0, sizeof(*ret));
    return r;
}

int v12_endpoint_parse(const char *s, struct v12_endpoint *ret)
{
    return endpoint_parse(s, ret, 1, false);
}

int v12_endpoint_parse_range(const char *s, unsigned max, struct v12_endpoint *ret)
{
    return endpoint_parse(s, ret, max, false);
}

void v12_endpoint_at(const struct v12_endpoint *range, unsigned i, struct v12_endpoint *ret)
{
    *ret = *range;
    if (range->unix_socket && !range->brace_len) return;
    ret->port_lo = ret->port_hi = range->port_lo + i;
    if (range->unix_socket) {
        ret->brace_at = ret->brace_len = 0;
        /* Shorter than the pattern (unix_range). */
        snprintf(ret->path, sizeof(ret->path), "%.*s%u%s", (int)range->brace_at, range->path, ret->port_lo,
                 range->path + range->brace_at + range->brace_len);
        snprintf(ret->text, sizeof(ret->text), "unix:%s", ret->path);
        return;
    }
    snprintf(ret->port, sizeof(ret->port), "%u", ret->port_lo);
    snprintf(ret->text, sizeof(ret->text), strchr(range->host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", range->host,
             ret->port_lo);
}

/* Is path one of the paths of the unix range a: its prefix, a number in range written as
 * v12_endpoint_at writes it (no leading zeros), its suffix? */
static bool unix_in_range(const struct v12_endpoint *a, const char *path)
{
    const char *suffix = a->path + a->brace_at + a->brace_len;
    size_t n = strlen(path), ns = strlen(suffix);
    if (n < (size_t)a->brace_at + ns + 1 || strncmp(path, a->path, a->brace_at) != 0 ||
        strcmp(path + n - ns, suffix) != 0)
        return false;
    unsigned long long v;
    if (parse_dec_span(path + a->brace_at, n - ns - a->brace_at, &v) != 0) return false;
    return v >= a->port_lo && v <= a->port_hi;
}

bool v12_stream_allowed(const struct v12_endpoint *rules, unsigned n, const struct v12_endpoint *t)
{
    for (unsigned i = 0; i < n; i++) {
        const struct v12_endpoint *a = &rules[i];
        if (a->unix_socket != t->unix_socket) continue;
        if (a->unix_socket && (a->brace_len ? unix_in_range(a, t->path) : strcmp(a->path, t->path) == 0)) return true;
        if (!a->unix_socket && strcmp(a->host, t->host) == 0 && t->port_lo >= a->port_lo && t->port_lo <= a->port_hi)
            return true;
    }
    return false;
}

/* ---- the keys ---------------------------------------------------------------------------------------- */

#define V12_OWNER_DAEMON struct v12_config
#define V12_OWNER_TLS struct v12_config
#define V12_OWNER_PEER struct v12_peer_config
static const struct v12_config_key keys[] = {
#define V12_KEY(sect, name, kind, field, min, max, def, flags, arg, help) \
    {V12_SECTION_##sect,                                                  \
     #name,                                                               \
     V12_KIND_##kind,                                                     \
     offsetof(V12_OWNER_##sect, field),                                   \
     sizeof(((V12_OWNER_##sect *)0)->field),                              \
     min,                                                                 \
     max,                                                                 \
     def,                                                                 \
     flags,                                                               \
     arg,                                                                 \
     help},
#include "config_keys.def"
#undef V12_KEY
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

const struct v12_config_key *v12_config_keys(size_t *n)
{
    *n = NKEYS;
    return keys;
}

const char *v12_key_section_name(enum v12_key_section s)
{
    return s == V12_SECTION_DAEMON ? "daemon" : s == V12_SECTION_TLS ? "tls" : "peer";
}

static const struct v12_config_key *find_key(enum v12_key_section section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].section == section && strcmp(keys[i].key, name) == 0) return &keys[i];
    return NULL;
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
        v12_errmsg_set(&e->line[e->n], "%s:%u: %s", path, line, msg);
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

/* ---- one value, by its key's kind --------------------------------------------------------------------- */

/* "a, b or c" / "neither a nor b" from "a|b|c", for messages. */
static void choices_text(const char *arg, char *out, size_t size)
{
    unsigned n = 1;
    for (const char *p = arg; *p; p++) n += *p == '|';
    size_t len = 0;
    unsigned i = 0;
    out[0] = 0;
    for (const char *p = arg; i < n && len < size; i++) {
        size_t w = strcspn(p, "|");
        const char *sep = i == 0 ? "" : i == n - 1 ? (n == 2 ? " nor " : " or ") : ", ";
        len += (size_t)snprintf(out + len, size - len, "%s%s%.*s", n == 2 && i == 0 ? "neither " : "", sep, (int)w, p);
        p += w + (p[w] == '|');
    }
}

/* Which of arg's '|' separated words v is: 0 and *index, or V12_E_NOT_FOUND. */
static int choice_index(const char *arg, const char *v, int *index)
{
    int i = 0;
    for (const char *p = arg;; i++) {
        size_t w = strcspn(p, "|");
        if (strlen(v) == w && strncmp(p, v, w) == 0) {
            *index = i;
            return 0;
        }
        if (!p[w]) return V12_E_NOT_FOUND;
        p += w + 1;
    }
}

static int set_layout(struct parse_ctx *c, const struct v12_config_key *k, const char *v)
{
    struct v12_config *cfg = c->cfg;
    if (strcmp(v, "encoded") == 0) {
        cfg->layout = V12_LAYOUT_ENCODED;
    } else if (strcmp(v, "legacy") == 0) {
        /* A profile given before keeps its layout; otherwise the legacy default until profile says more. */
        if (cfg->layout == V12_LAYOUT_ENCODED || cfg->layout == V12_LAYOUT_AUTO) cfg->layout = V12_LAYOUT_LEGACY;
    } else {
        char words[64];
        choices_text(k->arg, words, sizeof(words));
        ERR(c, "%s: '%s' is %s", k->key, v, words);
        return V12_E_CONFIG;
    }
    return 0;
}

static int set_profile(struct parse_ctx *c, const struct v12_config_key *k, const char *v)
{
    struct v12_config *cfg = c->cfg;
    enum v12_layout p;
    cfg->profile_auto = strcmp(v, "auto") == 0;
    if (cfg->profile_auto) return 0;
    if (strcmp(v, "legacy") == 0 || v12_profile_from_name(v, &p) != 0) {
        char names[160] = "auto";
        for (int l = 0; l < V12_LAYOUT_ENCODED; l++)
            snprintf(names + strlen(names), sizeof(names) - strlen(names), ", %s", v12_layout_name((enum v12_layout)l));
        ERR(c, "%s: unknown profile '%s' (%s)", k->key, v, names);
        return V12_E_CONFIG;
    }
    /* Remembered even when layout = encoded came first: unused then. */
    if (cfg->layout != V12_LAYOUT_ENCODED) cfg->layout = p;
    return 0;
}

static int set_allow(struct parse_ctx *c, const struct v12_config_key *k, const char *v)
{
    struct v12_config *cfg = c->cfg;
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", v);
    cfg->nallow = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (cfg->nallow == V12_MAX_ALLOW) {
            ERR(c, "%s: more than %d entries", k->key, V12_MAX_ALLOW);
            return V12_E_CONFIG;
        }
        if (endpoint_parse(tok, &cfg->stream_allow[cfg->nallow], (unsigned)k->max, false) != 0) {
            ERR(c, "%s: '%s' is not tcp:HOST:PORT[-PORT] or unix:/PATH[{LO-HI}SUFFIX]", k->key, tok);
            return V12_E_CONFIG;
        }
        cfg->nallow++;
    }
    if (!cfg->nallow) {
        ERR(c, "%s: empty value", k->key);
        return V12_E_CONFIG;
    }
    return 0;
}

static int set_string(struct parse_ctx *c, const struct v12_config_key *k, char *dst, const char *v)
{
    size_t n = strlen(v);
    if (n >= k->size) {
        ERR(c, "%s: value is %zu bytes long, at most %zu", k->key, n, k->size - 1);
        return V12_E_CONFIG;
    }
    if (k->kind == V12_KIND_PATH && v[0] != '/') {
        ERR(c, "%s: '%s' is not an absolute path", k->key, v);
        return V12_E_CONFIG;
    }
    if (k->kind == V12_KIND_NAME && !v12_name_ok(v)) {
        ERR(c, "%s: '%s' is not a valid name ([A-Za-z0-9._:-], 1..63)", k->key, v);
        return V12_E_CONFIG;
    }
    memcpy(dst, v, n + 1);
    return 0;
}

static int set_number(struct parse_ctx *c, const struct v12_config_key *k, void *dst, const char *v)
{
    unsigned long long x;
    if (k->kind == V12_KIND_OCTAL) {
        /* Permission bits, in octal as chmod takes them: 660 or 0660. */
        size_t n = strlen(v);
        x = strtoull(v, NULL, 8);
        if (n > 4 || strspn(v, "01234567") != n || x > k->max) {
            ERR(c, "%s: '%s' is not octal permission bits (e.g. 0660)", k->key, v);
            return V12_E_CONFIG;
        }
    } else if (parse_dec(v, k->min, k->max, &x) != 0) {
        ERR(c, "%s: '%s' is not a whole decimal number in %llu..%llu", k->key, v, k->min, k->max);
        return V12_E_CONFIG;
    }
    if (k->size == sizeof(unsigned)) {
        unsigned u = (unsigned)x;
        memcpy(dst, &u, sizeof(u));
    } else {
        size_t z = (size_t)x;
        memcpy(dst, &z, sizeof(z));
    }
    return 0;
}

/* Set key k's field (in c->cfg, or c->peer for [peer] keys) from the text v: 0 or V12_E_CONFIG, said in c->errs. */
static int set_value(struct parse_ctx *c, const struct v12_config_key *k, const char *v)
{
    char *base = k->section == V12_SECTION_PEER ? (char *)c->peer : (char *)c->cfg;
    void *dst = base + k->offset;
    if (!*v) {
        ERR(c, "%s: empty value", k->key);
        return V12_E_CONFIG;
    }
    switch (k->kind) {
    case V12_KIND_STR:
    case V12_KIND_PATH:
    case V12_KIND_NAME: return set_string(c, k, dst, v);
    case V12_KIND_UINT:
    case V12_KIND_OCTAL: return set_number(c, k, dst, v);
    case V12_KIND_CHOICE: {
        int i;
        if (choice_index(k->arg, v, &i) != 0) {
            char words[96];
            choices_text(k->arg, words, sizeof(words));
            ERR(c, "%s: '%s' is %s%s", k->key, v, strncmp(words, "neither", 7) ? "not " : "", words);
            return V12_E_CONFIG;
        }
        int x = (int)k->min + i;
        memcpy(dst, &x, sizeof(x));
        return 0;
    }
    case V12_KIND_BOOL: {
        bool yes = strcmp(v, "yes") == 0 || strcmp(v, "true") == 0;
        if (!yes && strcmp(v, "no") != 0 && strcmp(v, "false") != 0) {
            ERR(c, "%s: '%s' is neither yes nor no", k->key, v);
            return V12_E_CONFIG;
        }
        memcpy(dst, &yes, sizeof(yes));
        return 0;
    }
    case V12_KIND_HOSTPORT: {
        struct v12_hostport *hp = dst;
        if (strlen(v) >= sizeof(hp->text) ||
            v12_split_hostport(v, hp->host, sizeof(hp->host), hp->port, sizeof(hp->port)) != 0) {
            memset(hp, 0, sizeof(*hp));
            ERR(c, "%s: '%s' is not host:port or [v6]:port", k->key, v);
            return V12_E_CONFIG;
        }
        memcpy(hp->text, v, strlen(v) + 1);
        return 0;
    }
    case V12_KIND_ENDPOINT:
        if (endpoint_parse(v, dst, (unsigned)k->max, k->min == 1) == 0) return 0;
        if (k->max > 1)
            ERR(c,
                "%s: '%s' is not tcp:HOST:PORT, tcp:HOST:PORT-PORT, unix:/PATH or unix:/PATH{LO-HI}SUFFIX "
                "(at most %llu endpoints, each path shorter than 108 bytes)",
                k->key, v, k->max);
        else ERR(c, "%s: '%s' is not %sHOST:PORT or unix:/PATH", k->key, v, k->min == 1 ? "" : "tcp:");
        return V12_E_CONFIG;
    case V12_KIND_ALLOW: return set_allow(c, k, v);
    case V12_KIND_LAYOUT: return set_layout(c, k, v);
    case V12_KIND_PROFILE: return set_profile(c, k, v);
    }
    return V12_E_CONFIG; /* not reached: -Wswitch names a kind left out above */
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
    enum v12_key_section sect = c->kind == SEC_DAEMON ? V12_SECTION_DAEMON
                                : c->kind == SEC_TLS  ? V12_SECTION_TLS
                                                      : V12_SECTION_PEER;
    const struct v12_config_key *k = find_key(sect, name);
    if (!k) {
        if (c->kind == SEC_PEER) ERR(c, "unknown key '%s' in [peer %s]", name, c->peer->name);
        else ERR(c, "unknown key '%s' in [%s]", name, v12_key_section_name(sect));
        return 1;
    }
    if (cfg->nkeylines < V12_MAX_KEYLINES) {
        struct v12_keyline *kl = &cfg->keylines[cfg->nkeylines++];
        kl->section = c->section;
        kl->line = c->line;
        snprintf(kl->key, sizeof(kl->key), "%s", k->key);
    }
    (void)set_value(c, k, value);
    return 1; /* go on: every error in the file is reported, each with its own line */
}

/*
 * The defaults of one section's keys, through the same setters as the file's values. A default
 * that does not parse is a mistake in config_keys.def, reported like a value (at line 0) and
 * caught by every test that loads a configuration.
 */
static void apply_defaults(struct parse_ctx *c, enum v12_key_section section)
{
    unsigned line = c->line;
    c->line = 0;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].section == section && keys[i].def) (void)set_value(c, &keys[i], keys[i].def);
    c->line = line;
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
    apply_defaults(c, V12_SECTION_PEER);
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

static void defaults(struct parse_ctx *c)
{
    struct v12_config *cfg = c->cfg;
    cfg->layout = V12_LAYOUT_AUTO; /* layout is required: AUTO until it is read */
    apply_defaults(c, V12_SECTION_DAEMON);
    apply_defaults(c, V12_SECTION_TLS);
    /* workers: no default in the table, it depends on the host. Half its CPUs: every channel the
     * daemon relays has a QEMU thread on the same host producing or loading it, and the relay's
     * threads beyond that only take turns with them (bench/RESULTS.md: two streams on a 2-core
     * machine cost 1.27x the CPU per GiB with a worker per CPU, 1.04x with one per two). */
    long half = sysconf(_SC_NPROCESSORS_ONLN) / 2;
    cfg->workers = half < 1 ? 1 : half > V12_MAX_WORKERS_CFG ? V12_MAX_WORKERS_CFG : (unsigned)half;
}

#define V12_CONFIG_FILE_MAX (1u << 20)

/* What needs the whole file: required keys, and keys that depend on each other. */
static void check_whole(struct v12_config *cfg, struct v12_config_errors *errs)
{
    const char *path = cfg->path;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct v12_config_key *k = &keys[i];
        if (!(k->flags & V12_KEY_REQUIRED)) continue;
        if (k->section != V12_SECTION_PEER) {
            int where = k->section == V12_SECTION_DAEMON ? V12_CFG_DAEMON : V12_CFG_TLS;
            if (!key_line(cfg, k->section == V12_SECTION_DAEMON ? 0 : 1, k->key))
                v12_config_error(errs, path, v12_config_line(cfg, where, k->key), "[%s] %s is required",
                                 v12_key_section_name(k->section), k->key);
            continue;
        }
        for (unsigned p = 0; p < cfg->npeers; p++)
            if (!key_line(cfg, 2 + p, k->key))
                v12_config_error(errs, path, cfg->peers[p].line, "[peer %s] has no %s", cfg->peers[p].name, k->key);
    }
    cfg->has_metrics = cfg->metrics_listen.text[0] != 0;
    /* The legacy profile: as configured, or (profile = auto, the default) from the running kernel. */
    if (cfg->layout != V12_LAYOUT_ENCODED && cfg->layout != V12_LAYOUT_AUTO) {
        if (!cfg->profile_auto) {
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
        p->has_stream = p->stream_listen.text[0] != 0;
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
                "[peer %s] stream_target '%s' has %u endpoint%s, stream_listen '%s' has %u: each listening "
                "endpoint needs its own target",
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
    memset(cfg, 0, sizeof(*cfg));
    memset(errs, 0, sizeof(*errs));
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    struct parse_ctx c = {.cfg = cfg, .errs = errs};
    defaults(&c);
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
    c.p = text;
    c.end = text + len;
    int line = ini_parse_stream(read_line, &c, handler, &c);
    cfg->nlines = c.line;
    if (line > 0 && !errs->n) v12_config_error(errs, path, (unsigned)line, "syntax error");
    check_whole(cfg, errs);
    return errs->n ? V12_E_CONFIG : 0;
}
