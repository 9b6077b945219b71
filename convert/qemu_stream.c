/* SPDX-License-Identifier: MIT */
/*
 * QEMU migration stream parser (facts: qemu-migration-stream.md). Records are read from a
 * window the caller owns; every read is bounds-checked against the bytes available, and a
 * record is only acted upon once all of its bytes are in the window.
 */
#include "v12/qemu_stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
    ST_HEADER,
    ST_RECORD,
    ST_CONFIG_SUB, /* subsections of the configuration section */
    ST_RAM,        /* records of the ram section */
    ST_RAM_BLOCKS, /* the block list after MEM_SIZE */
    ST_FOOTER,     /* after a section body: an optional footer */
    ST_DEVICE,     /* a FULL section body we do not interpret: scanned for its footer */
    ST_DESC,       /* after EOF: the VM description, forwarded as is */
};

#define QEMU_VM_FILE_MAGIC 0x5145564du
#define QEMU_VM_FILE_VERSION 3u
#define QEMU_VM_FILE_VERSION_COMPAT 2u
enum { REC_EOF = 0x00, REC_START = 0x01, REC_PART = 0x02, REC_END = 0x03, REC_FULL = 0x04, REC_SUB = 0x05,
       REC_DESC = 0x06, REC_CONFIG = 0x07, REC_COMMAND = 0x08, REC_FOOTER = 0x7e };
enum { RAM_FULL = 0x01, RAM_ZERO = 0x02, RAM_MEM_SIZE = 0x04, RAM_PAGE = 0x08, RAM_EOS = 0x10,
       RAM_CONTINUE = 0x20, RAM_XBZRLE = 0x40, RAM_HOOK = 0x80, RAM_COMPRESS = 0x100, RAM_MULTIFD_FLUSH = 0x200 };
#define TARGET_PAGE_SIZE 4096u

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

void v12_qs_init(struct v12_qs *qs, const struct v12_convert_opts *opts)
{
    memset(qs, 0, sizeof(*qs));
    qs->opts = *opts;
    qs->state = ST_HEADER;
}

static int fail(struct v12_qs *qs, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct v12_qs *qs, uint64_t at, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(qs->msg, sizeof(qs->msg), "migration stream offset %llu: %s", (unsigned long long)at, what);
    return V12_E_STREAM;
}

#define NEED(n)                                                                                 \
    do {                                                                                        \
        if (avail < (size_t)(n)) {                                                              \
            if (eof) return fail(qs, qs->pos + avail, "stream ends inside a record (%llu bytes short)", (unsigned long long)((n) - avail)); \
            *ret_n = (n);                                                                       \
            return V12_QS_NEED;                                                                 \
        }                                                                                       \
    } while (0)

static int forward(struct v12_qs *qs, size_t n, size_t *ret_n)
{
    qs->pos += n;
    qs->stats.bytes += n;
    *ret_n = n;
    return V12_QS_FORWARD;
}

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e) return false;
    return n > 0;
}

/* ---- records -------------------------------------------------------------------------------- */

static int config_subsection(struct v12_qs *qs, const uint8_t *w, size_t avail, bool eof, size_t *ret_n)
{
    NEED(1);
    if (w[0] != REC_SUB) {
        qs->state = ST_RECORD;
        return V12_QS_FORWARD * 0; /* fallthrough: caller loops */
    }
    NEED(2);
    size_t nl = w[1];
    NEED(2 + nl + 4);
    const char *name = (const char *)w + 2;
    size_t hdr = 2 + nl + 4;
#define IS(s) (nl == sizeof(s) - 1 && memcmp(name, s, nl) == 0)
    if (IS("configuration/target-page-bits")) {
        NEED(hdr + 4);
        if (be32(w + hdr) != 12) return fail(qs, qs->pos + hdr, "target page bits %u, only 12 (4 KiB pages) is handled", be32(w + hdr));
        return forward(qs, hdr + 4, ret_n);
    }
    if (IS("configuration/uuid")) {
        NEED(hdr + 16);
        return forward(qs, hdr + 16, ret_n);
    }
    if (IS("configuration/capabilities")) {
        NEED(hdr + 4);
        uint32_t count = be32(w + hdr);
        size_t off = hdr + 4;
        if (count > 64) return fail(qs, qs->pos + hdr, "%u migration capabilities listed: not plausible", count);
        for (uint32_t i = 0; i < count; i++) {
            NEED(off + 1);
            size_t cl = w[off];
            NEED(off + 1 + cl);
            const char *cap = (const char *)w + off + 1;
            if (cl == 13 && memcmp(cap, "postcopy-ram", 12) == 0) qs->cap_postcopy = true;
            if (cl == 12 && memcmp(cap, "postcopy-ram", 12) == 0) qs->cap_postcopy = true;
            if (cl == 16 && memcmp(cap, "x-ignore-shared", 15) == 0) qs->cap_ignore_shared = true;
            if (cl == 15 && memcmp(cap, "x-ignore-shared", 15) == 0) qs->cap_ignore_shared = true;
            if (cl == 10 && memcmp(cap, "mapped-ram", 10) == 0)
                return fail(qs, qs->pos + off, "capability mapped-ram is not supported");
            off += 1 + cl;
        }
        if (qs->cap_postcopy)
            return fail(qs, qs->pos + hdr, "the stream has the postcopy-ram capability: postcopy is not supported (migrate with precopy)");
        return forward(qs, off, ret_n);
    }
#undef IS
    char nm[64];
    snprintf(nm, sizeof(nm), "%.*s", (int)(nl < 60 ? nl : 60), name);
    return fail(qs, qs->pos, "unknown configuration subsection '%s'", nm);
}

static int command(struct v12_qs *qs, const uint8_t *w, size_t avail, bool eof, size_t *ret_n)
{
    NEED(5);
    uint32_t cmd = be16(w + 1), len = be16(w + 3);
    /* The commands passed on carry a few bytes; a longer one would need more look-ahead than the
     * parser's window promises (found by fuzzing: the window filled and the stream stalled). */
    if (len > V12_QS_LOOKAHEAD - 5)
        return fail(qs, qs->pos + 3, "migration command %u carries %u bytes, more than the %u this parser looks ahead",
                    cmd, len, V12_QS_LOOKAHEAD - 5);
    NEED(5 + len);
    switch (cmd) {
    case 1: /* OPEN_RETURN_PATH */
    case 2: /* PING */
    case 11: /* SWITCHOVER_START */
        return forward(qs, 5 + len, ret_n);
    case 3:
        return fail(qs, qs->pos, "the stream advises postcopy (MIG_CMD_POSTCOPY_ADVISE): postcopy is not supported");
    case 7:
        return fail(qs, qs->pos, "packaged stream (MIG_CMD_PACKAGED, postcopy) is not supported");
    default:
        return fail(qs, qs->pos, "migration command %u is not supported", cmd);
    }
}

static int section_header(struct v12_qs *qs, const uint8_t *w, size_t avail, bool eof, size_t *ret_n)
{
    uint8_t type = w[0];
    NEED(5);
    uint32_t id = be32(w + 1);
    if (type == REC_PART || type == REC_END) {
        if (!qs->have_ram || id != qs->ram_section_id)
            return fail(qs, qs->pos, "section %u continues, but only the ram section is iterable here", id);
        qs->section_id = id;
        qs->state = ST_RAM;
        return forward(qs, 5, ret_n);
    }
    NEED(6);
    size_t nl = w[5];
    NEED(6 + nl + 8);
    if (!printable(w + 6, nl)) return fail(qs, qs->pos + 6, "section name is not text (length %zu)", nl);
    memcpy(qs->idstr, w + 6, nl);
    qs->idstr[nl] = 0;
    qs->section_id = id;
    qs->instance_id = be32(w + 6 + nl);
    uint32_t version = be32(w + 6 + nl + 4);
    qs->stats.sections++;
    bool ram = strcmp(qs->idstr, "ram") == 0;
    if (type == REC_START) {
        if (!ram) return fail(qs, qs->pos, "iterable section '%s' is not supported (only ram)", qs->idstr);
        if (version != 4) return fail(qs, qs->pos, "ram section version %u (only 4 is known)", version);
        qs->have_ram = true;
        qs->ram_section_id = id;
        qs->state = ST_RAM;
        return forward(qs, 6 + nl + 8, ret_n);
    }
    /* FULL: a device. cpu sections are where the nested state is. */
    if (ram) return fail(qs, qs->pos, "ram as a FULL section is not supported");
    qs->in_cpu = strcmp(qs->idstr, "cpu") == 0;
    if (qs->in_cpu) {
        if (version < 11 || version > 12)
            return fail(qs, qs->pos, "cpu section version %u (11 or 12 are known)", version);
        qs->stats.cpus++;
    }
    qs->state = ST_DEVICE;
    return forward(qs, 6 + nl + 8, ret_n);
}

static int record(struct v12_qs *qs, uint8_t *w, size_t avail, bool eof, size_t *ret_n)
{
    if (avail == 0) {
        if (eof) return fail(qs, qs->pos, "stream ends without its EOF record");
        *ret_n = 1;
        return V12_QS_NEED;
    }
    switch (w[0]) {
    case REC_CONFIG:
        NEED(5);
        if (be32(w + 1) > 255) return fail(qs, qs->pos + 1, "machine type name of %u bytes", be32(w + 1));
        NEED(5 + be32(w + 1));
        qs->state = ST_CONFIG_SUB;
        return forward(qs, 5 + be32(w + 1), ret_n);
    case REC_START:
    case REC_PART:
    case REC_END:
    case REC_FULL:
        return section_header(qs, w, avail, eof, ret_n);
    case REC_COMMAND:
        return command(qs, w, avail, eof, ret_n);
    case REC_EOF:
        qs->state = ST_DESC;
        return forward(qs, 1, ret_n);
    default:
        return fail(qs, qs->pos, "unknown record type 0x%02x", w[0]);
    }
}

/* ---- ram ------------------------------------------------------------------------------------ */

static int ram_blocks(struct v12_qs *qs, const uint8_t *w, size_t avail, bool eof, size_t *ret_n)
{
    if (qs->memsize_left == 0) {
        qs->state = ST_RAM;
        *ret_n = 0;
        return 0;
    }
    NEED(1);
    size_t nl = w[0];
    size_t extra = qs->cap_ignore_shared ? 8 : 0;
    NEED(1 + nl + 8 + extra);
    uint64_t used = be64(w + 1 + nl);
    if (nl == 0 || used > qs->memsize_left)
        return fail(qs, qs->pos, "RAM block list does not add up to the announced size (%llu bytes left)", (unsigned long long)qs->memsize_left);
    qs->memsize_left -= used;
    return forward(qs, 1 + nl + 8 + extra, ret_n);
}

static int ram_record(struct v12_qs *qs, const uint8_t *w, size_t avail, bool eof, size_t *ret_n)
{
    NEED(8);
    uint64_t v = be64(w);
    uint32_t flags = (uint32_t)(v & (TARGET_PAGE_SIZE - 1));
    uint32_t kind = flags & ~(uint32_t)RAM_CONTINUE;
    size_t hdr = 8;
    if (kind == RAM_EOS) {
        qs->state = ST_FOOTER;
        return forward(qs, 8, ret_n);
    }
    if (kind == RAM_MEM_SIZE) {
        qs->memsize_left = v & ~(uint64_t)(TARGET_PAGE_SIZE - 1);
        qs->state = ST_RAM_BLOCKS;
        return forward(qs, 8, ret_n);
    }
    if (kind == RAM_MULTIFD_FLUSH) return forward(qs, 8, ret_n);
    if (kind != RAM_ZERO && kind != RAM_PAGE && kind != RAM_XBZRLE) {
        const char *why = kind == RAM_HOOK ? " (RDMA)" : kind == RAM_COMPRESS ? " (compression, removed in QEMU 9.1)" : "";
        return fail(qs, qs->pos, "RAM record flags 0x%03x are not supported%s", flags, why);
    }
    if (!(flags & RAM_CONTINUE)) {
        NEED(hdr + 1);
        size_t nl = w[hdr];
        NEED(hdr + 1 + nl);
        if (!nl || !printable(w + hdr + 1, nl)) return fail(qs, qs->pos + hdr, "RAM block name is not text");
        hdr += 1 + nl;
    }
    if (kind == RAM_ZERO) {
        NEED(hdr + 1);
        qs->stats.zero_pages++;
        return forward(qs, hdr + 1, ret_n);
    }
    if (kind == RAM_PAGE) {
        qs->stats.ram_pages++;
        qs->skip = TARGET_PAGE_SIZE; /* the page itself: by length, never searched */
        return forward(qs, hdr, ret_n);
    }
    NEED(hdr + 3); /* XBZRLE: u8 encoding flag, be16 length, data */
    if (w[hdr] != 0x01) return fail(qs, qs->pos + hdr, "XBZRLE encoding flag 0x%02x", w[hdr]);
    qs->skip = be16(w + hdr + 1);
    return forward(qs, hdr + 3, ret_n);
}

/* After a section body: the footer (0x7e + section id), when the stream carries footers. */
static int footer(struct v12_qs *qs, const uint8_t *w, size_t avail, bool eof, size_t *ret_n)
{
    NEED(1);
    if (w[0] != REC_FOOTER) {
        qs->state = ST_RECORD;
        *ret_n = 0;
        return 0;
    }
    NEED(5); /* no state change before this: a split here must come back to the footer */
    qs->state = ST_RECORD;
    if (be32(w + 1) != qs->section_id)
        return fail(qs, qs->pos + 1, "section footer names section %u, not section %u that it ends", be32(w + 1), qs->section_id);
    return forward(qs, 5, ret_n);
}

/* ---- device sections: where does the body end, and the nested state in cpu sections -------- */

/* Is p the start of a plausible next record? 1 yes, 0 no, -n need n bytes. */
static long plausible_next(const struct v12_qs *qs, const uint8_t *p, size_t n, bool eof)
{
    if (n < 1) return eof ? 0 : -1;
    switch (p[0]) {
    case REC_EOF:
        if (n >= 2) return p[1] == REC_DESC;
        return eof ? 1 : -2;
    case REC_FULL:
    case REC_START: {
        if (n < 6) return eof ? 0 : -6;
        size_t nl = p[5];
        if (nl == 0) return 0;
        if (n < 6 + nl + 8) return eof ? 0 : -(long)(6 + nl + 8);
        return printable(p + 6, nl) && be32(p + 6 + nl + 4) < 0x10000;
    }
    case REC_PART:
    case REC_END:
        if (n < 5) return eof ? 0 : -5;
        return qs->have_ram && be32(p + 1) == qs->ram_section_id;
    case REC_COMMAND:
        if (n < 3) return eof ? 0 : -3;
        return be16(p + 1) <= 11;
    default:
        return 0;
    }
}

static const uint8_t nested_prefix[] = "\x05\x10" "cpu/nested_state" "\x00\x00\x00\x01";
#define NESTED_PREFIX_LEN 22u
static const char vmx_name[] = "cpu/kvm_nested_state/vmx";
static const char svm_name[] = "cpu/kvm_nested_state/svm";
static const char vmcs12_name[] = "cpu/kvm_nested_state/vmx/vmcs12";
static const char shadow_name[] = "cpu/kvm_nested_state/vmx/shadow_vmcs12";

/* A subsection header "05 len name be32(1)" at p? Returns its length or 0. */
static size_t sub_at(const uint8_t *p, size_t n, const char *name)
{
    size_t nl = strlen(name);
    if (n < 2 + nl + 4 || p[0] != REC_SUB || p[1] != nl || memcmp(p + 2, name, nl) != 0 || be32(p + 2 + nl) != 1) return 0;
    return 2 + nl + 4;
}

/*
 * The nested state at w (the prefix matched). Parses the whole structure, checks it against
 * itself and against what follows it, converts the vmcs12 regions in place. Returns 0 with
 * *ret_len its length, 1 with *ret_need the window size it needs to decide, or an error.
 */
#define NEED_BYTES(n)                       \
    do {                                    \
        if (eof) return V12_E_STREAM;       \
        *ret_need = (n);                    \
        return 1;                           \
    } while (0)
static int nested_state(struct v12_qs *qs, uint8_t *w, size_t avail, bool eof, size_t *ret_len, size_t *ret_need)
{
    size_t off = NESTED_PREFIX_LEN;
    if (avail < off + 8) NEED_BYTES(off + 8);
    uint32_t flags = be16(w + off), format = be16(w + off + 2), size = be32(w + off + 4);
    off += 8;
    uint32_t max = format == V12_FORMAT_SVM ? V12_BLOB_MAX_SVM : V12_BLOB_MAX_VMX;
    if (format > V12_FORMAT_SVM || size < V12_BLOB_HEADER_SIZE || size > max) {
        snprintf(qs->msg, sizeof(qs->msg),
                 "migration stream offset %llu: vCPU %u: nested state size %u is outside 128..%u (format %u)",
                 (unsigned long long)qs->pos, qs->instance_id, size, max, format);
        return V12_E_STREAM;
    }
    /* The largest structure (VMX with shadow) plus what must follow it. */
    size_t want = off + 48 + 4133 + 4140 + 8;
    if (avail < want && !eof) NEED_BYTES(want);
    uint8_t *blob = qs->blob_in;
    memset(blob, 0, V12_BLOB_HEADER_SIZE);
    v12_store_le(blob + 0, 2, flags);
    v12_store_le(blob + 2, 2, format);
    v12_store_le(blob + 4, 4, size);
    v12_store_le(blob + 8, 8, V12_INVALID_GPA);
    v12_store_le(blob + 16, 8, V12_INVALID_GPA);
    size_t region_at[2] = {0, 0};
    unsigned nregions = 0;
    size_t h;
    if (format == V12_FORMAT_VMX && (h = sub_at(w + off, avail - off, vmx_name))) {
        if (avail < off + h + 18) return V12_E_STREAM;
        v12_store_le(blob + 8, 8, be64(w + off + h));
        v12_store_le(blob + 16, 8, be64(w + off + h + 8));
        v12_store_le(blob + 24, 2, be16(w + off + h + 16));
        off += h + 18;
        if ((h = sub_at(w + off, avail - off, vmcs12_name)) && avail >= off + h + V12_REGION_SIZE) {
            region_at[nregions++] = off + h;
            off += h + V12_REGION_SIZE;
            if ((h = sub_at(w + off, avail - off, shadow_name)) && avail >= off + h + V12_REGION_SIZE) {
                region_at[nregions++] = off + h;
                off += h + V12_REGION_SIZE;
            }
        }
    } else if (format == V12_FORMAT_SVM && (h = sub_at(w + off, avail - off, svm_name))) {
        if (avail < off + h + 8 + V12_REGION_SIZE) return V12_E_STREAM;
        v12_store_le(blob + 8, 8, be64(w + off + h));
        region_at[nregions++] = off + h + 8;
        off += h + 8 + V12_REGION_SIZE;
    }
    /* QEMU sends the regions exactly when size says there are some. */
    unsigned expect = size > V12_BLOB_HEADER_SIZE + V12_REGION_SIZE ? 2 : size > V12_BLOB_HEADER_SIZE ? 1 : 0;
    if (format == V12_FORMAT_VMX && nregions != expect) return V12_E_STREAM;
    /* What follows: another cpu subsection, or the section footer. */
    if (avail < off + 6) NEED_BYTES(off + 6);
    bool next_ok = (w[off] == REC_SUB && w[off + 1] >= 4 && avail >= off + 6 && memcmp(w + off + 2, "cpu/", 4) == 0) ||
                   (w[off] == REC_FOOTER && be32(w + off + 1) == qs->section_id);
    if (!next_ok) return V12_E_STREAM;

    size_t len = V12_BLOB_HEADER_SIZE + nregions * V12_REGION_SIZE;
    for (unsigned i = 0; i < nregions; i++) memcpy(blob + V12_VMCS12_OFFSET + i * V12_REGION_SIZE, w + region_at[i], V12_REGION_SIZE);
    /* QEMU's size may exceed what it sends (KVM's cap), never fall short of it. */
    if (size < len) return V12_E_STREAM;
    v12_store_le(blob + 4, 4, len);
    struct v12_diag d;
    struct v12_report rep;
    int r = v12_blob_convert(blob, len, qs->blob_out, sizeof(qs->blob_out), &qs->opts, &rep, &d);
    if (r) {
        char m[400];
        v12_diag_format(&d, m, sizeof(m));
        snprintf(qs->msg, sizeof(qs->msg), "migration stream offset %llu: vCPU %u (cpu section instance %u): nested state refused: %s",
                 (unsigned long long)qs->pos, qs->instance_id, qs->instance_id, m);
        return r;
    }
    if (format == V12_FORMAT_VMX)
        for (unsigned i = 0; i < nregions; i++)
            memcpy(w + region_at[i], qs->blob_out + V12_VMCS12_OFFSET + i * V12_REGION_SIZE, V12_REGION_SIZE);
    qs->stats.nested_states++;
    if (format == V12_FORMAT_VMX) qs->stats.regions += nregions;
    *ret_len = off;
    return 0;
}

static int device(struct v12_qs *qs, uint8_t *w, size_t avail, bool eof, size_t *ret_n)
{
    for (size_t i = 0; i < avail; i++) {
        if (w[i] == REC_FOOTER) {
            if (avail - i < 5) {
                if (eof) break;
                goto need_more;
            }
            if (be32(w + i + 1) == qs->section_id) {
                long ok = plausible_next(qs, w + i + 5, avail - i - 5, eof);
                if (ok < 0) goto need_more;
                if (ok) {
                    qs->state = ST_RECORD;
                    qs->in_cpu = false;
                    return forward(qs, i + 5, ret_n);
                }
            }
        } else if (qs->in_cpu && w[i] == REC_SUB) {
            if (avail - i < NESTED_PREFIX_LEN) {
                if (eof) continue;
                goto need_more;
            }
            if (memcmp(w + i, nested_prefix, NESTED_PREFIX_LEN) != 0) continue;
            if (i > 0) return forward(qs, i, ret_n); /* let the structure start the window */
            size_t len = 0, need = 0;
            int r = nested_state(qs, w, avail, eof, &len, &need);
            if (r == 1) {
                *ret_n = need;
                return V12_QS_NEED;
            }
            if (r == V12_E_STREAM && !qs->msg[0])
                return fail(qs, qs->pos, "vCPU %u: cpu/nested_state subsection is malformed (names, lengths or size disagree)", qs->instance_id);
            if (r < 0) return r;
            return forward(qs, len, ret_n);
        }
        continue;
    need_more:
        if (i > 0) return forward(qs, i, ret_n);
        *ret_n = avail + (avail < 300 ? 300 : 0);
        if (*ret_n > V12_QS_LOOKAHEAD) *ret_n = V12_QS_LOOKAHEAD;
        if (*ret_n <= avail) *ret_n = avail + 1;
        return V12_QS_NEED;
    }
    if (eof) return fail(qs, qs->pos, "section '%s' (instance %u) has no footer before the stream ends", qs->idstr, qs->instance_id);
    if (avail == 0) {
        *ret_n = 1;
        return V12_QS_NEED;
    }
    return forward(qs, avail, ret_n); /* none of these bytes can start a footer or a nested state */
}

int v12_qs_step(struct v12_qs *qs, uint8_t *w, size_t avail, bool eof, size_t *ret_n)
{
    for (;;) {
        int r;
        if (qs->skip) {
            if (!avail) {
                if (eof) return fail(qs, qs->pos, "stream ends inside %llu bytes of page data", (unsigned long long)qs->skip);
                *ret_n = 1;
                return V12_QS_NEED;
            }
            size_t n = avail < qs->skip ? avail : (size_t)qs->skip;
            qs->skip -= n;
            return forward(qs, n, ret_n);
        }
        switch (qs->state) {
        case ST_HEADER:
            NEED(8);
            if (be32(w) != QEMU_VM_FILE_MAGIC) return fail(qs, 0, "not a QEMU migration stream (magic 0x%08x)", be32(w));
            if (be32(w + 4) != QEMU_VM_FILE_VERSION)
                return fail(qs, 4, "stream file version %u (only 3 is supported)", be32(w + 4));
            qs->state = ST_RECORD;
            return forward(qs, 8, ret_n);
        case ST_RECORD: r = record(qs, w, avail, eof, ret_n); break;
        case ST_CONFIG_SUB: r = config_subsection(qs, w, avail, eof, ret_n); break;
        case ST_RAM: r = ram_record(qs, w, avail, eof, ret_n); break;
        case ST_RAM_BLOCKS: r = ram_blocks(qs, w, avail, eof, ret_n); break;
        case ST_FOOTER: r = footer(qs, w, avail, eof, ret_n); break;
        case ST_DEVICE: r = device(qs, w, avail, eof, ret_n); break;
        case ST_DESC:
            if (avail) return forward(qs, avail, ret_n);
            if (eof) return V12_QS_END;
            *ret_n = 1;
            return V12_QS_NEED;
        default: return fail(qs, qs->pos, "parser state %d", qs->state);
        }
        if (r != 0) return r; /* 0: a state change with nothing consumed; go on */
    }
}
