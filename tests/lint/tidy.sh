#!/bin/bash
# SPDX-License-Identifier: MIT
# clang-tidy over the production code with the tree's .clang-tidy (function size limits), using
# the build's compile_commands.json. Exit 0; 1 naming every function over a limit; 77 when
# clang-tidy-14 is not installed.
#
# Usage: tidy.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=${1:?usage: tidy.sh SOURCE_DIR BUILD_DIR} build=${2:?usage: tidy.sh SOURCE_DIR BUILD_DIR}
ct=$(command -v clang-tidy-14 || true)
if [[ -z $ct ]]; then
    echo "tidy: clang-tidy-14 is not installed (apt-get install clang-tidy): skipped" >&2
    exit 77
fi
[[ -f $build/compile_commands.json ]] || { echo "tidy: $build/compile_commands.json is missing (configure with CMAKE_EXPORT_COMPILE_COMMANDS)" >&2; exit 1; }
cd "$src"
mapfile -t files < <(git ls-files 'convert/*.c' 'proto/*.c' 'daemon/*.c' 'cli/*.c' 2>/dev/null ||
    find convert proto daemon cli -name '*.c')
[[ ${#files[@]} -gt 0 ]] || { echo "tidy: no C files found under $src" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# The sanitizer and gcc-only flags of some builds mean nothing to clang: not errors of ours.
if "$ct" -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option "${files[@]}" >"$out" 2>&1; then
    echo "tidy: ${#files[@]} files within .clang-tidy's limits"
    exit 0
fi
grep -E 'warning:|error:|note: [0-9]+ |note: nesting' "$out" >&2 || cat "$out" >&2
exit 1
