#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The committed sample blobs are exactly what the generator produces.
set -euo pipefail
tests=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 "$tests/gen/gen_samples.py" "$out"
diff -r "$out/samples" "$tests/data/samples"
diff -r "$out/bad" "$tests/data/bad"
echo "samples reproducible: $(ls "$out/samples" | wc -l) samples, $(ls "$out/bad" | wc -l) bad files"
