#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The previous release (contrib/previous-release: its commit and version), built once from this
# repository's history for the upgrade and interoperability tests.
#   previous.sh SRC   build it (if not built yet) and print its directory, which holds
#                     build/daemon/vmcs12d, build/cli/vmcs12ctl and deb/vmcs12d_VERSION_*.deb
# Exit 3 when SRC is not a git checkout holding that commit (the caller says what that means).
# Built under $V12_RELEASE_ROOT (default /var/tmp/vmcs12d-release)/COMMIT, one builder at a time.
set -euo pipefail
SRC=$(cd "${1:?usage: previous.sh SRC}" && pwd)
ROOT=${V12_RELEASE_ROOT:-/var/tmp/vmcs12d-release}
commit=$(awk '$1 == "commit" {print $2}' "$SRC/contrib/previous-release")
version=$(awk '$1 == "version" {print $2}' "$SRC/contrib/previous-release")
[[ $commit =~ ^[0-9a-f]{40}$ ]] || { echo "contrib/previous-release: no commit line" >&2; exit 2; }
if ! git -C "$SRC" cat-file -e "$commit^{commit}" 2>/dev/null; then
    echo "$SRC has no commit $commit (the previous release, contrib/previous-release): not a full git clone" >&2
    exit 3
fi
R=$ROOT/$commit
mkdir -p "$ROOT"
exec 9>"$R.lock"
flock 9
if [ ! -e "$R/.built" ]; then
    rm -rf "$R"
    mkdir -p "$R/src"
    echo "== building the previous release $version ($commit) into $R" >&2
    git -C "$SRC" archive "$commit" | tar -x -C "$R/src"
    {
        cmake -S "$R/src" -B "$R/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
            cmake --build "$R/build" -j "$(nproc 2>/dev/null || echo 2)" &&
            (cd "$R/build" && cpack -G DEB -B "$R/deb")
    } >"$R/build.log" 2>&1 || { tail -30 "$R/build.log" >&2; exit 1; }
    ls "$R/deb/vmcs12d_${version}_"*.deb >/dev/null
    touch "$R/.built"
fi
echo "$R"
