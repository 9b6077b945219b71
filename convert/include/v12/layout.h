/* SPDX-License-Identifier: MIT */
#ifndef V12_LAYOUT_H
#define V12_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "v12/errors.h"

/*
 * The vmcs12 layouts: KVM's legacy struct vmcs12 in each of its profiles, and the
 * encoding-derived layout. Everything here is data generated from fields.def and profiles.def.
 */

#define V12_REGION_SIZE 4096u
#define V12_REVISION_LEGACY 0x11e57ed0u
#define V12_REVISION_ENCODED 0x11e57ed1u
#define V12_REVISION_MASK 0x7fffffffu
#define V12_SHADOW_BIT 0x80000000u
#define V12_HEADER_SIZE 12u /* revision, abort, launch_state */
#define V12_NO_OFFSET 0xffffu

enum v12_layout {
#define V12_PROFILE(id, name, kernels) V12_LAYOUT_##id,
#include "v12/profiles.def"
#undef V12_PROFILE
    V12_LAYOUT_ENCODED,
    V12_LAYOUT_COUNT,
    V12_LAYOUT_AUTO = -1, /* only in options: detect legacy/encoded by the revision id */
};
#define V12_LAYOUT_LEGACY (V12_LAYOUT_ENCODED - 1) /* "legacy" = the newest profile */
#define V12_PROFILE_COUNT V12_LAYOUT_ENCODED

/* Field widths, numbered as encoding bits 14:13 number them. */
enum v12_width { V12_W16 = 0, V12_W64 = 1, V12_W32 = 2, V12_WNAT = 3 };
enum v12_field_type { V12_TYPE_CONTROL = 0, V12_TYPE_EXIT_INFO = 1, V12_TYPE_GUEST = 2, V12_TYPE_HOST = 3 };

enum v12_field_id {
#define V12_FIELD(name, enc, width, off, since) V12_F_##name,
#include "v12/fields.def"
#undef V12_FIELD
    V12_FIELD_COUNT
};

struct v12_field {
    const char *name;
    uint16_t encoding;
    uint8_t width; /* enum v12_width */
    uint8_t size;  /* bytes in vmcs12: 2, 4 or 8 */
    uint8_t since; /* enum v12_layout of the first legacy profile that has it, or V12_LAYOUT_ENCODED */
};

extern const struct v12_field v12_fields[V12_FIELD_COUNT];

/* offsets[layout][field]: byte offset in a 4096-byte region, or V12_NO_OFFSET. */
extern const uint16_t v12_field_offsets[V12_LAYOUT_COUNT][V12_FIELD_COUNT];

/* A half-open byte range [start, end) inside a region. */
struct v12_range {
    uint16_t start;
    uint16_t end;
};

/* Padding: every byte of a layout that is neither header nor one of its fields. */
struct v12_padding_map {
    const struct v12_range *ranges;
    uint16_t count;
};
extern const struct v12_padding_map v12_padding[V12_LAYOUT_COUNT];

/* A conversion plan from one layout to another (generated; see gen_tables.c). */
struct v12_run {
    uint16_t src;
    uint16_t dst;
    uint16_t len;
};
struct v12_plan {
    const struct v12_run *runs; /* fields present in both layouts, merged where contiguous */
    uint16_t nruns;
    uint16_t nfields;     /* how many fields the runs carry */
    const uint16_t *lost; /* fields the source has and the target lacks: must be zero */
    uint16_t nlost;
    /* Generated straight-line code for the hot path: does any byte that must be zero (source
     * padding or a lost field) hold a value? And: write the target's fields and zeros. */
    int (*any_nonzero)(const uint8_t *in);
    void (*write)(const uint8_t *in, uint8_t *out);
};
extern const struct v12_plan v12_plans[V12_LAYOUT_COUNT][V12_LAYOUT_COUNT];

/* The largest padding map of any layout (generated), bounding reports. */
extern const uint16_t v12_max_padding_ranges;

const char *v12_layout_name(enum v12_layout layout);
/* Kernel range of a legacy profile ("5.14 .. 6.17"), or "encoded". */
const char *v12_layout_kernels(enum v12_layout layout);
/* "legacy" (the newest profile), "linux-X.Y" or "encoded". */
int v12_layout_from_name(const char *name, enum v12_layout *ret) V12_MUST_USE;
/* The legacy profile of a running kernel, by its release ("6.18.44-..."): each profile covers its
 * kernels from the first its range names up to the next profile's. PROFILE_UNKNOWN for a kernel
 * older than every profile; INVALID_ARGUMENT for a release that is not "X.Y...". */
int v12_profile_for_kernel(const char *release, enum v12_layout *ret) V12_MUST_USE;
/* Profiles only: "legacy" or "linux-X.Y". */
int v12_profile_from_name(const char *name, enum v12_layout *ret) V12_MUST_USE;
static inline int v12_layout_is_legacy(enum v12_layout l)
{
    return l >= 0 && l < V12_LAYOUT_ENCODED;
}
static inline uint32_t v12_layout_revision(enum v12_layout l)
{
    return l == V12_LAYOUT_ENCODED ? V12_REVISION_ENCODED : V12_REVISION_LEGACY;
}

/*
 * The encoded layout's placement, pure arithmetic on the encoding: base[width][type] +
 * index * slot. The high access (bit 0) of a 64-bit field is the upper 4 bytes of its slot.
 * Errors: ENCODING_RESERVED, ENCODING_NO_SLOT (index beyond capacity, never masked),
 * ENCODING_HIGH_ACCESS.
 */
int v12_encoded_offset(uint32_t encoding, uint32_t *ret_offset, uint32_t *ret_size) V12_MUST_USE;

struct v12_group {
    uint16_t base;     /* offset of index 0 */
    uint16_t limit[2]; /* by access type (bit 0): 2 * capacity; for the high access 0 unless 64-bit */
    uint8_t half_slot; /* slot size / 2, so that offset = base + (encoding & 0x3ff) * half_slot */
    uint8_t slot;      /* bytes per field: 2, 4 or 8 */
};
/* The 16-entry group table, indexed by width * 4 + type (encoded-layout.md section 3). */
extern const struct v12_group v12_groups[16];
static inline unsigned v12_group_capacity(const struct v12_group *g)
{
    return g->limit[0] / 2u;
}

/*
 * The same arithmetic inline, for hot paths (VMREAD/VMWRITE-style look-ups):
 * offset = base + index * slot, which is base + (encoding & 0x3ff) * slot / 2 because bit 0,
 * the high access, is allowed only where slot / 2 = 4 (the upper half of a 64-bit slot).
 * One test decides validity: m keeps the index bits together with the reserved ones (bit 12,
 * bits 31:15), so any reserved bit, an index beyond capacity (never masked) or a high access
 * where none exists makes m reach the limit.
 */
static inline int v12_encoded_offset_inline(uint32_t encoding, uint32_t *ret_offset, uint32_t *ret_size)
{
    const struct v12_group *g = &v12_groups[((encoding >> 11) & 0xcu) | ((encoding >> 10) & 3u)];
    uint32_t m = encoding & 0xffff93ffu, high = encoding & 1u;
    if (__builtin_expect(m >= g->limit[high], 0)) {
        if (encoding & 0xffff9000u) return V12_E_ENCODING_RESERVED;
        if ((m & ~1u) >= g->limit[0]) return V12_E_ENCODING_NO_SLOT;
        return V12_E_ENCODING_HIGH_ACCESS;
    }
    *ret_offset = g->base + m * g->half_slot;
    *ret_size = (uint32_t)g->slot >> high;
    return 0;
}

/* Catalogue look-ups. */
int v12_field_by_encoding(uint32_t encoding, enum v12_field_id *ret) V12_MUST_USE;
int v12_field_by_name(const char *name, enum v12_field_id *ret) V12_MUST_USE;
static inline enum v12_width v12_encoding_width(uint32_t e)
{
    return (enum v12_width)((e >> 13) & 3u);
}
static inline enum v12_field_type v12_encoding_type(uint32_t e)
{
    return (enum v12_field_type)((e >> 10) & 3u);
}
static inline uint32_t v12_encoding_index(uint32_t e)
{
    return (e >> 1) & 0x1ffu;
}
const char *v12_width_name(enum v12_width w);
const char *v12_type_name(enum v12_field_type t);

/* Little-endian loads and stores: explicit byte order, no alignment assumptions. */
static inline uint64_t v12_load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = size; i-- > 0;) v = (v << 8) | p[i];
    return v;
}
static inline void v12_store_le(uint8_t *p, unsigned size, uint64_t v)
{
    for (unsigned i = 0; i < size; i++) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

#endif
