/* SPDX-License-Identifier: MIT */
/* The blob validator on anything: every rule, every profile and padding policy, never a crash;
 * what it accepts, the converter accepts too, and converting back gives the input again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v12/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t sel = data[0];
    data++, size--;
    struct v12_check_opts co;
    v12_check_opts_init(&co);
    co.legacy_profile = (enum v12_layout)(sel % V12_PROFILE_COUNT);
    co.padding = sel & 0x80 ? V12_PADDING_IGNORE : V12_PADDING_STRICT;
    struct v12_diag diags[16];
    size_t n;
    struct v12_blob_info info;
    int r = v12_blob_check(data, size, &co, diags, 16, &n, &info);
    for (size_t i = 0; i < n && i < 16; i++) {
        struct v12_errmsg msg = {""};
        (void)v12_diag_format(&diags[i], &msg);
    }
    if (r == 0 && size <= V12_BLOB_MAX) {
        static uint8_t out[V12_BLOB_MAX];
        struct v12_convert_opts o;
        struct v12_report rep;
        struct v12_diag d;
        v12_convert_opts_init(&o);
        o.legacy_profile = co.legacy_profile;
        o.padding = co.padding;
        o.to = V12_LAYOUT_ENCODED;
        int c = v12_blob_convert(data, size, out, sizeof(out), &o, &rep, &d);
        if (c != 0) {
            struct v12_errmsg m = {""};
            (void)v12_diag_format(&d, &m);
            fprintf(stderr, "validator accepted, converter refused: %s\n", m.text);
            abort();
        }
        /* And back: the identity (legacy -> encoded -> the same profile; encoded, SVM and blobs
         * without regions are copied unchanged both times), except for the non-zero padding the
         * ignore policy dropped, which the report must then count. */
        uint32_t dropped = rep.bytes_dropped;
        static uint8_t back[V12_BLOB_MAX];
        o.to = info.nregions && v12_layout_is_legacy(info.layout) ? co.legacy_profile : V12_LAYOUT_ENCODED;
        c = v12_blob_convert(out, size, back, sizeof(back), &o, &rep, &d);
        size_t differ = 0;
        for (size_t i = 0; c == 0 && i < size; i++) differ += back[i] != data[i];
        if (c != 0 || (differ && !dropped) || differ > dropped) {
            fprintf(stderr, "converting back %s (%zu bytes differ, %u reported dropped)\n",
                    c ? "was refused" : "did not give the input again", differ, dropped);
            abort();
        }
    }
    return 0;
}
