#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cmake --install into a DESTDIR: the tree operators get (binaries, systemd unit and sysusers
# entry, the sample configuration, the libvirt hook, manual pages, docs), and the manual pages
# agree with the code: every configuration key the parser takes is in vmcs12d.conf(5) and
# nothing else is; every vmcs12ctl command and every vmcs12d option is in their pages.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
B=$1 S=$2
T=$(mktemp -d /tmp/v12inst.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

DESTDIR=$T cmake --install "$B" --prefix /usr >"$T.log" 2>&1 && ok || { bad "cmake --install: $(cat "$T.log")"; }
rm -f "$T.log"
for f in usr/sbin/vmcs12d usr/bin/vmcs12ctl etc/libvirt/hooks/qemu.d/vmcs12d; do
    [ -x "$T/$f" ] && ok || bad "$f missing or not executable"
done
for f in usr/lib/systemd/system/vmcs12d.service usr/lib/systemd/system/vmcs12d.socket usr/lib/sysusers.d/vmcs12d.conf etc/vmcs12d/vmcs12d.conf \
    usr/share/man/man8/vmcs12d.8.gz usr/share/man/man1/vmcs12ctl.1.gz usr/share/man/man5/vmcs12d.conf.5.gz \
    usr/share/doc/vmcs12d/README.md usr/share/doc/vmcs12d/configuration.md; do
    [ -s "$T/$f" ] && ok || bad "$f missing"
done
[ "$(stat -c %a "$T/etc/vmcs12d/vmcs12d.conf")" = 640 ] && ok || bad "sample configuration mode $(stat -c %a "$T/etc/vmcs12d/vmcs12d.conf")"
"$T/usr/sbin/vmcs12d" --version | grep -q '^vmcs12d ' && ok || bad "installed vmcs12d --version"
"$T/usr/bin/vmcs12ctl" --version | grep -q '^vmcs12ctl ' && ok || bad "installed vmcs12ctl --version"
for p in man8/vmcs12d.8.gz man1/vmcs12ctl.1.gz man5/vmcs12d.conf.5.gz; do
    zcat "$T/usr/share/man/$p" | grep -q '^\.TH' && man -l "$T/usr/share/man/$p" >/dev/null 2>&1 && ok || bad "man page $p does not render"
done
# The sample configuration is valid but for the TLS files it names (an operator provides them).
"$T/usr/sbin/vmcs12d" --check-config --config "$T/etc/vmcs12d/vmcs12d.conf" >/dev/null 2>"$T/check.err"
if grep -v '\[tls\] cert /etc/vmcs12d/tls/cert.pem' "$T/check.err" | grep -q .; then bad "sample configuration: $(cat "$T/check.err")"; else ok; fi

# Every key the parser takes is documented, and nothing more.
"$T/usr/sbin/vmcs12d" --list-config-keys | sort >"$T/keys.code"
# The keys a document names, by section: keys_in FILE HEADING ENTRY KEY, where a line matching
# HEADING opens a section ([daemon], [tls] or [peer ...]), another heading closes it, and in a
# section a line starting with ENTRY names the keys KEY finds in its first part.
keys_in() {
    python3 - "$@" <<'PY' | sort
import re, sys
path, heading, entry, key = sys.argv[1:]
section = None
for line in open(path):
    m = re.match(heading + r" \[(daemon|tls|peer)", line)
    if m:
        section = m.group(1)
    elif line.startswith(heading + " "):
        section = None
    elif section and line.startswith(entry):
        head = line.split("=")[0] if entry == "*" else line.split("|")[1]
        for k in re.findall(key, head):
            print(section, k)
PY
}
keys_in "$B/man/vmcs12d.conf.5.scd" "#" "*" '\*([a-z_]+)\*' >"$T/keys.man"
diff "$T/keys.code" "$T/keys.man" >"$T/keys.diff" && ok || bad "configuration keys: code (<) and vmcs12d.conf(5) (>) differ: $(cat "$T/keys.diff")"
[ "$(wc -l <"$T/keys.code")" -ge 30 ] && ok || bad "too few keys listed"
# docs/configuration.md's key tables, written by hand, list the same keys.
keys_in "$S/docs/configuration.md" "##" "| \`" '`([a-z_]+)`' >"$T/keys.md"
diff "$T/keys.code" "$T/keys.md" >"$T/keys.diff" && ok || bad "configuration keys: code (<) and docs/configuration.md (>) differ: $(cat "$T/keys.diff")"
# Every vmcs12ctl command and every vmcs12d option is in its page.
"$T/usr/bin/vmcs12ctl" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}' >"$T/cmds"
[ "$(wc -l <"$T/cmds")" -ge 10 ] && ok || bad "vmcs12ctl --help lists $(wc -l <"$T/cmds") commands"
while read -r c; do grep -q "^\*$c\*" "$S/docs/man/vmcs12ctl.1.scd" && ok || bad "vmcs12ctl $c is not in vmcs12ctl(1)"; done <"$T/cmds"
"$T/usr/sbin/vmcs12d" --help | grep -oE -- '--[a-z-]+' | sort -u >"$T/opts"
while read -r o; do grep -q -- "\*$o\*" "$S/docs/man/vmcs12d.8.scd" && ok || bad "vmcs12d $o is not in vmcs12d(8)"; done <"$T/opts"
# Every exit code a command's --help names is in the page's EXIT STATUS.
man_codes=$(sed -n '/^# EXIT STATUS/,/^# /p' "$S/docs/man/vmcs12ctl.1.scd" | grep -oE '^\*[0-9]+\*' | tr -d '*' | sort -u | tr '\n' ' ')
while read -r c; do
    for code in $("$T/usr/bin/vmcs12ctl" "$c" --help | grep -E '^exit:' | grep -oE '(^exit:|,) [0-9]+' | grep -oE '[0-9]+'); do
        case " $man_codes " in *" $code "*) ok ;; *) bad "vmcs12ctl $c exits $code, not in vmcs12ctl(1)'s EXIT STATUS ($man_codes)" ;; esac
    done
done <"$T/cmds"
d_codes=$(sed -n '/^# EXIT STATUS/,/^# /p' "$S/docs/man/vmcs12d.8.scd" | grep -oE '^\*[0-9]+\*' | tr -d '*' | sort -u | tr '\n' ' ')
[ "$d_codes" = "0 1 2 " ] && ok || bad "vmcs12d(8) EXIT STATUS lists '$d_codes', the daemon exits 0, 1 or 2"
for sig in SIGHUP SIGTERM SIGINT; do grep -q "$sig" "$S/docs/man/vmcs12d.8.scd" && ok || bad "$sig not in vmcs12d(8)"; done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
