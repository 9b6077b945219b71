#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The stream data path's CPU and time, against its anchors, in one run (bench/run_stream_cpu.sh).

A QEMU migration stream recorded once (STREAM) is replayed through each path into a sink that
counts bytes:
  direct     sender -> sink
  socat      a pair of plain socat relays
  tls-relay  the simplest TLS relay pair (bench/tls_relay.c: blocking, OpenSSL on the socket,
             256 KiB reads)
  stunnel    a stunnel pair, TLS 1.3, mutual authentication
  vmcs12d    two vmcs12d in stream mode (mutual TLS 1.3), the main channel parsed at the destination
Every TLS path uses TLS 1.3 with TLS_AES_128_GCM_SHA256 (vmcs12d's first choice; stunnel and the
relay are set to it). Measured: wall time from the sender's start until the sink has every byte,
and the relay processes' CPU seconds (utime + stime, children included) per GiB; best of ROUNDS.
Then the same with 2 streams at once (aggregate rate against one stream).

usage: stream_cpu.py WORKDIR BUILD STREAM ROUNDS
WORKDIR holds the PKI made by lib.sh (ca.pem, hosta.pem/key, hostb.pem/key).
"""
import os
import signal
import threading
import subprocess
import sys
import time

W, B, STREAM, ROUNDS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from ports import free_port  # noqa: E402
SIZE = os.path.getsize(STREAM)
SUITE = "TLS_AES_128_GCM_SHA256"
TOOLS = os.path.join(B, "bench", "stream_tools")
HZ = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    """utime + stime + cutime + cstime of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / HZ


def wait_port(port, timeout=10):
    """Until something listens on port (read from /proc: a probe connection would set a relay off)."""
    end = time.time() + timeout
    while time.time() < end:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return
        time.sleep(0.02)
    raise SystemExit("nothing listens on %d" % port)


class Path:
    def __init__(self, name):
        self.name = name
        self.procs = []
        self.inp = self.sink = free_port()

    def spawn(self, args, **kw):
        p = subprocess.Popen(args, stdout=kw.get("stdout", subprocess.DEVNULL), stderr=kw.get("stderr", subprocess.DEVNULL))
        self.procs.append(p)
        return p

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def setup(name):
    p = Path(name)
    if name == "direct":
        return p
    p.inp, mid = free_port(), free_port()
    if name == "socat":
        p.spawn(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % p.inp, "TCP:127.0.0.1:%d" % mid])
        p.spawn(["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % mid, "TCP:127.0.0.1:%d" % p.sink])
    elif name == "tls-relay":
        relay = os.path.join(B, "bench", "tls_relay")
        p.spawn([relay, "server", str(mid), str(p.sink), W + "/hostb.pem", W + "/hostb.key", W + "/ca.pem", SUITE])
        p.spawn([relay, "client", str(p.inp), str(mid), W + "/hosta.pem", W + "/hosta.key", W + "/ca.pem", SUITE])
    elif name == "stunnel":
        common = "foreground = yes\npid =\n[r]\nverifyChain = yes\nsslVersionMin = TLSv1.3\nciphersuites = %s\nCAfile = %s\n" % (SUITE, W + "/ca.pem")
        with open(W + "/sts.conf", "w") as f:
            f.write(common + "accept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\ncert = %s\nkey = %s\nrequireCert = yes\n"
                    % (mid, p.sink, W + "/hostb.pem", W + "/hostb.key"))
        with open(W + "/stc.conf", "w") as f:
            f.write(common + "client = yes\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\ncert = %s\nkey = %s\ncheckHost = hostb\n"
                    % (p.inp, mid, W + "/hosta.pem", W + "/hosta.key"))
        p.spawn(["stunnel4", W + "/sts.conf"])
        p.spawn(["stunnel4", W + "/stc.conf"])
    elif name == "vmcs12d":
        pa, pb = free_port(), free_port()
        for node, port, peer, peer_port, layout, extra_d, extra_p in (
                ("hosta", pa, "hostb", pb, "layout = legacy\nprofile = linux-6.18", "",
                 "stream_listen = tcp:127.0.0.1:%d\nstream_target = tcp:127.0.0.1:%d\n" % (p.inp, p.sink)),
                ("hostb", pb, "hosta", pa, "layout = encoded", "stream_allow = tcp:127.0.0.1:%d\n" % p.sink, "")):
            with open("%s/bench-%s.ini" % (W, node), "w") as f:
                f.write("[daemon]\nnode = %s\n%s\ncontrol_socket = %s/bench-%s.sock\nspool_dir = %s/bench-%s.spool\n"
                        "listen = 127.0.0.1:%d\nreconnect_min_ms = 50\nreconnect_max_ms = 200\nlog_level = notice\n%s"
                        "[tls]\ncert = %s/%s.pem\nkey = %s/%s.key\nca = %s/ca.pem\n[peer %s]\naddress = 127.0.0.1:%d\n%s"
                        % (node, layout, W, node, W, node, port, extra_d, W, node, W, node, W, peer, peer_port, extra_p))
            log = open("%s/bench-%s.log" % (W, node), "a")
            p.spawn([os.path.join(B, "daemon", "vmcs12d"), "--config", "%s/bench-%s.ini" % (W, node)], stderr=log)
        wait_port(pb)
    if name in ("socat", "tls-relay", "stunnel"):
        wait_port(mid)
    wait_port(p.inp)
    time.sleep(0.3)
    return p


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssWatch(threading.Thread):
    """The largest VmRSS of each process while a run goes on, sampled every 10 ms."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak, self.done = pids, {p: rss_kib(p) for p in pids}, False

    def run(self):
        while not self.done:
            for p in self.pids:
                self.peak[p] = max(self.peak[p], rss_kib(p))
            time.sleep(0.01)


def run_once(p, streams):
    sink = subprocess.Popen([TOOLS, "sink", str(p.sink), str(streams), str(streams * SIZE)], stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "listening"
    before = sum(cpu(x.pid) for x in p.procs)
    t0 = time.monotonic()
    senders = [subprocess.Popen([TOOLS, "send", STREAM, "127.0.0.1", str(p.inp)]) for _ in range(streams)]
    got = sink.stdout.readline().strip()
    sink.wait()
    wall = time.monotonic() - t0
    for s in senders:
        s.wait()
    time.sleep(0.3)  # forked relay children (socat) are reaped into cutime
    used = sum(cpu(x.pid) for x in p.procs) - before
    if sink.returncode != 0:
        raise SystemExit("%s: the sink got %s bytes of %d" % (p.name, got, streams * SIZE))
    return wall, used


def profile(p, out):
    """One more run of p under perf record (V12_PERF=FILE): where the relays' CPU goes."""
    perf = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "-o", out, "-p",
                             ",".join(str(x.pid) for x in p.procs)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    run_once(p, 1)
    perf.send_signal(signal.SIGINT)
    perf.wait()


def main():
    names = os.environ.get("PATHS", "direct socat tls-relay stunnel vmcs12d").split()
    best = {}
    for name in names:
        p = setup(name)
        try:
            for streams in (1, 2):
                runs = [run_once(p, streams) for _ in range(ROUNDS)]
                wall = min(r[0] for r in runs)
                cpu_s = min(r[1] for r in runs)
                best[(name, streams)] = (wall, cpu_s)
                gib = streams * SIZE / float(1 << 30)
                print("%-9s %d stream%s: wall %.3f s (%.0f MiB/s), relay CPU %.2f s = %.2f CPU-s/GiB   runs: %s" % (
                    name, streams, "s" if streams > 1 else " ", wall, streams * SIZE / wall / 1048576, cpu_s, cpu_s / gib,
                    ", ".join("%.3f s/%.2f cpu" % r for r in runs)), flush=True)
            if os.environ.get("V12_PERF"):
                profile(p, "%s.%s" % (os.environ["V12_PERF"], name))
        finally:
            p.stop()
    # Memory: each vmcs12d idle, then at its peak with 8 channels streaming at full speed.
    p = setup("vmcs12d") if "vmcs12d" in names else None
    try:
        if not p:
            return
        pids = [x.pid for x in p.procs]
        idle = [rss_kib(x) for x in pids]
        watch = RssWatch(pids)
        watch.start()
        wall, used = run_once(p, 8)
        watch.done = True
        watch.join()
        print("vmcs12d RSS: idle %s KiB; 8 streams at once (%.0f MiB/s aggregate): peak %s KiB" % (
            " / ".join(str(x) for x in idle), 8 * SIZE / wall / 1048576, " / ".join(str(watch.peak[x]) for x in pids)))
    finally:
        if p:
            p.stop()
    if not all((n, 1) in best for n in ("vmcs12d", "tls-relay", "stunnel")):
        return
    v, t, s = best[("vmcs12d", 1)], best[("tls-relay", 1)], best[("stunnel", 1)]
    print("\nstream of %.1f MiB, best of %d:" % (SIZE / 1048576, ROUNDS))
    print("vmcs12d / simplest TLS relay: CPU %.2f, wall %.2f (targets <= 1.1)" % (v[1] / t[1], v[0] / t[0]))
    print("vmcs12d / stunnel:            CPU %.2f, wall %.2f" % (v[1] / s[1], v[0] / s[0]))
    for name in names:
        one, two = best[(name, 1)], best[(name, 2)]
        print("2 streams at once, %-9s aggregate rate %.2fx one stream" % (name, 2 * one[0] / two[0]))


if __name__ == "__main__":
    main()
