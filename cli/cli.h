/* SPDX-License-Identifier: MIT */
#ifndef V12_CLI_H
#define V12_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "io.h"
#include "v12/convert.h"

/* One entry per subcommand; each lives in its own cmd_<name>.c. */
int convert_main(int argc, char **argv);
int inspect_main(int argc, char **argv);
int validate_main(int argc, char **argv);
int layout_main(int argc, char **argv);
int diff_main(int argc, char **argv);
int send_main(int argc, char **argv);
int recv_main(int argc, char **argv);
int status_main(int argc, char **argv);
int ready_main(int argc, char **argv);
int check_main(int argc, char **argv);
int stream_main(int argc, char **argv);
int stream_inspect_main(int argc, char **argv);

/* JSON output: a string with escapes. */
void v12_json_str(FILE *f, const char *s);

/* The conversion report, as text or JSON, on f. */
void v12_report_print(FILE *f, const struct v12_report *rep, enum v12_padding policy, bool json);

/* "<prog>: <input>: <diagnostic>" on stderr. */
void v12_diag_error(const char *input, const struct v12_diag *d);
/* A diagnostic as a JSON object. */
void v12_diag_json(FILE *f, const struct v12_diag *d);

/* Option values shared by subcommands: usage error messages included. */
int v12_opt_profile(const char *arg, enum v12_layout *ret);
int v12_opt_padding(const char *arg, enum v12_padding *ret);

/*
 * The conversion options convert and stream-convert share: --to, --from, --profile,
 * --from-profile, --to-profile, --padding.
 */
enum {
    V12_OPT_TO = 256,
    V12_OPT_FROM,
    V12_OPT_PROFILE,
    V12_OPT_FROM_PROFILE,
    V12_OPT_TO_PROFILE,
    V12_OPT_PADDING,
    V12_OPT_FIRST_FREE
};
#define V12_CONV_OPTIONS                                                                          \
    {"to", required_argument, NULL, V12_OPT_TO}, {"from", required_argument, NULL, V12_OPT_FROM}, \
        {"profile", required_argument, NULL, V12_OPT_PROFILE},                                    \
        {"from-profile", required_argument, NULL, V12_OPT_FROM_PROFILE},                          \
        {"to-profile", required_argument, NULL, V12_OPT_TO_PROFILE},                              \
    {                                                                                             \
        "padding", required_argument, NULL, V12_OPT_PADDING                                       \
    }
struct v12_conv_args {
    enum v12_layout from, to, profile, from_profile, to_profile;
    enum v12_padding padding;
    bool in_place; /* stream-convert --in-place: the output may be the input */
};
void v12_conv_args_init(struct v12_conv_args *a);
/* One of these options? *taken says; 0, or an error code for a bad value (said on stderr). */
int v12_conv_args_opt(struct v12_conv_args *a, int opt, const char *arg, bool *taken);
/* --to given, at most one input, output not the input (unless in_place, when it must be); the
 * resolved options. 0 or exit 2. */
int v12_conv_args_finish(const struct v12_conv_args *a, int argc, char **argv, int optind_, const char *out_path,
                         const char **ret_in, struct v12_convert_opts *ret_opts);

/* Print the usage text to stdout (--help) or stderr (misuse), return the exit code. */
int v12_usage(const char *text, bool misuse);

#endif

#ifndef V12_CLI_LOADED
#define V12_CLI_LOADED
/* An input read for inspect / diff / validate: a blob, or a bare region (4096 bytes). */
struct v12_loaded {
    const char *path;
    uint8_t *buf;
    size_t len;
    bool raw;                  /* a bare vmcs12 region */
    struct v12_blob_info info; /* for raw: nregions 1, layout */
    const uint8_t *region[2];
};
/*
 * Read path and decode its structure (profile for legacy regions). Rule violations go into
 * diags (max) and *ret_count; a structure that cannot be read at all is an error: message
 * printed, exit code returned. 0 when usable.
 */
int v12_load(const char *path, enum v12_layout profile, enum v12_padding padding, struct v12_loaded *ret,
             struct v12_diag *diags, size_t max, size_t *ret_count);
void v12_loaded_done(struct v12_loaded *l);
#endif
