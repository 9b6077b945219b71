/* SPDX-License-Identifier: MIT */
/* The Hello message: what this daemon announces, and what a peer's announcement says. */
#include <stdio.h>
#include <string.h>

#include "core.h"

static void hello_fill(const struct v12_config *cfg, Vmcs12d__V1__Hello *h)
{
    static char software[] = "vmcs12d " V12_VERSION;
    h->protocol_version = V12_PROTOCOL_VERSION;
    h->node = v12_pb_str(cfg->node);
    if (cfg->layout == V12_LAYOUT_ENCODED) {
        h->layout = VMCS12D__V1__LAYOUT__LAYOUT_ENCODED;
        h->profile = v12_pb_str("");
    } else {
        h->layout = VMCS12D__V1__LAYOUT__LAYOUT_LEGACY;
        h->profile = v12_pb_str(v12_layout_name(cfg->layout));
    }
    h->max_frame = cfg->max_frame;
    h->max_blob = V12_BLOB_MAX;
    h->software = software;
}

int v12_send_hello(struct v12_conn *c, const struct v12_config *cfg)
{
    Vmcs12d__V1__Hello hello;
    vmcs12d__v1__hello__init(&hello);
    hello_fill(cfg, &hello);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_HELLO;
    env.hello = &hello;
    return v12_conn_send(c, &env);
}

int v12_hello_check(const Vmcs12d__V1__Hello *h, const char *peer, enum v12_layout *ret, struct v12_errmsg *err)
{
    if (h->protocol_version != V12_PROTOCOL_VERSION) {
        return v12_fail(err, V12_E_PROTOCOL, "protocol version %u, this daemon speaks %u", h->protocol_version,
                        V12_PROTOCOL_VERSION);
    }
    /* Identity is the certificate's; a hello that names another node is a confused or lying peer
     * (another configured peer's certificate used to speak as this one). */
    if (!h->node || strcmp(h->node, peer) != 0) {
        return v12_fail(err, V12_E_PEER_UNKNOWN, "its certificate names peer %s but its hello says node '%.64s'", peer,
                        h->node ? h->node : "");
    }
    if (h->layout == VMCS12D__V1__LAYOUT__LAYOUT_ENCODED) {
        *ret = V12_LAYOUT_ENCODED;
        return 0;
    }
    if (h->layout == VMCS12D__V1__LAYOUT__LAYOUT_LEGACY && v12_profile_from_name(h->profile, ret) == 0) return 0;
    return v12_fail(err, V12_E_PROTOCOL, "unknown layout %d / profile '%.40s'", h->layout,
                    h->profile ? h->profile : "");
}
