/* SPDX-License-Identifier: MIT */
/* The blob validator on anything: every rule, every profile and padding policy, never a crash;
 * what it accepts, the converter accepts too. */
#include <stdint.h>
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
    int r = v12_blob_check(data, size, &co, diags, 16, &n, NULL);
    char msg[512];
    for (size_t i = 0; i < n && i < 16; i++) (void)v12_diag_format(&diags[i], msg, sizeof(msg));
    if (r == 0 && size <= V12_BLOB_MAX) {
        static uint8_t out[V12_BLOB_MAX];
        struct v12_convert_opts o;
        struct v12_report rep;
        struct v12_diag d;
        v12_convert_opts_init(&o);
        o.legacy_profile = co.legacy_profile;
        o.padding = co.padding;
        o.to = V12_LAYOUT_ENCODED;
        (void)v12_blob_convert(data, size, out, sizeof(out), &o, &rep, &d);
    }
    return 0;
}
