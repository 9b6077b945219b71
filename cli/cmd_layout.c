/* SPDX-License-Identifier: MIT */
/* vmcs12ctl layout: the field table of a layout, from the generated tables. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: vmcs12ctl layout [--layout legacy|encoded] [--profile NAME] [--json]\n"
    "\n"
    "Print the vmcs12 layout: every field the layout holds with its encoding, width, type,\n"
    "offset and size, in offset order, then the padding.\n"
    "\n"
    "  --layout legacy|encoded   which layout (default legacy)\n"
    "  --profile NAME            legacy profile (default linux-6.18)\n"
    "  --json                    machine-readable output\n"
    "  -h, --help                this text\n";

int layout_main(int argc, char **argv)
{
    static const struct option options[] = {{"layout", required_argument, NULL, 'l'},
                                            {"profile", required_argument, NULL, 'p'},
                                            {"json", no_argument, NULL, 'j'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    enum v12_layout profile = V12_LAYOUT_LEGACY;
    bool encoded = false, json = false;
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
        case 'j': json = true; break;
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

    if (json)
        printf("{\"layout\":\"%s\",\"revision_id\":%u,\"fields\":[", v12_layout_name(l), v12_layout_revision(l));
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
        else
            printf("  %-30s 0x%04x   %-8s %-10s 0x%03x   %u\n", fd->name, fd->encoding, w, t, o, fd->size);
        n++;
    }
    const struct v12_padding_map *map = &v12_padding[l];
    if (json) printf("],\"padding\":[");
    else printf("# padding (%d fields above; header 0..11)\n", n);
    for (unsigned k = 0; k < map->count; k++) {
        if (json) printf("%s{\"start\":%u,\"end\":%u}", k ? "," : "", map->ranges[k].start, map->ranges[k].end);
        else printf("  bytes %u..%u (%u)\n", map->ranges[k].start, map->ranges[k].end - 1, map->ranges[k].end - map->ranges[k].start);
    }
    if (json) printf("]}\n");
    return V12_EXIT_OK;
}
