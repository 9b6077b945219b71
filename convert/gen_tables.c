/* SPDX-License-Identifier: MIT */
/*
 * gen_tables: derives every layout table from the field catalogue at build time.
 *
 * For each layout (the legacy profiles and the encoded layout) it computes where each field
 * lives, refuses to build if two fields overlap, leave the region or overrun a group, and
 * writes the padding map of each layout and a conversion plan for each pair of layouts: the
 * byte runs to copy (fields adjacent in both layouts merged into one run) and the fields the
 * target lacks. Output: one C file, given as argv[1].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint16_t offs[V12_LAYOUT_COUNT][V12_FIELD_COUNT];

static void die(const char *what, const char *name)
{
    fprintf(stderr, "gen_tables: %s: %s\n", what, name);
    exit(1);
}

static void place_fields(void)
{
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        const struct v12_field *fd = &v12_fields[f];
        uint32_t off, size;
        if (v12_encoded_offset(fd->encoding, &off, &size) != 0)
            die("encoding has no slot in the encoded layout", fd->name);
        if (size != fd->size) die("encoded slot size differs from field size", fd->name);
        offs[V12_LAYOUT_ENCODED][f] = (uint16_t)off;
        for (int l = 0; l < V12_LAYOUT_ENCODED; l++) {
            int present = fd->since <= l && v12__legacy_offset[f] != V12_NO_OFFSET;
            offs[l][f] = present ? v12__legacy_offset[f] : V12_NO_OFFSET;
        }
        if (fd->since < V12_LAYOUT_ENCODED && v12__legacy_offset[f] == V12_NO_OFFSET)
            die("field has a profile but no legacy offset", fd->name);
    }
}

/* owner[l][byte]: -2 header, -1 padding, else the field index. */
static int owner[V12_LAYOUT_COUNT][V12_REGION_SIZE];

static void map_bytes(void)
{
    for (int l = 0; l < V12_LAYOUT_COUNT; l++) {
        for (unsigned b = 0; b < V12_REGION_SIZE; b++) owner[l][b] = b < V12_HEADER_SIZE ? -2 : -1;
        for (int f = 0; f < V12_FIELD_COUNT; f++) {
            if (offs[l][f] == V12_NO_OFFSET) continue;
            unsigned end = offs[l][f] + v12_fields[f].size;
            if (end > V12_REGION_SIZE) die("field ends beyond 4096 bytes", v12_fields[f].name);
            for (unsigned b = offs[l][f]; b < end; b++) {
                if (owner[l][b] != -1) die("field overlaps another field or the header", v12_fields[f].name);
                owner[l][b] = f;
            }
        }
    }
}

static int emit_padding(FILE *out, int l)
{
    int n = 0;
    fprintf(out, "static const struct v12_range padding_%d[] = {\n", l);
    for (unsigned b = 0; b < V12_REGION_SIZE;) {
        if (owner[l][b] != -1) {
            b++;
            continue;
        }
        unsigned s = b;
        while (b < V12_REGION_SIZE && owner[l][b] == -1) b++;
        fprintf(out, "    {%u, %u},\n", s, b);
        n++;
    }
    fprintf(out, "};\n");
    return n;
}

static int by_src_layout;
static int cmp_src(const void *a, const void *b)
{
    int fa = *(const int *)a, fb = *(const int *)b;
    return (int)offs[by_src_layout][fa] - (int)offs[by_src_layout][fb];
}

static void emit_plan(FILE *out, int s, int d, int *ret_nruns, int *ret_nlost, int *ret_nfields)
{
    int order[V12_FIELD_COUNT], n = 0, nruns = 0, nlost = 0, nfields = 0;
    for (int f = 0; f < V12_FIELD_COUNT; f++)
        if (offs[s][f] != V12_NO_OFFSET) order[n++] = f;
    by_src_layout = s;
    qsort(order, (size_t)n, sizeof(order[0]), cmp_src);

    fprintf(out, "static const struct v12_run runs_%d_%d[] = {\n", s, d);
    unsigned rs = 0, rd = 0, rl = 0;
    for (int i = 0; i < n; i++) {
        int f = order[i];
        if (offs[d][f] == V12_NO_OFFSET) continue;
        nfields++;
        unsigned fs = offs[s][f], fdst = offs[d][f], sz = v12_fields[f].size;
        if (rl && fs == rs + rl && fdst == rd + rl) {
            rl += sz;
            continue;
        }
        if (rl) fprintf(out, "    {%u, %u, %u},\n", rs, rd, rl), nruns++;
        rs = fs, rd = fdst, rl = sz;
    }
    if (rl) fprintf(out, "    {%u, %u, %u},\n", rs, rd, rl), nruns++;
    fprintf(out, "};\nstatic const uint16_t lost_%d_%d[] = {\n", s, d);
    for (int i = 0; i < n; i++)
        if (offs[d][order[i]] == V12_NO_OFFSET) fprintf(out, "    V12_F_%s,\n", v12_fields[order[i]].name), nlost++;
    if (!nlost) fprintf(out, "    0 /* none */\n");
    fprintf(out, "};\n");
    *ret_nruns = nruns;
    *ret_nlost = nlost;
    *ret_nfields = nfields;
}

/*
 * Straight-line code for one pair: constant offsets and lengths let the compiler turn each
 * copy, fill and zero test into a few vector moves.
 */
static void emit_code(FILE *out, int s, int d)
{
    /* Bytes of the source that must be zero: its padding and the fields the target lacks. */
    static char must_zero[V12_REGION_SIZE];
    for (unsigned b = 0; b < V12_REGION_SIZE; b++) {
        int o = owner[s][b];
        must_zero[b] = o == -1 || (o >= 0 && offs[d][o] == V12_NO_OFFSET);
    }
    fprintf(out, "V12_HOT static int any_nonzero_%d_%d(const uint8_t *in)\n{\n    uint64_t acc = 0;\n", s, d);
    for (unsigned b = 0; b < V12_REGION_SIZE;) {
        if (!must_zero[b]) {
            b++;
            continue;
        }
        unsigned st = b;
        while (b < V12_REGION_SIZE && must_zero[b]) b++;
        fprintf(out, "    acc |= or_bytes(in, %u, %u);\n", st, b);
    }
    fprintf(out, "    return acc != 0;\n}\n");

    /* The target: one fill of zeros (a single fast memset beats many small ones), then every
     * run of fields present in both layouts, adjacent in both, as one constant-size copy. */
    fprintf(out, "V12_HOT static void write_%d_%d(const uint8_t *in, uint8_t *out)\n{\n", s, d);
    fprintf(out, "    memset(out + %u, 0, %u);\n", V12_HEADER_SIZE, V12_REGION_SIZE - V12_HEADER_SIZE);
    for (unsigned b = V12_HEADER_SIZE; b < V12_REGION_SIZE;) {
        int f = owner[d][b];
        if (!(f >= 0 && offs[s][f] != V12_NO_OFFSET)) {
            b++;
            continue;
        }
        unsigned db = b, sb = offs[s][f], len = 0;
        while (b < V12_REGION_SIZE && owner[d][b] >= 0 && offs[s][owner[d][b]] != V12_NO_OFFSET &&
               offs[s][owner[d][b]] + (b - offs[d][owner[d][b]]) == sb + (b - db)) {
            b++;
            len++;
        }
        fprintf(out, "    memcpy(out + %u, in + %u, %u);\n", db, sb, len);
    }
    fprintf(out, "}\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_tables OUT.c\n");
        return 2;
    }
    place_fields();
    map_bytes();

    FILE *out = fopen(argv[1], "w");
    if (!out) die("cannot open output", argv[1]);
    fprintf(out, "/* Generated by gen_tables from fields.def and profiles.def. Do not edit. */\n");
    fprintf(out, "#include <string.h>\n\n#include \"v12/layout.h\"\n\n");
    /* Built for the baseline ISA and for AVX2, chosen at load time (glibc ifunc). */
    /* Not under the sanitizers: their runtime is not up yet when an ifunc resolver runs. */
    fprintf(out, "#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)\n"
                 "#define V12_HOT __attribute__((target_clones(\"avx2\", \"default\")))\n"
                 "#else\n#define V12_HOT\n#endif\n\n");
    /* OR of p[s, e): 32-byte vectors, then the tail; constant s and e fold it into straight code. */
    fprintf(out, "typedef uint64_t v12_v4 __attribute__((vector_size(32), aligned(1), may_alias));\n"
                 "static inline uint64_t load_or(const uint8_t *p, unsigned n)\n{\n"
                 "    uint64_t w = 0;\n    memcpy(&w, p, n);\n    return w;\n}\n"
                 "static inline uint64_t or_bytes(const uint8_t *p, unsigned s, unsigned e)\n{\n"
                 "    v12_v4 v = {0, 0, 0, 0};\n    uint64_t acc = 0;\n"
                 "    for (; e - s >= 32; s += 32) v |= *(const v12_v4 *)(const void *)(p + s);\n"
                 "    for (; e - s >= 8; s += 8) acc |= load_or(p + s, 8);\n"
                 "    if (e - s >= 4) acc |= load_or(p + s, 4), s += 4;\n"
                 "    if (e - s >= 2) acc |= load_or(p + s, 2), s += 2;\n"
                 "    if (e - s >= 1) acc |= p[s];\n"
                 "    return acc | v[0] | v[1] | v[2] | v[3];\n}\n\n");
    fprintf(out, "const uint16_t v12_field_offsets[V12_LAYOUT_COUNT][V12_FIELD_COUNT] = {\n");
    for (int l = 0; l < V12_LAYOUT_COUNT; l++) {
        fprintf(out, "    {");
        for (int f = 0; f < V12_FIELD_COUNT; f++) fprintf(out, "%s%u", f ? ", " : "", offs[l][f]);
        fprintf(out, "},\n");
    }
    fprintf(out, "};\n\n");

    int npad[V12_LAYOUT_COUNT], maxpad = 0;
    for (int l = 0; l < V12_LAYOUT_COUNT; l++) {
        npad[l] = emit_padding(out, l);
        if (npad[l] > maxpad) maxpad = npad[l];
    }
    fprintf(out, "const struct v12_padding_map v12_padding[V12_LAYOUT_COUNT] = {\n");
    for (int l = 0; l < V12_LAYOUT_COUNT; l++) fprintf(out, "    {padding_%d, %d},\n", l, npad[l]);
    fprintf(out, "};\nconst uint16_t v12_max_padding_ranges = %d;\n\n", maxpad);

    int nr[V12_LAYOUT_COUNT][V12_LAYOUT_COUNT], nl[V12_LAYOUT_COUNT][V12_LAYOUT_COUNT],
        nf[V12_LAYOUT_COUNT][V12_LAYOUT_COUNT];
    for (int s = 0; s < V12_LAYOUT_COUNT; s++)
        for (int d = 0; d < V12_LAYOUT_COUNT; d++) {
            emit_plan(out, s, d, &nr[s][d], &nl[s][d], &nf[s][d]);
            emit_code(out, s, d);
        }
    fprintf(out, "\nconst struct v12_plan v12_plans[V12_LAYOUT_COUNT][V12_LAYOUT_COUNT] = {\n");
    for (int s = 0; s < V12_LAYOUT_COUNT; s++) {
        fprintf(out, "    {\n");
        for (int d = 0; d < V12_LAYOUT_COUNT; d++)
            fprintf(out, "        {runs_%d_%d, %d, %d, lost_%d_%d, %d, any_nonzero_%d_%d, write_%d_%d},\n", s, d,
                    nr[s][d], nf[s][d], s, d, nl[s][d], s, d, s, d);
        fprintf(out, "    },\n");
    }
    fprintf(out, "};\n");
    if (fclose(out) != 0) die("cannot write output", argv[1]);
    return 0;
}
