/* SPDX-License-Identifier: MIT */
/* vmcs12ctl diff: field-by-field differences between two blobs, whatever their layouts. */
#include <getopt.h>
#include <inttypes.h>

#include "cli.h"

static const char usage[] =
    "usage: vmcs12ctl diff [--profile NAME] [--profile-a NAME] [--profile-b NAME] A B\n"
    "\n"
    "Compare two kvm_nested_state blobs (or bare vmcs12 regions) by meaning, not bytes: the\n"
    "header members, then each vmcs12 region's header and every catalogued field, each read in\n"
    "its own layout. A field one layout cannot hold reads as absent.\n"
    "\n"
    "  --profile NAME     legacy profile for legacy inputs (default linux-6.18)\n"
    "  --profile-a NAME   ... for A only;  --profile-b NAME  ... for B only\n"
    "  -h, --help         this text\n"
    "\n"
    "exit: 0 no differences, 3 differences (listed on stdout), 1 invalid input, 2 usage error\n";

#define V12_EXIT_DIFFERENT 3

static int ndiff;

static void show(const char *what, int ha, uint64_t a, int hb, uint64_t b)
{
    if (ha == hb && a == b) return;
    char sa[32] = "absent", sb[32] = "absent";
    if (ha) snprintf(sa, sizeof(sa), "0x%" PRIx64, a);
    if (hb) snprintf(sb, sizeof(sb), "0x%" PRIx64, b);
    printf("%s: %s -> %s\n", what, sa, sb);
    ndiff++;
}

static void diff_region(const char *name, const struct v12_loaded *A, const struct v12_loaded *B, unsigned i)
{
    const uint8_t *ra = A->region[i], *rb = B->region[i];
    char what[96];
    if (!ra || !rb) {
        if (ra || rb) printf("%s: %s -> %s\n", name, ra ? "present" : "absent", rb ? "present" : "absent"), ndiff++;
        return;
    }
    uint32_t a = (uint32_t)v12_load_le(ra, 4), b = (uint32_t)v12_load_le(rb, 4);
    snprintf(what, sizeof(what), "%s.shadow_vmcs", name);
    show(what, 1, a >> 31, 1, b >> 31);
    snprintf(what, sizeof(what), "%s.abort", name);
    show(what, 1, v12_load_le(ra + 4, 4), 1, v12_load_le(rb + 4, 4));
    snprintf(what, sizeof(what), "%s.launch_state", name);
    show(what, 1, v12_load_le(ra + 8, 4), 1, v12_load_le(rb + 8, 4));
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        uint64_t va = 0, vb = 0;
        int ha = v12_region_get(ra, A->info.layout, (enum v12_field_id)f, &va) == 0;
        int hb = v12_region_get(rb, B->info.layout, (enum v12_field_id)f, &vb) == 0;
        /* A zero field and an absent one mean the same to KVM: both read as 0. */
        if ((!ha && hb && vb == 0) || (ha && !hb && va == 0)) continue;
        snprintf(what, sizeof(what), "%s.%s", name, v12_fields[f].name);
        show(what, ha, va, hb, vb);
    }
}

int diff_main(int argc, char **argv)
{
    static const struct option options[] = {{"profile", required_argument, NULL, 'p'},
                                            {"profile-a", required_argument, NULL, 'a'},
                                            {"profile-b", required_argument, NULL, 'b'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    enum v12_layout pa = V12_LAYOUT_COUNT, pb = V12_LAYOUT_COUNT, p = V12_LAYOUT_LEGACY;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (v12_opt_profile(optarg, &p)) return V12_EXIT_USAGE;
            break;
        case 'a':
            if (v12_opt_profile(optarg, &pa)) return V12_EXIT_USAGE;
            break;
        case 'b':
            if (v12_opt_profile(optarg, &pb)) return V12_EXIT_USAGE;
            break;
        case 'h': return v12_usage(usage, false);
        default: return v12_usage(usage, true);
        }
    }
    if (argc - optind != 2) {
        v12_errorf("two inputs needed, got %d", argc - optind);
        return V12_EXIT_USAGE;
    }
    if (pa == V12_LAYOUT_COUNT) pa = p;
    if (pb == V12_LAYOUT_COUNT) pb = p;

    struct v12_loaded A = {0}, B = {0};
    struct v12_diag d[1];
    size_t n;
    int ret = v12_load(argv[optind], pa, V12_PADDING_IGNORE, &A, d, 1, &n);
    if (!ret) ret = v12_load(argv[optind + 1], pb, V12_PADDING_IGNORE, &B, d, 1, &n);
    if (ret) goto out;

    ndiff = 0;
    if (!A.raw && !B.raw) {
        const struct v12_blob_header *a = &A.info.hdr, *b = &B.info.hdr;
        show("flags", 1, a->flags, 1, b->flags);
        show("format", 1, a->format, 1, b->format);
        show("size", 1, a->size, 1, b->size);
        show("vmxon_pa", 1, a->vmxon_pa, 1, b->vmxon_pa);
        show("vmcs12_pa", 1, a->vmcs12_pa, 1, b->vmcs12_pa);
        show("smm.flags", 1, a->smm_flags, 1, b->smm_flags);
        show("hdr.vmx.flags", 1, a->vmx_flags, 1, b->vmx_flags);
        show("preemption_timer_deadline", 1, a->preemption_timer_deadline, 1, b->preemption_timer_deadline);
    }
    diff_region("vmcs12", &A, &B, 0);
    diff_region("shadow_vmcs12", &A, &B, 1);
    if (A.info.hdr.format == V12_FORMAT_SVM && B.info.hdr.format == V12_FORMAT_SVM && A.len == B.len &&
        A.len > V12_BLOB_HEADER_SIZE) {
        for (size_t i = V12_BLOB_HEADER_SIZE; i < A.len; i++)
            if (A.buf[i] != B.buf[i]) {
                printf("vmcb12: first difference at offset %zu\n", i);
                ndiff++;
                break;
            }
    }
    if (!ndiff) printf("no differences\n");
    ret = ndiff ? V12_EXIT_DIFFERENT : V12_EXIT_OK;
out:
    v12_loaded_done(&A);
    v12_loaded_done(&B);
    return ret;
}
