/* SPDX-License-Identifier: MIT */
#ifndef V12_CONVERT_INTERNAL_H
#define V12_CONVERT_INTERNAL_H

#include "v12/layout.h"

/* Straight from fields.def: the legacy offset of each field, or V12_NO_OFFSET. */
extern const uint16_t v12__legacy_offset[V12_FIELD_COUNT];

struct v12_diag;
/* Scan padding range k of a layout; 1 and *ret filled (PADDING_NONZERO) if it holds non-zero bytes. */
int v12__padding_scan(const uint8_t *region, enum v12_layout layout, unsigned k, uint32_t base, struct v12_diag *ret);

#endif
