/* SPDX-License-Identifier: MIT */
/* The QEMU stream parser in random chunk splits: never a crash or a read past the window; an
 * accepted stream's forwarded bytes are the same in every split; a stream it accepts without nested state comes
 * out byte for byte. A refused stream is refused in every split read as a file (EOF alone ends
 * the description); read as the daemon reads (every read's end a point of rest) the parser may
 * accept a description early only to refuse what follows, and what it accepts is the same.
 * Bytes change only inside the nested states the parser reports, and each of those is a
 * cpu/nested_state subsection body of the device phase it walked. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v12/qemu_stream.h"

#define MAXIN (1u << 20)
#define MAX_SPANS 4096

/* The nested states the parser reports converting: where their bodies lie in the stream. */
struct spans {
    size_t n;
    uint64_t at[MAX_SPANS], len[MAX_SPANS];
};

static void on_event(void *ctx, const struct v12_qs_event *ev)
{
    struct spans *sp = ctx;
    if (ev->kind != V12_QS_EV_NESTED || sp->n == MAX_SPANS) return;
    sp->at[sp->n] = ev->offset;
    sp->len[sp->n++] = ev->length;
}

/* Feed data in chunks of the sizes the seed gives; the output goes to out. Returns the result. */
static int run(const uint8_t *data, size_t size, uint32_t seed, bool rest, uint8_t *out, size_t *out_len,
               uint32_t *nested, struct spans *sp)
{
    static struct v12_qs qs;
    static uint8_t win[MAXIN + V12_QS_LOOKAHEAD];
    struct v12_convert_opts o;
    v12_convert_opts_init(&o);
    o.to = V12_LAYOUT_ENCODED;
    v12_qs_init(&qs, &o);
    qs.hold_limit = sizeof(win);
    sp->n = 0;
    qs.observe = on_event;
    qs.observe_ctx = sp;
    size_t s = 0, e = 0, in = 0;
    *out_len = 0;
    for (;;) {
        size_t n;
        bool eof = in == size;
        int r = v12_qs_step(&qs, win + s, e - s, eof ? V12_QS_EOF : rest ? V12_QS_REST : 0, &n);
        if (r == V12_QS_FORWARD) {
            if (n > e - s) abort();
            memcpy(out + *out_len, win + s, n);
            *out_len += n;
            s += n;
            continue;
        }
        if (r != V12_QS_NEED) {
            *nested = qs.stats.nested_states;
            return r;
        }
        if (eof) abort(); /* NEED at the end of the input: the parser must decide */
        if (s) {
            memmove(win, win + s, e - s);
            e -= s;
            s = 0;
        }
        seed = seed * 1103515245u + 12345u;
        size_t chunk = 1 + (seed >> 16) % 4096;
        if (chunk > sizeof(win) - e) chunk = sizeof(win) - e;
        if (chunk > size - in) chunk = size - in;
        if (!chunk && e == sizeof(win)) { /* the window cannot grow: look-ahead over its bound */
            if (getenv("FUZZ_DEBUG"))
                fprintf(stderr, "NEED %zu with %zu in the window at %llu\n", n, e - s, (unsigned long long)qs.pos);
            abort();
        }
        memcpy(win + e, data + in, chunk);
        e += chunk;
        in += chunk;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size > MAXIN) return 0;
    uint32_t seed;
    memcpy(&seed, data, 4);
    data += 4, size -= 4;
    static uint8_t a[MAXIN], b[MAXIN];
    static struct spans sa, sb;
    size_t la, lb;
    uint32_t na = 0, nb = 0;
    int ra = run(data, size, seed, false, a, &la, &na, &sa);
    if (getenv("FUZZ_DEBUG")) fprintf(stderr, "result %d, %zu of %zu bytes forwarded, %u nested\n", ra, la, size, na);
    int rb = run(data, size, seed ^ 0x9e3779b9u, false, b, &lb, &nb, &sb);
    if (ra != rb) abort(); /* the same verdict in every split */
    /* A stream it accepts comes out the same in every split (a refused one may have forwarded
     * more or less before the refusal: the migration fails either way). */
    if (ra == V12_QS_END && (la != lb || memcmp(a, b, la) != 0)) abort();
    if (ra == V12_QS_END && na == 0 && (la != size || memcmp(a, data, size) != 0)) abort();
    /* Changed bytes lie in reported nested states, each behind its subsection header. */
    if (ra == V12_QS_END) {
        static const uint8_t hdr[] = "\x05\x10"
                                     "cpu/nested_state"
                                     "\x00\x00\x00\x01";
        for (size_t k = 0; k < sa.n; k++)
            if (sa.at[k] < 22 || sa.at[k] + sa.len[k] > size || memcmp(data + sa.at[k] - 22, hdr, 22) != 0) abort();
        for (size_t i = 0; i < la; i++) {
            if (a[i] == data[i]) continue;
            bool inside = false;
            for (size_t k = 0; k < sa.n && !inside; k++) inside = i >= sa.at[k] && i < sa.at[k] + sa.len[k];
            if (!inside) abort();
        }
    }
    /* At rest after every read: an accepted stream is the same one. */
    int rc = run(data, size, seed ^ 0x5bd1e995u, true, b, &lb, &nb, &sb);
    if (rc == V12_QS_END && (ra != V12_QS_END || la != lb || memcmp(a, b, la) != 0)) abort();
    return 0;
}
