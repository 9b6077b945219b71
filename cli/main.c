/* SPDX-License-Identifier: MIT */
/* vmcs12ctl: the offline CLI. A table of subcommands; each is a thin layer over convert/. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} cmds[] = {
    {"convert", convert_main, "convert a blob or region between the legacy and encoded layouts"},
    {"inspect", inspect_main, "decode a blob: header by name, every non-zero field"},
    {"validate", validate_main, "check a blob against KVM's rules and the padding policy"},
    {"layout", layout_main, "print a layout's field table"},
    {"diff", diff_main, "field-by-field differences between two blobs"},
    {"stream-convert", stream_main, "convert the nested state inside a saved QEMU migration stream"},
    {"stream-inspect", stream_inspect_main, "show every record, device section and nested state of a QEMU stream"},
    {"send", send_main, "relay a blob to a peer through the local vmcs12d; exits 0 once stored there"},
    {"recv", recv_main, "fetch a blob the local vmcs12d has stored"},
    {"status", status_main, "the local vmcs12d's peers and counters"},
    {"check", check_main, "can nested state move between this host and a peer (fields without a place)"},
    {"ready", ready_main, "can the local vmcs12d take a migration now (the libvirt hook asks)"},
};

static int usage(FILE *f)
{
    fprintf(f, "usage: vmcs12ctl COMMAND [OPTIONS]\n       vmcs12ctl --version | --help\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) fprintf(f, "  %-15s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\n'vmcs12ctl COMMAND --help' describes a command.\n");
    return f == stdout ? V12_EXIT_OK : V12_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
        return usage(stdout);
    if (strcmp(argv[1], "--version") == 0) {
        printf("vmcs12ctl %s (%d catalogued VMCS fields; layouts:", V12_VERSION, V12_FIELD_COUNT);
        for (int l = 0; l < V12_LAYOUT_COUNT; l++) printf(" %s", v12_layout_name((enum v12_layout)l));
        printf(")\n");
        return V12_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[1], cmds[i].name) != 0) continue;
        static char prog[64];
        snprintf(prog, sizeof(prog), "vmcs12ctl %s", cmds[i].name);
        v12_prog = prog;
        argv[1] = prog;
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "vmcs12ctl: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
