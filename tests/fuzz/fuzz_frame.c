/* SPDX-License-Identifier: MIT */
/* The frame reader with protobuf unpacking, fed in the split the input's first bytes choose: any
 * split gives the same frames, nothing crashes, nothing leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

static int run(const uint8_t *data, size_t size, size_t step, uint32_t *ret_cases, size_t max)
{
    struct v12_frame_reader r;
    v12_frame_reader_init(&r, V12_FRAME_MAX);
    size_t n = 0;
    int rc = 0;
    for (size_t off = 0; off < size && rc >= 0;) {
        size_t len = size - off < step ? size - off : step;
        while (len) {
            V12Envelope *env = NULL;
            size_t used = 0;
            rc = v12_frame_feed(&r, data + off, len, &used, &env, NULL);
            off += used;
            len -= used;
            if (rc < 0) break;
            if (rc == 1) {
                if (n < max) ret_cases[n] = env->msg_case;
                n++;
                v12_envelope_free(env);
            }
            if (rc == 0) break;
        }
    }
    v12_frame_reader_done(&r);
    return rc < 0 ? rc : (int)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t step = (size_t)data[0] + 1;
    data++, size--;
    uint32_t a[64], b[64];
    int whole = run(data, size, size ? size : 1, a, 64);
    int split = run(data, size, step, b, 64);
    if (whole != split) abort();
    if (whole > 0 && memcmp(a, b, sizeof(uint32_t) * (size_t)(whole < 64 ? whole : 64)) != 0) abort();
    return 0;
}
