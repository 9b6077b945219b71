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

/* "X.Y..." at s: 0 and the two numbers, or -1. */
static int major_minor(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
    unsigned v[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        if (*s < '0' || *s > '9') return -1;
        while (*s >= '0' && *s <= '9') {
            if (v[i] > 100000) return -1;
            v[i] = v[i] * 10 + (unsigned)(*s++ - '0');
        }
        if (i == 0 && *s++ != '.') return -1;
    }
    *ret_major = v[0];
    *ret_minor = v[1];
    return 0;
}

int v12_profile_for_kernel(const char *release, enum v12_layout *ret)
{
    unsigned kmaj, kmin;
    if (!release || major_minor(release, &kmaj, &kmin) != 0) return V12_E_INVALID_ARGUMENT;
    /* Each profile starts at the first kernel its range names and lasts until the next one's. */
    int found = -1;
    for (int p = 0; p < V12_PROFILE_COUNT; p++) {
        unsigned maj, min;
        if (major_minor(layout_kernels[p], &maj, &min) != 0) return V12_E_PROFILE_UNKNOWN;
        if (kmaj > maj || (kmaj == maj && kmin >= min)) found = p;
    }
    if (found < 0) return V12_E_PROFILE_UNKNOWN;
    *ret = (enum v12_layout)found;
    return 0;
}
