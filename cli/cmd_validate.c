/* SPDX-License-Identifier: MIT */
/* vmcs12ctl validate: every KVM rule decidable from the blob, and the padding policy. */
#include <getopt.h>

#include "cli.h"

static const char usage[] =
    "usage: vmcs12ctl validate [--padding strict|ignore] [--profile NAME] [IN]\n"
    "\n"
    "Check a kvm_nested_state blob (or a bare 4096-byte vmcs12 region) against every rule KVM\n"
    "applies on KVM_SET_NESTED_STATE that can be decided from the blob alone, and its padding.\n"
    "Every problem is listed on stderr, one per line. IN defaults to '-'.\n"
    "\n"
    "  --padding strict|ignore   non-zero padding is a problem (strict, default) or not\n"
    "  --profile NAME            legacy profile to read legacy regions with (default linux-6.18)\n"
    "  -h, --help                this text\n"
    "\n"
    "exit: 0 valid, 1 invalid (every problem listed), 2 usage error\n";

#define MAX_PROBLEMS 64

int validate_main(int argc, char **argv)
{
    static const struct option options[] = {{"padding", required_argument, NULL, 'P'},
                                            {"profile", required_argument, NULL, 'p'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    enum v12_layout profile = V12_LAYOUT_LEGACY;
    enum v12_padding padding = V12_PADDING_STRICT;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'P':
            if (v12_opt_padding(optarg, &padding)) return V12_EXIT_USAGE;
            break;
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
    struct v12_diag diags[MAX_PROBLEMS];
    size_t n;
    int ret = v12_load(path, profile, padding, &in, diags, MAX_PROBLEMS, &n);
    if (ret) goto out;
    for (size_t i = 0; i < n && i < MAX_PROBLEMS; i++) v12_diag_error(path, &diags[i]);
    if (n > MAX_PROBLEMS) v12_errorf("%s: %zu more problems not shown", v12_in_name(path), n - MAX_PROBLEMS);
    if (n) {
        v12_errorf("%s: invalid: %zu problem%s", v12_in_name(path), n, n == 1 ? "" : "s");
        ret = V12_EXIT_INVALID;
        goto out;
    }
    if (in.raw) printf("%s: valid vmcs12 region (%s layout)\n", v12_in_name(path), v12_layout_name(in.info.layout));
    else if (in.info.hdr.format == V12_FORMAT_SVM)
        printf("%s: valid SVM nested state, %zu bytes\n", v12_in_name(path), in.len);
    else
        printf("%s: valid VMX nested state, %zu bytes, %u vmcs12 region%s%s%s\n", v12_in_name(path), in.len,
               in.info.nregions, in.info.nregions == 1 ? "" : "s", in.info.nregions ? ", layout " : "",
               in.info.nregions ? v12_layout_name(in.info.layout) : "");
out:
    v12_loaded_done(&in);
    return ret;
}
