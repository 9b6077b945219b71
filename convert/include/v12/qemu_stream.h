/* SPDX-License-Identifier: MIT */
#ifndef V12_QEMU_STREAM_H
#define V12_QEMU_STREAM_H

/*
 * An incremental parser and rewriter of QEMU's migration stream (file version 3), shared by
 * `vmcs12ctl stream-convert` and the daemon's stream mode. Pure: no I/O, no allocation, no
 * logging; fixed memory (the struct), bytes in any split.
 *
 * The caller keeps a window of stream bytes not yet forwarded and calls v12_qs_step():
 *   V12_QS_FORWARD  forward (and drop) the first *ret_n bytes of the window. The parser may
 *                   have rewritten nested-state regions in them, in place: same length.
 *   V12_QS_NEED     the window must hold at least *ret_n bytes (<= V12_QS_LOOKAHEAD) before
 *                   the parser can decide; read more and call again.
 *   V12_QS_END      the stream is complete and everything was forwarded.
 *   < 0             the stream cannot be checked: qs->msg says what, where and why; nothing
 *                   more may be forwarded.
 * RAM page data is forwarded by length and never searched.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "v12/convert.h"

#define V12_QS_LOOKAHEAD 16384u
#define V12_QS_FORWARD 1
#define V12_QS_NEED 2
#define V12_QS_END 3

struct v12_qs_stats {
    uint64_t bytes;          /* forwarded so far */
    uint64_t ram_pages;      /* full pages */
    uint64_t zero_pages;
    uint32_t sections;
    uint32_t cpus;           /* cpu sections seen */
    uint32_t nested_states;  /* cpu/nested_state subsections found */
    uint32_t regions;        /* vmcs12 regions converted */
};

struct v12_qs {
    struct v12_convert_opts opts;
    int state;
    uint64_t pos;            /* stream offset of the window's first byte */
    uint64_t skip;           /* bytes to forward unparsed (page data, blobs of known length) */
    uint64_t memsize_left;   /* MEM_SIZE: block bytes still to be listed */
    uint32_t section_id;     /* of the section being read */
    uint32_t instance_id;
    uint32_t ram_section_id;
    bool have_ram;
    bool ram_started;
    bool cap_ignore_shared;
    bool cap_postcopy;
    bool in_cpu;
    char idstr[256];
    struct v12_qs_stats stats;
    char msg[512];
    uint8_t blob_in[V12_BLOB_MAX];
    uint8_t blob_out[V12_BLOB_MAX];
};

/* from/to/profile/padding as for blobs (opts->from may be V12_LAYOUT_AUTO). */
void v12_qs_init(struct v12_qs *qs, const struct v12_convert_opts *opts);

int v12_qs_step(struct v12_qs *qs, uint8_t *win, size_t avail, bool eof, size_t *ret_n) V12_MUST_USE;

#endif
