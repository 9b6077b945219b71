#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Where `-o OUT` writes, for convert and stream-convert: a device node, a FIFO and a unix socket
# are written in place and never replaced by a regular file; a symbolic link is followed and its
# target replaced atomically with the link left in place; a new file is 0600 whatever the umask;
# a replaced file keeps its mode and owner; invalid input writes nothing anywhere. Every node is
# made in this test's own directory: the real /dev is never touched.
set -uo pipefail
C=$1
DATA=$2
GEN=$3
S=$DATA/samples
T=$(mktemp -d /tmp/v12out.XXXXXX)
READERS=()
cleanup() {
    for p in "${READERS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

python3 "$GEN" synth 7 "$T/syn" >/dev/null
BADBLOB=$DATA/bad/padding-fred-tail.bin # refused under --padding strict
printf 'QEVM\0\0\0\3garbage' >"$T/bad-stream.bin"

# For each command: the valid input, the expected output, and an invalid input.
#   name | arguments before -o | valid input | expected | invalid input
CASES=(
    "convert|convert --to encoded|$S/vmx-l2-shadow-legacy.bin|$S/vmx-l2-shadow-encoded.bin|$BADBLOB"
    "stream-convert|stream-convert --to encoded|$T/syn-legacy.bin|$T/syn-encoded.bin|$T/bad-stream.bin"
)

# read_fifo FIFO FILE: a reader that copies the FIFO into FILE (bounded in time).
read_fifo() {
    timeout 20 cat "$1" >"$2" &
    READERS+=($!)
}
# read_socket SOCK FILE: a unix-socket server that takes one connection and stores what it gets.
read_socket() {
    python3 - "$1" "$2" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(1); s.settimeout(20)
c, _ = s.accept()
with open(sys.argv[2], "wb") as f:
    while True:
        b = c.recv(65536)
        if not b: break
        f.write(b)
EOF
    READERS+=($!)
    for _ in $(seq 100); do [ -S "$1" ] && return; sleep 0.05; done
}
kind() { stat -c %F "$1"; }

for c in "${CASES[@]}"; do
    IFS='|' read -r name args good want badin <<<"$c"
    # shellcheck disable=SC2206
    A=($args)
    D=$T/$name
    mkdir -p "$D"

    # A character device node (like /dev/null: 1,3), made here.
    if mknod "$D/null" c 1 3 2>/dev/null; then
        timeout 20 "$C" "${A[@]}" -o "$D/null" "$good" 2>"$D/err" && ok || bad "$name -o device: $(cat "$D/err")"
        [ "$(stat -c '%F %t,%T' "$D/null")" = "character special file 1,3" ] && ok || bad "$name: device node replaced: $(kind "$D/null")"
        timeout 20 "$C" "${A[@]}" -o "$D/null" "$badin" 2>/dev/null
        [ $? = 1 ] && [ -c "$D/null" ] && ok || bad "$name: invalid input onto a device"
    else
        echo "SKIP: $name onto a device node: mknod is not permitted here"
    fi

    # A FIFO: the bytes arrive through it, and it stays a FIFO.
    mkfifo "$D/fifo"
    read_fifo "$D/fifo" "$D/from-fifo"
    timeout 20 "$C" "${A[@]}" -o "$D/fifo" "$good" 2>"$D/err" && ok || bad "$name -o fifo: $(cat "$D/err")"
    wait "${READERS[-1]}"
    cmp -s "$D/from-fifo" "$want" && ok || bad "$name: bytes through the FIFO differ"
    [ -p "$D/fifo" ] && ok || bad "$name: FIFO replaced: $(kind "$D/fifo")"
    # Invalid input: the FIFO is never even opened (no reader is waiting: opening it would hang).
    timeout 10 "$C" "${A[@]}" -o "$D/fifo" "$badin" 2>"$D/err"
    rc=$?
    [ $rc = 1 ] && [ -p "$D/fifo" ] && ok || bad "$name: invalid input onto a FIFO: exit $rc $(cat "$D/err")"

    # A unix socket: connected to and written.
    read_socket "$D/sock" "$D/from-sock"
    timeout 20 "$C" "${A[@]}" -o "$D/sock" "$good" 2>"$D/err" && ok || bad "$name -o socket: $(cat "$D/err")"
    wait "${READERS[-1]}"
    cmp -s "$D/from-sock" "$want" && ok || bad "$name: bytes through the socket differ"
    [ -S "$D/sock" ] && ok || bad "$name: socket replaced: $(kind "$D/sock")"

    # A symbolic link (relative, through a second link): the final target is replaced, the links stay.
    mkdir -p "$D/real"
    echo old >"$D/real/target.bin"
    chmod 0640 "$D/real/target.bin"
    ln -s real/target.bin "$D/link1"
    ln -s link1 "$D/link2"
    "$C" "${A[@]}" -o "$D/link2" "$good" 2>"$D/err" && ok || bad "$name -o symlink: $(cat "$D/err")"
    [ -L "$D/link2" ] && [ "$(readlink "$D/link2")" = link1 ] && [ "$(readlink "$D/link1")" = real/target.bin ] && ok ||
        bad "$name: symbolic links replaced"
    cmp -s "$D/real/target.bin" "$want" && ok || bad "$name: the link's target was not written"
    [ "$(stat -c %a "$D/real/target.bin")" = 640 ] && ok || bad "$name: target's mode changed to $(stat -c %a "$D/real/target.bin")"
    [ -z "$(find "$D" -name '*.tmp.*')" ] && ok || bad "$name: temporary files left"
    # Invalid input through the link: the target is kept.
    "$C" "${A[@]}" -o "$D/link2" "$badin" 2>/dev/null
    [ $? = 1 ] && cmp -s "$D/real/target.bin" "$want" && [ -L "$D/link2" ] && ok || bad "$name: invalid input through a link"
    # A link to nothing: refused, left as it was, nothing created.
    ln -s missing.bin "$D/dangling"
    "$C" "${A[@]}" -o "$D/dangling" "$good" 2>"$D/err"
    [ $? = 1 ] && grep -q 'ENOENT' "$D/err" && [ -L "$D/dangling" ] && [ ! -e "$D/missing.bin" ] && ok ||
        bad "$name: dangling link: $(cat "$D/err")"

    # Modes: a new file is 0600 whatever the umask; a replaced file keeps its mode and owner.
    for m in 000 022 077; do
        rm -f "$D/new.bin"
        (umask $m && "$C" "${A[@]}" -o "$D/new.bin" "$good") && [ "$(stat -c %a "$D/new.bin")" = 600 ] && ok ||
            bad "$name: new file under umask $m is $(stat -c %a "$D/new.bin" 2>&1)"
    done
    for m in 600 644 660; do
        echo old >"$D/keep.bin"
        chmod "$m" "$D/keep.bin"
        "$C" "${A[@]}" -o "$D/keep.bin" "$good" && [ "$(stat -c %a "$D/keep.bin")" = "$m" ] && cmp -s "$D/keep.bin" "$want" && ok ||
            bad "$name: replacing a $m file made it $(stat -c %a "$D/keep.bin")"
    done
    if [ "$(id -u)" = 0 ]; then
        echo old >"$D/owned.bin"
        chown 65534:65534 "$D/owned.bin"
        "$C" "${A[@]}" -o "$D/owned.bin" "$good" && [ "$(stat -c %u:%g "$D/owned.bin")" = 65534:65534 ] && ok ||
            bad "$name: replaced file's owner is now $(stat -c %u:%g "$D/owned.bin")"
    fi
    # A directory is refused.
    "$C" "${A[@]}" -o "$D/real" "$good" 2>"$D/err"
    [ $? = 1 ] && grep -q EISDIR "$D/err" && [ -d "$D/real" ] && ok || bad "$name: -o DIRECTORY: $(cat "$D/err")"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
