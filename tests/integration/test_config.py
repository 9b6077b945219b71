#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vmcs12d --check-config is the truth about a configuration file.

For each file of a set (a valid one, and variants that each break one thing), both
`vmcs12d --check-config` and a real start of `vmcs12d --config` are run: the check exits 0
exactly when the daemon starts (its control socket appears) and 1 exactly when the daemon
refuses to start; every error is printed with its own FILE:LINE, and a file holding several
errors reports each one. Nothing the configuration names is removed or replaced: a regular file
named as a socket is still there afterwards.

One error only a start can find: a spool directory the daemon may write but not list (its
start-up scan for partial files needs to read it). Run as uid nobody, since root reads anything:
with mode 0300 the check passes and the start is refused with one line naming the directory and
the reason; with mode 0700 the same file starts; a migration directory in it that nobody may not
read is named in a warning (the partial file inside stays) and the daemon starts.

usage: test_config.py VMCS12D
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ports import free_port  # noqa: E402

D = sys.argv[1]
W = tempfile.mkdtemp(prefix="v12cfg.")
passed = failed = 0


def ok():
    global passed
    passed += 1


def bad(msg):
    global failed
    failed += 1
    print("FAIL: " + msg, file=sys.stderr)


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pki():
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", W + "/ca.key", "-out", W + "/ca.pem", "-days", "2", "-subj", "/CN=ca")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", W + "/hosta.key", "-out", W + "/hosta.csr", "-subj", "/CN=hosta")
    with open(W + "/ext", "w") as f:
        f.write("subjectAltName=DNS:hosta\nextendedKeyUsage=serverAuth,clientAuth\n")
    sh("openssl", "x509", "-req", "-in", W + "/hosta.csr", "-CA", W + "/ca.pem", "-CAkey", W + "/ca.key",
       "-CAcreateserial", "-out", W + "/hosta.pem", "-days", "2", "-extfile", W + "/ext")


def base(name):
    """The valid file, as a list of lines (line N is lines[N - 1])."""
    return [
        "[daemon]",                                   # 1
        "node = hosta",                               # 2
        "layout = legacy",                            # 3
        "profile = linux-6.18",                       # 4
        "control_socket = %s/%s.sock" % (W, name),    # 5
        "spool_dir = %s/%s.spool" % (W, name),        # 6
        "listen = 127.0.0.1:%d" % free_port(),        # 7
        "shutdown_timeout_ms = 500",                  # 8
        "[tls]",                                      # 9
        "cert = %s/hosta.pem" % W,                    # 10
        "key = %s/hosta.key" % W,                     # 11
        "ca = %s/ca.pem" % W,                         # 12
        "[peer hostb]",                               # 13
        "address = 127.0.0.1:%d" % free_port(),       # 14
    ]


def variant(name, edits):
    """edits: {line: new text (None removes it)} and 'append': [lines]."""
    lines = base(name)
    for n, text in sorted(((k, v) for k, v in edits.items() if k != "append"), reverse=True):
        if text is None:
            del lines[n - 1]
        else:
            lines[n - 1] = text
    lines += edits.get("append", [])
    path = "%s/%s.ini" % (W, name)
    with open(path, "wb") as f:
        f.write(("\n".join(lines) + "\n").encode("latin-1"))
    return path


def start(path, name):
    """Start the daemon: 'started' once its control socket answers, or 'exit N'."""
    log = open("%s/%s.log" % (W, name), "wb")
    p = subprocess.Popen([D, "--config", path], stdout=log, stderr=log)
    return wait_started(p, "%s/%s.sock" % (W, name))


def wait_started(p, sock):
    """'started' once the daemon p answers on sock (then stopped with SIGTERM), 'exit N' or 'hung'."""
    deadline = time.time() + 10
    while time.time() < deadline:
        if p.poll() is not None:
            return "exit %d" % p.returncode
        if os.path.exists(sock) and os.path.isfile(sock) is False:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                s.close()
                p.send_signal(signal.SIGTERM)
                p.wait(10)
                return "started"
            except OSError:
                pass
        time.sleep(0.05)
    p.kill()
    p.wait()
    return "hung"


F = "%s/file" % W  # a regular file that must survive everything


def cases():
    p1, p2 = free_port(), free_port()
    yield "valid", {}, []
    yield "valid-octal-mode", {"append": []} | {8: "control_mode = 0600"}, []
    yield "valid-stream", {"append": ["stream_listen = tcp:127.0.0.1:%d" % p1, "stream_target = tcp:127.0.0.1:%d" % p2]}, []
    yield "valid-stream-v6", {"append": ["stream_listen = tcp:[::1]:%d" % free_port()]}, []
    yield "valid-stream-unix", {"append": ["stream_listen = unix:%s/valid-stream-unix.qemu" % W]}, []
    yield "valid-indented", {2: "   node = hosta", 3: "\tlayout = legacy   ; a comment"}, []
    # Two errors: each with its own line and its own message.
    yield "two-errors", {3: "layout = sideways", 8: "bogus = 1"}, [
        ":3: layout: 'sideways' is neither legacy nor encoded", ":8: unknown key 'bogus' in [daemon]"]
    yield "listen-unresolvable", {7: "listen = 999.1.1.1:%d" % free_port()}, [":7: listen: cannot resolve '999.1.1.1'"]
    yield "control-socket-empty", {5: "control_socket ="}, [":5: control_socket: empty value"]
    yield "spool-empty", {6: "spool_dir ="}, [":6: spool_dir: empty value"]
    yield "spool-relative", {6: "spool_dir = spool"}, [":6: spool_dir: 'spool' is not an absolute path"]
    yield "spool-is-file", {6: "spool_dir = %s" % F}, [":6: spool_dir: %s exists and is not a directory" % F]
    yield "spool-under-file", {6: "spool_dir = %s/sub/dir" % F}, [":6: spool_dir: %s/sub/dir cannot be created: %s is not a directory" % (F, F)]
    yield "control-socket-is-file", {5: "control_socket = %s" % F}, [":5: control_socket: %s exists and is not a socket" % F]
    yield "stream-listen-any", {"append": ["stream_listen = tcp:0.0.0.0:%d" % free_port()]}, [
        ":15: [peer hostb] stream_listen: 'tcp:0.0.0.0:", "is not a loopback address"]
    yield "stream-listen-unix-file", {"append": ["stream_listen = unix:%s" % F]}, [":15: stream_listen: %s exists and is not a socket" % F]
    yield "stream-target-alone", {"append": ["stream_target = tcp:127.0.0.1:%d" % p2]}, [":15: [peer hostb] has stream_target but no stream_listen"]
    yield "peer-twice", {"append": ["[peer hostb]", "address = 127.0.0.1:9"]}, [":15: [peer hostb] appears twice (first at line 13)"]
    yield "daemon-twice", {"append": ["[daemon]", "log_level = debug"]}, [":15: [daemon] appears twice (first at line 1)"]
    yield "key-twice", {8: "node = other"}, [":8: node is set twice in [daemon] (first at line 2)"]
    yield "tls-key-twice", {"append": []} | {12: "cert = %s/hosta.pem" % W}, [":12: cert is set twice in [tls] (first at line 10)"]
    yield "metrics-not-loopback", {8: "metrics_listen = 0.0.0.0:%d" % free_port()}, [":8: metrics_listen: '0.0.0.0:", "is not a loopback address"]
    yield "valid-metrics", {8: "metrics_listen = 127.0.0.1:%d" % free_port()}, []
    yield "unknown-empty-section", {"append": ["[frob]"]}, [":15: unknown section [frob]"]
    yield "leading-zero", {8: "max_frame = 010000"}, [":8: max_frame: '010000' is not a whole decimal number"]
    yield "hex-number", {8: "max_inflight = 0x10"}, [":8: max_inflight: '0x10' is not a whole decimal number"]
    yield "signed-number", {8: "max_inflight = +5"}, [":8: max_inflight: '+5' is not a whole decimal number"]
    yield "bad-octal-mode", {8: "control_mode = 0999"}, [":8: control_mode: '0999' is not octal"]
    yield "peer-is-self", {13: "[peer hosta]"}, [":13: [peer hosta] names this node itself"]
    yield "port-leading-zero", {14: "address = 127.0.0.1:080"}, [":14: address: '127.0.0.1:080' is not host:port"]
    yield "missing-node", {2: None}, [":1: [daemon] node is required"]
    yield "missing-tls-section", {9: None, 10: None, 11: None, 12: None}, ["[tls] cert is required", "[tls] key is required", "[tls] ca is required"]
    yield "cert-unreadable", {10: "cert = %s/none.pem" % W}, [":10: [tls] cert %s/none.pem" % W]
    yield "key-mismatch", {11: "key = %s/ca.key" % W}, [":11: "]
    yield "key-outside-section", {1: "node = x", 2: "[daemon]"}, [":1: key 'node' outside any section"]
    yield "long-line", {8: "log_level = " + "x" * 250}, [":8: line is 262 characters long"]
    yield "nul-byte", {8: "log_level = in\0fo"}, [":8: a NUL byte in the line"]
    yield "not-key-value", {8: "just words"}, [":8: 'just words' is not key = value"]
    yield "bad-header", {13: "[peer hostb"}, [":13: section header '[peer hostb' is not [NAME]"]
    yield "many-errors", {3: "layout = x", 4: "profile = y", 8: "padding = z"}, [":3: layout", ":4: profile", ":8: padding"]
    # Each kind of key in daemon/base/config_keys.def, valid and refused.
    yield "valid-kinds", {8: "metrics_listen = 127.0.0.1:%d" % free_port(), "append": [
        "stream_listen = tcp:127.0.0.1:%d-%d" % (p1, p1 + 3), "stream_passthrough = yes"]} | {
        4: "profile = auto"}, []
    yield "profile-unknown", {4: "profile = linux-9.9"}, [
        ":4: profile: unknown profile 'linux-9.9' (auto, linux-4.19, linux-5.13, linux-5.14, linux-6.18)"]
    yield "log-level-unknown", {8: "log_level = loud"}, [":8: log_level: 'loud' is not err, warning, notice, info or debug"]
    yield "tls-version-old", {"append": []} | {12: "min_version = 1.1"}, [":12: min_version: '1.1' is neither 1.2 nor 1.3"]
    yield "bool-unknown", {"append": ["stream_passthrough = maybe"]}, [":15: stream_passthrough: 'maybe' is neither yes nor no"]
    yield "range-too-long", {"append": ["stream_listen = tcp:127.0.0.1:2000-2300"]}, [
        ":15: stream_listen: 'tcp:127.0.0.1:2000-2300' is not tcp:HOST:PORT, tcp:HOST:PORT-PORT, unix:/PATH or "
        "unix:/PATH{LO-HI}SUFFIX (at most 256 endpoints"]
    # Unix ranges: each path of the range is checked; the braces must hold LO-HI, once.
    yield "valid-unix-range", {8: "stream_allow = unix:%s/q-{0-7}.sock" % W, "append": [
        "stream_listen = unix:%s/m-{0-7}.sock" % W, "stream_target = unix:%s/q-{10-17}.sock" % W]}, []
    yield "unix-range-file", {"append": ["stream_listen = unix:%s/rangefile-{0-3}" % W]}, [
        ":15: stream_listen: %s/rangefile-2 exists and is not a socket" % W]
    for i, bad in enumerate(("m-{3-1}.sock", "m-{0-256}.sock", "m-{01-3}.sock", "m-{0-3}-{0-3}.sock", "m-{0}.sock", "m-}.sock",
                "m-{-3}.sock", "m-{0-x}.sock", "%s{0-9}" % ("x" * (107 - len(W) - 2)))):
        yield "unix-range-bad-%d" % i, {"append": ["stream_listen = unix:%s/%s" % (W, bad)]}, [
            ":15: stream_listen: 'unix:%s/%s' is not tcp:HOST:PORT" % (W, bad)]
    yield "unix-range-count", {"append": ["stream_listen = unix:%s/m-{0-3}.sock" % W,
                                          "stream_target = unix:%s/q-{0-2}.sock" % W]}, [
        ":16: [peer hostb] stream_target 'unix:%s/q-{0-2}.sock' has 3 endpoints, stream_listen 'unix:%s/m-{0-3}.sock' has 4" % (W, W)]
    yield "allow-bad", {8: "stream_allow = tcp:127.0.0.1:5000, udp:1.2.3.4:5"}, [
        ":8: stream_allow: 'udp:1.2.3.4:5' is not tcp:HOST:PORT[-PORT] or unix:/PATH[{LO-HI}SUFFIX]"]
    yield "allow-unix-range-bad", {8: "stream_allow = unix:/run/q-{5-2}.sock"}, [
        ":8: stream_allow: 'unix:/run/q-{5-2}.sock' is not tcp:HOST:PORT[-PORT] or unix:/PATH[{LO-HI}SUFFIX]"]
    yield "number-too-large", {8: "max_inflight = 4097"}, [":8: max_inflight: '4097' is not a whole decimal number in 1..4096"]
    yield "peer-without-address", {14: "stream_passthrough = no"}, [":13: [peer hostb] has no address"]


NOBODY = 65534


def unlistable_spool():
    home = W + "/nobody"
    os.mkdir(home, 0o700)
    for f in ("hosta.pem", "hosta.key", "ca.pem"):
        shutil.copy(W + "/" + f, home + "/" + f)
        os.chown(home + "/" + f, NOBODY, NOBODY)
    spool = home + "/spool"
    os.mkdir(spool)
    for f in (home, spool):
        os.chown(f, NOBODY, NOBODY)
    os.chmod(W, 0o711)  # W is this test's own directory: nobody may pass through to home
    lines = base("nobody")
    lines[4] = "control_socket = %s/ctl.sock" % home
    lines[5] = "spool_dir = %s" % spool
    lines[9:12] = ["cert = %s/hosta.pem" % home, "key = %s/hosta.key" % home, "ca = %s/ca.pem" % home]
    path = home + "/vmcs12d.ini"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chown(path, NOBODY, NOBODY)
    for mode, want, shut in ((0o300, "exit 1", False), (0o700, "started", False), (0o700, "started", True)):
        os.chmod(spool, mode)
        if shut:  # root's, mode 0700: nobody cannot read it; a partial file the scan must leave alone
            os.makedirs(spool + "/m/vm")
            with open(spool + "/m/vm/.tmp-AbCdEf", "w") as f:
                f.write("half")
            os.chmod(spool + "/m", 0o700)
        chk = subprocess.run([D, "--check-config", "--config", path], capture_output=True, text=True,
                             user=NOBODY, group=NOBODY, extra_groups=[])
        log = home + "/daemon.log"
        with open(log, "wb") as out:
            p = subprocess.Popen([D, "--config", path], stdout=out, stderr=out, user=NOBODY, group=NOBODY,
                                 extra_groups=[])
        got = wait_started(p, home + "/ctl.sock")
        text = open(log, errors="replace").read()
        if chk.returncode == 0 and got == want:
            ok()
        else:
            bad("spool mode %o: check exit %d, daemon %s (want 0 and %s): %s%s" % (mode, chk.returncode, got, want,
                                                                                 chk.stderr, text))
        line = "<3>spool_dir %s: cannot scan: Permission denied" % spool
        if (line in text.splitlines()) == (want == "exit 1"):
            ok()
        else:
            bad("spool mode %o: the log %s '%s': %s" % (mode, "lacks" if want == "exit 1" else "has", line, text))
        warn = "<4>spool: cannot read directory m: Permission denied; partial files in it, if any, stay"
        if (warn in text.splitlines()) == shut and os.path.exists(spool + "/m/vm/.tmp-AbCdEf") == shut:
            ok()
        else:
            bad("spool with an unreadable directory %s: want the warning %s and the file kept: %s" % (shut, warn, text))
    os.chmod(W, 0o700)


def main():
    pki()
    for path in (F, W + "/rangefile-2"):
        with open(path, "w") as f:
            f.write("precious\n")
    for name, edits, want in cases():
        path = variant(name, edits)
        chk = subprocess.run([D, "--check-config", "--config", path], capture_output=True, text=True,
                             errors="replace")
        got = start(path, name)
        if want:
            if chk.returncode == 1 and got == "exit 1":
                ok()
            else:
                bad("%s: check exit %d, daemon %s (want both to refuse): %s" % (name, chk.returncode, got, chk.stderr))
            for w in want:
                if any((path + w) in line or (w in line and path in line) for line in chk.stderr.splitlines()):
                    ok()
                else:
                    bad("%s: no error line with '%s%s': %s" % (name, path, w, chk.stderr))
            # Every line is FILE:LINE: message, and the daemon logged the same errors.
            lines = chk.stderr.splitlines()
            if lines and all(l.startswith("vmcs12d: %s:" % path) and l.split(":")[2].strip().isdigit() for l in lines):
                ok()
            else:
                bad("%s: error lines without FILE:LINE: %s" % (name, chk.stderr))
            log = open("%s/%s.log" % (W, name), errors="replace").read()
            if sorted(l.split("vmcs12d: ", 1)[1] for l in lines) == sorted(
                    l[3:] for l in log.splitlines() if l.startswith("<3>%s:" % path)):
                ok()
            else:
                bad("%s: the daemon's errors differ from the check's:\n%s\n%s" % (name, chk.stderr, log))
        else:
            if chk.returncode == 0 and got == "started":
                ok()
            else:
                bad("%s: check exit %d, daemon %s (want both to accept): %s" % (name, chk.returncode, got, chk.stderr))
    unlistable_spool()
    if all(open(p).read() == "precious\n" and os.path.isfile(p) and not os.path.islink(p) for p in (F, W + "/rangefile-2")):
        ok()
    else:
        bad("the regular file named in the configuration was changed")
    print("%d passed, %d failed" % (passed, failed))
    shutil.rmtree(W)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
