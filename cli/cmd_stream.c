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

#include <signal.h>
#include <time.h>

#include "cli.h"
#include "filter.h"
#include "v12/qemu_stream.h"
#include "v12/saveimage.h"

static const char usage[] =
    "usage: vmcs12ctl stream-convert --to legacy|encoded [--from auto|legacy|encoded] [--profile P]\n"
    "                                [--padding strict|ignore] [--report] [--quiet] [-o OUT | --in-place] [IN]\n"
    "\n"
    "Convert the vmcs12 and shadow vmcs12 regions inside a saved QEMU migration stream (as written\n"
    "by QEMU's migrate \"exec:cat > FILE\") or a libvirt save image (virsh save, managedsave, the\n"
    "memory of an external snapshot; recognised by its header) to the target layout; every other\n"
    "byte is copied unchanged and RAM pages are never searched. A save image keeps its header and\n"
    "domain XML byte for byte and its compression (gzip, bzip2, xz, lzop: decompressed and\n"
    "compressed again by those programs, as libvirt runs them). Everything is checked as it is\n"
    "read: a part that cannot be parsed, or nested state that is invalid or cannot be converted, is\n"
    "an error and nothing is written. IN and OUT default to '-'.\n"
    "\n"
    "  --to, --from, --profile, --from-profile, --to-profile, --padding   as for convert\n"
    "  --report                  print what was found on stderr\n"
    "  --quiet                   no progress line (there is one only when stderr is a terminal)\n"
    "  -o, --output OUT          output file (default '-'); never the input\n"
    "  --in-place                replace IN itself, keeping IN.vmcs12d-backup until the new file\n"
    "                            is complete and synced\n"
    "  -h, --help                this text\n"
    "\n"
    "exit: 0 converted, 1 invalid input or I/O error, 2 usage error\n";

#define CHUNK 65536u

struct out {
    struct v12_out dst;
    int pipe_fd; /* >= 0: the bytes go to the compressor's input instead */
    uint8_t buf[CHUNK];
    size_t len;
    int err;
};

static void out_flush(struct out *o)
{
    if (!o->err)
        o->err = o->pipe_fd >= 0 ? v12_write_all(o->pipe_fd, o->buf, o->len) : v12_out_write(&o->dst, o->buf, o->len);
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

/* ---- progress on a terminal ------------------------------------------------------------------ */

struct progress {
    bool on;
    int fd;         /* the input file: its offset is how far reading has got (a decompressor shares it) */
    uint64_t total; /* its size; 0 when unknown */
    uint64_t read;  /* bytes read here, when the offset cannot be asked */
    double t0, last;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human(char *b, size_t n, double v)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) v /= 1024, i++;
    snprintf(b, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void progress_show(struct progress *p, bool final)
{
    if (!p || !p->on) return;
    double now = mono();
    if (!final && now - p->last < 0.2) return;
    p->last = now;
    off_t pos = lseek(p->fd, 0, SEEK_CUR);
    uint64_t done = pos >= 0 ? (uint64_t)pos : p->read;
    double el = now - p->t0, rate = el > 0 ? (double)done / el : 0;
    char d[32], t[32], r[32], left[48] = "";
    human(d, sizeof(d), (double)done);
    human(r, sizeof(r), rate);
    if (p->total) {
        human(t, sizeof(t), (double)p->total);
        if (!final && rate > 0 && done < p->total)
            snprintf(left, sizeof(left), ", %.0f s left", (double)(p->total - done) / rate);
        fprintf(stderr, "\r%s: %s of %s (%.0f%%), %s/s%s\033[K", v12_prog, d, t,
                100.0 * (double)done / (double)p->total, r, left);
    } else {
        fprintf(stderr, "\r%s: %s, %s/s\033[K", v12_prog, d, r);
    }
    if (final) fprintf(stderr, "\n");
}

/* ---- the parser over a byte source ------------------------------------------------------------ */

#define CLI_HOLD_LIMIT (256u << 20) /* offline: the device phase of any real VM fits */

/* Run the parser over in_fd, the first npre bytes already read into pre, writing to o. 0, or
 * an error with msg filled. The window grows while the parser holds the device phase, up to
 * its hold limit. */
static int run(struct v12_qs *qs, int in_fd, const uint8_t *pre, size_t npre, struct out *o, struct progress *pg,
               struct v12_errmsg *msg)
{
    size_t cap = V12_QS_LOOKAHEAD + CHUNK, s = 0, e = npre;
    uint8_t *buf = malloc(cap);
    bool eof = false;
    int ret = 0;
    if (!buf) {
        return v12_fail(msg, -ENOMEM, "out of memory");
    }
    memcpy(buf, pre, npre);
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
            *msg = qs->msg;
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
                v12_errmsg_set(msg, "out of memory holding %zu bytes of device state", e);
                ret = -ENOMEM;
                break;
            }
            buf = nb;
            cap = want;
        }
        ssize_t k = read(in_fd, buf + e, cap - e);
        if (k < 0) {
            if (errno == EINTR) continue;
            v12_errmsg_set(msg, "cannot read input: %s", strerror(errno));
            ret = -errno;
            break;
        }
        if (k == 0) eof = true;
        e += (size_t)k;
        if (pg) {
            pg->read += (uint64_t)k;
            progress_show(pg, false);
        }
    }
    free(buf);
    return ret;
}

/* ---- the input: a stream, or a save image around one ---------------------------------------------- */

struct input {
    const char *path;
    int fd;
    uint64_t size; /* a regular file's, else 0 */
    bool image;
    struct v12_save_header hdr;
    struct v12_save_summary sum;
    uint8_t *area; /* image: its header and XML area, as read */
    size_t area_len;
    uint8_t pre[V12_SAVE_MAGIC_SIZE];
    size_t npre; /* stream: bytes read to tell what it is */
    struct v12_filter dec;
    bool dec_on;
    int stream_fd; /* where the QEMU stream is read from: fd, or the decompressor */
};

static ssize_t read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -errno;
        if (k == 0) break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* Open IN and tell what it is; for a save image, read and check its header and XML area and
 * start its decompressor. 0, or an error with msg filled (nothing started then). */
static int input_open(struct input *in, const char *path, struct v12_errmsg *msg)
{
    memset(in, 0, sizeof(*in));
    in->path = path;
    in->dec.pid = -1;
    in->fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0) {
        return v12_fail(msg, -errno, "cannot read input: %s", strerror(errno));
    }
    struct stat st;
    if (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode)) in->size = (uint64_t)st.st_size;
    in->stream_fd = in->fd;
    ssize_t k = read_full(in->fd, in->pre, sizeof(in->pre));
    if (k < 0) {
        return v12_fail(msg, (int)k, "cannot read input: %s", strerror((int)-k));
    }
    in->npre = (size_t)k;
    if (!v12_save_is_image(in->pre, in->npre)) return 0; /* a stream (or not): the parser decides */
    in->image = true;
    uint8_t hdr[V12_SAVE_HEADER_SIZE];
    memcpy(hdr, in->pre, in->npre);
    k = read_full(in->fd, hdr + in->npre, sizeof(hdr) - in->npre);
    if (k < 0) {
        return v12_fail(msg, (int)k, "cannot read input: %s", strerror((int)-k));
    }
    int r = v12_save_header_parse(hdr, in->npre + (size_t)k, &in->hdr, msg);
    if (r) return r;
    in->npre = 0;
    in->area_len = V12_SAVE_HEADER_SIZE + in->hdr.data_len;
    in->area = malloc(in->area_len);
    if (!in->area) {
        return v12_fail(msg, -ENOMEM, "out of memory for a %u-byte XML area", in->hdr.data_len);
    }
    memcpy(in->area, hdr, sizeof(hdr));
    k = read_full(in->fd, in->area + V12_SAVE_HEADER_SIZE, in->hdr.data_len);
    if (k < 0) {
        return v12_fail(msg, (int)k, "cannot read input: %s", strerror((int)-k));
    }
    r = v12_save_data_check(in->area + V12_SAVE_HEADER_SIZE, (size_t)k, &in->hdr, &in->sum, msg);
    if (r) return r;
    if (in->hdr.format != V12_SAVE_RAW) {
        r = v12_filter_start(&in->dec, v12_filter_argv(in->hdr.format, 1), in->fd, -1, msg);
        if (r) return r;
        in->dec_on = true;
        in->stream_fd = in->dec.fd;
    }
    return 0;
}

/*
 * After the parser: the decompressor must have ended well. On a parser error (r != 0) the
 * decompressor's own failure, if it failed, is the cause and replaces msg.
 */
static int input_close(struct input *in, int r, struct v12_errmsg *msg)
{
    if (in->dec_on) {
        struct v12_errmsg dmsg = {""};
        int d = v12_filter_finish(&in->dec, &dmsg);
        in->dec_on = false;
        /* A decompressor cut short by our error dies of SIGPIPE: that is not its failure. */
        if (d && strstr(dmsg.text, "killed by signal") == NULL && (r == 0 || r == V12_E_STREAM)) {
            v12_errmsg_set(msg, "the %s stream of the save image cannot be decompressed: %s",
                           v12_save_format_name(in->hdr.format), dmsg.text);
            r = V12_E_SAVE_IMAGE;
        }
    }
    if (in->fd >= 0 && in->fd != STDIN_FILENO) close(in->fd);
    in->fd = -1;
    free(in->area);
    in->area = NULL;
    return r;
}

/* Where the stream's offsets are, for messages about an image. */
static void image_context(const struct input *in, struct v12_errmsg *msg)
{
    if (!in->image) return;
    if (in->hdr.format == V12_SAVE_RAW)
        v12_errmsg_add(msg, " (in the QEMU stream of a libvirt save image, which starts at file offset %zu)",
                       in->area_len);
    else
        v12_errmsg_add(msg, " (offsets in the %s-decompressed QEMU stream of a libvirt save image)",
                       v12_save_format_name(in->hdr.format));
}

static void progress_init(struct progress *pg, const struct input *in, bool quiet)
{
    memset(pg, 0, sizeof(*pg));
    pg->on = !quiet && isatty(STDERR_FILENO);
    pg->fd = in->fd;
    pg->total = in->size;
    pg->read = in->image ? in->area_len : in->npre;
    pg->t0 = pg->last = mono();
}

/* --in-place: a hard link to the input, kept until the converted file is complete and synced. */
static int backup_make(const char *in_path, char *backup, size_t n)
{
    snprintf(backup, n, "%s.vmcs12d-backup", in_path);
    if (link(in_path, backup) < 0) {
        int r = -errno;
        if (errno == EEXIST)
            v12_errorf("%s: --in-place: %s exists (an earlier run did not finish?): restore or remove it first [%s]",
                       in_path, backup, v12_err_name(r));
        else
            v12_errorf("%s: --in-place: cannot keep a backup as %s: %s [%s]", in_path, backup, strerror(-r),
                       v12_err_name(r));
        backup[0] = 0;
        return r;
    }
    return 0;
}

static void backup_drop(const char *backup)
{
    if (!backup[0] || unlink(backup) < 0) return;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", backup);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0;
    else snprintf(dir, sizeof(dir), ".");
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
        (void)fsync(d);
        close(d);
    }
}

/*
 * The conversion proper: in's stream through the parser into o (a save image's header and XML
 * area first, byte for byte, and its compressor after them): 0, or an error with msg.
 */
static int convert_stream(struct v12_qs *qs, struct input *in, struct out *o, bool quiet,
                          const struct v12_convert_opts *opts, struct v12_errmsg *msg)
{
    int r = 0;
    struct v12_filter comp = {.pid = -1, .fd = -1, .err_fd = -1};
    if (in->image) {
        out_put(o, in->area, in->area_len);
        out_flush(o);
        if (!o->err && in->hdr.format != V12_SAVE_RAW) {
            r = v12_filter_start(&comp, v12_filter_argv(in->hdr.format, 0), -1, o->dst.fd, msg);
            if (!r) o->pipe_fd = comp.fd;
        }
    }
    struct progress pg;
    progress_init(&pg, in, quiet);
    v12_qs_init(qs, opts);
    if (!r) r = run(qs, in->stream_fd, in->pre, in->npre, o, &pg, msg);
    if (pg.on) progress_show(&pg, true); /* while the input's offset can still be asked */
    if (r) image_context(in, msg);
    if (!r) out_flush(o);
    if (!r) r = o->err;
    if (comp.pid > 0) {
        struct v12_errmsg cmsg = {""};
        int cr = r ? (v12_filter_kill(&comp), 0) : v12_filter_finish(&comp, &cmsg);
        if (cr && !r) {
            v12_errmsg_set(msg, "compressing the converted stream: %s", cmsg.text);
            r = cr;
        }
    }
    return r;
}

static void print_report(const struct input *in, const struct v12_qs *qs, enum v12_layout to)
{
    if (in->image)
        fprintf(stderr, "save image: version %u, %s, domain '%s', XML %u bytes, kept\n", in->hdr.version,
                v12_save_format_name(in->hdr.format), in->sum.name, in->sum.xml_len);
    fprintf(stderr,
            "stream: %llu bytes, %u sections, %llu RAM pages + %llu zero pages, %u cpu sections, %u nested states, "
            "%u vmcs12 regions converted to %s; %u device sections walked by the VM description (%llu bytes held)\n",
            (unsigned long long)qs->stats.bytes, qs->stats.sections, (unsigned long long)qs->stats.ram_pages,
            (unsigned long long)qs->stats.zero_pages, qs->stats.cpus, qs->stats.nested_states, qs->stats.regions,
            v12_layout_name(to), qs->stats.devices, (unsigned long long)qs->stats.held);
}

int stream_main(int argc, char **argv)
{
    enum { OPT_QUIET = V12_OPT_FIRST_FREE, OPT_IN_PLACE };
    static const struct option options[] = {V12_CONV_OPTIONS,
                                            {"report", no_argument, NULL, 'r'},
                                            {"quiet", no_argument, NULL, OPT_QUIET},
                                            {"in-place", no_argument, NULL, OPT_IN_PLACE},
                                            {"output", required_argument, NULL, 'o'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    struct v12_conv_args args;
    v12_conv_args_init(&args);
    bool report = false, quiet = false, out_given = false;
    const char *out_path = "-";
    int c;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        bool taken;
        if (v12_conv_args_opt(&args, c, optarg, &taken)) return V12_EXIT_USAGE;
        if (taken) continue;
        switch (c) {
        case 'r': report = true; break;
        case OPT_QUIET: quiet = true; break;
        case OPT_IN_PLACE: args.in_place = true; break;
        case 'o':
            out_path = optarg;
            out_given = true;
            break;
        case 'h': return v12_usage(usage, false);
        default: return v12_usage(usage, true);
        }
    }
    if (args.in_place && !out_given && optind < argc) out_path = argv[optind];
    const char *in_path;
    struct v12_convert_opts opts;
    int u = v12_conv_args_finish(&args, argc, argv, optind, out_path, &in_path, &opts);
    if (u) return u;

    struct v12_errmsg msg = {""};
    static struct input in;
    int r = input_open(&in, in_path, &msg);
    if (r) {
        input_close(&in, r, &msg);
        v12_errorf("%s: %s [%s]", v12_in_name(in_path), msg.text, v12_err_name(r));
        return V12_EXIT_INVALID;
    }
    char backup[4200] = "";
    if (args.in_place && backup_make(in_path, backup, sizeof(backup))) {
        input_close(&in, -1, &msg);
        return V12_EXIT_INVALID;
    }
    /* Output: staged (beside OUT, or privately for a device, FIFO, socket or stdout) and
     * published only once the whole input has been checked. */
    signal(SIGPIPE, SIG_IGN); /* a compressor that dies is an error to report, not our death */
    static struct out o;
    o.len = 0;
    o.pipe_fd = -1;
    o.err = v12_out_begin(&o.dst, out_path);
    if (o.err) {
        v12_errorf("%s: cannot write output: %s [%s]", v12_out_name(out_path), v12_strerror(o.err),
                   v12_err_name(o.err));
        input_close(&in, -1, &msg);
        backup_drop(backup);
        return V12_EXIT_INVALID;
    }
    static struct v12_qs qs;
    r = convert_stream(&qs, &in, &o, quiet, &opts, &msg);
    r = input_close(&in, r, &msg);
    if (!r) r = v12_out_commit(&o.dst);
    else v12_out_abort(&o.dst);
    if (r && !msg.text[0]) v12_errmsg_set(&msg, "cannot write output %s: %s", v12_out_name(out_path), v12_strerror(r));
    backup_drop(backup); /* after the commit's fsyncs, or the input untouched */
    if (r) {
        v12_errorf("%s: %s [%s]", v12_in_name(in_path), msg.text, v12_err_name(r));
        return V12_EXIT_INVALID;
    }
    if (report) print_report(&in, &qs, opts.to);
    return V12_EXIT_OK;
}

/* ---- stream-inspect ---------------------------------------------------------------------------- */

static const char inspect_usage[] =
    "usage: vmcs12ctl stream-inspect [--json] [--profile P] [IN]\n"
    "\n"
    "Show how the stream parser attributes every byte of a saved QEMU migration stream (for a libvirt\n"
    "save image: its header and a summary of its domain XML first, then its stream): each record\n"
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
        v12_linef(stdout, "%12llu %8s device '%.*s' instance %u, section %u, version %u", off, "", nl, nm,
                  ev->instance_id, ev->section_id, ev->version);
        return;
    case V12_QS_EV_FIELD: v12_linef(stdout, "%12llu %8llu   %s '%.*s'", off, len, ev->what, nl, nm); return;
    case V12_QS_EV_DEVICE_END:
        v12_linef(stdout, "%12llu %8llu end of '%.*s' (%u fields, footer included)", off, len, nl, nm, ev->count);
        return;
    case V12_QS_EV_NESTED: {
        char rev[64] = "";
        if (ev->nregions && !ev->nested_format)
            snprintf(rev, sizeof(rev), ev->nregions == 1 ? " (revisions 0x%08x)" : " (revisions 0x%08x, 0x%08x)",
                     ev->revisions[0], ev->revisions[1]);
        v12_linef(stdout, "%12llu %8llu   nested state: vCPU %u, format %s, flags 0x%x, size %u, %u region%s%s", off,
                  len, ev->instance_id, ev->nested_format ? "svm" : "vmx", ev->nested_flags, ev->nested_size,
                  ev->nregions, ev->nregions == 1 ? "" : "s", rev);
        return;
    }
    case V12_QS_EV_DESC:
        v12_linef(stdout, "%12llu %8llu EOF and VM description: %u devices, each walked exactly", off, len, ev->count);
        return;
    }
}

/* The save image's header and what its XML says, before its stream's records. */
static void image_show(const struct input *src, bool json)
{
    const struct v12_save_header *h = &src->hdr;
    const struct v12_save_summary *s = &src->sum;
    if (json) {
        printf(
            "{\"kind\":\"save-image\",\"version\":%u,\"compression\":\"%s\",\"was_running\":%s,\"byte_order\":\"%s\","
            "\"xml_bytes\":%u,\"cookie_bytes\":%u,\"room\":%u,\"stream_offset\":%zu,\"domain\":{\"name\":",
            h->version, v12_save_format_name(h->format), h->was_running ? "true" : "false",
            h->swapped ? "swapped" : "native", s->xml_len, s->cookie_len, s->padding, src->area_len);
        v12_json_str(stdout, s->name);
        printf(",\"uuid\":");
        v12_json_str(stdout, s->uuid);
        printf(",\"memory\":");
        v12_json_str(stdout, s->memory);
        printf(",\"vcpus\":");
        v12_json_str(stdout, s->vcpus);
        printf(",\"machine\":");
        v12_json_str(stdout, s->machine);
        printf("}}\n");
        return;
    }
    v12_linef(stdout, "libvirt save image: version %u, %s, was running: %s%s", h->version,
              v12_save_format_name(h->format), h->was_running ? "yes" : "no", h->swapped ? ", other byte order" : "");
    v12_linef(stdout, "domain '%s': uuid %s, memory %s, %s vCPUs, machine %s", s->name, s->uuid[0] ? s->uuid : "-",
              s->memory[0] ? s->memory : "-", s->vcpus[0] ? s->vcpus : "-", s->machine[0] ? s->machine : "-");
    v12_linef(stdout, "XML %u bytes, cookie %u bytes, %u bytes of room; QEMU stream at file offset %zu%s%s%s",
              s->xml_len, s->cookie_len, s->padding, src->area_len, h->format ? " (" : "",
              h->format ? v12_save_format_name(h->format) : "",
              h->format ? "-compressed; offsets below are in the decompressed stream)" : "");
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
    struct v12_errmsg msg = {""};
    static struct input src;
    int r = input_open(&src, in_path, &msg);
    if (!r && src.image) image_show(&src, in.json);
    static struct v12_qs qs;
    v12_qs_init(&qs, &opts);
    qs.observe = on_event;
    qs.observe_ctx = &in;
    if (!r && !in.json) printf("%12s %8s record\n", "offset", "length");
    if (!r) r = run(&qs, src.stream_fd, src.pre, src.npre, NULL, NULL, &msg);
    if (r && src.image) image_context(&src, &msg);
    r = input_close(&src, r, &msg);
    fflush(stdout);
    if (r) {
        if (in.json) {
            printf("{\"kind\":\"refused\",\"offset\":%llu,\"error\":", (unsigned long long)qs.pos);
            v12_json_str(stdout, msg.text);
            printf(",\"code\":\"%s\"}\n", v12_err_name(r));
            fflush(stdout);
        }
        v12_errorf("%s: %s [%s]", v12_in_name(in_path), msg.text, v12_err_name(r));
        return V12_EXIT_INVALID;
    }
    if (in.json)
        printf("{\"kind\":\"end\",\"bytes\":%llu,\"ram_pages\":%llu,\"zero_pages\":%llu,\"devices\":%u,\"cpus\":%u,"
               "\"nested_states\":%u,\"held\":%llu}\n",
               (unsigned long long)qs.stats.bytes, (unsigned long long)qs.stats.ram_pages,
               (unsigned long long)qs.stats.zero_pages, qs.stats.devices, qs.stats.cpus, qs.stats.nested_states,
               (unsigned long long)qs.stats.held);
    else
        printf(
            "stream checks out: %llu bytes, %llu RAM pages + %llu zero pages, %u devices (%u cpu), %u nested states; "
            "%llu bytes held for the walk\n",
            (unsigned long long)qs.stats.bytes, (unsigned long long)qs.stats.ram_pages,
            (unsigned long long)qs.stats.zero_pages, qs.stats.devices, qs.stats.cpus, qs.stats.nested_states,
            (unsigned long long)qs.stats.held);
    return V12_EXIT_OK;
}
