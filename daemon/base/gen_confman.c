/* SPDX-License-Identifier: MIT */
/*
 * vmcs12d.conf(5) from its template and config_keys.def: each template line "@KEYS SECTION@"
 * (daemon, tls or peer) becomes that section's keys, in the table's order, each with its value's
 * syntax, whether it is required, its help, its range and its default; "@PROFILES@" becomes the
 * legacy profiles of profiles.def with their kernels. Every other line is copied. The build runs it (CMakeLists.txt); nothing else does.
 *
 *   gen_confman TEMPLATE OUTPUT
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

/* text as an indented scdoc paragraph: lines of at most 96 columns, each starting with a tab. */
static void paragraph(FILE *out, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t n = strlen(p);
        if (n > 96) {
            n = 96;
            while (n > 0 && p[n] != ' ') n--;
            if (n == 0) n = strcspn(p, " ");
        }
        fprintf(out, "\t%.*s\n", (int)n, p);
        p += n;
        while (*p == ' ') p++;
    }
}

static void key_entry(FILE *out, const struct v12_config_key *k)
{
    char tail[256] = "";
    if (k->kind == V12_KIND_UINT)
        snprintf(tail, sizeof(tail), " %llu..%llu%s%s.", k->min, k->max, k->def ? ", default " : "",
                 k->def ? k->def : "");
    else if (k->def) snprintf(tail, sizeof(tail), " Default %s.", k->def);
    char text[1024];
    snprintf(text, sizeof(text), "%s%s", k->help, tail);
    fprintf(out, "*%s* = %s%s\n", k->key, k->arg, k->flags & V12_KEY_REQUIRED ? " (required)" : "");
    paragraph(out, text);
    fputc('\n', out);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_confman TEMPLATE OUTPUT\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    FILE *out = fopen(argv[2], "w");
    if (!out) {
        perror(argv[2]);
        fclose(in);
        return 1;
    }
    size_t n;
    const struct v12_config_key *keys = v12_config_keys(&n);
    char line[1024];
    unsigned lineno = 0, sections = 0;
    int rc = 0;
    while (fgets(line, sizeof(line), in)) {
        lineno++;
        char name[16];
        if (strcmp(line, "@PROFILES@\n") == 0) {
            for (int l = 0; l < V12_LAYOUT_ENCODED; l++)
                fprintf(out, "*%s*\n\tkernels %s\n\n", v12_layout_name((enum v12_layout)l),
                        v12_layout_kernels((enum v12_layout)l));
            continue;
        }
        if (sscanf(line, "@KEYS %15[a-z]@", name) != 1) {
            fputs(line, out);
            continue;
        }
        unsigned found = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(v12_key_section_name(keys[i].section), name) == 0) {
                key_entry(out, &keys[i]);
                found++;
            }
        if (!found) {
            fprintf(stderr, "%s:%u: @KEYS %s@: no such section in config_keys.def\n", argv[1], lineno, name);
            rc = 1;
        }
        sections++;
    }
    if (sections != 3) {
        fprintf(stderr, "%s: %u @KEYS SECTION@ lines, expected 3 (daemon, tls, peer)\n", argv[1], sections);
        rc = 1;
    }
    if (ferror(in) || fclose(out) != 0) {
        fprintf(stderr, "gen_confman: cannot read %s or write %s\n", argv[1], argv[2]);
        rc = 1;
    }
    fclose(in);
    return rc;
}
