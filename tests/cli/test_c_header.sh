#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `vmcs12ctl layout --format c-header`: for every layout and profile the generated header
# compiles as C11 with warnings as errors (gcc, and clang where installed), every field's
# offsetof and size and the header's encoding -> offset function agree with the catalogue
# (`layout --json`), invalid encodings are refused, and the header's _Static_asserts fail the
# build when a reserved gap is one byte off.
set -uo pipefail
C=$1
T=$(mktemp -d /tmp/v12hdr.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

COMPILERS=(gcc)
command -v clang >/dev/null && COMPILERS+=(clang)
LAYOUTS=$("$C" --version | sed -n 's/.*layouts: \(.*\))$/\1/p')
[ -n "$LAYOUTS" ] || { echo "FAIL: no layouts in vmcs12ctl --version" >&2; exit 1; }

for L in $LAYOUTS; do
    if [ "$L" = encoded ]; then args=(--layout encoded); else args=(--layout legacy --profile "$L"); fi
    "$C" layout "${args[@]}" --format c-header >"$T/$L.h" || { bad "$L: layout --format c-header failed"; continue; }
    "$C" layout "${args[@]}" --json >"$T/$L.json" || { bad "$L: layout --json failed"; continue; }
    # The check program, from the catalogue's JSON (not from the header).
    python3 - "$T/$L.json" "$L" "$T/check-$L.c" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
layout = sys.argv[2]
ident = "".join(c if c.isalnum() else "_" for c in layout)
out = open(sys.argv[3], "w")
w = out.write
w('#include "%s.h"\n#include <stdio.h>\n\n' % layout)
w("#define S struct vmcs12_%s\n#define FN vmcs12_%s_offset\n" % (ident, ident))
w("static int fails;\n")
w("static void at(const char *what, uint32_t enc, int want_ok, uint32_t want_off, uint32_t want_size)\n{\n"
  "\tuint32_t off = 0, size = 0;\n\tint r = FN(enc, &off, &size);\n"
  "\tif (want_ok ? (r != 0 || off != want_off || size != want_size) : r != -1) {\n"
  "\t\tprintf(\"%s: encoding 0x%04x gives %d, 0x%03x, %u; want %s 0x%03x, %u\\n\", what, enc, r, off, size,\n"
  "\t\t       want_ok ? \"0,\" : \"-1\", want_off, want_size);\n\t\tfails++;\n\t}\n}\n\n")
w("int main(void)\n{\n")
names = set()
for f in doc["fields"]:
    n, o, z, e = f["name"], f["offset"], f["size"], f["encoding"]
    names.add(n)
    w('\tif (offsetof(S, %s) != %d || sizeof(((S *)0)->%s) != %d) {\n'
      '\t\tprintf("%s: offset %%zu size %%zu, catalogue %d %d\\n", offsetof(S, %s), sizeof(((S *)0)->%s));\n'
      '\t\tfails++;\n\t}\n' % (n, o, n, z, n, o, z, n, n))
    w('\tat("%s", 0x%04x, 1, 0x%03x, %d);\n' % (n, e, o, z))
    if f["width"] == "64":
        w('\tat("%s high", 0x%04x, 1, 0x%03x, 4);\n' % (n, e | 1, o + 4))
    else:
        w('\tat("%s high (none)", 0x%04x, 0, 0, 0);\n' % (n, e | 1))
    w('\tat("%s with bit 12", 0x%04x, 0, 0, 0);\n' % (n, e | 0x1000))
    w('\tat("%s with bit 15", 0x%04x, 0, 0, 0);\n' % (n, e | 0x8000))
if layout == "encoded":
    # The formula, not a table: an uncatalogued slot inside capacity has its place...
    w('\tat("16-bit control index 8 (uncatalogued)", 0x0010, 1, 0x050, 2);\n')
    w('\tat("natural guest index 63 (uncatalogued)", 0x687e, 1, 0xef8, 8);\n')
    # ... and an index beyond capacity is refused, never masked.
    for enc, what in ((0x0040, "16-bit control index 32"), (0x0400, "16-bit exit info (no home)"),
                      (0x2080, "64-bit control index 64"), (0x4880, "32-bit guest index 64"),
                      (0x6c40, "natural host index 32"), (0x2040 | 0x200, "64-bit control index 288")):
        w('\tat("%s", 0x%04x, 0, 0, 0);\n' % (what, enc))
else:
    w('\tat("tertiary controls (not in any legacy layout)", 0x2034, 0, 0, 0);\n')
w('\tif (VMCS12_%s_NR_FIELDS != %d) { printf("NR_FIELDS\\n"); fails++; }\n' % (ident.upper(), len(doc["fields"])))
w('\tif (VMCS12_%s_REVISION_ID != %du) { printf("REVISION_ID\\n"); fails++; }\n' % (ident.upper(), doc["revision_id"]))
w('\tprintf("%s: %d fields checked, %%d failures\\n", fails);\n\treturn fails != 0;\n}\n' % (layout, len(doc["fields"])))
EOF
    for CC in "${COMPILERS[@]}"; do
        if ! "$CC" -std=c11 -Wall -Wextra -Werror -pedantic -I"$T" -o "$T/check-$L-$CC" "$T/check-$L.c" 2>"$T/cc.err"; then
            bad "$L: $CC -std=c11 -Wall -Wextra -Werror -pedantic failed: $(head -5 "$T/cc.err")"
            continue
        fi
        if "$T/check-$L-$CC" >"$T/run.out"; then ok; else bad "$L ($CC): $(head -5 "$T/run.out")"; fi
    done
    # Teeth: one byte less of the first reserved gap must break the build at the next field's assert.
    sed -E '0,/reserved_0x00c\[([0-9]+)\]/s//reserved_0x00c[\1 - 1]/' "$T/$L.h" >"$T/broken.h"
    if cmp -s "$T/$L.h" "$T/broken.h"; then
        bad "$L: no reserved_0x00c gap to break"
    else
        printf '#include "broken.h"\n' >"$T/broken.c"
        if gcc -std=c11 -Wall -Werror -I"$T" -c -o "$T/broken.o" "$T/broken.c" 2>"$T/broken.err"; then
            bad "$L: a header one byte off still compiles"
        elif grep -q "static assertion failed" "$T/broken.err"; then ok
        else bad "$L: the broken header failed for another reason: $(head -3 "$T/broken.err")"; fi
    fi
done

# Usage errors name the value.
out=$("$C" layout --format yaml 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "unknown format 'yaml'" <<<"$out"; then ok; else bad "--format yaml: rc $rc: $out"; fi

echo "c-header: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
