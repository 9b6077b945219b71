#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The stunnel pair the stream benchmarks measure against (sourced after lib.sh: uses W, PIDS):
#   stunnel_pair LISTEN MIDDLE TARGET [VIA]
# a client stunnel on 127.0.0.1:LISTEN (certificate hosta, checks hostb) to a server stunnel on
# 127.0.0.1:MIDDLE (certificate hostb, requires a client certificate) that connects to TARGET;
# the client connects to VIA instead of MIDDLE when given (a delay line in between);
# TLS 1.3 with mutual authentication, as the vmcs12d pair.
stunnel_pair() {
    printf 'foreground = yes\npid =\n[c]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\nCAfile = %s\nverifyChain = yes\ncheckHost = hostb\nsslVersionMin = TLSv1.3\n' \
        "$1" "${4:-$2}" "$W/hosta.pem" "$W/hosta.key" "$W/ca.pem" >"$W/stc.conf"
    printf 'foreground = yes\npid =\n[s]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\nCAfile = %s\nverifyChain = yes\nrequireCert = yes\nsslVersionMin = TLSv1.3\n' \
        "$2" "$3" "$W/hostb.pem" "$W/hostb.key" "$W/ca.pem" >"$W/sts.conf"
    stunnel4 "$W/sts.conf" >"$W/sts.log" 2>&1 &
    PIDS+=($!)
    stunnel4 "$W/stc.conf" >"$W/stc.log" 2>&1 &
    PIDS+=($!)
}
