/* SPDX-License-Identifier: MIT */
/* Conversion both ways: when legacy -> encoded succeeds (strict padding), encoded -> legacy gives
 * back the input byte for byte; a failed conversion writes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "v12/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > V12_BLOB_MAX + 1) return 0;
    enum v12_layout profile = (enum v12_layout)(data[0] % V12_PROFILE_COUNT);
    data++, size--;
    static uint8_t enc[V12_BLOB_MAX], back[V12_BLOB_MAX];
    struct v12_convert_opts o;
    struct v12_report rep;
    struct v12_diag d;
    v12_convert_opts_init(&o);
    o.legacy_profile = profile;
    o.from = V12_LAYOUT_AUTO;
    o.to = V12_LAYOUT_ENCODED;
    memset(enc, 0xa5, sizeof(enc));
    int r = v12_blob_convert(data, size, enc, sizeof(enc), &o, &rep, &d);
    if (r) {
        for (size_t i = 0; i < size; i++)
            if (enc[i] != 0xa5) abort(); /* a failed call writes nothing */
        return 0;
    }
    if (rep.from == V12_LAYOUT_ENCODED) return 0; /* the input was already encoded */
    o.from = V12_LAYOUT_ENCODED;
    o.to = profile;
    if (v12_blob_convert(enc, size, back, sizeof(back), &o, &rep, &d) != 0) abort();
    if (memcmp(back, data, size) != 0) abort(); /* byte-exact and reversible */
    return 0;
}
