/* SPDX-License-Identifier: MIT */
/* vmcs12ctl layout: the field table of a layout, from the generated tables. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: vmcs12ctl layout [--layout legacy|encoded] [--profile NAME]\n"
    "                        [--format table|json|c-header] [--json]\n"
    "\n"
    "Print the vmcs12 layout: every field the layout holds with its encoding, width, type,\n"
    "offset and size, in offset order, then the padding. As a C header: the packed struct with\n"
    "every field at its offset and explicit reserved padding, a _Static_assert per field and on\n"
    "the size, the encoding -> offset function and the revision constants (C11, self-contained).\n"
    "\n"
    "  --layout legacy|encoded   which layout (default legacy)\n"
    "  --profile NAME            legacy profile (default linux-6.18)\n"
    "  --format FORMAT           table (default), json or c-header\n"
    "  --json                    the same as --format json\n"
    "  -h, --help                this text\n";

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_C_HEADER };

/* "linux-6.18" -> "linux_6_18": the layout's name as a C identifier part. */
static void c_ident(const char *name, char *out, size_t size, int upper)
{
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) ch = '_';
        if (upper && ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
        out[i] = ch;
    }
    out[i] = '\0';
}

static const char *c_type(unsigned size)
{
    return size == 2 ? "uint16_t" : size == 4 ? "uint32_t" : "uint64_t";
}

/* One member line, its comment at column 49 (tabs count 8). */
static void c_member(const char *type, const char *name, const char *comment)
{
    int n = printf("\t%s %s;", type, name) + 7;
    printf("%*s/* %s */\n", n < 48 ? 48 - n : 1, "", comment);
}

static void c_reserved(unsigned start, unsigned end)
{
    if (end <= start) return;
    char name[32], comment[32];
    snprintf(name, sizeof(name), "reserved_0x%03x[%u]", start, end - start);
    snprintf(comment, sizeof(comment), "0x%03x..0x%03x", start, end - 1);
    c_member("uint8_t", name, comment);
}

/* The encoded layout's function: the formula over the spec's 16-row table. */
static void c_encoded_function(const char *id, const char *ID)
{
    printf("/*\n"
           " * The offset and size of the access ENCODING names (VMREAD/VMWRITE operand), by the encoded\n"
           " * layout's formula: base[width][type] + index * slot; a high access (bit 0) of a 64-bit\n"
           " * field is the upper 4 bytes of its slot. Returns 0, or -1 for a reserved bit (31:15, 12),\n"
           " * an index beyond its group's capacity (never masked) or a high access of another width.\n"
           " * Whether the field exists is a separate question (a supported-field bitmap).\n"
           " */\n"
           "static inline int vmcs12_%s_offset(uint32_t encoding, uint32_t *offset, uint32_t *size)\n"
           "{\n"
           "\t/* Indexed by width (bits 14:13) * 4 + type (bits 11:10): base, capacity, slot. */\n"
           "\tstatic const struct {\n"
           "\t\tuint16_t base;\n"
           "\t\tuint16_t capacity;\n"
           "\t\tuint8_t slot;\n"
           "\t} groups[16] = {\n",
           id);
    static const char *const wname[4] = {"16-bit", "64-bit", "32-bit", "natural-width"};
    static const char *const tname[4] = {"control", "exit information", "guest state", "host state"};
    for (int g = 0; g < 16; g++) {
        const struct v12_group *gr = &v12_groups[g];
        printf("\t\t{0x%03x, %2u, %u}, /* %s %s */\n", gr->base, v12_group_capacity(gr), gr->slot, wname[g / 4],
               tname[g % 4]);
    }
    printf("\t};\n"
           "\tuint32_t index = (encoding >> 1) & 0x1ffu;\n"
           "\tunsigned g = ((encoding >> 13) & 3u) * 4u + ((encoding >> 10) & 3u);\n"
           "\n"
           "\tif (encoding & 0xffff9000u)\n"
           "\t\treturn -1;\n"
           "\tif (index >= groups[g].capacity)\n"
           "\t\treturn -1;\n"
           "\tif (encoding & 1u) {\n"
           "\t\tif (g / 4u != 1u) /* only 64-bit fields have a high access */\n"
           "\t\t\treturn -1;\n"
           "\t\t*offset = groups[g].base + index * 8u + 4u;\n"
           "\t\t*size = 4u;\n"
           "\t\treturn 0;\n"
           "\t}\n"
           "\t*offset = groups[g].base + index * groups[g].slot;\n"
           "\t*size = groups[g].slot;\n"
           "\treturn 0;\n"
           "}\n\n");
    (void)ID;
}

/* A legacy layout's function: the catalogue's table as a switch (KVM's offsets are a table). */
static void c_legacy_function(enum v12_layout l, const char *id)
{
    printf("/*\n"
           " * The offset and size of the access ENCODING names (VMREAD/VMWRITE operand) in this legacy\n"
           " * layout: a table, as KVM's is; a high access (bit 0) of a 64-bit field is its upper 4 bytes.\n"
           " * Returns 0, or -1 for an encoding this layout has no field for.\n"
           " */\n"
           "static inline int vmcs12_%s_offset(uint32_t encoding, uint32_t *offset, uint32_t *size)\n"
           "{\n"
           "\tswitch (encoding) {\n",
           id);
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        uint16_t o = v12_field_offsets[l][f];
        if (o == V12_NO_OFFSET) continue;
        const struct v12_field *fd = &v12_fields[f];
        printf("\tcase 0x%04x: *offset = 0x%03x; *size = %u; return 0; /* %s */\n", fd->encoding, o, fd->size,
               fd->name);
        if (fd->width == V12_W64)
            printf("\tcase 0x%04x: *offset = 0x%03x; *size = 4; return 0; /* %s, high */\n", fd->encoding | 1u, o + 4u,
                   fd->name);
    }
    printf("\tdefault: return -1;\n"
           "\t}\n"
           "}\n\n");
}

static int print_c_header(enum v12_layout l, const int *by_offset, int nfields)
{
    char id[64], ID[64];
    c_ident(v12_layout_name(l), id, sizeof(id), 0);
    c_ident(v12_layout_name(l), ID, sizeof(ID), 1);
    int encoded = l == V12_LAYOUT_ENCODED;
    unsigned padding = 0;
    const struct v12_padding_map *map = &v12_padding[l];
    for (unsigned k = 0; k < map->count; k++) padding += (unsigned)(map->ranges[k].end - map->ranges[k].start);

    printf("/* SPDX-License-Identifier: MIT */\n"
           "/*\n"
           " * struct vmcs12, %s layout%s%s (%s),\n"
           " * revision 0x%08x: %d fields, %u reserved bytes.\n"
           " * Generated by `vmcs12ctl layout --format c-header --layout %s%s%s`\n"
           " * from vmcs12d's field catalogue (vmcs12d %s); do not edit. Self-contained C11.\n"
           " */\n"
           "#ifndef VMCS12_%s_H\n"
           "#define VMCS12_%s_H\n\n"
           "#include <stddef.h>\n"
           "#include <stdint.h>\n\n"
           "#define VMCS12_%s_REVISION_ID 0x%08xu\n"
           "#define VMCS12_%s_REVISION_MASK 0x%08xu /* hdr bits 30:0 */\n"
           "#define VMCS12_%s_SHADOW_VMCS 0x%08xu /* hdr bit 31: a shadow VMCS */\n"
           "#define VMCS12_%s_SIZE %uu\n"
           "#define VMCS12_%s_NR_FIELDS %du\n\n",
           encoded ? "encoded" : "legacy", encoded ? "" : " ", encoded ? "" : v12_layout_name(l),
           encoded ? "offsets computed from the field encoding" : v12_layout_kernels(l), v12_layout_revision(l),
           nfields, padding, encoded ? "encoded" : "legacy", encoded ? "" : " --profile ",
           encoded ? "" : v12_layout_name(l), V12_VERSION, ID, ID, ID, v12_layout_revision(l), ID, V12_REVISION_MASK,
           ID, V12_SHADOW_BIT, ID, V12_REGION_SIZE, ID, nfields);
    if (encoded)
        printf("/* The 16-bit control slots start at 0x040; 0x080..0x0ff is reserved (the proposal's dirty\n"
               " * bitmap area). */\n");
    printf("struct vmcs12_%s {\n", id);
    c_member("uint32_t", "revision_id", "0x000: bits 30:0 revision, bit 31 shadow");
    c_member("uint32_t", "abort", "0x004");
    c_member("uint32_t", "launch_state", "0x008");
    unsigned at = V12_HEADER_SIZE;
    for (unsigned o = 0; o < V12_REGION_SIZE; o++) {
        if (by_offset[o] < 0) continue;
        const struct v12_field *fd = &v12_fields[by_offset[o]];
        if (o < at) {
            v12_errorf("layout %s: field %s at 0x%03x overlaps the previous field (ends 0x%03x)", v12_layout_name(l),
                       fd->name, o, at);
            return V12_EXIT_INVALID;
        }
        c_reserved(at, o);
        char comment[40];
        snprintf(comment, sizeof(comment), "0x%03x: encoding 0x%04x", o, fd->encoding);
        c_member(c_type(fd->size), fd->name, comment);
        at = o + fd->size;
    }
    c_reserved(at, V12_REGION_SIZE);
    printf("} __attribute__((packed));\n\n");
    printf("_Static_assert(offsetof(struct vmcs12_%s, revision_id) == 0x000, \"revision_id\");\n"
           "_Static_assert(offsetof(struct vmcs12_%s, abort) == 0x004, \"abort\");\n"
           "_Static_assert(offsetof(struct vmcs12_%s, launch_state) == 0x008, \"launch_state\");\n",
           id, id, id);
    for (unsigned o = 0; o < V12_REGION_SIZE; o++) {
        if (by_offset[o] < 0) continue;
        const char *name = v12_fields[by_offset[o]].name;
        printf("_Static_assert(offsetof(struct vmcs12_%s, %s) == 0x%03x, \"%s\");\n", id, name, o, name);
    }
    printf("_Static_assert(sizeof(struct vmcs12_%s) == VMCS12_%s_SIZE, \"size\");\n\n", id, ID);
    if (encoded) c_encoded_function(id, ID);
    else c_legacy_function(l, id);
    printf("#endif /* VMCS12_%s_H */\n", ID);
    return V12_EXIT_OK;
}

/* The layout l's fields (by_offset: the field at each offset, or -1) and padding, as a table or JSON. */
static void print_layout(enum v12_layout l, const int *by_offset, bool json)
{
    bool encoded = l == V12_LAYOUT_ENCODED;
    if (json) printf("{\"layout\":\"%s\",\"revision_id\":%u,\"fields\":[", v12_layout_name(l), v12_layout_revision(l));
    else
        printf("# %s layout%s%s, revision 0x%08x\n# %-30s %-8s %-8s %-10s %-7s %s\n", encoded ? "encoded" : "legacy",
               encoded ? "" : " ", encoded ? "" : v12_layout_name(l), v12_layout_revision(l), "field", "encoding",
               "width", "type", "offset", "size");
    int n = 0;
    for (unsigned o = 0; o < V12_REGION_SIZE; o++) {
        if (by_offset[o] < 0) continue;
        const struct v12_field *fd = &v12_fields[by_offset[o]];
        const char *w = v12_width_name((enum v12_width)fd->width);
        const char *t = v12_type_name(v12_encoding_type(fd->encoding));
        if (json)
            printf("%s{\"name\":\"%s\",\"encoding\":%u,\"width\":\"%s\",\"type\":\"%s\",\"offset\":%u,\"size\":%u}",
                   n ? "," : "", fd->name, fd->encoding, w, t, o, fd->size);
        else printf("  %-30s 0x%04x   %-8s %-10s 0x%03x   %u\n", fd->name, fd->encoding, w, t, o, fd->size);
        n++;
    }
    const struct v12_padding_map *map = &v12_padding[l];
    if (json) printf("],\"padding\":[");
    else printf("# padding (%d fields above; header 0..11)\n", n);
    for (unsigned k = 0; k < map->count; k++) {
        if (json) printf("%s{\"start\":%u,\"end\":%u}", k ? "," : "", map->ranges[k].start, map->ranges[k].end);
        else
            printf("  bytes %u..%u (%u)\n", map->ranges[k].start, map->ranges[k].end - 1,
                   map->ranges[k].end - map->ranges[k].start);
    }
    if (json) printf("]}\n");
}

int layout_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"layout", required_argument, NULL, 'l'}, {"profile", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},         {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},         {0}};
    enum v12_layout profile = V12_LAYOUT_LEGACY;
    bool encoded = false;
    enum format format = FORMAT_TABLE;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (strcmp(optarg, "encoded") == 0) encoded = true;
            else if (strcmp(optarg, "legacy") == 0) encoded = false;
            else {
                v12_errorf("unknown layout '%s' (legacy or encoded)", optarg);
                return V12_EXIT_USAGE;
            }
            break;
        case 'p':
            if (v12_opt_profile(optarg, &profile)) return V12_EXIT_USAGE;
            break;
        case 'j': format = FORMAT_JSON; break;
        case 'f':
            if (strcmp(optarg, "table") == 0) format = FORMAT_TABLE;
            else if (strcmp(optarg, "json") == 0) format = FORMAT_JSON;
            else if (strcmp(optarg, "c-header") == 0) format = FORMAT_C_HEADER;
            else {
                v12_errorf("unknown format '%s' (table, json or c-header)", optarg);
                return V12_EXIT_USAGE;
            }
            break;
        case 'h': return v12_usage(usage, false);
        default: return v12_usage(usage, true);
        }
    }
    if (optind < argc) {
        v12_errorf("unexpected argument '%s'", argv[optind]);
        return V12_EXIT_USAGE;
    }
    enum v12_layout l = encoded ? V12_LAYOUT_ENCODED : profile;

    /* Fields in offset order: a counting pass over offsets, no sort needed for 4096 bytes. */
    int by_offset[V12_REGION_SIZE];
    for (unsigned i = 0; i < V12_REGION_SIZE; i++) by_offset[i] = -1;
    for (int f = 0; f < V12_FIELD_COUNT; f++)
        if (v12_field_offsets[l][f] != V12_NO_OFFSET) by_offset[v12_field_offsets[l][f]] = f;
    bool json = format == FORMAT_JSON;
    if (format == FORMAT_C_HEADER) {
        int count = 0;
        for (unsigned o = 0; o < V12_REGION_SIZE; o++) count += by_offset[o] >= 0;
        return print_c_header(l, by_offset, count);
    }

    print_layout(l, by_offset, json);
    return V12_EXIT_OK;
}
