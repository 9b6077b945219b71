/* SPDX-License-Identifier: MIT */
/*
 * QEMU migration stream parser (facts: qemu-migration-stream.md, qemu-stream-exactness.md).
 *
 * Before the device phase every record is read over a bounds-checked cursor (cursor.h): a
 * reader reads all of its fields, asks once whether the window held them, and only then acts,
 * so a record split anywhere comes back to the same reader. RAM page data is forwarded by
 * length. The device phase is held until its description arrives and is walked by it
 * (qs_walk.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cursor.h"
#include "qs_internal.h"

enum {
    ST_HEADER,
    ST_RECORD,
    ST_CONFIG_SUB, /* subsections of the configuration record */
    ST_RAM,        /* records of the ram section */
    ST_RAM_BLOCKS, /* the block list after MEM_SIZE */
    ST_RAM_FOOTER, /* after a ram section's EOS: its footer, if the stream has footers */
    ST_HOLD,       /* the device phase, held until its description has arrived */
    ST_DONE,       /* the description was accepted: nothing may follow */
};

#define QEMU_VM_FILE_MAGIC 0x5145564du
#define QEMU_VM_FILE_VERSION 3u
#define MACHINE_NAME_MAX 255u
#define CAPS_MAX 64u
#define RAM_SECTION_VERSION 4u

enum {
    RAM_ZERO = 0x02,
    RAM_MEM_SIZE = 0x04,
    RAM_PAGE = 0x08,
    RAM_EOS = 0x10,
    RAM_CONTINUE = 0x20,
    RAM_XBZRLE = 0x40,
    RAM_HOOK = 0x80,
    RAM_COMPRESS = 0x100,
    RAM_MULTIFD_FLUSH = 0x200
};
#define RAM_FLAGS_MASK (QS_PAGE - 1u)
#define RAM_RECORD 8u        /* be64 address | flags */
#define RAM_IGNORE_SHARED 8u /* be64 block address, with x-ignore-shared */
#define XBZRLE_FLAG 0x01u
#define XBZRLE_FIXED 3u /* u8 encoding flag, be16 length */

enum {
    CMD_OPEN_RETURN_PATH = 1,
    CMD_PING = 2,
    CMD_POSTCOPY_ADVISE = 3,
    CMD_PACKAGED = 7,
    CMD_ENABLE_COLO = 8,
    CMD_SWITCHOVER_START = 11
};

static const char passthrough_hint[] = "; for guests known to have no nested state, set stream_passthrough = yes";

void v12_qs_init(struct v12_qs *qs, const struct v12_convert_opts *opts)
{
    memset(qs, 0, sizeof(*qs));
    qs->opts = *opts;
    qs->hold_limit = V12_QS_HOLD_DEFAULT;
    qs->state = ST_HEADER;
}

bool v12_qs_holding(const struct v12_qs *qs)
{
    return qs->state == ST_HOLD;
}

static void vfail(struct v12_qs *qs, uint64_t at, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void vfail(struct v12_qs *qs, uint64_t at, const char *fmt, va_list ap)
{
    v12_errmsg_set(&qs->msg, "migration stream offset %llu: ", (unsigned long long)at);
    v12_errmsg_vadd(&qs->msg, fmt, ap);
}

void v12__qs_fail(struct v12_qs *qs, uint64_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(qs, at, fmt, ap);
    va_end(ap);
}

static int fail(struct v12_qs *qs, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct v12_qs *qs, uint64_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(qs, at, fmt, ap);
    va_end(ap);
    return V12_E_STREAM;
}

/* The cursor ran out: ask for more, or at the end of the input say where it stopped. */
static int need(struct v12_qs *qs, const struct v12_cur *c, unsigned flags, size_t *ret_n)
{
    if (flags & V12_QS_EOF)
        return fail(qs, qs->pos + c->len, "stream ends inside a record (%zu bytes short)", c->need - c->len);
    if (c->need > V12_QS_LOOKAHEAD) return fail(qs, qs->pos, "a record longer than the parser's look-ahead");
    *ret_n = c->need;
    return V12_QS_NEED;
}

static void record_event(struct v12_qs *qs, const char *what, const uint8_t *name, size_t name_len, uint64_t len,
                         uint32_t count)
{
    if (!qs->observe) return;
    struct v12_qs_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = V12_QS_EV_RECORD;
    ev.offset = qs->pos;
    ev.length = len;
    ev.what = what;
    ev.name = (const char *)name;
    ev.name_len = name_len;
    ev.section_id = qs->section_id;
    ev.count = count;
    qs->observe(qs->observe_ctx, &ev);
}

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

/* ---- header, configuration, commands -------------------------------------------------------- */

static int file_header(struct v12_qs *qs, const uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    struct v12_cur c = cur_make(w, avail, 0);
    uint32_t magic = cur_be32(&c), version = cur_be32(&c);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    if (magic != QEMU_VM_FILE_MAGIC) return fail(qs, 0, "not a QEMU migration stream (magic 0x%08x)", magic);
    if (version != QEMU_VM_FILE_VERSION) return fail(qs, 4, "stream file version %u (only 3 is supported)", version);
    record_event(qs, "file header", NULL, 0, c.off, version);
    qs->state = ST_RECORD;
    return forward(qs, c.off, ret_n);
}

static int configuration(struct v12_qs *qs, const uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    struct v12_cur c = cur_make(w, avail, 1);
    uint32_t len = cur_be32(&c);
    if (!cur_short(&c) && len > MACHINE_NAME_MAX) return fail(qs, qs->pos + 1, "machine type name of %u bytes", len);
    const uint8_t *name = cur_take(&c, len);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    record_event(qs, "configuration", name, len, c.off, 0);
    qs->state = ST_CONFIG_SUB;
    return forward(qs, c.off, ret_n);
}

static int config_subsection(struct v12_qs *qs, const uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    struct v12_cur c = cur_make(w, avail, 0);
    uint32_t type = cur_peek(&c);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    if (type != QS_REC_SUB) {
        qs->state = ST_RECORD;
        *ret_n = 0;
        return 0;
    }
    size_t nl;
    c.off++;
    const uint8_t *name = cur_name8(&c, &nl);
    cur_be32(&c); /* version */
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    if (cur_name_is(name, nl, "configuration/target-page-bits")) {
        uint32_t bits = cur_be32(&c);
        if (cur_short(&c)) return need(qs, &c, flags, ret_n);
        if (bits != 12)
            return fail(qs, qs->pos + c.off - 4, "target page bits %u, only 12 (4 KiB pages) is handled", bits);
    } else if (cur_name_is(name, nl, "configuration/uuid")) {
        cur_take(&c, 16);
    } else if (cur_name_is(name, nl, "configuration/capabilities")) {
        uint32_t count = cur_be32(&c);
        if (!cur_short(&c) && count > CAPS_MAX)
            return fail(qs, qs->pos + c.off - 4, "%u migration capabilities listed: not plausible", count);
        bool ignore_shared = false;
        for (uint32_t i = 0; i < count && !cur_short(&c); i++) {
            size_t cl;
            size_t at = c.off;
            const uint8_t *cap = cur_name8(&c, &cl);
            if (cur_short(&c)) break;
            /* QEMU 7.2 counts the NUL in the length: a name is compared up to it. */
            if (cl && cap[cl - 1] == 0) cl--;
            if (cur_name_is(cap, cl, "x-ignore-shared")) ignore_shared = true;
            else if (cur_name_is(cap, cl, "mapped-ram"))
                return fail(qs, qs->pos + at, "capability mapped-ram is not supported");
        }
        if (cur_short(&c)) return need(qs, &c, flags, ret_n);
        qs->cap_ignore_shared = ignore_shared;
    } else {
        return fail(qs, qs->pos, "unknown configuration subsection '%.*s'", (int)(nl < 60 ? nl : 60),
                    (const char *)name);
    }
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    record_event(qs, "configuration subsection", name, nl, c.off, 0);
    return forward(qs, c.off, ret_n);
}

static int command(struct v12_qs *qs, const uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    struct v12_cur c = cur_make(w, avail, 1);
    uint32_t cmd = cur_be16(&c), len = cur_be16(&c);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    /* The commands passed on carry a few bytes; a longer one would need more look-ahead than the
     * parser's window promises (found by fuzzing: the window filled and the stream stalled). */
    if (len > V12_QS_LOOKAHEAD - QS_COMMAND_FIXED)
        return fail(qs, qs->pos + 3, "migration command %u carries %u bytes, more than the %u this parser looks ahead",
                    cmd, len, V12_QS_LOOKAHEAD - QS_COMMAND_FIXED);
    cur_take(&c, len);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    switch (cmd) {
    case CMD_OPEN_RETURN_PATH:
    case CMD_PING:
    case CMD_SWITCHOVER_START: record_event(qs, "command", NULL, 0, c.off, cmd); return forward(qs, c.off, ret_n);
    case CMD_POSTCOPY_ADVISE:
        return fail(qs, qs->pos, "the stream advises postcopy (MIG_CMD_POSTCOPY_ADVISE): postcopy is not supported");
    case CMD_PACKAGED: return fail(qs, qs->pos, "packaged stream (MIG_CMD_PACKAGED, postcopy) is not supported");
    case CMD_ENABLE_COLO:
        return fail(qs, qs->pos,
                    "COLO (MIG_CMD_ENABLE_COLO) is not supported: its checkpoints follow the description%s",
                    passthrough_hint);
    default: return fail(qs, qs->pos, "migration command %u is not supported", cmd);
    }
}

/* START, PART, END: only the ram section is iterable here. */
static int iterable_header(struct v12_qs *qs, const uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    struct v12_cur c = cur_make(w, avail, 0);
    uint32_t type = cur_u8(&c), id = cur_be32(&c);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    if (type != QS_REC_START) {
        if (!qs->have_ram || id != qs->ram_section_id)
            return fail(qs, qs->pos, "section %u continues, but only the ram section is iterable here", id);
        qs->section_id = id;
        qs->state = ST_RAM;
        qs->ram_pages_in_section = 0;
        record_event(qs, type == QS_REC_PART ? "ram part" : "ram end", NULL, 0, c.off, 0);
        return forward(qs, c.off, ret_n);
    }
    size_t nl;
    const uint8_t *name = cur_name8(&c, &nl);
    uint32_t instance = cur_be32(&c), version = cur_be32(&c);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    (void)instance;
    if (!printable(name, nl)) return fail(qs, qs->pos + 6, "section name is not text (length %zu)", nl);
    if (!cur_name_is(name, nl, "ram"))
        return fail(qs, qs->pos, "iterable section '%.*s' is not supported (only ram)", (int)nl, (const char *)name);
    if (qs->have_ram) return fail(qs, qs->pos, "a second ram section (id %u)", id);
    if (version != RAM_SECTION_VERSION) return fail(qs, qs->pos, "ram section version %u (only 4 is known)", version);
    qs->stats.sections++;
    qs->have_ram = true;
    qs->ram_section_id = qs->section_id = id;
    qs->state = ST_RAM;
    record_event(qs, "ram start", name, nl, c.off, 0);
    return forward(qs, c.off, ret_n);
}

static int record(struct v12_qs *qs, const uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    if (avail == 0) {
        if (flags & V12_QS_EOF) return fail(qs, qs->pos, "stream ends without its EOF record");
        *ret_n = 1;
        return V12_QS_NEED;
    }
    switch (w[0]) {
    case QS_REC_CONFIG: return configuration(qs, w, avail, flags, ret_n);
    case QS_REC_START:
    case QS_REC_PART:
    case QS_REC_END: return iterable_header(qs, w, avail, flags, ret_n);
    case QS_REC_COMMAND: return command(qs, w, avail, flags, ret_n);
    case QS_REC_FULL:
    case QS_REC_EOF:
        if (!qs->have_ram) {
            if (w[0] == QS_REC_EOF) return fail(qs, qs->pos, "EOF before any RAM: not a precopy migration stream");
            return fail(qs, qs->pos,
                        "a device section before RAM (an early-setup device such as virtio-mem): its extent "
                        "cannot be known until the description at the end, and it is not held%s",
                        passthrough_hint);
        }
        /* The device phase begins: held from this byte until its description is walked. */
        qs->state = ST_HOLD;
        qs->scanned = qs->tail_start = qs->checked_end = 0;
        *ret_n = 0;
        return 0;
    default: return fail(qs, qs->pos, "unknown record type 0x%02x", w[0]);
    }
}

/* ---- ram ------------------------------------------------------------------------------------ */

static int ram_blocks(struct v12_qs *qs, const uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    if (qs->memsize_left == 0) {
        qs->state = ST_RAM;
        *ret_n = 0;
        return 0;
    }
    struct v12_cur c = cur_make(w, avail, 0);
    size_t nl;
    const uint8_t *name = cur_name8(&c, &nl);
    uint64_t used = cur_be64(&c);
    if (qs->cap_ignore_shared) cur_take(&c, RAM_IGNORE_SHARED);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    if (!printable(name, nl) || used > qs->memsize_left)
        return fail(qs, qs->pos, "RAM block list does not add up to the announced size (%llu bytes left)",
                    (unsigned long long)qs->memsize_left);
    qs->memsize_left -= used;
    return forward(qs, c.off, ret_n);
}

static int ram_record(struct v12_qs *qs, const uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    struct v12_cur c = cur_make(w, avail, 0);
    uint64_t v = cur_be64(&c);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    uint32_t fl = (uint32_t)(v & RAM_FLAGS_MASK);
    uint32_t kind = fl & ~(uint32_t)RAM_CONTINUE;
    switch (kind) {
    case RAM_EOS:
        qs->state = ST_RAM_FOOTER;
        if (qs->observe) record_event(qs, "ram pages", NULL, 0, 0, (uint32_t)qs->ram_pages_in_section);
        return forward(qs, c.off, ret_n);
    case RAM_MEM_SIZE:
        qs->memsize_left = v & ~(uint64_t)RAM_FLAGS_MASK;
        qs->state = ST_RAM_BLOCKS;
        return forward(qs, c.off, ret_n);
    case RAM_MULTIFD_FLUSH: return forward(qs, c.off, ret_n);
    case RAM_ZERO:
    case RAM_PAGE:
    case RAM_XBZRLE: break;
    default: {
        const char *why = kind == RAM_HOOK       ? " (RDMA)"
                          : kind == RAM_COMPRESS ? " (compression, removed in QEMU 9.1)"
                                                 : "";
        return fail(qs, qs->pos, "RAM record flags 0x%03x are not supported%s", fl, why);
    }
    }
    if (!(fl & RAM_CONTINUE)) {
        size_t nl, at = c.off;
        const uint8_t *name = cur_name8(&c, &nl);
        if (cur_short(&c)) return need(qs, &c, flags, ret_n);
        if (!printable(name, nl)) return fail(qs, qs->pos + at, "RAM block name is not text");
    }
    if (kind == RAM_ZERO) {
        cur_u8(&c); /* the fill byte */
        if (cur_short(&c)) return need(qs, &c, flags, ret_n);
        qs->stats.zero_pages++;
        qs->ram_pages_in_section++;
        return forward(qs, c.off, ret_n);
    }
    if (kind == RAM_PAGE) {
        qs->stats.ram_pages++;
        qs->ram_pages_in_section++;
        qs->skip = QS_PAGE; /* the page itself: by length, never searched */
        return forward(qs, c.off, ret_n);
    }
    size_t at = c.off;
    uint32_t enc = cur_u8(&c), len = cur_be16(&c);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    if (enc != XBZRLE_FLAG) return fail(qs, qs->pos + at, "XBZRLE encoding flag 0x%02x", enc);
    qs->ram_pages_in_section++;
    qs->skip = len;
    return forward(qs, c.off, ret_n);
}

/* After a ram section: its footer (0x7e + section id), when the stream carries footers. */
static int ram_footer(struct v12_qs *qs, const uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    struct v12_cur c = cur_make(w, avail, 0);
    uint32_t type = cur_peek(&c);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n);
    bool has = type == QS_REC_FOOTER;
    if (qs->footers_known && has != qs->footers)
        return fail(qs, qs->pos, "a ram section %s a footer where the earlier ones %s", has ? "has" : "lacks",
                    has ? "had none" : "had one");
    if (!has) {
        qs->footers_known = true;
        qs->state = ST_RECORD;
        *ret_n = 0;
        return 0;
    }
    c.off++;
    uint32_t id = cur_be32(&c);
    if (cur_short(&c)) return need(qs, &c, flags, ret_n); /* no state change before this */
    if (id != qs->section_id)
        return fail(qs, qs->pos + 1, "section footer names section %u, not section %u that it ends", id,
                    qs->section_id);
    qs->footers = qs->footers_known = true;
    qs->state = ST_RECORD;
    record_event(qs, "footer", NULL, 0, c.off, 0);
    return forward(qs, c.off, ret_n);
}

/* ---- the device phase --------------------------------------------------------------------------- */

/*
 * Where might the description start, if the window ends with it? It is u8 0x00 (EOF), u8 0x06,
 * be32 length, then length bytes of JSON, which are all >= 0x20; the 0x06 is not. So the JSON
 * starts at most 4 bytes after the start of the run of bytes >= 0x20 that ends the window (the
 * length's own bytes may be in that run), which leaves at most five places to try, each of which
 * must also name exactly the distance to the window's end. Whatever a guest wrote, this only
 * proposes; the walk decides.
 */
static int hold(struct v12_qs *qs, uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    for (size_t i = qs->scanned; i < avail; i++)
        if (w[i] < 0x20) qs->tail_start = i + 1;
    qs->scanned = avail;
    qs->stats.held = avail;
    if ((flags & (V12_QS_EOF | V12_QS_REST)) && avail != qs->checked_end) {
        qs->checked_end = avail;
        size_t lo = qs->tail_start >= QS_DESC_FIXED ? qs->tail_start - QS_DESC_FIXED : 0;
        for (size_t p = lo; p + QS_DESC_FIXED < avail && p + 2 <= qs->tail_start; p++) {
            if (w[p] != QS_REC_EOF || w[p + 1] != QS_REC_DESC || w[p + QS_DESC_FIXED] != '{') continue;
            if (v12_be32(w + p + 2) != avail - p - QS_DESC_FIXED) continue;
            const uint8_t *json = w + p + QS_DESC_FIXED;
            size_t json_len = avail - p - QS_DESC_FIXED;
            int r = v12__qs_walk(qs, w, p, json, json_len, false);
            if (!r) r = v12__qs_walk(qs, w, p, json, json_len, true);
            if (r) {
                v12_errmsg_add(&qs->msg, "%s", passthrough_hint);
                return r;
            }
            qs->state = ST_DONE;
            return forward(qs, avail, ret_n);
        }
    }
    if (flags & V12_QS_EOF)
        return fail(qs, qs->pos,
                    "the stream ends without a VM description after its device state (QEMU sends none with "
                    "-machine suppress-vmdesc=on and for some old machine types): its device sections cannot be walked "
                    "exactly, and nothing of them was forwarded%s",
                    passthrough_hint);
    if (avail >= qs->hold_limit)
        return fail(qs, qs->pos,
                    "the device state and its VM description exceed the %zu bytes this relay may hold for "
                    "them (stream_hold_limit); nothing of them was forwarded",
                    qs->hold_limit);
    *ret_n = avail + 1;
    return V12_QS_NEED;
}

static int done(struct v12_qs *qs, size_t avail, unsigned flags, size_t *ret_n)
{
    if (avail)
        return fail(qs, qs->pos,
                    "%zu bytes follow the VM description, where a precopy stream ends: the description was "
                    "forged in guest data, or the stream goes on (COLO)",
                    avail);
    if (flags & V12_QS_EOF) return V12_QS_END;
    *ret_n = 1;
    return V12_QS_NEED;
}

int v12_qs_step(struct v12_qs *qs, uint8_t *w, size_t avail, unsigned flags, size_t *ret_n)
{
    if (flags & V12_QS_EOF) flags |= V12_QS_REST;
    for (;;) {
        int r;
        if (qs->skip) {
            if (!avail) {
                if (flags & V12_QS_EOF)
                    return fail(qs, qs->pos, "stream ends inside %llu bytes of page data",
                                (unsigned long long)qs->skip);
                *ret_n = 1;
                return V12_QS_NEED;
            }
            size_t n = avail < qs->skip ? avail : (size_t)qs->skip;
            qs->skip -= n;
            return forward(qs, n, ret_n);
        }
        switch (qs->state) {
        case ST_HEADER: r = file_header(qs, w, avail, flags, ret_n); break;
        case ST_RECORD: r = record(qs, w, avail, flags, ret_n); break;
        case ST_CONFIG_SUB: r = config_subsection(qs, w, avail, flags, ret_n); break;
        case ST_RAM: r = ram_record(qs, w, avail, flags, ret_n); break;
        case ST_RAM_BLOCKS: r = ram_blocks(qs, w, avail, flags, ret_n); break;
        case ST_RAM_FOOTER: r = ram_footer(qs, w, avail, flags, ret_n); break;
        case ST_HOLD: return hold(qs, w, avail, flags, ret_n);
        case ST_DONE: return done(qs, avail, flags, ret_n);
        default: return fail(qs, qs->pos, "parser state %d", qs->state);
        }
        if (r != 0) return r; /* 0: a state change with nothing consumed; go on */
    }
}
