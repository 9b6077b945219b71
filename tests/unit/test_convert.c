/* SPDX-License-Identifier: MIT */
/*
 * Conversion: randomized lossless round trips across every profile, the rules of
 * encoded-layout.md section 4, and for every error the exact code, the place it names and an
 * output buffer left untouched.
 */
#include "../check.h"
#include "v12/convert.h"

#define SENTINEL 0xa5

static uint64_t seed = 0x5eed11e57ed0ull;

/* A region of layout l whose every field of that layout is random; padding zero. */
static void random_region(uint8_t *r, enum v12_layout l, int shadow)
{
    memset(r, 0, V12_REGION_SIZE);
    v12_store_le(r, 4, v12_layout_revision(l) | (shadow ? V12_SHADOW_BIT : 0));
    v12_store_le(r + 4, 4, test_rand(&seed) & 1);
    v12_store_le(r + 8, 4, test_rand(&seed) & 1);
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        uint16_t o = v12_field_offsets[l][f];
        if (o == V12_NO_OFFSET) continue;
        uint64_t v = test_rand(&seed);
        if ((v & 7) == 0) v = 0; /* some zero fields */
        v12_store_le(r + o, v12_fields[f].size, v);
    }
}

/* Fields only the encoded layout or newer profiles have are zeroed, so that l can hold r. */
static void restrict_to(uint8_t *r, enum v12_layout have, enum v12_layout to)
{
    for (int f = 0; f < V12_FIELD_COUNT; f++)
        if (v12_field_offsets[have][f] != V12_NO_OFFSET && v12_field_offsets[to][f] == V12_NO_OFFSET)
            v12_store_le(r + v12_field_offsets[have][f], v12_fields[f].size, 0);
}

static struct v12_convert_opts opts_for(enum v12_layout from, enum v12_layout to, enum v12_padding p)
{
    struct v12_convert_opts o;
    v12_convert_opts_init(&o);
    o.from = from;
    o.to = to;
    o.padding = p;
    return o;
}

static void round_trip_all_profiles(void)
{
    static uint8_t a[V12_REGION_SIZE], b[V12_REGION_SIZE], c[V12_REGION_SIZE];
    for (int iter = 0; iter < 2000; iter++) {
        for (int p = 0; p < V12_PROFILE_COUNT; p++) {
            random_region(a, (enum v12_layout)p, iter & 1);
            struct v12_convert_opts o = opts_for((enum v12_layout)p, V12_LAYOUT_ENCODED, V12_PADDING_STRICT);
            struct v12_report rep;
            struct v12_diag d;
            CHECK_OK(v12_region_convert(a, b, &o, V12_REGION_PRIMARY, &rep, &d));
            /* Every field landed at its encoded slot with its value. */
            for (int f = 0; f < V12_FIELD_COUNT; f++) {
                uint64_t va, vb;
                if (v12_region_get(a, (enum v12_layout)p, (enum v12_field_id)f, &va)) continue;
                CHECK_OK(v12_region_get(b, V12_LAYOUT_ENCODED, (enum v12_field_id)f, &vb));
                CHECK_EQ(va, vb);
            }
            CHECK_EQ(v12_load_le(b, 4), V12_REVISION_ENCODED | ((iter & 1) ? V12_SHADOW_BIT : 0));
            CHECK_MEM(a + 4, b + 4, 8);
            o = opts_for(V12_LAYOUT_ENCODED, (enum v12_layout)p, V12_PADDING_STRICT);
            CHECK_OK(v12_region_convert(b, c, &o, V12_REGION_PRIMARY, &rep, &d));
            CHECK_MEM(a, c, V12_REGION_SIZE); /* identity */
            CHECK_EQ(rep.bytes_dropped, 0);

            /* Legacy -> legacy to every other profile and back, once the target can hold it. */
            for (int q = 0; q < V12_PROFILE_COUNT; q++) {
                restrict_to(a, (enum v12_layout)p, (enum v12_layout)q);
                o = opts_for((enum v12_layout)p, (enum v12_layout)q, V12_PADDING_STRICT);
                CHECK_OK(v12_region_convert(a, b, &o, V12_REGION_PRIMARY, NULL, &d));
                o = opts_for((enum v12_layout)q, (enum v12_layout)p, V12_PADDING_STRICT);
                CHECK_OK(v12_region_convert(b, c, &o, V12_REGION_PRIMARY, NULL, &d));
                CHECK_MEM(a, c, V12_REGION_SIZE);
            }
        }
    }
}

static void encoded_to_legacy_refuses_lost_fields(void)
{
    static uint8_t e[V12_REGION_SIZE], out[V12_REGION_SIZE];
    /* Every field without a legacy home in linux-4.19 refuses, alone, with its name. */
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        if (v12_field_offsets[V12_LAYOUT_LINUX_4_19][f] != V12_NO_OFFSET) continue;
        memset(e, 0, sizeof(e));
        v12_store_le(e, 4, V12_REVISION_ENCODED);
        uint16_t o = v12_field_offsets[V12_LAYOUT_ENCODED][f];
        e[o + v12_fields[f].size - 1] = 0x80; /* the top byte: a high-half-only value still counts */
        memset(out, SENTINEL, sizeof(out));
        for (int pol = 0; pol < 2; pol++) {
            struct v12_convert_opts opt = opts_for(V12_LAYOUT_AUTO, V12_LAYOUT_LINUX_4_19, (enum v12_padding)pol);
            struct v12_diag d;
            CHECK_EQ(v12_region_convert(e, out, &opt, V12_REGION_PRIMARY, NULL, &d), V12_E_FIELD_NO_HOME);
            CHECK(strcmp(d.where, v12_fields[f].name) == 0);
            CHECK_EQ(d.offset, o);
            for (size_t i = 0; i < sizeof(out); i++) CHECK_EQ(out[i], SENTINEL);
        }
    }
}

static void padding_policies(void)
{
    static uint8_t a[V12_REGION_SIZE], b[V12_REGION_SIZE], c[V12_REGION_SIZE];
    for (int l = 0; l < V12_LAYOUT_COUNT; l++) {
        const struct v12_padding_map *m = &v12_padding[l];
        for (unsigned k = 0; k < m->count; k++) {
            random_region(a, (enum v12_layout)l, 0);
            unsigned pos = m->ranges[k].start + (unsigned)(test_rand(&seed) % (m->ranges[k].end - m->ranges[k].start));
            a[pos] = 0x5a;
            a[m->ranges[k].end - 1] |= 1;
            enum v12_layout to = l == V12_LAYOUT_ENCODED ? V12_LAYOUT_LEGACY : V12_LAYOUT_ENCODED;
            if (l == V12_LAYOUT_ENCODED) restrict_to(a, V12_LAYOUT_ENCODED, to);
            struct v12_convert_opts o = opts_for((enum v12_layout)l, to, V12_PADDING_STRICT);
            struct v12_diag d;
            struct v12_report rep;
            memset(b, SENTINEL, sizeof(b));
            CHECK_EQ(v12_region_convert(a, b, &o, V12_REGION_PRIMARY, &rep, &d), V12_E_PADDING_NONZERO);
            CHECK_EQ(d.start, m->ranges[k].start);
            CHECK_EQ(d.end, m->ranges[k].end);
            CHECK_EQ(d.offset, pos);
            CHECK_EQ(d.count, pos == m->ranges[k].end - 1u ? 1u : 2u);
            for (size_t i = 0; i < sizeof(b); i++) CHECK_EQ(b[i], SENTINEL);

            o.padding = V12_PADDING_IGNORE;
            CHECK_OK(v12_region_convert(a, b, &o, V12_REGION_PRIMARY, &rep, &d));
            CHECK_EQ(rep.ndrops, 1);
            CHECK_EQ(rep.drops[0].start, m->ranges[k].start);
            CHECK_EQ(rep.drops[0].end, m->ranges[k].end);
            CHECK_EQ(rep.bytes_dropped, d.count = pos == m->ranges[k].end - 1u ? 1u : 2u);
            CHECK(rep.nwarnings >= 1);
            /* Back: equal to the input but with that padding cleared. */
            o = opts_for(to, (enum v12_layout)l, V12_PADDING_STRICT);
            CHECK_OK(v12_region_convert(b, c, &o, V12_REGION_PRIMARY, NULL, &d));
            a[pos] = 0;
            a[m->ranges[k].end - 1] = 0;
            CHECK_MEM(a, c, V12_REGION_SIZE);
        }
    }
}

static void revision_rules(void)
{
    static uint8_t a[V12_REGION_SIZE], b[V12_REGION_SIZE];
    struct v12_diag d;
    struct v12_convert_opts o = opts_for(V12_LAYOUT_AUTO, V12_LAYOUT_ENCODED, V12_PADDING_STRICT);
    random_region(a, V12_LAYOUT_LEGACY, 0);
    memset(b, SENTINEL, sizeof(b));
    CHECK_EQ(v12_region_convert(a, b, &o, V12_REGION_SHADOW, NULL, &d), V12_E_SHADOW_BIT_MISSING);
    CHECK_EQ(b[0], SENTINEL);
    /* The primary may carry the shadow bit: compared on bits 30:0, kept, and warned about. */
    v12_store_le(a, 4, V12_REVISION_LEGACY | V12_SHADOW_BIT);
    struct v12_report rep;
    CHECK_OK(v12_region_convert(a, b, &o, V12_REGION_PRIMARY, &rep, &d));
    CHECK_EQ(v12_load_le(b, 4), V12_REVISION_ENCODED | V12_SHADOW_BIT);
    CHECK_EQ(rep.warnings[0].code, V12_W_PRIMARY_SHADOW_BIT);
    v12_store_le(a, 4, 0x12345678);
    memset(b, SENTINEL, sizeof(b));
    CHECK_EQ(v12_region_convert(a, b, &o, V12_REGION_PRIMARY, NULL, &d), V12_E_REVISION_UNKNOWN);
    CHECK_EQ(d.value, 0x12345678);
    /* An encoded region given as legacy. */
    random_region(a, V12_LAYOUT_ENCODED, 0);
    o.from = V12_LAYOUT_LEGACY;
    CHECK_EQ(v12_region_convert(a, b, &o, V12_REGION_PRIMARY, NULL, &d), V12_E_LAYOUT_MISMATCH);
    CHECK_EQ(b[0], SENTINEL);
    /* Overlapping buffers are refused. */
    CHECK_EQ(v12_region_convert(a, a, &o, V12_REGION_PRIMARY, NULL, &d), V12_E_INVALID_ARGUMENT);
}

/* A VMX blob: header + n regions of layout l. */
static size_t make_blob(uint8_t *blob, enum v12_layout l, unsigned n, uint16_t flags)
{
    size_t len = V12_BLOB_HEADER_SIZE + n * V12_REGION_SIZE;
    memset(blob, 0, V12_BLOB_HEADER_SIZE);
    v12_store_le(blob + 0, 2, flags);
    v12_store_le(blob + 4, 4, len);
    v12_store_le(blob + 8, 8, 0x10000);
    v12_store_le(blob + 16, 8, n ? 0x20000 : V12_INVALID_GPA);
    for (unsigned i = 0; i < n; i++) random_region(blob + 128 + i * V12_REGION_SIZE, l, i == 1);
    return len;
}

static void blob_round_trips(void)
{
    static uint8_t a[V12_BLOB_MAX], b[V12_BLOB_MAX], c[V12_BLOB_MAX];
    for (int iter = 0; iter < 500; iter++) {
        for (unsigned n = 0; n <= 2; n++) {
            enum v12_layout p = (enum v12_layout)(test_rand(&seed) % V12_PROFILE_COUNT);
            size_t len = make_blob(a, p, n, 0);
            struct v12_convert_opts o = opts_for(V12_LAYOUT_AUTO, V12_LAYOUT_ENCODED, V12_PADDING_STRICT);
            o.legacy_profile = p;
            struct v12_report rep;
            struct v12_diag d;
            CHECK_OK(v12_blob_convert(a, len, b, sizeof(b), &o, &rep, &d));
            CHECK_EQ(rep.nregions, n);
            CHECK_MEM(a, b, V12_BLOB_HEADER_SIZE); /* header untouched */
            o = opts_for(V12_LAYOUT_AUTO, p, V12_PADDING_STRICT);
            CHECK_OK(v12_blob_convert(b, len, c, sizeof(c), &o, &rep, &d));
            CHECK_MEM(a, c, len);
        }
    }
}

static void blob_errors_write_nothing(void)
{
    static uint8_t a[V12_BLOB_MAX], b[V12_BLOB_MAX];
    struct v12_convert_opts o = opts_for(V12_LAYOUT_AUTO, V12_LAYOUT_ENCODED, V12_PADDING_STRICT);
    struct v12_diag d;
    struct {
        int code;
        size_t off, size;
        uint64_t value;
        size_t len_delta;
    } cases[] = {
        {V12_E_SIZE_MISMATCH, 4, 4, 4224, 0},
        {V12_E_FORMAT_UNKNOWN, 2, 2, 7, 0},
        {V12_E_FLAGS_UNKNOWN, 0, 2, 0x20, 0},
        {V12_E_RUN_PENDING_WITHOUT_GUEST_MODE, 0, 2, 2, 0},
        {V12_E_VMXON_PA_UNALIGNED, 8, 8, 0x10008, 0},
        {V12_E_SMM_FLAGS_UNKNOWN, 24, 2, 0x8, 0},
        {V12_E_VMX_HDR_FLAGS_UNKNOWN, 28, 4, 0x10, 0},
        {V12_E_SMM_GUEST_WITHOUT_SMM_VMXON, 24, 2, 1, 0},
        {V12_E_VMCS12_PA_INVALID, 16, 8, 0x10000, 0},
        {V12_E_VMCS12_WITHOUT_PA, 16, 8, V12_INVALID_GPA, 0},
        {V12_E_REVISION_UNKNOWN, 128 + 4096, 4, 0x91e57ed2, 0},
        {V12_E_SHADOW_BIT_MISSING, 128 + 4096, 4, V12_REVISION_LEGACY, 0},
        {V12_E_LAYOUT_MISMATCH, 128 + 4096, 4, V12_REVISION_ENCODED | V12_SHADOW_BIT, 0},
        {V12_E_PADDING_NONZERO, 128 + 4096 + 2000, 1, 1, 0},
        {V12_E_BLOB_TRUNCATED, 0, 0, 0, 8320 - 127},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = make_blob(a, V12_LAYOUT_LEGACY, 2, 0);
        if (cases[i].size) v12_store_le(a + cases[i].off, (unsigned)cases[i].size, cases[i].value);
        len -= cases[i].len_delta;
        memset(b, SENTINEL, sizeof(b));
        int r = v12_blob_convert(a, len, b, sizeof(b), &o, NULL, &d);
        if (r != cases[i].code)
            fprintf(stderr, "case %zu: got %s, want %s\n", i, v12_err_name(r), v12_err_name(cases[i].code));
        CHECK_EQ(r, cases[i].code);
        CHECK_EQ(d.code, cases[i].code);
        for (size_t k = 0; k < sizeof(b); k++) CHECK_EQ(b[k], SENTINEL);
        struct v12_errmsg msg = {""};
        CHECK_EQ(v12_diag_format(&d, &msg), cases[i].code);
        CHECK(strstr(msg.text, v12_strerror(cases[i].code)) == msg.text); /* what, then where and which value */
        CHECK(strstr(msg.text, " at offset ") != NULL || strstr(msg.text, "region bytes") != NULL);
    }
    /* A too small output buffer. */
    size_t len = make_blob(a, V12_LAYOUT_LEGACY, 1, 0);
    CHECK_EQ(v12_blob_convert(a, len, b, len - 1, &o, NULL, &d), V12_E_BUFFER_TOO_SMALL);
    /* Shadow required (GUEST_MODE, shadowing on, link pointer set) but absent. */
    len = make_blob(a, V12_LAYOUT_LEGACY, 1, V12_STATE_GUEST_MODE);
    uint8_t *r0 = a + 128;
    v12_store_le(r0 + v12_field_offsets[V12_LAYOUT_LEGACY][V12_F_cpu_based_vm_exec_control], 4, 0x80000000u);
    v12_store_le(r0 + v12_field_offsets[V12_LAYOUT_LEGACY][V12_F_secondary_vm_exec_control], 4, 0x4000u);
    v12_store_le(r0 + v12_field_offsets[V12_LAYOUT_LEGACY][V12_F_vmcs_link_pointer], 8, 0x3000);
    CHECK_EQ(v12_blob_convert(a, len, b, sizeof(b), &o, NULL, &d), V12_E_SHADOW_MISSING);
    /* ...and with the link pointer at -1 KVM does not read a shadow: valid. */
    v12_store_le(r0 + v12_field_offsets[V12_LAYOUT_LEGACY][V12_F_vmcs_link_pointer], 8, V12_INVALID_GPA);
    CHECK_OK(v12_blob_convert(a, len, b, sizeof(b), &o, NULL, &d));
}

static void validation_lists_every_problem(void)
{
    static uint8_t a[V12_BLOB_MAX];
    size_t len = make_blob(a, V12_LAYOUT_LEGACY, 2, V12_STATE_RUN_PENDING | 0x40);
    v12_store_le(a + 28, 4, 0x6); /* hdr.vmx.flags unknown bit */
    a[128 + 1000] = 1;            /* padding, vmcs12 */
    a[128 + 4096 + 20] = 1;       /* padding, shadow */
    struct v12_diag d[16];
    size_t n;
    struct v12_check_opts co;
    v12_check_opts_init(&co);
    CHECK_EQ(v12_blob_check(a, len, &co, d, 16, &n, NULL), V12_E_FLAGS_UNKNOWN);
    CHECK_EQ(n, 5);
    CHECK_EQ(d[0].code, V12_E_FLAGS_UNKNOWN);
    CHECK_EQ(d[1].code, V12_E_RUN_PENDING_WITHOUT_GUEST_MODE);
    CHECK_EQ(d[2].code, V12_E_VMX_HDR_FLAGS_UNKNOWN);
    CHECK_EQ(d[3].code, V12_E_PADDING_NONZERO);
    CHECK_EQ(d[3].offset, 128 + 1000);
    CHECK_EQ(d[4].offset, 128 + 4096 + 20);
    /* max bounds what is stored, not what is counted. */
    CHECK_EQ(v12_blob_check(a, len, &co, d, 2, &n, NULL), V12_E_FLAGS_UNKNOWN);
    CHECK_EQ(n, 5);
    co.padding = V12_PADDING_IGNORE;
    CHECK_EQ(v12_blob_check(a, len, &co, d, 16, &n, NULL), V12_E_FLAGS_UNKNOWN);
    CHECK_EQ(n, 3);
}

static void svm_passes_through(void)
{
    static uint8_t a[V12_BLOB_MAX_SVM], b[V12_BLOB_MAX_SVM];
    memset(a, 0, 128);
    v12_store_le(a + 0, 2, V12_STATE_GUEST_MODE | V12_STATE_GIF_SET);
    v12_store_le(a + 2, 2, V12_FORMAT_SVM);
    v12_store_le(a + 4, 4, sizeof(a));
    v12_store_le(a + 8, 8, 0x40000);
    for (size_t i = 128; i < sizeof(a); i++) a[i] = (uint8_t)test_rand(&seed);
    struct v12_convert_opts o = opts_for(V12_LAYOUT_AUTO, V12_LAYOUT_ENCODED, V12_PADDING_STRICT);
    struct v12_diag d;
    struct v12_report rep;
    CHECK_OK(v12_blob_convert(a, sizeof(a), b, sizeof(b), &o, &rep, &d));
    CHECK_MEM(a, b, sizeof(a));
    CHECK_EQ(rep.nregions, 0);
    v12_store_le(a + 0, 2, V12_STATE_GUEST_MODE | V12_STATE_EVMCS);
    CHECK_EQ(v12_blob_convert(a, sizeof(a), b, sizeof(b), &o, &rep, &d), V12_E_FLAGS_UNKNOWN);
}

/* profile = auto: the running kernel's release picks the legacy profile. */
static void profiles_by_kernel(void)
{
    static const struct {
        const char *release;
        int code;
        enum v12_layout want;
    } cases[] = {
        {"4.19.0", 0, V12_LAYOUT_LINUX_4_19},
        {"5.12.99-custom", 0, V12_LAYOUT_LINUX_4_19},
        {"5.13.19", 0, V12_LAYOUT_LINUX_5_13},
        {"5.14", 0, V12_LAYOUT_LINUX_5_14},
        {"6.17.3-arch1", 0, V12_LAYOUT_LINUX_5_14},
        {"6.18.44-fc-v595", 0, V12_LAYOUT_LINUX_6_18},
        {"7.2.0", 0, V12_LAYOUT_LINUX_6_18},
        {"10.0.0", 0, V12_LAYOUT_LINUX_6_18},
        {"4.18.0-553.el8", V12_E_PROFILE_UNKNOWN, 0},
        {"3.10.0", V12_E_PROFILE_UNKNOWN, 0},
        {"linux", V12_E_INVALID_ARGUMENT, 0},
        {"6", V12_E_INVALID_ARGUMENT, 0},
        {"", V12_E_INVALID_ARGUMENT, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum v12_layout got = V12_LAYOUT_AUTO;
        int r = v12_profile_for_kernel(cases[i].release, &got);
        if (r != cases[i].code || (r == 0 && got != cases[i].want)) {
            fprintf(stderr, "release %s: %d %d\n", cases[i].release, r, (int)got);
            CHECK(0);
        }
    }
}

int main(void)
{
    RUN(profiles_by_kernel);
    RUN(round_trip_all_profiles);
    RUN(encoded_to_legacy_refuses_lost_fields);
    RUN(padding_policies);
    RUN(revision_rules);
    RUN(blob_round_trips);
    RUN(blob_errors_write_nothing);
    RUN(validation_lists_every_problem);
    RUN(svm_passes_through);
    printf("test_convert: all passed\n");
    return 0;
}
