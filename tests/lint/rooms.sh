#!/bin/bash
# SPDX-License-Identifier: MIT
# The daemon's rooms (docs/daemon.md): every #include "..." in daemon/ must name a header of a
# room below it, or its own room's, and never by a relative path. The build's include
# directories already refuse most of these; this also catches "../" paths and keeps the
# picture in docs/daemon.md and the folders in step.
#
#   vmcs12d (main.c, metrics.c) -> relay, stream -> core -> transport -> base
#
# Usage: rooms.sh SOURCE_DIR. Exit 0, or 1 with every violation named FILE:LINE.
set -euo pipefail
src=$(cd "${1:?usage: rooms.sh SOURCE_DIR}" && pwd)
cd "$src/daemon"

# Which room a file (or a header it includes) belongs to, from where it lives.
room_of() {
    case $1 in
    base/*) echo base ;;
    transport/*) echo transport ;;
    core/*) echo core ;;
    relay/spool/*) echo spool ;;
    relay/include/*) echo relay.public ;;
    relay/*) echo relay ;;
    stream/include/*) echo stream.public ;;
    stream/*) echo stream ;;
    *) echo main ;;
    esac
}
# What a room may include (besides proto/ and convert/, which are below every room).
allowed() {
    case $1 in
    base) echo "base" ;;
    spool) echo "spool" ;;
    transport) echo "base transport" ;;
    core) echo "base transport core" ;;
    relay | relay.public) echo "base transport core spool relay relay.public" ;;
    stream | stream.public) echo "base transport core stream stream.public" ;;
    main) echo "base transport core spool relay.public stream.public main" ;;
    esac
}

declare -A owner
while IFS= read -r h; do
    b=${h##*/}
    if [[ -n ${owner[$b]:-} ]]; then
        echo "rooms: header $b exists twice (${owner[$b]} and $h): includes by name would be ambiguous" >&2
        exit 1
    fi
    owner[$b]=$h
done < <(find . -name '*.h' -printf '%P\n' | sort)

bad=0 checked=0
while IFS= read -r f; do
    from=$(room_of "$f")
    may=" $(allowed "$from") "
    n=0
    while IFS= read -r line; do
        n=$((n + 1))
        [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]] || continue
        inc=${BASH_REMATCH[1]}
        checked=$((checked + 1))
        if [[ $inc == */../* || $inc == ../* ]]; then
            echo "daemon/$f:$n: includes \"$inc\" by a relative path: name the header, the build gives the room" >&2
            bad=1
            continue
        fi
        h=${owner[${inc##*/}]:-}
        [[ -n $h ]] || continue # proto/, convert/, system headers
        to=$(room_of "$h")
        if [[ $may != *" $to "* ]]; then
            echo "daemon/$f:$n: the $from room includes \"$inc\" (daemon/$h, room $to): not below it" >&2
            bad=1
        fi
    done <"$f"
done < <(find . -name '*.[ch]' -printf '%P\n' | sort)

# The rooms the docs draw are the rooms on disk.
for d in base transport core relay stream; do
    [[ -d $d ]] || { echo "rooms: daemon/$d is missing" >&2; bad=1; }
    grep -qE "(^| )$d/( |$)" "$src/docs/daemon.md" || { echo "rooms: docs/daemon.md does not show daemon/$d" >&2; bad=1; }
done
if ((checked < 50)); then
    echo "rooms: only $checked includes found: the scan is broken" >&2
    exit 1
fi
((bad == 0)) && echo "rooms: $checked includes in daemon/ respect the rooms"
exit $bad
