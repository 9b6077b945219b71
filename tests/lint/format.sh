#!/bin/bash
# SPDX-License-Identifier: MIT
# The tree's C is formatted as .clang-format says (docs/contributing.md). Exit 0; 1 naming every
# file clang-format would change (run `clang-format-14 -i FILE` to fix it); 77 when
# clang-format-14 is not installed, since other versions format some constructs differently.
#
# Usage: format.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: format.sh SOURCE_DIR}
cf=$(command -v clang-format-14 || true)
if [[ -z $cf ]]; then
    echo "format: clang-format-14 is not installed (apt-get install clang-format): skipped" >&2
    exit 77
fi
cd "$src"
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find convert proto daemon cli tests bench -name '*.[ch]')
[[ ${#files[@]} -gt 0 ]] || { echo "format: no C files found under $src" >&2; exit 1; }
bad=()
for f in "${files[@]}"; do
    "$cf" --dry-run -Werror --style=file "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [[ ${#bad[@]} -gt 0 ]]; then
    for f in "${bad[@]}"; do echo "format: $f differs from .clang-format (fix: clang-format-14 -i $f)" >&2; done
    exit 1
fi
echo "format: ${#files[@]} files as .clang-format says"
