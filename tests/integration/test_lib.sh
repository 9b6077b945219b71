#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# lib.sh's exit trap keeps the script's exit status: 0 after a successful run whose daemons have
# already exited (the demo used to exit 1 there), the failing status after a failure; and it
# removes its work directory either way.
set -uo pipefail
LIB=$(cd "$(dirname "$0")" && pwd)/lib.sh
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
run() { # run BODY: a script under set -e that sources lib.sh, then BODY; prints its W
    bash -c "set -euo pipefail; source '$LIB' /bin/false /bin/false; echo \"\$W\"; $1" 2>/dev/null
}
W1=$(run 'sleep 0.1 & PIDS+=($!); wait $!; sleep 0.1 & PIDS+=($!); sleep 0.3; echo done >/dev/null')
rc=$?
[ $rc = 0 ] && ok || bad "successful run with exited processes: exit $rc"
[ -n "$W1" ] && [ ! -e "$W1" ] && ok || bad "work directory $W1 left behind"
W2=$(run 'sleep 30 & PIDS+=($!); false')
rc=$?
[ $rc = 1 ] && ok || bad "failing run: exit $rc, want 1"
[ -n "$W2" ] && [ ! -e "$W2" ] && ok || bad "work directory $W2 left behind after a failure"
W3=$(run 'exit 7')
rc=$?
[ $rc = 7 ] && ok || bad "exit 7 became $rc"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
