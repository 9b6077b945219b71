/* SPDX-License-Identifier: MIT */
/* vmcs12ctl convert: legacy <-> encoded, and legacy -> legacy between profiles. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] = "usage: vmcs12ctl convert --to legacy|encoded [options] [IN]\n"
                            "\n"
                            "Convert a kvm_nested_state blob (or with --raw a bare 4096-byte vmcs12 region) between\n"
                            "KVM's legacy vmcs12 layout and the encoding-derived layout. IN and OUT default to '-'.\n"
                            "Nothing is written unless the whole conversion succeeds.\n"
                            "\n"
                            "  --to legacy|encoded       target layout (required)\n"
                            "  --from auto|legacy|encoded source layout; auto (default) reads the revision id\n"
                            "  --profile NAME            legacy profile of the legacy side(s) (default linux-6.18)\n"
                            "  --from-profile NAME       legacy profile of the input (overrides --profile)\n"
                            "  --to-profile NAME         legacy profile of the output (overrides --profile)\n"
                            "  --padding strict|ignore   non-zero padding: reject (default) or drop and report\n"
                            "  --raw                     IN is a bare 4096-byte vmcs12 region\n"
                            "  --report                  print the conversion report on stderr\n"
                            "  --json                    the report as JSON\n"
                            "  -o, --output OUT          output file (default '-')\n"
                            "  -h, --help                this text\n"
                            "\n"
                            "profiles: linux-4.19, linux-5.13, linux-5.14, linux-6.18 (legacy = linux-6.18)\n"
                            "exit: 0 converted, 1 invalid input or I/O error, 2 usage error\n";

enum { OPT_RAW = V12_OPT_FIRST_FREE, OPT_REPORT, OPT_JSON };

static const struct option options[] = {
    V12_CONV_OPTIONS,
    {"raw", no_argument, NULL, OPT_RAW},
    {"report", no_argument, NULL, OPT_REPORT},
    {"json", no_argument, NULL, OPT_JSON},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {0},
};

int convert_main(int argc, char **argv)
{
    struct v12_conv_args args;
    v12_conv_args_init(&args);
    bool raw = false, report = false, json = false;
    const char *out_path = "-";
    int c;

    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        bool taken;
        if (v12_conv_args_opt(&args, c, optarg, &taken)) return V12_EXIT_USAGE;
        if (taken) continue;
        switch (c) {
        case OPT_RAW: raw = true; break;
        case OPT_REPORT: report = true; break;
        case OPT_JSON: json = true; break;
        case 'o': out_path = optarg; break;
        case 'h': return v12_usage(usage, false);
        default: return v12_usage(usage, true);
        }
    }
    const char *in_path;
    struct v12_convert_opts opts;
    int u = v12_conv_args_finish(&args, argc, argv, optind, out_path, &in_path, &opts);
    if (u) return u;
    enum v12_padding padding = opts.padding;

    uint8_t *in = NULL, *out = NULL;
    size_t len = 0;
    int ret = V12_EXIT_INVALID;
    int r = v12_read_input(in_path, raw ? V12_REGION_SIZE : V12_BLOB_MAX, &in, &len);
    if (r) {
        v12_errorf("%s: cannot read input: %s%s [%s]", v12_in_name(in_path), v12_strerror(r),
                   r == V12_E_INPUT_TOO_LARGE ? (raw ? " (a region is 4096 bytes)" : " (a blob is at most 8320 bytes)")
                                              : "",
                   v12_err_name(r));
        goto out;
    }
    out = malloc(len ? len : 1);
    if (!out) {
        v12_errorf("out of memory");
        goto out;
    }
    struct v12_report rep;
    struct v12_diag diag;
    if (raw && len != V12_REGION_SIZE) {
        diag = (struct v12_diag){.code = V12_E_REGION_SIZE,
                                 .where = "input length",
                                 .value = len,
                                 .expected = V12_REGION_SIZE,
                                 .flags = V12_DIAG_DECIMAL | V12_DIAG_EXPECTED};
        r = diag.code;
    } else if (raw) {
        r = v12_region_convert(in, out, &opts, V12_REGION_PRIMARY, &rep, &diag);
    } else {
        r = v12_blob_convert(in, len, out, len, &opts, &rep, &diag);
    }
    if (r) {
        v12_diag_error(in_path, &diag);
        goto out;
    }
    r = v12_write_output(out_path, out, len);
    if (r) {
        v12_errorf("%s: cannot write output: %s [%s]", v12_out_name(out_path), v12_strerror(r), v12_err_name(r));
        goto out;
    }
    if (report) v12_report_print(stderr, &rep, padding, json);
    ret = V12_EXIT_OK;
out:
    free(in);
    free(out);
    return ret;
}
