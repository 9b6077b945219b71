/* SPDX-License-Identifier: MIT */
/* Names and look-ups over the generated layout tables. */
#include <string.h>

#include "v12/convert.h"

static const char *const layout_names[V12_LAYOUT_COUNT] = {
#define V12_PROFILE(id, name, kernels) name,
#include "v12/profiles.def"
#undef V12_PROFILE
    "encoded",
};
static const char *const layout_kernels[V12_LAYOUT_COUNT] = {
#define V12_PROFILE(id, name, kernels) kernels,
#include "v12/profiles.def"
#undef V12_PROFILE
    "encoded",
};

const char *v12_layout_name(enum v12_layout layout)
{
    if (layout < 0 || layout >= V12_LAYOUT_COUNT) return "auto";
    return layout_names[layout];
}

const char *v12_layout_kernels(enum v12_layout layout)
{
    if (layout < 0 || layout >= V12_LAYOUT_COUNT) return "?";
    return layout_kernels[layout];
}

int v12_profile_from_name(const char *name, enum v12_layout *ret)
{
    if (!name) return V12_E_INVALID_ARGUMENT;
    if (strcmp(name, "legacy") == 0) {
        *ret = V12_LAYOUT_LEGACY;
        return 0;
    }
    for (int l = 0; l < V12_LAYOUT_ENCODED; l++)
        if (strcmp(name, layout_names[l]) == 0) {
            *ret = (enum v12_layout)l;
            return 0;
        }
    return V12_E_PROFILE_UNKNOWN;
}

int v12_layout_from_name(const char *name, enum v12_layout *ret)
{
    if (name && strcmp(name, "encoded") == 0) {
        *ret = V12_LAYOUT_ENCODED;
        return 0;
    }
    return v12_profile_from_name(name, ret);
}

int v12_field_by_encoding(uint32_t encoding, enum v12_field_id *ret)
{
    for (int f = 0; f < V12_FIELD_COUNT; f++)
        if (v12_fields[f].encoding == encoding) {
            *ret = (enum v12_field_id)f;
            return 0;
        }
    return V12_E_FIELD_UNKNOWN;
}

int v12_field_by_name(const char *name, enum v12_field_id *ret)
{
    for (int f = 0; f < V12_FIELD_COUNT; f++)
        if (strcmp(v12_fields[f].name, name) == 0) {
            *ret = (enum v12_field_id)f;
            return 0;
        }
    return V12_E_FIELD_UNKNOWN;
}

const char *v12_width_name(enum v12_width w)
{
    static const char *const names[] = {"16", "64", "32", "natural"};
    return names[w & 3];
}

const char *v12_type_name(enum v12_field_type t)
{
    static const char *const names[] = {"control", "exit_info", "guest", "host"};
    return names[t & 3];
}

int v12_padding_from_name(const char *name, enum v12_padding *ret)
{
    if (name && strcmp(name, "strict") == 0) {
        *ret = V12_PADDING_STRICT;
        return 0;
    }
    if (name && strcmp(name, "ignore") == 0) {
        *ret = V12_PADDING_IGNORE;
        return 0;
    }
    return V12_E_INVALID_ARGUMENT;
}

const char *v12_padding_name(enum v12_padding p)
{
    return p == V12_PADDING_IGNORE ? "ignore" : "strict";
}
