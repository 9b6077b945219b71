/* SPDX-License-Identifier: MIT */
/* vmcs12ctl stream-convert: convert the nested state inside a saved QEMU migration stream. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "v12/qemu_stream.h"

static const char usage[] =
    "usage: vmcs12ctl stream-convert --to legacy|encoded [--from auto|legacy|encoded] [--profile P]\n"
    "                                [--padding strict|ignore] [--report] [-o OUT] [IN]\n"
    "\n"
    "Convert the vmcs12 and shadow vmcs12 regions inside a saved QEMU migration stream (as written\n"
    "by QEMU's migrate \"exec:cat > FILE\") to the target layout; every other byte is copied\n"
    "unchanged and RAM pages are never searched. The stream is checked as it is read: a part that\n"
    "cannot be parsed, or nested state that is invalid or cannot be converted, is an error and\n"
    "nothing is written. IN and OUT default to '-'.\n"
    "\n"
    "  --to, --from, --profile, --from-profile, --to-profile, --padding   as for convert\n"
    "  --report                  print what was found on stderr\n"
    "  -o, --output OUT          output file (default '-')\n"
    "  -h, --help                this text\n"
    "\n"
    "exit: 0 converted, 1 invalid stream or I/O error, 2 usage error\n";

#define CHUNK 65536u

struct out {
    struct v12_out dst;
    uint8_t buf[CHUNK];
    size_t len;
    int err;
};

static void out_flush(struct out *o)
{
    if (!o->err) o->err = v12_out_write(&o->dst, o->buf, o->len);
    o->len = 0;
}

static void out_put(struct out *o, const uint8_t *p, size_t n)
{
    if (!o) return; /* stream-inspect: nothing is written */
    while (n) {
        size_t take = sizeof(o->buf) - o->len < n ? sizeof(o->buf) - o->len : n;
        memcpy(o->buf + o->len, p, take);
        o->len += take;
        p += take;
        n -= take;
        if (o->len == sizeof(o->buf)) out_flush(o);
    }
}

#define CLI_HOLD_LIMIT (256u << 20) /* offline: the device phase of any real VM fits */

/* Run the parser over in_fd, writing to o. 0, or an error with msg filled. The window grows
 * while the parser holds the device phase, up to its hold limit. */
static int run(struct v12_qs *qs, int in_fd, struct out *o, char *msg, size_t msglen)
{
    size_t cap = V12_QS_LOOKAHEAD + CHUNK, s = 0, e = 0;
    uint8_t *buf = malloc(cap);
    bool eof = false;
    int ret = 0;
    if (!buf) {
        snprintf(msg, msglen, "out of memory");
        return -ENOMEM;
    }
    qs->hold_limit = CLI_HOLD_LIMIT;
    for (;;) {
        size_t n;
        int r = v12_qs_step(qs, buf + s, e - s, eof ? V12_QS_EOF : 0, &n);
        if (r == V12_QS_FORWARD) {
            out_put(o, buf + s, n);
            s += n;
            continue;
        }
        if (r == V12_QS_END) break;
        if (r < 0) {
            snprintf(msg, msglen, "%s", qs->msg);
            ret = r;
            break;
        }
        /* NEED: make room, read more. */
        if (s) {
            memmove(buf, buf + s, e - s);
            e -= s;
            s = 0;
        }
        if (n + CHUNK > cap) {
            size_t want = cap * 2 > n + CHUNK ? cap * 2 : n + CHUNK;
            uint8_t *nb = realloc(buf, want);
            if (!nb) {
                snprintf(msg, msglen, "out of memory holding %zu bytes of device state", e);
                ret = -ENOMEM;
                break;
            }
            buf = nb;
            cap = want;
        }
        ssize_t k = read(in_fd, buf + e, cap - e);
        if (k < 0) {
            if (errno == EINTR) continue;
            snprintf(msg, msglen, "cannot read input: %s", strerror(errno));
            ret = -errno;
            break;
        }
        if (k == 0) eof = true;
        e += (size_t)k;
    }
    free(buf);
    return ret;
}

int stream_main(int argc, char **argv)
{
    static const struct option options[] = {V12_CONV_OPTIONS,
                                            {"report", no_argument, NULL, 'r'},
                                            {"output", required_argument, NULL, 'o'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    struct v12_conv_args args;
    v12_conv_args_init(&args);
    bool report = false;
    const char *out_path = "-";
    int c;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        int taken = v12_conv_args_opt(&args, c, optarg);
        if (taken < 0) return V12_EXIT_USAGE;
        if (taken) continue;
        switch (c) {
        case 'r': report = true; break;
        case 'o': out_path = optarg; break;
        case 'h': return v12_usage(usage, false);
        default: return v12_usage(usage, true);
        }
    }
    const char *in_path;
    struct v12_convert_opts opts;
    int u = v12_conv_args_finish(&args, argc, argv, optind, out_path, &in_path, &opts);
    if (u) return u;

    int in_fd = strcmp(in_path, "-") == 0 ? STDIN_FILENO : open(in_path, O_RDONLY | O_CLOEXEC);
    if (in_fd < 0) {
        v12_errorf("%s: cannot read input: %s [%s]", in_path, strerror(errno), v12_err_name(-errno));
        return V12_EXIT_INVALID;
    }
    /* Output: staged (beside OUT, or privately for a device, FIFO, socket or stdout) and
     * published only once the whole stream has been checked. */
    static struct out o;
    o.len = 0;
    o.err = v12_out_begin(&o.dst, out_path);
    if (o.err) {
        v12_errorf("%s: cannot write output: %s [%s]", v12_out_name(out_path), v12_strerror(o.err), v12_err_name(o.err));
        if (in_fd != STDIN_FILENO) close(in_fd);
        return V12_EXIT_INVALID;
    }
    static struct v12_qs qs;
    v12_qs_init(&qs, &opts);
    char msg[600] = "";
    int r = run(&qs, in_fd, &o, msg, sizeof(msg));
    if (in_fd != STDIN_FILENO) close(in_fd);
    if (!r) out_flush(&o);
    if (!r) r = o.err;
    if (!r) r = v12_out_commit(&o.dst);
    else v12_out_abort(&o.dst);
    if (r && !msg[0]) snprintf(msg, sizeof(msg), "cannot write output %s: %s", v12_out_name(out_path), v12_strerror(r));
    if (r) {
        v12_errorf("%s: %s [%s]", v12_in_name(in_path), msg, v12_err_name(r));
        return V12_EXIT_INVALID;
    }
    if (report)
        fprintf(stderr,
                "stream: %llu bytes, %u sections, %llu RAM pages + %llu zero pages, %u cpu sections, %u nested states, "
                "%u vmcs12 regions converted to %s; %u device sections walked by the VM description (%llu bytes held)\n",
                (unsigned long long)qs.stats.bytes, qs.stats.sections, (unsigned long long)qs.stats.ram_pages,
                (unsigned long long)qs.stats.zero_pages, qs.stats.cpus, qs.stats.nested_states, qs.stats.regions,
                v12_layout_name(opts.to), qs.stats.devices, (unsigned long long)qs.stats.held);
    return V12_EXIT_OK;
}

/* ---- stream-inspect ---------------------------------------------------------------------------- */

static const char inspect_usage[] =
    "usage: vmcs12ctl stream-inspect [--json] [--profile P] [IN]\n"
    "\n"
    "Show how the stream parser attributes every byte of a saved QEMU migration stream: each record\n"
    "before the device phase with its offset and length (RAM sections with their page counts; page\n"
    "data is never looked at), each device section with its fields and subsections as its VM\n"
    "description gives them, each nested state with its vCPU, format, size and region revisions,\n"
    "then EOF and the description. A stream the parser must refuse ends the listing with the reason\n"
    "and its offset (exit 1). Reads the stream once, in bounded memory. IN defaults to '-'.\n"
    "\n"
    "  --json        one JSON object per line\n"
    "  --profile P   the legacy profile regions are checked against (default linux-6.18)\n"
    "  -h, --help    this text\n"
    "\n"
    "exit: 0 the stream checks out, 1 it is refused or cannot be read, 2 usage error\n";

struct inspect {
    bool json;
    uint64_t records;
};

/* A name from the stream as a JSON string (v12_json_str escapes it). */
static void json_name(const char *name, size_t len)
{
    char buf[300];
    size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
    memcpy(buf, name, n);
    buf[n] = 0;
    v12_json_str(stdout, buf);
}

static void event_json(const struct v12_qs_event *ev)
{
    static const char *const kinds[] = {"record", "device", "field", "device-end", "nested-state", "description"};
    printf("{\"kind\":\"%s\",\"offset\":%llu,\"length\":%llu,\"what\":", kinds[ev->kind],
           (unsigned long long)ev->offset, (unsigned long long)ev->length);
    v12_json_str(stdout, ev->what);
    if (ev->name) {
        printf(",\"name\":");
        json_name(ev->name, ev->name_len);
    }
    if (ev->kind == V12_QS_EV_DEVICE || ev->kind == V12_QS_EV_DEVICE_END || ev->kind == V12_QS_EV_NESTED)
        printf(",\"section_id\":%u,\"instance_id\":%u", ev->section_id, ev->instance_id);
    if (ev->kind == V12_QS_EV_DEVICE) printf(",\"version\":%u", ev->version);
    if (ev->kind == V12_QS_EV_DEVICE_END) printf(",\"fields\":%u", ev->count);
    if (ev->kind == V12_QS_EV_RECORD || ev->kind == V12_QS_EV_DESC) printf(",\"count\":%u", ev->count);
    if (ev->kind == V12_QS_EV_NESTED) {
        printf(",\"vcpu\":%u,\"format\":\"%s\",\"flags\":%u,\"size\":%u,\"revisions\":[", ev->instance_id,
               ev->nested_format ? "svm" : "vmx", ev->nested_flags, ev->nested_size);
        for (uint32_t i = 0; i < ev->nregions; i++) printf("%s%u", i ? "," : "", ev->revisions[i]);
        printf("]");
    }
    printf("}\n");
}

/* One line per event; names quoted from the stream are escaped by v12_linef. */
static void event_text(const struct v12_qs_event *ev)
{
    unsigned long long off = ev->offset, len = ev->length;
    int nl = (int)(ev->name_len < 300 ? ev->name_len : 300);
    const char *nm = ev->name ? ev->name : "";
    switch (ev->kind) {
    case V12_QS_EV_RECORD: {
        if (strcmp(ev->what, "ram pages") == 0) {
            v12_linef(stdout, "%12s %8s   %u pages", "", "", ev->count);
            return;
        }
        char extra[40] = "";
        if (strcmp(ev->what, "command") == 0) snprintf(extra, sizeof(extra), " %u", ev->count);
        else if (strncmp(ev->what, "ram", 3) == 0) snprintf(extra, sizeof(extra), " (section %u)", ev->section_id);
        v12_linef(stdout, "%12llu %8llu %s%s%.*s%s%s", off, len, ev->what, ev->name ? " '" : "", nl, nm,
                  ev->name ? "'" : "", extra);
        return;
    }
    case V12_QS_EV_DEVICE:
        v12_linef(stdout, "%12llu %8s device '%.*s' instance %u, section %u, version %u", off, "", nl, nm, ev->instance_id,
                  ev->section_id, ev->version);
        return;
    case V12_QS_EV_FIELD:
        v12_linef(stdout, "%12llu %8llu   %s '%.*s'", off, len, ev->what, nl, nm);
        return;
    case V12_QS_EV_DEVICE_END:
        v12_linef(stdout, "%12llu %8llu end of '%.*s' (%u fields, footer included)", off, len, nl, nm, ev->count);
        return;
    case V12_QS_EV_NESTED: {
        char rev[64] = "";
        if (ev->nregions && !ev->nested_format)
            snprintf(rev, sizeof(rev), ev->nregions == 1 ? " (revisions 0x%08x)" : " (revisions 0x%08x, 0x%08x)",
                     ev->revisions[0], ev->revisions[1]);
        v12_linef(stdout, "%12llu %8llu   nested state: vCPU %u, format %s, flags 0x%x, size %u, %u region%s%s", off, len,
                  ev->instance_id, ev->nested_format ? "svm" : "vmx", ev->nested_flags, ev->nested_size, ev->nregions,
                  ev->nregions == 1 ? "" : "s", rev);
        return;
    }
    case V12_QS_EV_DESC:
        v12_linef(stdout, "%12llu %8llu EOF and VM description: %u devices, each walked exactly", off, len, ev->count);
        return;
    }
}

static void on_event(void *ctx, const struct v12_qs_event *ev)
{
    struct inspect *in = ctx;
    in->records++;
    if (in->json) event_json(ev);
    else event_text(ev);
}

int stream_inspect_main(int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'},
                                            {"profile", required_argument, NULL, 'p'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    struct inspect in = {false, 0};
    struct v12_convert_opts opts;
    v12_convert_opts_init(&opts);
    opts.to = V12_LAYOUT_ENCODED;
    opts.padding = V12_PADDING_IGNORE;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': in.json = true; break;
        case 'p':
            if (v12_opt_profile(optarg, &opts.legacy_profile)) return V12_EXIT_USAGE;
            break;
        case 'h': return v12_usage(inspect_usage, false);
        default: return v12_usage(inspect_usage, true);
        }
    }
    if (argc - optind > 1) return v12_usage(inspect_usage, true);
    const char *in_path = optind < argc ? argv[optind] : "-";
    int in_fd = strcmp(in_path, "-") == 0 ? STDIN_FILENO : open(in_path, O_RDONLY | O_CLOEXEC);
    if (in_fd < 0) {
        v12_errorf("%s: cannot read input: %s [%s]", in_path, strerror(errno), v12_err_name(-errno));
        return V12_EXIT_INVALID;
    }
    static struct v12_qs qs;
    v12_qs_init(&qs, &opts);
    qs.observe = on_event;
    qs.observe_ctx = &in;
    char msg[600] = "";
    if (!in.json) printf("%12s %8s record\n", "offset", "length");
    int r = run(&qs, in_fd, NULL, msg, sizeof(msg));
    if (in_fd != STDIN_FILENO) close(in_fd);
    fflush(stdout);
    if (r) {
        if (in.json) {
            printf("{\"kind\":\"refused\",\"offset\":%llu,\"error\":", (unsigned long long)qs.pos);
            v12_json_str(stdout, msg);
            printf(",\"code\":\"%s\"}\n", v12_err_name(r));
            fflush(stdout);
        }
        v12_errorf("%s: %s [%s]", v12_in_name(in_path), msg, v12_err_name(r));
        return V12_EXIT_INVALID;
    }
    if (in.json)
        printf("{\"kind\":\"end\",\"bytes\":%llu,\"ram_pages\":%llu,\"zero_pages\":%llu,\"devices\":%u,\"cpus\":%u,"
               "\"nested_states\":%u,\"held\":%llu}\n",
               (unsigned long long)qs.stats.bytes, (unsigned long long)qs.stats.ram_pages,
               (unsigned long long)qs.stats.zero_pages, qs.stats.devices, qs.stats.cpus, qs.stats.nested_states,
               (unsigned long long)qs.stats.held);
    else
        printf("stream checks out: %llu bytes, %llu RAM pages + %llu zero pages, %u devices (%u cpu), %u nested states; "
               "%llu bytes held for the walk\n",
               (unsigned long long)qs.stats.bytes, (unsigned long long)qs.stats.ram_pages,
               (unsigned long long)qs.stats.zero_pages, qs.stats.devices, qs.stats.cpus, qs.stats.nested_states,
               (unsigned long long)qs.stats.held);
    return V12_EXIT_OK;
}
