/* SPDX-License-Identifier: MIT */
/* vmcs12ctl inspect: the header by name, then every non-zero vmcs12 field. */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"

static const char usage[] = "usage: vmcs12ctl inspect [--json] [--profile NAME] [IN]\n"
                            "\n"
                            "Decode a kvm_nested_state blob (or a bare 4096-byte vmcs12 region) of either layout: the\n"
                            "header by name with its flags spelled out, then every non-zero vmcs12 field by name,\n"
                            "encoding and value, and any non-zero padding. IN defaults to '-'.\n"
                            "\n"
                            "  --json           machine-readable output\n"
                            "  --profile NAME   legacy profile to read legacy regions with (default linux-6.18)\n"
                            "  -h, --help       this text\n"
                            "\n"
                            "exit: 0 decoded and valid, 1 unreadable or breaks a KVM rule (listed), 2 usage error\n";

struct flag_name {
    uint32_t bit;
    const char *name;
};
static const struct flag_name state_flags[] = {
    {V12_STATE_GUEST_MODE, "GUEST_MODE"},   {V12_STATE_RUN_PENDING, "RUN_PENDING"}, {V12_STATE_EVMCS, "EVMCS"},
    {V12_STATE_MTF_PENDING, "MTF_PENDING"}, {V12_STATE_GIF_SET, "GIF_SET"},         {0, NULL}};
static const struct flag_name smm_flags[] = {
    {V12_SMM_GUEST_MODE, "SMM_GUEST_MODE"}, {V12_SMM_VMXON, "SMM_VMXON"}, {0, NULL}};
static const struct flag_name vmx_flags[] = {{V12_VMX_PREEMPTION_TIMER_DEADLINE, "PREEMPTION_TIMER_DEADLINE"},
                                             {0, NULL}};

/* "GUEST_MODE|EVMCS|0x40" into buf. */
static const char *spell(uint32_t v, const struct flag_name *names, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (const struct flag_name *f = names; f->name; f++)
        if (v & f->bit) {
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? "|" : "", f->name);
            v &= ~f->bit;
            if (n >= size) return buf;
        }
    if (v) snprintf(buf + n, size - n, "%s%#x", n ? "|" : "", v);
    else if (!n) snprintf(buf, size, "none");
    return buf;
}

static void print_flags_json(FILE *f, const char *key, uint32_t v, const struct flag_name *names)
{
    fprintf(f, "\"%s\":%u,\"%s_names\":[", key, v, key);
    int first = 1;
    for (const struct flag_name *n = names; n->name; n++)
        if (v & n->bit) fprintf(f, "%s\"%s\"", first ? "" : ",", n->name), first = 0;
    fprintf(f, "]");
}

static void header_text(const struct v12_blob_header *h)
{
    char b[128];
    printf("  flags                      0x%04x (%s)\n", h->flags, spell(h->flags, state_flags, b, sizeof(b)));
    printf("  format                     %u (%s)\n", h->format, h->format == V12_FORMAT_VMX ? "vmx" : "svm");
    printf("  size                       %u\n", h->size);
    if (h->format == V12_FORMAT_SVM) {
        printf("  vmcb_pa                    0x%016" PRIx64 "\n", h->vmcb_pa);
        return;
    }
    printf("  vmxon_pa                   0x%016" PRIx64 "%s\n", h->vmxon_pa,
           h->vmxon_pa == V12_INVALID_GPA ? " (invalid: no VMXON)" : "");
    printf("  vmcs12_pa                  0x%016" PRIx64 "%s\n", h->vmcs12_pa,
           h->vmcs12_pa == V12_INVALID_GPA ? " (invalid)" : "");
    printf("  smm.flags                  0x%04x (%s)\n", h->smm_flags, spell(h->smm_flags, smm_flags, b, sizeof(b)));
    printf("  hdr.vmx.flags              0x%08x (%s)\n", h->vmx_flags, spell(h->vmx_flags, vmx_flags, b, sizeof(b)));
    printf("  preemption_timer_deadline  %" PRIu64 "\n", h->preemption_timer_deadline);
}

static void header_json(const struct v12_blob_header *h)
{
    printf("\"header\":{");
    print_flags_json(stdout, "flags", h->flags, state_flags);
    printf(",\"format\":%u,\"format_name\":\"%s\",\"size\":%u", h->format, h->format == V12_FORMAT_VMX ? "vmx" : "svm",
           h->size);
    if (h->format == V12_FORMAT_SVM) {
        printf(",\"vmcb_pa\":%" PRIu64 "}", h->vmcb_pa);
        return;
    }
    printf(",\"vmxon_pa\":%" PRIu64 ",\"vmcs12_pa\":%" PRIu64 ",", h->vmxon_pa, h->vmcs12_pa);
    print_flags_json(stdout, "smm_flags", h->smm_flags, smm_flags);
    printf(",");
    print_flags_json(stdout, "vmx_flags", h->vmx_flags, vmx_flags);
    printf(",\"preemption_timer_deadline\":%" PRIu64 "}", h->preemption_timer_deadline);
}

static void region_out(const uint8_t *r, enum v12_layout layout, const char *name, uint32_t base, bool json, bool first)
{
    uint32_t rev = (uint32_t)v12_load_le(r, 4);
    if (json) {
        printf("%s{\"name\":\"%s\",\"offset\":%u,\"layout\":\"%s\",\"revision_id\":%u,\"shadow_vmcs\":%s,\"abort\":%u,"
               "\"launch_state\":%u,\"fields\":[",
               first ? "" : ",", name, base, v12_layout_name(layout), rev & V12_REVISION_MASK,
               (rev & V12_SHADOW_BIT) ? "true" : "false", (unsigned)v12_load_le(r + 4, 4),
               (unsigned)v12_load_le(r + 8, 4));
    } else {
        printf("%s (offset %u, %s layout%s%s):\n", name, base, v12_layout_is_legacy(layout) ? "legacy" : "encoded",
               v12_layout_is_legacy(layout) ? " " : "", v12_layout_is_legacy(layout) ? v12_layout_name(layout) : "");
        printf("  revision_id                0x%08x (shadow bit %s)\n", rev & V12_REVISION_MASK,
               (rev & V12_SHADOW_BIT) ? "set" : "clear");
        printf("  abort                      0x%08x\n", (unsigned)v12_load_le(r + 4, 4));
        printf("  launch_state               0x%08x\n", (unsigned)v12_load_le(r + 8, 4));
    }
    int n = 0;
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        uint64_t v;
        if (v12_region_get(r, layout, (enum v12_field_id)f, &v) != 0 || v == 0) continue;
        const struct v12_field *fd = &v12_fields[f];
        if (json)
            printf("%s{\"name\":\"%s\",\"encoding\":%u,\"width\":\"%s\",\"value\":%" PRIu64 "}", n ? "," : "", fd->name,
                   fd->encoding, v12_width_name((enum v12_width)fd->width), v);
        else printf("  %-26s 0x%04x  0x%0*" PRIx64 "\n", fd->name, fd->encoding, fd->size * 2, v);
        n++;
    }
    if (json) printf("],\"padding_nonzero\":[");
    const struct v12_padding_map *map = &v12_padding[layout];
    int np = 0;
    for (unsigned k = 0; k < map->count; k++) {
        unsigned cnt = 0;
        for (unsigned b = map->ranges[k].start; b < map->ranges[k].end; b++) cnt += r[b] != 0;
        if (!cnt) continue;
        if (json)
            printf("%s{\"start\":%u,\"end\":%u,\"nonzero\":%u}", np ? "," : "", map->ranges[k].start,
                   map->ranges[k].end, cnt);
        else
            printf("  padding bytes %u..%u: %u non-zero byte%s\n", map->ranges[k].start, map->ranges[k].end - 1, cnt,
                   cnt == 1 ? "" : "s");
        np++;
    }
    if (json) printf("]}");
}

int inspect_main(int argc, char **argv)
{
    static const struct option options[] = {{"json", no_argument, NULL, 'j'},
                                            {"profile", required_argument, NULL, 'p'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    bool json = false;
    enum v12_layout profile = V12_LAYOUT_LEGACY;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'p':
            if (v12_opt_profile(optarg, &profile)) return V12_EXIT_USAGE;
            break;
        case 'h': return v12_usage(usage, false);
        default: return v12_usage(usage, true);
        }
    }
    if (argc - optind > 1) {
        v12_errorf("one input at most, got %d", argc - optind);
        return V12_EXIT_USAGE;
    }
    const char *path = optind < argc ? argv[optind] : "-";
    struct v12_loaded in;
    struct v12_diag diags[32];
    size_t n;
    int ret = v12_load(path, profile, V12_PADDING_IGNORE, &in, diags, 32, &n);
    if (ret) goto out;

    static const char *const names[2] = {"vmcs12", "shadow vmcs12"};
    if (json) {
        printf("{\"input\":");
        v12_json_str(stdout, v12_in_name(path));
        printf(",\"kind\":\"%s\",", in.raw ? "region" : "blob");
        if (!in.raw) header_json(&in.info.hdr), printf(",");
        printf("\"regions\":[");
    } else if (in.raw) {
        printf("%s: bare vmcs12 region, 4096 bytes\n", v12_in_name(path));
    } else {
        printf("%s: kvm_nested_state, %zu bytes\n", v12_in_name(path), in.len);
        header_text(&in.info.hdr);
        if (in.info.hdr.format == V12_FORMAT_SVM && in.info.nregions)
            printf("vmcb12 (offset 128, 4096 bytes): passed through, not interpreted\n");
    }
    for (unsigned i = 0; i < 2 && in.region[i]; i++)
        region_out(in.region[i], in.info.layout, names[i], in.raw ? 0 : V12_VMCS12_OFFSET + i * V12_REGION_SIZE, json,
                   i == 0);
    if (json) {
        printf("],\"problems\":[");
        for (size_t i = 0; i < n && i < 32; i++) {
            if (i) printf(",");
            v12_diag_json(stdout, &diags[i]);
        }
        printf("]}\n");
    }
    for (size_t i = 0; i < n && i < 32; i++) v12_diag_error(path, &diags[i]);
    ret = n ? V12_EXIT_INVALID : V12_EXIT_OK;
out:
    v12_loaded_done(&in);
    return ret;
}
