#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One entry point for a fresh Debian 12 machine (run as root):
#   contrib/run.sh demo   install what is missing, build, run the demo on the bundled samples
#   contrib/run.sh test   install what is missing (QEMU 10.0 and sid's in chroots too), build (plain,
#                         ASan+UBSan, TSan), run every test
#   contrib/run.sh deps | build
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

PACKAGES=(build-essential cmake pkg-config python3 openssl
          libssl-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler libinih-dev libsystemd-dev
          qemu-system-x86 stunnel4 socat
          libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients iproute2 util-linux scdoc dpkg-dev clang valgrind
          binutils debootstrap systemd-container lintian clang-format clang-tidy
          gzip bzip2 xz-utils lzop)
# Newer QEMUs for the stream tests, each in a chroot made from Debian's registry (tests/stream/qemu-suite.sh).
QEMU_SUITES=(trixie sid)

deps() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() { # build DIR [cmake args...]
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$JOBS"
}

demo() {
    ./contrib/demo.sh
}

suites() {
    for s in "${QEMU_SUITES[@]}"; do tests/stream/qemu-suite.sh make "$s"; done
    # A Debian 12 tree to boot systemd in (tests/systemd), and the previous release built from
    # this clone's history (upgrade and interoperability tests).
    tests/systemd/rootfs.sh make >/dev/null
    tests/release/previous.sh . >/dev/null || echo "== the previous release could not be built here (the release tests will say why)" >&2
}

run_tests() {
    suites
    build build
    (cd build && ctest --output-on-failure -j "$JOBS")
    echo "== the broken-build sweep: each mutant of tests/mutants/mutants.tsv must make its tests fail"
    python3 tests/mutants/run.py .
    echo "== the same tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    build build-asan -DV12_SANITIZE=ON
    (cd build-asan && ctest --output-on-failure -j "$JOBS")
    echo "== the daemon's tests under ThreadSanitizer (worker loops, shared state)"
    build build-tsan -DV12_TSAN=ON
    (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
        ctest --output-on-failure -j "$JOBS" -R '^(unit\.handlers|unit\.conn|unit\.proto|integration\.|stream\.relay|stream\.ports|libvirt\.|demo\.)')
    echo "== fuzzing (libFuzzer, clang, ASan+UBSan): every corpus replayed, each target fuzzed for a while"
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DV12_SANITIZE=ON -DV12_FUZZ=ON >/dev/null
    cmake --build build-fuzz -j "$JOBS" --target fuzz_all
    (cd build-fuzz && ctest --output-on-failure -j "$JOBS" -L fuzz)
}

case "${1:-}" in
deps) deps ;;
build) deps && build build ;;
demo) deps && build build && demo ;;
test) deps && run_tests ;;
*)
    echo "usage: $0 demo|test|deps|build" >&2
    exit 2
    ;;
esac
