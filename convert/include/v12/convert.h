/* SPDX-License-Identifier: MIT */
#ifndef V12_CONVERT_H
#define V12_CONVERT_H

/*
 * The converter: validation of struct kvm_nested_state blobs and conversion of their vmcs12
 * regions between the legacy and the encoded layout (encoded-layout.md sections 4 and 5).
 *
 * Pure: no I/O, no logging, no allocation. Inputs are read-only spans, outputs caller
 * buffers of the same size as the input. A failed call writes nothing to its output.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "v12/errors.h"
#include "v12/layout.h"

#define V12_BLOB_HEADER_SIZE 128u
#define V12_BLOB_MAX_VMX (128u + 2u * 4096u) /* 8320 */
#define V12_BLOB_MAX_SVM (128u + 4096u)      /* 4224 */
#define V12_BLOB_MAX V12_BLOB_MAX_VMX

#define V12_FORMAT_VMX 0u
#define V12_FORMAT_SVM 1u

#define V12_STATE_GUEST_MODE 0x0001u
#define V12_STATE_RUN_PENDING 0x0002u
#define V12_STATE_EVMCS 0x0004u
#define V12_STATE_MTF_PENDING 0x0008u
#define V12_STATE_GIF_SET 0x0100u
#define V12_STATE_FLAGS_KNOWN 0x010fu
#define V12_SMM_GUEST_MODE 0x0001u
#define V12_SMM_VMXON 0x0002u
#define V12_VMX_PREEMPTION_TIMER_DEADLINE 0x0001u
#define V12_INVALID_GPA UINT64_MAX

/* Where a region sits in a blob. */
#define V12_VMCS12_OFFSET 128u
#define V12_SHADOW_OFFSET (128u + 4096u)

/* A diagnostic: which rule failed, where, and with which value. */
#define V12_DIAG_DECIMAL 0x1u  /* print value (and expected) in decimal */
#define V12_DIAG_EXPECTED 0x2u /* expected is meaningful */
#define V12_DIAG_RANGE 0x4u    /* a byte range: [start, end), count non-zero bytes, first at offset */
struct v12_diag {
    int code;          /* a V12_E_* code, or a V12_W_* warning */
    const char *where; /* static text: the field, header member or padding area concerned */
    uint32_t offset;   /* byte offset in the input (blob offset for blobs) */
    uint64_t value;    /* the value found there */
    uint64_t expected;
    uint32_t base;  /* with V12_DIAG_RANGE: where the region starts in the input */
    uint32_t start; /* with V12_DIAG_RANGE, input offsets */
    uint32_t end;
    uint32_t count;
    unsigned flags;
};

/* Append the diagnostic as one line (no newline) to m's text; returns d->code. */
int v12_diag_format(const struct v12_diag *d, struct v12_errmsg *m);

enum v12_padding { V12_PADDING_STRICT = 0, V12_PADDING_IGNORE = 1 };
int v12_padding_from_name(const char *name, enum v12_padding *ret) V12_MUST_USE;
const char *v12_padding_name(enum v12_padding p);

/* The conversion report. */
#define V12_REPORT_MAX_DROPS 160
#define V12_REPORT_MAX_WARNINGS 8
struct v12_drop {
    uint8_t region; /* 0 = vmcs12, 1 = shadow vmcs12 */
    uint16_t start; /* padding range [start, end) inside the region */
    uint16_t end;
    uint16_t nonzero; /* non-zero bytes dropped from it */
};
struct v12_report {
    enum v12_layout from;
    enum v12_layout to;
    uint8_t nregions;          /* vmcs12 regions converted (0, 1 or 2) */
    bool shadow_region;        /* the second region is the shadow vmcs12 */
    uint32_t fields_converted; /* fields carried from source to target, all regions */
    uint32_t fields_nonzero;   /* of those, how many were non-zero */
    uint32_t bytes_dropped;    /* non-zero padding bytes dropped (ignore policy) */
    uint16_t ndrops;
    struct v12_drop drops[V12_REPORT_MAX_DROPS];
    uint16_t nwarnings;
    struct v12_diag warnings[V12_REPORT_MAX_WARNINGS];
};

struct v12_convert_opts {
    enum v12_layout from;           /* a layout, or V12_LAYOUT_AUTO (by revision id) */
    enum v12_layout legacy_profile; /* the profile of a legacy source found by AUTO */
    enum v12_layout to;
    enum v12_padding padding;
};
/* from = AUTO, legacy_profile = legacy, to = encoded, strict. */
void v12_convert_opts_init(struct v12_convert_opts *opts);

enum v12_region_kind { V12_REGION_PRIMARY = 0, V12_REGION_SHADOW = 1 };

/*
 * Convert a bare 4096-byte vmcs12 region. in and out must not overlap. On error out is
 * untouched and *ret_diag says why.
 */
int v12_region_convert(const uint8_t *in, uint8_t *out, const struct v12_convert_opts *opts, enum v12_region_kind kind,
                       struct v12_report *rep, struct v12_diag *ret_diag) V12_MUST_USE;

/*
 * Convert a whole kvm_nested_state blob of len bytes into out (out_size >= len; the result is
 * len bytes). The blob is validated first (v12_blob_check rules); SVM blobs are copied
 * unchanged. On error out is untouched and *ret_diag names the first problem.
 */
int v12_blob_convert(const uint8_t *in, size_t len, uint8_t *out, size_t out_size, const struct v12_convert_opts *opts,
                     struct v12_report *rep, struct v12_diag *ret_diag) V12_MUST_USE;

/* The decoded 128-byte header. */
struct v12_blob_header {
    uint16_t flags;
    uint16_t format;
    uint32_t size;
    uint64_t vmxon_pa; /* VMX */
    uint64_t vmcs12_pa;
    uint16_t smm_flags;
    uint16_t pad;
    uint32_t vmx_flags;
    uint64_t preemption_timer_deadline;
    uint64_t vmcb_pa; /* SVM (same bytes as vmxon_pa) */
};
void v12_blob_header_decode(const uint8_t *in, struct v12_blob_header *ret);

/* What a blob holds, once its structure has been checked. */
struct v12_blob_info {
    struct v12_blob_header hdr;
    unsigned nregions;      /* VMX: vmcs12 regions present (0..2); SVM: vmcb12 present (0..1) */
    enum v12_layout layout; /* of the VMX regions (profile = opts' for legacy), if nregions */
    bool shadow_required;   /* KVM would read the shadow region (rule 18) */
};

struct v12_check_opts {
    enum v12_layout legacy_profile; /* how to read legacy regions */
    enum v12_padding padding;       /* strict: non-zero padding is a problem */
    enum v12_layout expect;         /* V12_LAYOUT_AUTO, or the layout the regions must be in */
};
void v12_check_opts_init(struct v12_check_opts *opts);

/*
 * Validate a blob against every rule decidable from the blob alone (nested-state-abi.md
 * 2.1, 2.2, 2.6) plus the layout's padding. Every problem found goes into diags (at most
 * max; *ret_count is the total found, which may exceed max). Returns 0 if valid, else the
 * first problem's code. ret_info (optional) is filled when the structure could be read.
 */
int v12_blob_check(const uint8_t *in, size_t len, const struct v12_check_opts *opts, struct v12_diag *diags, size_t max,
                   size_t *ret_count, struct v12_blob_info *ret_info) V12_MUST_USE;

/* The layout a region's revision names (legacy regions get legacy_profile). */
int v12_region_layout(const uint8_t *region, enum v12_layout legacy_profile, enum v12_layout *ret) V12_MUST_USE;

/* Read a field of a region in a given layout; FIELD_NO_HOME if the layout lacks it. */
int v12_region_get(const uint8_t *region, enum v12_layout layout, enum v12_field_id field, uint64_t *ret) V12_MUST_USE;

#endif
