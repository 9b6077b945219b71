/* SPDX-License-Identifier: MIT */
/* The field catalogue as a table, straight from fields.def. */
#include "v12/layout.h"

#define NONE V12_NO_OFFSET
#define V12_LAYOUT_NEVER V12_LAYOUT_ENCODED
#define V12_WIDTH_W16 V12_W16
#define V12_WIDTH_W32 V12_W32
#define V12_WIDTH_W64 V12_W64
#define V12_WIDTH_WNAT V12_WNAT

const struct v12_field v12_fields[V12_FIELD_COUNT] = {
#define V12_FIELD(fname, enc, w_, off, since_)                  \
    [V12_F_##fname] = {.name = #fname,                          \
                       .encoding = (enc),                       \
                       .width = V12_WIDTH_##w_,                 \
                       .size = V12_WIDTH_##w_ == V12_W16   ? 2  \
                               : V12_WIDTH_##w_ == V12_W32 ? 4  \
                                                           : 8, \
                       .since = V12_LAYOUT_##since_},
#include "v12/fields.def"
#undef V12_FIELD
};

/* Each row's declared width must be the width its encoding names. */
#define V12_FIELD(fname, enc, w_, off, since_) \
    _Static_assert((((enc) >> 13) & 3) == V12_WIDTH_##w_, #fname ": width disagrees with encoding");
#include "v12/fields.def"
#undef V12_FIELD

/* The legacy offset of each field, in the profiles that have it (NONE otherwise). */
const uint16_t v12__legacy_offset[V12_FIELD_COUNT] = {
#define V12_FIELD(fname, enc, w_, off, since_) [V12_F_##fname] = (off),
#include "v12/fields.def"
#undef V12_FIELD
};
