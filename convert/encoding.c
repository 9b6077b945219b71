/* SPDX-License-Identifier: MIT */
/*
 * The encoded layout's arithmetic (encoded-layout.md section 3). Shared by the library and by
 * gen_tables, which derives every table from it, so the formula exists exactly once.
 */
#include "v12/layout.h"

/* Indexed by width * 4 + type (encoding bits 14:13 and 11:10). */
const struct v12_group v12_groups[16] = {
    /* 16-bit: control, exit info (no home), guest, host */
    {0x040, 2, 32}, {0x000, 2, 0}, {0x100, 2, 64}, {0x180, 2, 64},
    /* 64-bit */
    {0x200, 8, 64}, {0x400, 8, 32}, {0x500, 8, 32}, {0x600, 8, 32},
    /* 32-bit */
    {0x700, 4, 64}, {0x800, 4, 64}, {0x900, 4, 64}, {0xa00, 4, 64},
    /* natural width */
    {0xb00, 8, 32}, {0xc00, 8, 32}, {0xd00, 8, 64}, {0xf00, 8, 32},
};

int v12_encoded_offset(uint32_t encoding, uint32_t *ret_offset, uint32_t *ret_size)
{
    /* Bit 12 and bits 31:15 are reserved. */
    if (encoding & 0xffff9000u) return V12_E_ENCODING_RESERVED;

    unsigned width = (encoding >> 13) & 3u;
    const struct v12_group *g = &v12_groups[width * 4u + ((encoding >> 10) & 3u)];
    uint32_t index = (encoding >> 1) & 0x1ffu;
    if (index >= g->capacity) return V12_E_ENCODING_NO_SLOT;

    uint32_t offset = g->base + index * g->slot;
    uint32_t size = g->slot;
    if (encoding & 1u) {
        if (width != V12_W64) return V12_E_ENCODING_HIGH_ACCESS;
        offset += 4;
        size = 4;
    }
    *ret_offset = offset;
    *ret_size = size;
    return 0;
}
