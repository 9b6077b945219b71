/* SPDX-License-Identifier: MIT */
/*
 * Region and blob conversion (encoded-layout.md section 4). Every conversion is two passes:
 * check (revision, shadow bit, padding policy, fields the target cannot hold), then write.
 * Nothing is written unless every region of the input passed its check.
 */
#include <string.h>

#include "internal.h"
#include "v12/convert.h"

static const char *const padding_where[V12_LAYOUT_COUNT] = {
#define V12_PROFILE(id, name, kernels) "legacy " name " padding",
#include "v12/profiles.def"
#undef V12_PROFILE
    "encoded reserved area or unused slot",
};

void v12_convert_opts_init(struct v12_convert_opts *opts)
{
    *opts = (struct v12_convert_opts){
        .from = V12_LAYOUT_AUTO,
        .legacy_profile = V12_LAYOUT_LEGACY,
        .to = V12_LAYOUT_ENCODED,
        .padding = V12_PADDING_STRICT,
    };
}

/* Index of the first non-zero byte of p[start, end), or end. Word at a time: this is the hot loop. */
static uint32_t first_nonzero(const uint8_t *p, uint32_t start, uint32_t end)
{
    uint32_t i = start;
    for (; i < end && (i & 7u); i++)
        if (p[i]) return i;
    for (; end - i >= 32; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        memcpy(&c, p + i + 16, 8);
        memcpy(&d, p + i + 24, 8);
        if (a | b | c | d) break;
    }
    for (; i < end; i++)
        if (p[i]) return i;
    return end;
}

int v12__padding_scan(const uint8_t *region, enum v12_layout layout, unsigned k, uint32_t base, struct v12_diag *ret)
{
    const struct v12_range *rg = &v12_padding[layout].ranges[k];
    uint32_t first = first_nonzero(region, rg->start, rg->end);
    if (first == rg->end) return 0;
    uint32_t n = 0;
    for (uint32_t i = first; i < rg->end; i++) n += region[i] != 0;
    *ret = (struct v12_diag){
        .code = V12_E_PADDING_NONZERO,
        .where = padding_where[layout],
        .offset = base + first,
        .value = region[first],
        .base = base,
        .start = base + rg->start,
        .end = base + rg->end,
        .count = n,
        .flags = V12_DIAG_RANGE,
    };
    return 1;
}

static void add_warning(struct v12_report *rep, int code, const char *where, uint32_t offset, uint64_t value)
{
    if (!rep || rep->nwarnings >= V12_REPORT_MAX_WARNINGS) return;
    rep->warnings[rep->nwarnings++] = (struct v12_diag){.code = code, .where = where, .offset = offset, .value = value};
}

int v12_region_get(const uint8_t *region, enum v12_layout layout, enum v12_field_id field, uint64_t *ret)
{
    if (layout < 0 || layout >= V12_LAYOUT_COUNT || field < 0 || field >= V12_FIELD_COUNT)
        return V12_E_INVALID_ARGUMENT;
    uint16_t off = v12_field_offsets[layout][field];
    if (off == V12_NO_OFFSET) return V12_E_FIELD_NO_HOME;
    *ret = v12_load_le(region + off, v12_fields[field].size);
    return 0;
}

int v12_region_layout(const uint8_t *region, enum v12_layout legacy_profile, enum v12_layout *ret)
{
    uint32_t rev = (uint32_t)v12_load_le(region, 4) & V12_REVISION_MASK;
    if (rev == V12_REVISION_LEGACY) {
        if (!v12_layout_is_legacy(legacy_profile)) return V12_E_INVALID_ARGUMENT;
        *ret = legacy_profile;
        return 0;
    }
    if (rev == V12_REVISION_ENCODED) {
        *ret = V12_LAYOUT_ENCODED;
        return 0;
    }
    return V12_E_REVISION_UNKNOWN;
}

/* The revision and shadow-bit rules of one region, read as layout `from`. */
static int check_revision(const uint8_t *in, enum v12_layout from, enum v12_region_kind kind, uint32_t base,
                          struct v12_diag *ret_diag)
{
    uint32_t rev = (uint32_t)v12_load_le(in, 4);
    uint32_t low = rev & V12_REVISION_MASK;
    const char *where = kind == V12_REGION_SHADOW ? "shadow vmcs12 revision id" : "vmcs12 revision id";
    if (low != v12_layout_revision(from)) {
        int known = low == V12_REVISION_LEGACY || low == V12_REVISION_ENCODED;
        *ret_diag = (struct v12_diag){
            .code = known ? V12_E_LAYOUT_MISMATCH : V12_E_REVISION_UNKNOWN,
            .where = where,
            .offset = base,
            .value = rev,
            .expected = v12_layout_revision(from) | (rev & V12_SHADOW_BIT),
            .flags = V12_DIAG_EXPECTED,
        };
        return ret_diag->code;
    }
    if (kind == V12_REGION_SHADOW && !(rev & V12_SHADOW_BIT)) {
        *ret_diag = (struct v12_diag){
            .code = V12_E_SHADOW_BIT_MISSING,
            .where = where,
            .offset = base,
            .value = rev,
            .expected = rev | V12_SHADOW_BIT,
            .flags = V12_DIAG_EXPECTED,
        };
        return ret_diag->code;
    }
    return 0;
}

/*
 * Padding of one region under a policy. Strict: the first range holding a non-zero byte is
 * the error. Ignore: every such range is recorded in the report as dropped.
 */
static int check_padding(const uint8_t *in, enum v12_layout from, enum v12_padding policy, unsigned region,
                         uint32_t base, struct v12_report *rep, struct v12_diag *ret_diag)
{
    struct v12_diag d;
    for (unsigned k = 0; k < v12_padding[from].count; k++) {
        if (!v12__padding_scan(in, from, k, base, &d)) continue;
        if (policy == V12_PADDING_STRICT) {
            *ret_diag = d;
            return V12_E_PADDING_NONZERO;
        }
        if (!rep) continue;
        if (rep->ndrops < V12_REPORT_MAX_DROPS)
            rep->drops[rep->ndrops++] = (struct v12_drop){.region = (uint8_t)region,
                                                          .start = (uint16_t)(d.start - base),
                                                          .end = (uint16_t)(d.end - base),
                                                          .nonzero = (uint16_t)d.count};
        if (rep->bytes_dropped == 0) add_warning(rep, V12_W_PADDING_DROPPED, d.where, d.offset, d.value);
        rep->bytes_dropped += d.count;
    }
    return 0;
}

/* Fields the source holds and the target has no place for must be zero, in every mode. */
static int check_lost(const uint8_t *in, enum v12_layout from, enum v12_layout to, uint32_t base,
                      struct v12_diag *ret_diag)
{
    const struct v12_plan *plan = &v12_plans[from][to];
    for (unsigned i = 0; i < plan->nlost; i++) {
        enum v12_field_id f = (enum v12_field_id)plan->lost[i];
        uint16_t off = v12_field_offsets[from][f];
        uint64_t v = v12_load_le(in + off, v12_fields[f].size);
        if (v) {
            *ret_diag = (struct v12_diag){
                .code = V12_E_FIELD_NO_HOME,
                .where = v12_fields[f].name,
                .offset = base + off,
                .value = v,
            };
            return V12_E_FIELD_NO_HOME;
        }
    }
    return 0;
}

static int region_check(const uint8_t *in, enum v12_layout from, enum v12_layout to, enum v12_padding policy,
                        enum v12_region_kind kind, uint32_t base, struct v12_report *rep, struct v12_diag *ret_diag)
{
    int r = check_revision(in, from, kind, base, ret_diag);
    if (r) return r;
    /* Hot path: nothing that must be zero holds a value. Otherwise find out what and where. */
    if (!v12_plans[from][to].any_nonzero(in)) return 0;
    r = check_padding(in, from, policy, kind, base, rep, ret_diag);
    if (r) return r;
    return check_lost(in, from, to, base, ret_diag);
}

static void region_write(const uint8_t *in, uint8_t *out, enum v12_layout from, enum v12_layout to,
                         enum v12_region_kind kind, uint32_t base, struct v12_report *rep)
{
    const struct v12_plan *plan = &v12_plans[from][to];
    uint32_t rev = (uint32_t)v12_load_le(in, 4);

    v12_store_le(out, 4, (rev & V12_SHADOW_BIT) | v12_layout_revision(to));
    memcpy(out + 4, in + 4, 8); /* abort, launch_state */
    plan->write(in, out);       /* every other byte: a field copied or a zero */

    if (!rep) return;
    rep->fields_converted += plan->nfields;
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        uint16_t so = v12_field_offsets[from][f];
        if (so == V12_NO_OFFSET || v12_field_offsets[to][f] == V12_NO_OFFSET) continue;
        rep->fields_nonzero += v12_load_le(in + so, v12_fields[f].size) != 0;
    }
    if (kind == V12_REGION_PRIMARY && (rev & V12_SHADOW_BIT))
        add_warning(rep, V12_W_PRIMARY_SHADOW_BIT, "vmcs12 revision id", base, rev);
    if (v12_layout_is_legacy(from)) {
        for (int f = V12_F_cr3_target_value0; f <= V12_F_cr3_target_value3; f++) {
            uint64_t v = v12_load_le(in + v12_field_offsets[from][f], 8);
            if (v) {
                add_warning(rep, V12_W_CR3_TARGET_CARRIED, v12_fields[f].name, base + v12_field_offsets[from][f], v);
                break;
            }
        }
    }
}

static int valid_layout(enum v12_layout l)
{
    return l >= 0 && l < V12_LAYOUT_COUNT;
}

static void report_begin(struct v12_report *rep, enum v12_layout from, enum v12_layout to)
{
    if (!rep) return;
    memset(rep, 0, sizeof(*rep));
    rep->from = from;
    rep->to = to;
}

int v12_region_convert(const uint8_t *in, uint8_t *out, const struct v12_convert_opts *opts, enum v12_region_kind kind,
                       struct v12_report *rep, struct v12_diag *ret_diag)
{
    struct v12_diag scratch;
    if (!ret_diag) ret_diag = &scratch;
    if (!in || !out || !opts || !valid_layout(opts->to) || (in < out + V12_REGION_SIZE && out < in + V12_REGION_SIZE)) {
        *ret_diag = (struct v12_diag){.code = V12_E_INVALID_ARGUMENT, .where = "arguments"};
        return V12_E_INVALID_ARGUMENT;
    }
    enum v12_layout from = opts->from;
    if (from == V12_LAYOUT_AUTO) {
        int r = v12_region_layout(in, opts->legacy_profile, &from);
        if (r) {
            *ret_diag = (struct v12_diag){.code = r, .where = "vmcs12 revision id", .value = v12_load_le(in, 4)};
            return r;
        }
    } else if (!valid_layout(from)) {
        *ret_diag = (struct v12_diag){.code = V12_E_INVALID_ARGUMENT, .where = "source layout"};
        return V12_E_INVALID_ARGUMENT;
    }
    report_begin(rep, from, opts->to);
    int r = region_check(in, from, opts->to, opts->padding, kind, 0, rep, ret_diag);
    if (r) return r;
    region_write(in, out, from, opts->to, kind, 0, rep);
    if (rep) rep->nregions = 1, rep->shadow_region = kind == V12_REGION_SHADOW;
    return 0;
}

int v12_blob_convert(const uint8_t *in, size_t len, uint8_t *out, size_t out_size, const struct v12_convert_opts *opts,
                     struct v12_report *rep, struct v12_diag *ret_diag)
{
    struct v12_diag scratch;
    if (!ret_diag) ret_diag = &scratch;
    if (!in || !out || !opts || !valid_layout(opts->to) || (in < out + out_size && out < in + len)) {
        *ret_diag = (struct v12_diag){.code = V12_E_INVALID_ARGUMENT, .where = "arguments"};
        return V12_E_INVALID_ARGUMENT;
    }
    struct v12_check_opts co;
    v12_check_opts_init(&co);
    co.legacy_profile = v12_layout_is_legacy(opts->from) ? opts->from : opts->legacy_profile;
    co.expect = opts->from;
    co.padding = V12_PADDING_IGNORE; /* padding is checked below, under the conversion's policy */

    struct v12_blob_info info;
    size_t count = 0;
    int r = v12_blob_check(in, len, &co, ret_diag, 1, &count, &info);
    if (r) return r;
    if (out_size < len) {
        *ret_diag = (struct v12_diag){.code = V12_E_BUFFER_TOO_SMALL,
                                      .where = "output buffer",
                                      .value = out_size,
                                      .expected = len,
                                      .flags = V12_DIAG_DECIMAL | V12_DIAG_EXPECTED};
        return V12_E_BUFFER_TOO_SMALL;
    }

    enum v12_layout from = info.nregions && info.hdr.format == V12_FORMAT_VMX ? info.layout : co.legacy_profile;
    if (!valid_layout(from)) from = V12_LAYOUT_LEGACY;
    report_begin(rep, from, opts->to);
    if (info.hdr.format != V12_FORMAT_VMX) {
        memcpy(out, in, len); /* SVM: validated, nothing to convert */
        return 0;
    }
    for (unsigned i = 0; i < info.nregions; i++) {
        uint32_t base = V12_VMCS12_OFFSET + i * V12_REGION_SIZE;
        r = region_check(in + base, from, opts->to, opts->padding, (enum v12_region_kind)i, base, rep, ret_diag);
        if (r) return r;
    }
    memcpy(out, in, V12_BLOB_HEADER_SIZE);
    for (unsigned i = 0; i < info.nregions; i++) {
        uint32_t base = V12_VMCS12_OFFSET + i * V12_REGION_SIZE;
        region_write(in + base, out + base, from, opts->to, (enum v12_region_kind)i, base, rep);
    }
    if (rep) rep->nregions = (uint8_t)info.nregions, rep->shadow_region = info.nregions == 2;
    return 0;
}
