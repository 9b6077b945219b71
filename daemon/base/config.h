/* SPDX-License-Identifier: MIT */
#ifndef V12_CONFIG_H
#define V12_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "v12/convert.h"

#define V12_MAX_PEERS 64
#define V12_NAME_MAX 64
#define V12_FRAME_MAX_CFG 65536u /* = V12_FRAME_MAX in proto/frame.h */
#define V12_MAX_KEYLINES 512
#define V12_MAX_WORKERS_CFG 16

/*
 * A stream endpoint: "tcp:HOST:PORT" or "unix:/PATH"; in the configuration also a range, of ports,
 * "tcp:HOST:LO-HI", or of unix socket paths, "unix:/DIR/NAME{LO-HI}SUFFIX" (the paths with each
 * number LO..HI in place of the braces). port_lo..port_hi are the range's numbers: ports for tcp
 * (port holds LO), the numbers in the path for unix (0..0 for a single path). For a unix range,
 * path holds the pattern and brace_at, brace_len where "{LO-HI}" is in it (brace_len 0: none).
 */
struct v12_endpoint {
    bool unix_socket;
    char host[256]; /* tcp */
    char port[8];
    unsigned port_lo, port_hi;
    char path[108]; /* unix */
    unsigned short brace_at, brace_len;
    char text[300]; /* as configured */
};
#define V12_MAX_STREAM_PORTS 256 /* endpoints in one stream_listen range */
/* One endpoint, "tcp:HOST:PORT" or "unix:/PATH": 0 or V12_E_INVALID_ARGUMENT. */
int v12_endpoint_parse(const char *s, struct v12_endpoint *ret);
/* The same, or a range of at most max endpoints (as stream_listen and stream_allow take them). */
int v12_endpoint_parse_range(const char *s, unsigned max, struct v12_endpoint *ret);
/* The single endpoint at offset i of a range (i = 0 for a single endpoint). */
void v12_endpoint_at(const struct v12_endpoint *range, unsigned i, struct v12_endpoint *ret);
/* How many endpoints a range names (1 for a single endpoint). */
static inline unsigned v12_endpoint_ports(const struct v12_endpoint *e)
{
    return e->port_hi - e->port_lo + 1;
}

#define V12_MAX_ALLOW 16
/* Is target (one tcp host:port or unix path) inside one of the rules (endpoint ranges)? */
bool v12_stream_allowed(const struct v12_endpoint *rules, unsigned n, const struct v12_endpoint *target);

/* "host:port" or "[v6]:port", as configured and split. */
struct v12_hostport {
    char text[256];
    char host[256];
    char port[8];
};

struct v12_peer_config {
    char name[V12_NAME_MAX];
    unsigned line; /* of its [peer NAME] header */
    struct v12_hostport address;
    bool has_stream; /* stream_listen set: QEMU migrates to this peer through us */
    struct v12_endpoint stream_listen;
    struct v12_endpoint stream_target;
    bool stream_passthrough; /* streams from this peer are forwarded without parsing */
};

struct v12_config {
    char path[PATH_MAX];
    /* [daemon] */
    char node[V12_NAME_MAX];
    enum v12_layout layout; /* a legacy profile, or V12_LAYOUT_ENCODED */
    bool profile_auto;      /* profile = auto (the default for layout = legacy): from the kernel */
    char profile_why[200];  /* how the profile was chosen, for the log and status */
    enum v12_padding padding;
    char control_socket[108];
    unsigned control_mode; /* octal, default 0660 */
    char spool_dir[PATH_MAX - 64];
    struct v12_hostport listen;
    unsigned max_connections;
    unsigned max_peer_connections; /* inbound frame connections from one peer */
    unsigned max_frame;
    size_t conn_buffer_limit;
    size_t global_buffer_limit;
    unsigned max_inflight;  /* per connection: blobs being stored or relayed */
    unsigned spool_threads; /* threads storing blobs in parallel */
    unsigned workers;       /* loops (threads) for migration channels' data path */
    unsigned handshake_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned shutdown_timeout_ms;
    unsigned reconnect_min_ms;
    unsigned reconnect_max_ms;
    unsigned peer_down_warn_s;       /* a peer unreachable this long is logged at warning, once */
    size_t stream_hold_limit;        /* bytes of a migration's device phase held until described */
    unsigned stream_hold_timeout_ms; /* a held device phase that stops growing without its description */
    int log_level;
    bool has_metrics;
    struct v12_endpoint metrics_listen; /* Prometheus text endpoint: loopback tcp or unix */
    struct v12_endpoint stream_allow[V12_MAX_ALLOW];
    unsigned nallow;
    /* [tls] */
    char cert[PATH_MAX];
    char key[PATH_MAX];
    char ca[PATH_MAX];
    char crl[PATH_MAX];
    char client_cert[PATH_MAX]; /* optional: presented on outbound connections instead of cert */
    char client_key[PATH_MAX];
    int min_version; /* 12 or 13 */
    /* [peer NAME] */
    struct v12_peer_config peers[V12_MAX_PEERS];
    unsigned npeers;
    /* Where each key was set, for messages about it: section 0 [daemon], 1 [tls], 2 + i peer i. */
    struct v12_keyline {
        unsigned section;
        unsigned line;
        char key[32];
    } keylines[V12_MAX_KEYLINES];
    unsigned nkeylines;
    unsigned section_line[2]; /* [daemon], [tls] */
    unsigned nlines;
};

/* Every error found, each one line "FILE:LINE: what is wrong" (n counts past the array too). */
#define V12_CONFIG_MAX_ERRORS 32
struct v12_config_errors {
    unsigned n;
    struct v12_errmsg line[V12_CONFIG_MAX_ERRORS];
};
void v12_config_error(struct v12_config_errors *e, const char *path, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The line a key was set on (peer: its index, or V12_CFG_DAEMON / V12_CFG_TLS); when it was not
 * set, the line of its section's header, or the file's last line. */
#define V12_CFG_DAEMON (-1)
#define V12_CFG_TLS (-2)
unsigned v12_config_line(const struct v12_config *cfg, int peer, const char *key);

/*
 * Read an INI file: 0, or V12_E_CONFIG / -errno with every error in errs. Every key is documented
 * in docs/configuration.md.
 */
int v12_config_load(const char *path, struct v12_config *cfg, struct v12_config_errors *errs);

/* The keys, from config_keys.def: for the parser, vmcs12d --list-config-keys and vmcs12d.conf(5). */
enum v12_key_section { V12_SECTION_DAEMON, V12_SECTION_TLS, V12_SECTION_PEER };
enum v12_key_kind {
    V12_KIND_STR,
    V12_KIND_PATH,
    V12_KIND_NAME,
    V12_KIND_UINT,
    V12_KIND_OCTAL,
    V12_KIND_CHOICE,
    V12_KIND_BOOL,
    V12_KIND_HOSTPORT,
    V12_KIND_ENDPOINT,
    V12_KIND_ALLOW,
    V12_KIND_LAYOUT,
    V12_KIND_PROFILE,
};
#define V12_KEY_REQUIRED 1u
struct v12_config_key {
    enum v12_key_section section;
    const char *key;
    enum v12_key_kind kind;
    size_t offset, size; /* of the field, in v12_config or (PEER) v12_peer_config */
    unsigned long long min, max;
    const char *def; /* as written in the file, or NULL */
    unsigned flags;
    const char *arg, *help; /* scdoc markup */
};
const struct v12_config_key *v12_config_keys(size_t *n);
const char *v12_key_section_name(enum v12_key_section s); /* "daemon", "tls", "peer" */

/*
 * What the configuration names on this host (host.c), as the daemon will use it at start: the
 * listen address resolves; spool_dir and control_socket's directory are directories or can be
 * made; control_socket and unix stream_listen paths are sockets or absent (nothing else is ever
 * removed); tcp stream_listen and metrics_listen addresses are loopback. Errors are appended to
 * errs: 0 or V12_E_CONFIG.
 */
int v12_config_check_host(const struct v12_config *cfg, struct v12_config_errors *errs);

/* Remove path if it is a unix socket (left by an earlier run); anything else is left alone. */
void v12_unlink_stale_socket(const char *path);

/* Resolve a listening host:port (numeric port): 0 and *ret to freeaddrinfo, or V12_E_INVALID_ARGUMENT and msg. */
struct addrinfo;
int v12_resolve_listen(const char *host, const char *port, struct addrinfo **ret, struct v12_errmsg *msg);

/* Split "host:port" / "[v6]:port"; 0 or V12_E_INVALID_ARGUMENT. */
int v12_split_hostport(const char *s, char *host, size_t hostlen, char *port, size_t portlen);

const struct v12_peer_config *v12_config_peer(const struct v12_config *cfg, const char *name);

/* Names used in spool paths and ids: [A-Za-z0-9._:-]{1,64}, not starting with '.'. */
bool v12_name_ok(const char *s);

#endif
