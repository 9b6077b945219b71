#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Converting a saved VM: a libvirt save image around the migration stream of a real QEMU guest
# with MEM_MB (default 1024) MiB of random RAM, converted by vmcs12ctl stream-convert, against
# cat of the same file in the same run (page cache warm for both; both outputs written to the
# same file system and synced, as stream-convert syncs what it writes). Best of ROUNDS (3).
# FORMATS (default "raw"): also "gzip" etc., there against the codec pipeline alone
# (PROG -dc | PROG -c > OUT), which is what any conversion of such an image must pay.
#   bench/run_saveimage.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build-rel}
WORKERS=${WORKERS-} # the daemon's default worker count unless asked
source "$ROOT/tests/integration/lib.sh" "$B/daemon/vmcs12d" "$B/cli/vmcs12ctl"
source "$ROOT/tests/stream/qemu.sh"
MEM=${MEM_MB:-1024} ROUNDS=${ROUNDS:-3} FORMATS=${FORMATS:-raw}
S="python3 $ROOT/tests/gen/saveimage.py"
now() { date +%s%N; }
echo "recording the stream of a guest with $MEM MiB of random RAM"
head -c $((MEM << 20)) /dev/urandom >"$W/g.ram"
qemu g "$W/g.ram"
sleep 0.5
python3 "$ROOT/tests/stream/qmp.py" "$W/g.qmp" record "$W/g.stream" >/dev/null
python3 "$ROOT/tests/stream/qmp.py" "$W/g.qmp" quit >/dev/null 2>&1 || true
rm -f "$W/g.ram"
cat >"$W/d.xml" <<X
<domain type='kvm'><name>bench</name><memory unit='KiB'>$((MEM * 1024))</memory><vcpu>2</vcpu>
<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os></domain>
X
printf '| image | size | stream-convert | anchor | anchor time | throughput ratio (convert / anchor) |\n|---|---|---|---|---|---|\n'
for fmt in $FORMATS; do
    img=$W/g-$fmt.sav
    $S wrap "$W/g.stream" "$W/d.xml" "$img" "$fmt"
    size=$(stat -c %s "$img")
    cat "$img" >/dev/null
    best_c=0 best_a=0 best_n=0
    for _ in $(seq "$ROUNDS"); do
        t0=$(now)
        "$C" stream-convert --quiet --to encoded "$img" -o "$W/out.sav"
        t=$(( $(now) - t0 ))
        { [ "$best_c" = 0 ] || [ "$t" -lt "$best_c" ]; } && best_c=$t
        rm -f "$W/out.sav"
        t0=$(now)
        if [ "$fmt" = raw ]; then
            cat "$img" >"$W/out.cat"
        else
            prog=$fmt; [ "$fmt" = xz ] && prog="xz"
            tail -c +$(( $(head -c 24 "$img" | tail -c 4 | od -An -tu4 | tr -d ' ') + 93 )) "$img" | $prog -dc | $prog -c >"$W/out.cat"
        fi
        sync "$W/out.cat"
        t=$(( $(now) - t0 ))
        { [ "$best_a" = 0 ] || [ "$t" -lt "$best_a" ]; } && best_a=$t
        rm -f "$W/out.cat"
        if [ "$fmt" = raw ]; then
            t0=$(now)
            cat "$img" >/dev/null
            t=$(( $(now) - t0 ))
            { [ "$best_n" = 0 ] || [ "$t" -lt "$best_n" ]; } && best_n=$t
        fi
    done
    mib=$(python3 -c "print(f'{$size/1048576:.0f} MiB')")
    rate() { python3 -c "print(f'{$size/1048576/($1/1e9):.0f} MiB/s, {$1/1e9:.2f} s')"; }
    if [ "$fmt" = raw ]; then anchor="cat > file; sync"; else anchor="$fmt -dc | $fmt -c > file; sync"; fi
    printf '| %s | %s | %s | %s | %s | %s |\n' "$fmt" "$mib" "$(rate "$best_c")" "$anchor" "$(rate "$best_a")" \
        "$(python3 -c "print(f'{$best_a/$best_c:.2f}')")"
    [ "$fmt" = raw ] && printf '| %s | %s | | cat > /dev/null | %s | %s |\n' "$fmt" "$mib" "$(rate "$best_n")" \
        "$(python3 -c "print(f'{$best_n/$best_c:.2f}')")"
    rm -f "$img"
done
finish >/dev/null
