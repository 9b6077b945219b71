/* SPDX-License-Identifier: MIT */
#ifndef V12_QEMU_STREAM_H
#define V12_QEMU_STREAM_H

/*
 * An incremental, exact parser and rewriter of QEMU's migration stream (file version 3),
 * shared by `vmcs12ctl stream-convert`/`stream-inspect` and the daemon's stream mode. Pure: no
 * I/O, no allocation, no logging; fixed memory (the struct), bytes in any split.
 *
 * Exact means that no byte a guest chose is ever read as structure. Records before the device
 * phase (header, configuration, commands, RAM) are walked by their own lengths; RAM pages are
 * forwarded by length and never looked at. The device phase (every FULL section from the first
 * one after RAM to QEMU_VM_EOF) cannot be walked without knowing each device's layout, and QEMU
 * describes it only afterwards: the VM description (0x06, be32 length, JSON) that follows EOF
 * gives every field's wire size. So the parser holds the device phase, unforwarded, until the
 * bytes received end in a description whose walk lands exactly on every section header,
 * subsection header, footer and on the EOF byte before it; only then does it convert the
 * nested state where the description places `cpu/nested_state` subsections, and forward. Any
 * byte after an accepted description is an error (that is what exposes a description forged
 * in guest data: the real stream always goes on after one). See docs/stream-parser.md.
 *
 * The caller keeps a window of stream bytes not yet forwarded and calls v12_qs_step():
 *   V12_QS_FORWARD  forward (and drop) the first *ret_n bytes of the window. The parser may
 *                   have rewritten nested-state regions in them, in place: same length.
 *   V12_QS_NEED     the window must hold at least *ret_n bytes before the parser can decide;
 *                   read more and call again with the same window start. *ret_n is at most
 *                   V12_QS_LOOKAHEAD, except while the device phase is held: then at most
 *                   qs->hold_limit (the window must be able to grow that far).
 *   V12_QS_END      the stream is complete and everything was forwarded.
 *   < 0             the stream cannot be checked: qs->msg.text says what, where and why; nothing
 *                   more may be forwarded (in particular nothing of a held device phase).
 * flags: V12_QS_EOF when no byte will follow the window; V12_QS_REST when no more bytes are
 * available now (the sender may be waiting): only at rest or at EOF may the window's end be
 * taken for the end of the description. A file reader passes V12_QS_EOF alone.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "v12/convert.h"

#define V12_QS_LOOKAHEAD 16384u
#define V12_QS_HOLD_DEFAULT (32u << 20) /* the device phase plus its description, bytes */
#define V12_QS_HOLD_MIN (1u << 20)
#define V12_QS_FORWARD 1
#define V12_QS_NEED 2
#define V12_QS_END 3

#define V12_QS_EOF 1u
#define V12_QS_REST 2u

struct v12_qs_stats {
    uint64_t bytes;     /* forwarded so far */
    uint64_t ram_pages; /* full pages */
    uint64_t zero_pages;
    uint64_t held; /* bytes of the device phase and its description */
    uint32_t sections;
    uint32_t devices;       /* FULL sections walked by the description */
    uint32_t cpus;          /* cpu sections */
    uint32_t nested_states; /* cpu/nested_state subsections converted */
    uint32_t regions;       /* vmcs12 regions converted */
};

/* What stream-inspect shows: every record as the parser attributes it. Called from inside
 * v12_qs_step(); the pointers are valid only during the call. */
enum v12_qs_event_kind {
    V12_QS_EV_RECORD,     /* a record before the device phase: header, configuration, command, ... */
    V12_QS_EV_DEVICE,     /* a FULL section of the device phase begins (walked by the description) */
    V12_QS_EV_FIELD,      /* a field or subsection of that device */
    V12_QS_EV_DEVICE_END, /* ... and ends (its footer included): offset, length */
    V12_QS_EV_NESTED,     /* a cpu/nested_state subsection */
    V12_QS_EV_DESC,       /* EOF and the VM description, accepted */
};

struct v12_qs_event {
    enum v12_qs_event_kind kind;
    uint64_t offset;  /* stream offset */
    uint64_t length;  /* bytes, header included */
    const char *what; /* record kind, or the field's name */
    const char *name; /* section idstr / subsection name (may be NULL) */
    size_t name_len;
    uint32_t section_id, instance_id, version;
    uint32_t count; /* RECORD ram: pages in it; DEVICE: fields; DESC: devices */
    /* NESTED */
    uint32_t nested_flags, nested_format, nested_size, nregions;
    uint32_t revisions[2]; /* the regions' revision ids as received */
};

typedef void v12_qs_observer(void *ctx, const struct v12_qs_event *ev);

struct v12_qs {
    struct v12_convert_opts opts;
    size_t hold_limit;        /* the largest device phase + description held (set after init) */
    v12_qs_observer *observe; /* optional (stream-inspect) */
    void *observe_ctx;
    int state;
    uint64_t pos;          /* stream offset of the window's first byte */
    uint64_t skip;         /* bytes to forward unparsed (page data of known length) */
    uint64_t memsize_left; /* MEM_SIZE: block bytes still to be listed */
    uint64_t ram_pages_in_section;
    uint32_t section_id; /* of the ram section being read */
    uint32_t ram_section_id;
    bool have_ram;
    bool cap_ignore_shared;
    bool footers; /* the stream carries section footers (seen after a ram section) */
    bool footers_known;
    /* the held device phase: the window starts at its first byte */
    size_t scanned;     /* window bytes looked at for the description's start */
    size_t tail_start;  /* start of the run of bytes >= 0x20 that ends the window */
    size_t checked_end; /* the window end last tried as the description's end */
    struct v12_qs_stats stats;
    struct v12_errmsg msg; /* with a negative return: what, where (stream offset) and why */
    uint8_t blob_in[V12_BLOB_MAX];
    uint8_t blob_out[V12_BLOB_MAX];
};

/* from/to/profile/padding as for blobs (opts->from may be V12_LAYOUT_AUTO). */
void v12_qs_init(struct v12_qs *qs, const struct v12_convert_opts *opts);

int v12_qs_step(struct v12_qs *qs, uint8_t *win, size_t avail, unsigned flags, size_t *ret_n) V12_MUST_USE;

/* True while the device phase is being held (the daemon times out a hold without progress). */
bool v12_qs_holding(const struct v12_qs *qs);

#endif
