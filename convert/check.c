/* SPDX-License-Identifier: MIT */
/*
 * Validation of struct kvm_nested_state blobs: every rule KVM applies on
 * KVM_SET_NESTED_STATE that can be decided from the blob alone (nested-state-abi.md 2.1, 2.2
 * and 2.6), in KVM's order, each with its own code. The rules' step numbers are KVM's.
 */
#include <string.h>

#include "internal.h"
#include "v12/convert.h"

struct sink {
    struct v12_diag *d;
    size_t max;
    size_t count;
    int first;
};

static void put(struct sink *s, int code, const char *where, uint32_t offset, uint64_t value, uint64_t expected,
                unsigned flags)
{
    if (!s->first) s->first = code;
    if (s->count < s->max)
        s->d[s->count] = (struct v12_diag){
            .code = code, .where = where, .offset = offset, .value = value, .expected = expected, .flags = flags};
    s->count++;
}

void v12_check_opts_init(struct v12_check_opts *opts)
{
    *opts = (struct v12_check_opts){
        .legacy_profile = V12_LAYOUT_LEGACY,
        .padding = V12_PADDING_STRICT,
        .expect = V12_LAYOUT_AUTO,
    };
}

void v12_blob_header_decode(const uint8_t *in, struct v12_blob_header *h)
{
    *h = (struct v12_blob_header){
        .flags = (uint16_t)v12_load_le(in + 0, 2),
        .format = (uint16_t)v12_load_le(in + 2, 2),
        .size = (uint32_t)v12_load_le(in + 4, 4),
        .vmxon_pa = v12_load_le(in + 8, 8),
        .vmcs12_pa = v12_load_le(in + 16, 8),
        .smm_flags = (uint16_t)v12_load_le(in + 24, 2),
        .pad = (uint16_t)v12_load_le(in + 26, 2),
        .vmx_flags = (uint32_t)v12_load_le(in + 28, 4),
        .preemption_timer_deadline = v12_load_le(in + 32, 8),
        .vmcb_pa = v12_load_le(in + 8, 8),
    };
}

#define EXP V12_DIAG_EXPECTED
#define DEC V12_DIAG_DECIMAL

/* The rules on size and format; returns whether the regions can be located. */
static int check_size(const struct v12_blob_header *h, size_t len, struct sink *s)
{
    int ok = 1;
    if (h->size < V12_BLOB_HEADER_SIZE) {
        put(s, V12_E_SIZE_TOO_SMALL, "size", 4, h->size, V12_BLOB_HEADER_SIZE, DEC | EXP);
        ok = 0;
    }
    if (h->format != V12_FORMAT_VMX && h->format != V12_FORMAT_SVM) {
        put(s, V12_E_FORMAT_UNKNOWN, "format", 2, h->format, 0, DEC);
        return 0;
    }
    uint32_t max = h->format == V12_FORMAT_VMX ? V12_BLOB_MAX_VMX : V12_BLOB_MAX_SVM;
    if (h->size > max) {
        put(s, V12_E_SIZE_TOO_LARGE, "size", 4, h->size, max, DEC | EXP);
        ok = 0;
    }
    if (h->size != len) {
        put(s, V12_E_SIZE_MISMATCH, "size", 4, h->size, len, DEC | EXP);
        ok = 0;
    }
    if (ok && h->format == V12_FORMAT_VMX && (h->size - V12_BLOB_HEADER_SIZE) % V12_REGION_SIZE) {
        uint32_t whole = V12_BLOB_HEADER_SIZE + (h->size - V12_BLOB_HEADER_SIZE) / V12_REGION_SIZE * V12_REGION_SIZE;
        put(s, V12_E_SIZE_PARTIAL_REGION, "size", 4, h->size, whole, DEC | EXP);
        ok = 0;
    }
    return ok;
}

static int page_aligned(uint64_t pa)
{
    return (pa & 0xfffu) == 0;
}

static void check_vmx_header(const struct v12_blob_header *h, struct sink *s)
{
    int vmxon = h->vmxon_pa != V12_INVALID_GPA;
    if (!vmxon && h->smm_flags) put(s, V12_E_SMM_WITHOUT_VMXON, "smm.flags", 24, h->smm_flags, 0, 0); /* 2a */
    if (!vmxon && h->vmcs12_pa != V12_INVALID_GPA)
        put(s, V12_E_VMCS12_PA_WITHOUT_VMXON, "vmcs12_pa", 16, h->vmcs12_pa, V12_INVALID_GPA, EXP); /* 2b */
    if (!vmxon && (h->flags & ~V12_STATE_EVMCS))
        put(s, V12_E_FLAGS_WITHOUT_VMXON, "flags", 0, h->flags, h->flags & V12_STATE_EVMCS, EXP); /* 2c */
    if (vmxon && !page_aligned(h->vmxon_pa))
        put(s, V12_E_VMXON_PA_UNALIGNED, "vmxon_pa", 8, h->vmxon_pa, 0, 0); /* 2e */
    if ((h->smm_flags & V12_SMM_GUEST_MODE) && (h->flags & V12_STATE_GUEST_MODE))
        put(s, V12_E_SMM_GUEST_AND_GUEST_MODE, "smm.flags", 24, h->smm_flags, 0, 0); /* 3 */
    if (h->smm_flags & ~(V12_SMM_GUEST_MODE | V12_SMM_VMXON))
        put(s, V12_E_SMM_FLAGS_UNKNOWN, "smm.flags", 24, h->smm_flags, V12_SMM_GUEST_MODE | V12_SMM_VMXON, EXP); /* 4 */
    if (h->vmx_flags & ~V12_VMX_PREEMPTION_TIMER_DEADLINE)
        put(s, V12_E_VMX_HDR_FLAGS_UNKNOWN, "hdr.vmx.flags", 28, h->vmx_flags, V12_VMX_PREEMPTION_TIMER_DEADLINE,
            EXP); /* 5 */
    if ((h->smm_flags & V12_SMM_GUEST_MODE) && !(h->smm_flags & V12_SMM_VMXON))
        put(s, V12_E_SMM_GUEST_WITHOUT_SMM_VMXON, "smm.flags", 24, h->smm_flags, 0, 0); /* 7 */
}

/* Rules 11, 12a, 12c: does the vmcs12 region agree with the header? */
static void check_vmx_regions(const struct v12_blob_header *h, unsigned nregions, struct sink *s)
{
    if (h->vmxon_pa == V12_INVALID_GPA) return; /* KVM stops at step 9: no VMXON, nothing more read */
    int evmcs = (h->flags & V12_STATE_EVMCS) != 0;
    if (nregions == 0 && ((h->flags & V12_STATE_GUEST_MODE) || evmcs || h->vmcs12_pa != V12_INVALID_GPA))
        put(s, V12_E_VMCS12_MISSING, "size", 4, h->size, V12_VMCS12_OFFSET + V12_REGION_SIZE, DEC | EXP);
    if (h->vmcs12_pa != V12_INVALID_GPA && (h->vmcs12_pa == h->vmxon_pa || !page_aligned(h->vmcs12_pa)))
        put(s, V12_E_VMCS12_PA_INVALID, "vmcs12_pa", 16, h->vmcs12_pa, 0, 0);
    if (nregions > 0 && h->vmcs12_pa == V12_INVALID_GPA && !evmcs)
        put(s, V12_E_VMCS12_WITHOUT_PA, "vmcs12_pa", 16, h->vmcs12_pa, 0, 0);
}

/* Rule 18: KVM reads the shadow region when L2 runs with VMCS shadowing and a link pointer. */
static int shadow_required(const struct v12_blob_header *h, const uint8_t *vmcs12, enum v12_layout layout)
{
    uint64_t cpu, sec, link;
    if (!(h->flags & V12_STATE_GUEST_MODE)) return 0;
    if (v12_region_get(vmcs12, layout, V12_F_cpu_based_vm_exec_control, &cpu) ||
        v12_region_get(vmcs12, layout, V12_F_secondary_vm_exec_control, &sec) ||
        v12_region_get(vmcs12, layout, V12_F_vmcs_link_pointer, &link))
        return 0;
    return (cpu & 0x80000000u) && (sec & 0x4000u) && link != V12_INVALID_GPA;
}

/* Rule 15 and 18 on the regions' revision ids; the regions share one layout. */
static void check_revisions(const uint8_t *in, const struct v12_check_opts *opts, struct v12_blob_info *info,
                            struct sink *s)
{
    for (unsigned i = 0; i < info->nregions; i++) {
        uint32_t base = V12_VMCS12_OFFSET + i * V12_REGION_SIZE;
        const char *where = i ? "shadow vmcs12 revision id" : "vmcs12 revision id";
        uint32_t rev = (uint32_t)v12_load_le(in + base, 4);
        enum v12_layout l;
        if (v12_region_layout(in + base, opts->legacy_profile, &l) != 0) {
            put(s, V12_E_REVISION_UNKNOWN, where, base, rev, V12_REVISION_LEGACY | (i ? V12_SHADOW_BIT : 0), EXP);
            continue;
        }
        enum v12_layout want = i ? info->layout : opts->expect;
        if (want != V12_LAYOUT_AUTO && v12_layout_revision(l) != v12_layout_revision(want)) {
            put(s, V12_E_LAYOUT_MISMATCH, where, base, rev, v12_layout_revision(want) | (rev & V12_SHADOW_BIT), EXP);
            continue;
        }
        if (i == 0) info->layout = want == V12_LAYOUT_AUTO ? l : want;
        if (i == 1 && !(rev & V12_SHADOW_BIT))
            put(s, V12_E_SHADOW_BIT_MISSING, where, base, rev, rev | V12_SHADOW_BIT, EXP);
    }
}

static void check_svm(const struct v12_blob_header *h, struct sink *s)
{
    const uint16_t known = V12_STATE_GUEST_MODE | V12_STATE_RUN_PENDING | V12_STATE_GIF_SET;
    if (h->flags & ~known) put(s, V12_E_FLAGS_UNKNOWN, "flags", 0, h->flags, known, EXP);               /* SVM 2 */
    if (!(h->flags & V12_STATE_GUEST_MODE)) return;                                                     /* SVM 5 */
    if (!page_aligned(h->vmcb_pa)) put(s, V12_E_SVM_VMCB_PA_UNALIGNED, "vmcb_pa", 8, h->vmcb_pa, 0, 0); /* SVM 6 */
    if (h->size < V12_BLOB_MAX_SVM)
        put(s, V12_E_SVM_VMCB12_MISSING, "size", 4, h->size, V12_BLOB_MAX_SVM, DEC | EXP); /* SVM 7 */
}

static void check_region_padding(const uint8_t *in, const struct v12_blob_info *info, enum v12_padding policy,
                                 struct sink *s)
{
    if (policy != V12_PADDING_STRICT) return;
    for (unsigned i = 0; i < info->nregions; i++) {
        uint32_t base = V12_VMCS12_OFFSET + i * V12_REGION_SIZE;
        struct v12_diag d;
        for (unsigned k = 0; k < v12_padding[info->layout].count; k++) {
            if (!v12__padding_scan(in + base, info->layout, k, base, &d)) continue;
            if (!s->first) s->first = d.code;
            if (s->count < s->max) s->d[s->count] = d;
            s->count++;
        }
    }
}

int v12_blob_check(const uint8_t *in, size_t len, const struct v12_check_opts *opts, struct v12_diag *diags, size_t max,
                   size_t *ret_count, struct v12_blob_info *ret_info)
{
    struct v12_diag scratch;
    struct sink s = {.d = diags ? diags : &scratch, .max = diags ? max : 1};
    struct v12_blob_info info = {.layout = V12_LAYOUT_AUTO};
    struct v12_check_opts defaults;
    if (!opts) v12_check_opts_init(&defaults), opts = &defaults;

    if (!in || len < V12_BLOB_HEADER_SIZE) {
        put(&s, V12_E_BLOB_TRUNCATED, "blob length", 0, len, V12_BLOB_HEADER_SIZE, DEC | EXP);
        goto out;
    }
    v12_blob_header_decode(in, &info.hdr);
    const struct v12_blob_header *h = &info.hdr;
    int located = check_size(h, len, &s);
    if (h->format != V12_FORMAT_VMX && h->format != V12_FORMAT_SVM) goto out;

    if (h->format == V12_FORMAT_VMX && (h->flags & ~V12_STATE_FLAGS_KNOWN))
        put(&s, V12_E_FLAGS_UNKNOWN, "flags", 0, h->flags, V12_STATE_FLAGS_KNOWN, EXP);
    if ((h->flags & V12_STATE_RUN_PENDING) && !(h->flags & V12_STATE_GUEST_MODE))
        put(&s, V12_E_RUN_PENDING_WITHOUT_GUEST_MODE, "flags", 0, h->flags, 0, 0);

    if (h->format == V12_FORMAT_SVM) {
        check_svm(h, &s);
        info.nregions = located && h->size >= V12_BLOB_MAX_SVM;
        goto out;
    }
    check_vmx_header(h, &s);
    if (!located) goto out;
    info.nregions = (h->size - V12_BLOB_HEADER_SIZE) / V12_REGION_SIZE;
    check_vmx_regions(h, info.nregions, &s);
    size_t before = s.count;
    check_revisions(in, opts, &info, &s);
    if (info.nregions == 0 || s.count != before) goto out;
    info.shadow_required = shadow_required(h, in + V12_VMCS12_OFFSET, info.layout);
    if (info.shadow_required && info.nregions < 2)
        put(&s, V12_E_SHADOW_MISSING, "size", 4, h->size, V12_BLOB_MAX_VMX, DEC | EXP);
    check_region_padding(in, &info, opts->padding, &s);
out:
    if (ret_count) *ret_count = s.count;
    if (ret_info) *ret_info = info;
    return s.first;
}
