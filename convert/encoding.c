/* SPDX-License-Identifier: MIT */
/*
 * The encoded layout's arithmetic (encoded-layout.md section 3). Shared by the library and by
 * gen_tables, which derives every table from it, so the formula exists exactly once.
 */
#include "v12/layout.h"

/* Indexed by width * 4 + type (encoding bits 14:13 and 11:10). */
#define G16(base, cap)               \
    {                                \
        (base), {2 * (cap), 0}, 1, 2 \
    }
#define G32(base, cap)               \
    {                                \
        (base), {2 * (cap), 0}, 2, 4 \
    }
#define G64(base, cap)                       \
    {                                        \
        (base), {2 * (cap), 2 * (cap)}, 4, 8 \
    }
#define GNAT(base, cap)              \
    {                                \
        (base), {2 * (cap), 0}, 4, 8 \
    }

/* Indexed by width * 4 + type (encoding bits 14:13 and 11:10); rows as in the spec's table. */
const struct v12_group v12_groups[16] = {
    /* 16-bit: control, exit info (no home), guest, host */
    G16(0x040, 32),
    G16(0x000, 0),
    G16(0x100, 64),
    G16(0x180, 64),
    /* 64-bit */
    G64(0x200, 64),
    G64(0x400, 32),
    G64(0x500, 32),
    G64(0x600, 32),
    /* 32-bit */
    G32(0x700, 64),
    G32(0x800, 64),
    G32(0x900, 64),
    G32(0xa00, 64),
    /* natural width */
    GNAT(0xb00, 32),
    GNAT(0xc00, 32),
    GNAT(0xd00, 64),
    GNAT(0xf00, 32),
};

int v12_encoded_offset(uint32_t encoding, uint32_t *ret_offset, uint32_t *ret_size)
{
    return v12_encoded_offset_inline(encoding, ret_offset, ret_size);
}
