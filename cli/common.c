/* SPDX-License-Identifier: MIT */
/* What the subcommands share: messages, option values, the report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void v12_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f) /* control bytes, and bytes that need not be UTF-8 */
            fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void v12_diag_error(const char *input, const struct v12_diag *d)
{
    struct v12_errmsg msg = {""};
    (void)v12_diag_format(d, &msg);
    v12_errorf("%s: %s [%s]", v12_in_name(input), msg.text, v12_err_name(d->code));
}

void v12_diag_json(FILE *f, const struct v12_diag *d)
{
    struct v12_errmsg msg = {""};
    (void)v12_diag_format(d, &msg);
    fprintf(f, "{\"code\":");
    v12_json_str(f, v12_err_name(d->code));
    fprintf(f, ",\"where\":");
    v12_json_str(f, d->where ? d->where : "");
    fprintf(f, ",\"offset\":%u,\"value\":%llu", d->offset, (unsigned long long)d->value);
    if (d->flags & V12_DIAG_RANGE) fprintf(f, ",\"start\":%u,\"end\":%u,\"nonzero\":%u", d->start, d->end, d->count);
    if (d->flags & V12_DIAG_EXPECTED) fprintf(f, ",\"expected\":%llu", (unsigned long long)d->expected);
    fprintf(f, ",\"message\":");
    v12_json_str(f, msg.text);
    fputc('}', f);
}

int v12_opt_profile(const char *arg, enum v12_layout *ret)
{
    int r = v12_profile_from_name(arg, ret);
    if (r == 0) return 0;
    char known[160] = "legacy"; /* and the profiles of profiles.def */
    for (int l = 0; l < V12_LAYOUT_ENCODED; l++)
        snprintf(known + strlen(known), sizeof(known) - strlen(known), ", %s", v12_layout_name((enum v12_layout)l));
    v12_errorf("unknown profile '%s' (known: %s)", arg, known);
    return r;
}

int v12_opt_padding(const char *arg, enum v12_padding *ret)
{
    int r = v12_padding_from_name(arg, ret);
    if (r == 0) return 0;
    v12_errorf("unknown padding policy '%s' (strict or ignore)", arg);
    return r;
}

int v12_usage(const char *text, bool misuse)
{
    fputs(text, misuse ? stderr : stdout);
    return misuse ? V12_EXIT_USAGE : V12_EXIT_OK;
}

static const char *region_name(unsigned r)
{
    return r ? "shadow vmcs12" : "vmcs12";
}

void v12_report_print(FILE *f, const struct v12_report *rep, enum v12_padding policy, bool json)
{
    if (json) {
        fprintf(f,
                "{\"from\":\"%s\",\"to\":\"%s\",\"padding\":\"%s\",\"regions\":%u,\"fields_converted\":%u,"
                "\"fields_nonzero\":%u,\"bytes_dropped\":%u,\"dropped\":[",
                v12_layout_name(rep->from), v12_layout_name(rep->to), v12_padding_name(policy), rep->nregions,
                rep->fields_converted, rep->fields_nonzero, rep->bytes_dropped);
        for (unsigned i = 0; i < rep->ndrops; i++)
            fprintf(f, "%s{\"region\":\"%s\",\"start\":%u,\"end\":%u,\"nonzero\":%u}", i ? "," : "",
                    region_name(rep->drops[i].region), rep->drops[i].start, rep->drops[i].end, rep->drops[i].nonzero);
        fprintf(f, "],\"warnings\":[");
        for (unsigned i = 0; i < rep->nwarnings; i++) {
            if (i) fputc(',', f);
            v12_diag_json(f, &rep->warnings[i]);
        }
        fprintf(f, "]}\n");
        return;
    }
    fprintf(f, "conversion: %s -> %s, padding %s\n", v12_layout_name(rep->from), v12_layout_name(rep->to),
            v12_padding_name(policy));
    fprintf(f, "regions: %u%s\n", rep->nregions,
            rep->nregions == 2   ? " (vmcs12, shadow vmcs12)"
            : rep->nregions == 1 ? " (vmcs12)"
                                 : "");
    fprintf(f, "fields: %u converted, %u non-zero\n", rep->fields_converted, rep->fields_nonzero);
    fprintf(f, "dropped: %u non-zero padding byte%s\n", rep->bytes_dropped, rep->bytes_dropped == 1 ? "" : "s");
    for (unsigned i = 0; i < rep->ndrops; i++)
        fprintf(f, "  %s bytes %u..%u: %u non-zero\n", region_name(rep->drops[i].region), rep->drops[i].start,
                rep->drops[i].end - 1, rep->drops[i].nonzero);
    for (unsigned i = 0; i < rep->nwarnings; i++) {
        struct v12_errmsg msg = {""};
        (void)v12_diag_format(&rep->warnings[i], &msg);
        fprintf(f, "warning: %s\n", msg.text);
    }
}

int v12_load(const char *path, enum v12_layout profile, enum v12_padding padding, struct v12_loaded *ret,
             struct v12_diag *diags, size_t max, size_t *ret_count)
{
    *ret = (struct v12_loaded){.path = path};
    *ret_count = 0;
    int r = v12_read_input(path, V12_BLOB_MAX, &ret->buf, &ret->len);
    if (r) {
        v12_errorf("%s: cannot read input: %s", v12_in_name(path), v12_strerror(r));
        return V12_EXIT_INVALID;
    }
    if (ret->len == V12_REGION_SIZE) {
        /* No blob is 4096 bytes long (128 + n * 4096): this is a bare region. */
        ret->raw = true;
        enum v12_layout l;
        r = v12_region_layout(ret->buf, profile, &l);
        if (r) {
            struct v12_diag d = {.code = r,
                                 .where = "vmcs12 revision id",
                                 .value = v12_load_le(ret->buf, 4),
                                 .expected = V12_REVISION_LEGACY,
                                 .flags = V12_DIAG_EXPECTED};
            v12_diag_error(path, &d);
            return V12_EXIT_INVALID;
        }
        ret->info.nregions = 1;
        ret->info.layout = l;
        ret->region[0] = ret->buf;
        if (padding == V12_PADDING_STRICT) {
            /* Reuse the converter's own check: converting to the same layout checks padding. */
            struct v12_convert_opts o;
            v12_convert_opts_init(&o);
            o.from = l;
            o.to = l;
            uint8_t scratch[V12_REGION_SIZE];
            struct v12_diag d;
            if (v12_region_convert(ret->buf, scratch, &o, V12_REGION_PRIMARY, NULL, &d) != 0) {
                if (max) diags[0] = d;
                *ret_count = 1;
            }
        }
        return 0;
    }
    struct v12_check_opts co;
    v12_check_opts_init(&co);
    co.legacy_profile = profile;
    co.padding = padding;
    int first = v12_blob_check(ret->buf, ret->len, &co, diags, max, ret_count, &ret->info);
    (void)first; /* every problem is in diags; the structure decides below */
    if (ret->len < V12_BLOB_HEADER_SIZE || ret->info.hdr.size != ret->len ||
        (ret->info.hdr.format != V12_FORMAT_VMX && ret->info.hdr.format != V12_FORMAT_SVM)) {
        /* The structure itself is unreadable: report the first problem and stop. */
        v12_diag_error(path, &diags[0]);
        return V12_EXIT_INVALID;
    }
    if (ret->info.hdr.format == V12_FORMAT_VMX && ret->info.layout != V12_LAYOUT_AUTO)
        for (unsigned i = 0; i < ret->info.nregions && i < 2; i++)
            ret->region[i] = ret->buf + V12_VMCS12_OFFSET + i * V12_REGION_SIZE;
    else if (ret->info.hdr.format == V12_FORMAT_VMX) ret->info.nregions = 0;
    return 0;
}

void v12_loaded_done(struct v12_loaded *l)
{
    free(l->buf);
    l->buf = NULL;
}

void v12_conv_args_init(struct v12_conv_args *a)
{
    *a = (struct v12_conv_args){.from = V12_LAYOUT_AUTO,
                                .to = V12_LAYOUT_COUNT,
                                .profile = V12_LAYOUT_LEGACY,
                                .from_profile = V12_LAYOUT_COUNT,
                                .to_profile = V12_LAYOUT_COUNT};
}

/* "auto", "legacy" or "encoded"; legacy stands for whichever profile applies. */
static int side_from_name(const char *s, bool allow_auto, enum v12_layout *ret)
{
    if (allow_auto && strcmp(s, "auto") == 0) *ret = V12_LAYOUT_AUTO;
    else if (strcmp(s, "legacy") == 0) *ret = V12_LAYOUT_LEGACY;
    else if (strcmp(s, "encoded") == 0) *ret = V12_LAYOUT_ENCODED;
    else {
        v12_errorf("unknown layout '%s' (%s)", s, allow_auto ? "auto, legacy or encoded" : "legacy or encoded");
        return V12_E_INVALID_ARGUMENT;
    }
    return 0;
}

int v12_conv_args_opt(struct v12_conv_args *a, int opt, const char *arg, bool *taken)
{
    *taken = true;
    switch (opt) {
    case V12_OPT_TO: return side_from_name(arg, false, &a->to);
    case V12_OPT_FROM: return side_from_name(arg, true, &a->from);
    case V12_OPT_PROFILE: return v12_opt_profile(arg, &a->profile);
    case V12_OPT_FROM_PROFILE: return v12_opt_profile(arg, &a->from_profile);
    case V12_OPT_TO_PROFILE: return v12_opt_profile(arg, &a->to_profile);
    case V12_OPT_PADDING: return v12_opt_padding(arg, &a->padding);
    default: *taken = false; return 0;
    }
}

int v12_conv_args_finish(const struct v12_conv_args *a, int argc, char **argv, int optind_, const char *out_path,
                         const char **ret_in, struct v12_convert_opts *ret_opts)
{
    if (a->to == V12_LAYOUT_COUNT) {
        v12_errorf("--to legacy|encoded is required");
        return V12_EXIT_USAGE;
    }
    if (argc - optind_ > 1) {
        v12_errorf("one input at most, got %d", argc - optind_);
        return V12_EXIT_USAGE;
    }
    const char *in_path = optind_ < argc ? argv[optind_] : "-";
    if (a->in_place) {
        if (strcmp(in_path, "-") == 0) {
            v12_errorf("--in-place needs an input file, not standard input");
            return V12_EXIT_USAGE;
        }
        if (!v12_check_distinct(in_path, out_path)) {
            v12_errorf("--in-place: output '%s' is not the input '%s' (leave -o out, or name the input)", out_path,
                       in_path);
            return V12_EXIT_USAGE;
        }
    } else if (v12_check_distinct(in_path, out_path)) {
        v12_errorf("output '%s' is the input file; refusing to overwrite the input (stream-convert --in-place does, "
                   "keeping a backup until the new file is synced)",
                   out_path);
        return V12_EXIT_USAGE;
    }
    enum v12_layout fp = a->from_profile == V12_LAYOUT_COUNT ? a->profile : a->from_profile;
    enum v12_layout tp = a->to_profile == V12_LAYOUT_COUNT ? a->profile : a->to_profile;
    v12_convert_opts_init(ret_opts);
    ret_opts->legacy_profile = fp;
    ret_opts->from = a->from == V12_LAYOUT_LEGACY ? fp : a->from;
    ret_opts->to = a->to == V12_LAYOUT_LEGACY ? tp : a->to;
    ret_opts->padding = a->padding;
    *ret_in = in_path;
    return 0;
}
