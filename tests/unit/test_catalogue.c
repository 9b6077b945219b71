/* SPDX-License-Identifier: MIT */
/*
 * The field catalogue and the generated layouts: every legacy offset of KVM's CSV is
 * reproduced (as KVM's CHECK_OFFSET does), encoded slots are disjoint, inside 4096 bytes and
 * within their group's capacity, and the padding maps are exactly the profiles' padding.
 */
#include <errno.h>

#include "../check.h"
#include "v12/convert.h"

static const char *csv_path;

static void legacy_offsets_match_csv(void)
{
    FILE *f = fopen(csv_path, "r");
    CHECK(f != NULL);
    char line[4096];
    int rows = 0, fields = 0;
    CHECK(fgets(line, sizeof(line), f) != NULL); /* header */
    while (fgets(line, sizeof(line), f)) {
        /* name,offset_hex,size_bytes,encoding_hex,...: the first four columns, which may be empty. */
        char *col[4] = {0}, *p = line;
        for (int i = 0; i < 4 && p; i++) {
            col[i] = p;
            p = strchr(p, ',');
            if (p) *p++ = 0;
        }
        if (!col[3]) continue;
        const char *name = col[0], *off = col[1], *size = col[2], *enc = col[3];
        rows++;
        unsigned o = (unsigned)strtoul(off, NULL, 16), sz = (unsigned)strtoul(size, NULL, 10);
        if (strncmp(enc, "0x", 2) != 0) {
            /* Non-field rows: header, padding arrays, dead_space, the tail. dead_space is the
             * CR3-target fields; every other non-header row must be padding in linux-6.18. */
            if (strcmp(name, "dead_space[4]") == 0) {
                CHECK_EQ(o, v12_field_offsets[V12_LAYOUT_LINUX_6_18][V12_F_cr3_target_value0]);
                continue;
            }
            if (o < V12_HEADER_SIZE) continue;
            const struct v12_padding_map *m = &v12_padding[V12_LAYOUT_LINUX_6_18];
            int found = 0;
            for (unsigned k = 0; k < m->count; k++)
                if (m->ranges[k].start == o && m->ranges[k].end == o + sz) found = 1;
            if (!found) fprintf(stderr, "padding row %s %u+%u is not a padding range\n", name, o, sz);
            CHECK(found);
            continue;
        }
        unsigned e = (unsigned)strtoul(enc, NULL, 16);
        enum v12_field_id id;
        CHECK_OK(v12_field_by_encoding(e, &id));
        if (strcmp(v12_fields[id].name, name) != 0) fprintf(stderr, "name %s vs %s\n", v12_fields[id].name, name);
        CHECK(strcmp(v12_fields[id].name, name) == 0);
        CHECK_EQ(v12_fields[id].size, sz);
        CHECK_EQ(v12_field_offsets[V12_LAYOUT_LINUX_6_18][id], o);
        fields++;
    }
    fclose(f);
    CHECK_EQ(fields, 147);
    CHECK(rows > 150);
}

static void profiles_padding(void)
{
    /* encoded-layout.md section 2, column "padding", plus 12..39, 932..959 and the tail. */
    static const struct v12_range want[4][6] = {
        {{12, 40}, {320, 344}, {680, 744}, {932, 960}, {998, 4096}},
        {{12, 40}, {328, 344}, {680, 744}, {932, 960}, {998, 4096}},
        {{12, 40}, {336, 344}, {680, 744}, {932, 960}, {998, 4096}},
        {{12, 40}, {336, 344}, {728, 744}, {932, 960}, {998, 4096}},
    };
    for (int l = 0; l < V12_PROFILE_COUNT; l++) {
        CHECK_EQ(v12_padding[l].count, 5);
        for (int k = 0; k < 5; k++) {
            CHECK_EQ(v12_padding[l].ranges[k].start, want[l][k].start);
            CHECK_EQ(v12_padding[l].ranges[k].end, want[l][k].end);
        }
    }
    /* Profile membership: the fields that came with each kernel. */
    CHECK_EQ(v12_field_offsets[V12_LAYOUT_LINUX_4_19][V12_F_encls_exiting_bitmap], V12_NO_OFFSET);
    CHECK_EQ(v12_field_offsets[V12_LAYOUT_LINUX_5_13][V12_F_encls_exiting_bitmap], 320);
    CHECK_EQ(v12_field_offsets[V12_LAYOUT_LINUX_5_13][V12_F_tsc_multiplier], V12_NO_OFFSET);
    CHECK_EQ(v12_field_offsets[V12_LAYOUT_LINUX_5_14][V12_F_tsc_multiplier], 328);
    CHECK_EQ(v12_field_offsets[V12_LAYOUT_LINUX_5_14][V12_F_guest_ssp], V12_NO_OFFSET);
    CHECK_EQ(v12_field_offsets[V12_LAYOUT_LINUX_6_18][V12_F_host_s_cet], 680);
    CHECK_EQ(v12_field_offsets[V12_LAYOUT_LINUX_6_18][V12_F_guest_ssp_tbl], 720);
    for (int l = 0; l < V12_PROFILE_COUNT; l++)
        CHECK_EQ(v12_field_offsets[l][V12_F_cr3_target_value3], 0x190); /* dead_space, every profile */
}

static void layouts_disjoint_and_bounded(void)
{
    for (int l = 0; l < V12_LAYOUT_COUNT; l++) {
        static uint8_t owner[V12_REGION_SIZE];
        memset(owner, 0, sizeof(owner));
        memset(owner, 1, V12_HEADER_SIZE);
        unsigned covered = V12_HEADER_SIZE;
        for (int f = 0; f < V12_FIELD_COUNT; f++) {
            uint16_t o = v12_field_offsets[l][f];
            if (o == V12_NO_OFFSET) continue;
            CHECK(o + v12_fields[f].size <= V12_REGION_SIZE);
            CHECK_EQ(o % v12_fields[f].size, 0); /* naturally aligned in both layouts */
            for (unsigned b = o; b < o + v12_fields[f].size; b++) {
                CHECK_EQ(owner[b], 0);
                owner[b] = 1;
            }
            covered += v12_fields[f].size;
        }
        unsigned pad = 0;
        for (unsigned k = 0; k < v12_padding[l].count; k++) {
            for (unsigned b = v12_padding[l].ranges[k].start; b < v12_padding[l].ranges[k].end; b++)
                CHECK_EQ(owner[b], 0);
            pad += v12_padding[l].ranges[k].end - v12_padding[l].ranges[k].start;
        }
        CHECK_EQ(covered + pad, V12_REGION_SIZE); /* header + fields + padding tile the region */
    }
    /* Every catalogued field has an encoded home, within its group. */
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        uint32_t e = v12_fields[f].encoding, off, size;
        CHECK_OK(v12_encoded_offset(e, &off, &size));
        const struct v12_group *g = &v12_groups[v12_encoding_width(e) * 4 + v12_encoding_type(e)];
        CHECK(v12_encoding_index(e) < v12_group_capacity(g));
        CHECK(off >= g->base && off + size <= g->base + v12_group_capacity(g) * g->slot);
        CHECK_EQ(g->half_slot * 2, g->slot);
        CHECK_EQ(g->limit[1], v12_encoding_width(e) == V12_W64 ? g->limit[0] : 0);
        CHECK_EQ(off, v12_field_offsets[V12_LAYOUT_ENCODED][f]);
        CHECK_EQ(v12_encoding_width(e), v12_fields[f].width);
    }
    /* Groups tile 0x040..0x07f and 0x100..0xfff without overlap. */
    unsigned total = 0;
    for (int g = 0; g < 16; g++) total += v12_group_capacity(&v12_groups[g]) * v12_groups[g].slot;
    CHECK_EQ(total, 0x40 + 0xf00);
}

static void encoded_formula(void)
{
    uint32_t off, size;
    /* The seed's table. */
    CHECK_OK(v12_encoded_offset(0x0800, &off, &size));
    CHECK_EQ(off, 0x100);
    CHECK_EQ(size, 2);
    CHECK_OK(v12_encoded_offset(0x2000, &off, &size));
    CHECK_EQ(off, 0x200);
    CHECK_EQ(size, 8);
    CHECK_OK(v12_encoded_offset(0x2001, &off, &size));
    CHECK_EQ(off, 0x204);
    CHECK_EQ(size, 4);
    CHECK_OK(v12_encoded_offset(0x207e, &off, &size));
    CHECK_EQ(off, 0x3f8);
    CHECK_OK(v12_encoded_offset(0x4c7e, &off, &size));
    CHECK_EQ(off, 0xafc);
    CHECK_OK(v12_encoded_offset(0x687e, &off, &size));
    CHECK_EQ(off, 0xef8);
    CHECK_OK(v12_encoded_offset(0x6c3e, &off, &size));
    CHECK_EQ(off, 0xff8);
    CHECK_OK(v12_encoded_offset(0x0000, &off, &size));
    CHECK_EQ(off, 0x040);
    CHECK_OK(v12_encoded_offset(0x003e, &off, &size));
    CHECK_EQ(off, 0x07e);
    /* HLATP 0x2040 must not alias I/O bitmap A (Xen masks the index; we never do). */
    CHECK_OK(v12_encoded_offset(0x2040, &off, &size));
    CHECK_EQ(off, 0x300);
    /* Beyond capacity: rejected, never masked. */
    CHECK_EQ(v12_encoded_offset(0x0040, &off, &size), V12_E_ENCODING_NO_SLOT);
    CHECK_EQ(v12_encoded_offset(0x2840, &off, &size), V12_E_ENCODING_NO_SLOT);
    CHECK_EQ(v12_encoded_offset(0x2440, &off, &size), V12_E_ENCODING_NO_SLOT);
    CHECK_EQ(v12_encoded_offset(0x6c40, &off, &size), V12_E_ENCODING_NO_SLOT);
    CHECK_EQ(v12_encoded_offset(0x0400, &off, &size), V12_E_ENCODING_NO_SLOT); /* 16-bit exit info: no home */
    /* Reserved bits and high accesses of non-64-bit fields. */
    CHECK_EQ(v12_encoded_offset(0x1000, &off, &size), V12_E_ENCODING_RESERVED);
    CHECK_EQ(v12_encoded_offset(0x8000, &off, &size), V12_E_ENCODING_RESERVED);
    CHECK_EQ(v12_encoded_offset(0x12000u, &off, &size), V12_E_ENCODING_RESERVED);
    CHECK_EQ(v12_encoded_offset(0x4001, &off, &size), V12_E_ENCODING_HIGH_ACCESS);
    CHECK_EQ(v12_encoded_offset(0x6801, &off, &size), V12_E_ENCODING_HIGH_ACCESS);
    CHECK_EQ(v12_encoded_offset(0x0801, &off, &size), V12_E_ENCODING_HIGH_ACCESS);
    /* Exhaustively: every 16-bit encoding either has an in-bounds slot or a named error. */
    for (uint32_t e = 0; e <= 0xffff; e++) {
        int r = v12_encoded_offset(e, &off, &size);
        if (r == 0) CHECK(off >= 0x40 && off + size <= V12_REGION_SIZE && (off < 0x80 || off >= 0x100));
        else CHECK(r == V12_E_ENCODING_RESERVED || r == V12_E_ENCODING_NO_SLOT || r == V12_E_ENCODING_HIGH_ACCESS);
    }
}

static void names(void)
{
    enum v12_layout l;
    CHECK_OK(v12_layout_from_name("legacy", &l));
    CHECK_EQ(l, V12_LAYOUT_LINUX_6_18);
    CHECK_OK(v12_layout_from_name("linux-5.13", &l));
    CHECK_EQ(l, V12_LAYOUT_LINUX_5_13);
    CHECK_OK(v12_layout_from_name("encoded", &l));
    CHECK_EQ(l, V12_LAYOUT_ENCODED);
    CHECK_EQ(v12_profile_from_name("encoded", &l), V12_E_PROFILE_UNKNOWN);
    CHECK_EQ(v12_profile_from_name("linux-6.1", &l), V12_E_PROFILE_UNKNOWN);
    enum v12_field_id f;
    CHECK_OK(v12_field_by_name("guest_rip", &f));
    CHECK_EQ(v12_fields[f].encoding, 0x681e);
    CHECK_EQ(v12_field_by_name("no_such_field", &f), V12_E_FIELD_UNKNOWN);
    CHECK_EQ(v12_field_by_encoding(0x2001, &f), V12_E_FIELD_UNKNOWN);
    /* Every error code has a name and a message: each entry of the map, whatever its number, and
     * the numbers leave no gap (a gap would be a code deleted while callers may still send it). */
    static const int codes[] = {
#define CODE(name, num, msg) num,
        V12_ERRNO_MAP(CODE)
#undef CODE
    };
    int n = (int)(sizeof(codes) / sizeof(codes[0]));
    for (int i = 0; i < n; i++) {
        CHECK_EQ(codes[i], 1000 + i);
        CHECK(strcmp(v12_err_name(-codes[i]), "UNKNOWN") != 0);
        CHECK(strcmp(v12_strerror(-codes[i]), "unknown error") != 0);
    }
    CHECK(strcmp(v12_err_name(-(1000 + n)), "UNKNOWN") == 0);
    CHECK(strcmp(v12_err_name(-2), "ENOENT") == 0);
}

/* The error text: v12_escape keeps a quoted name one printable line; v12_errmsg cuts, never
 * overflows, and v12_fail returns the code it was given. */
static void error_text(void)
{
    char out[64];
    CHECK_EQ(v12_escape(out, sizeof(out), "vm\x1b[31m\n<0>a\\b\x7f\xff"),
             strlen("vm\\x1b[31m\\x0a<0>a\\\\b\\x7f\\xff"));
    CHECK(strcmp(out, "vm\\x1b[31m\\x0a<0>a\\\\b\\x7f\\xff") == 0);
    CHECK_EQ(v12_escape(out, 6,
                        "ab\x01"
                        "cd"),
             2u); /* "\x01" does not fit after "ab": never cut in half */
    CHECK(strcmp(out, "ab") == 0);
    CHECK_EQ(v12_escape(out, 1, "abc"), 0u);
    CHECK(out[0] == 0);

    struct v12_errmsg m = {""};
    CHECK_EQ(v12_fail(&m, V12_E_CONFIG, "key %s at line %u", "listen", 7u), V12_E_CONFIG);
    CHECK(strcmp(m.text, "key listen at line 7") == 0);
    v12_errmsg_add(&m, ": %s", "why");
    CHECK(strcmp(m.text, "key listen at line 7: why") == 0);
    char big[2 * V12_ERRMSG_SIZE];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    v12_errmsg_add(&m, "%s", big);
    CHECK_EQ(strlen(m.text), (size_t)V12_ERRMSG_SIZE - 1);
    v12_errmsg_set(&m, "short");
    CHECK(strcmp(m.text, "short") == 0);
    CHECK_EQ(v12_fail(NULL, -EIO, "nobody listens"), -EIO);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    csv_path = argv[1];
    RUN(legacy_offsets_match_csv);
    RUN(profiles_padding);
    RUN(layouts_disjoint_and_bounded);
    RUN(encoded_formula);
    RUN(names);
    RUN(error_text);
    printf("test_catalogue: all passed\n");
    return 0;
}
