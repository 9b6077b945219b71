/* SPDX-License-Identifier: MIT */
/* Messages more than one handler sends: an Ack, a Ping's answer; the names a blob may carry. */
#include <stdio.h>

#include "core.h"
#include "log.h"

int v12_send_ack(struct v12_conn *c, const struct v12_ack_args *a)
{
    Vmcs12d__V1__Ack ack;
    vmcs12d__v1__ack__init(&ack);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    ack.migration_id = v12_pb_str(a->mig);
    ack.vm = v12_pb_str(a->vm);
    ack.vcpu = a->vcpu;
    ack.seq = a->seq;
    ack.code = a->code;
    ack.error = v12_pb_str(v12_err_name(a->code));
    ack.message = v12_pb_str((a->message ? a->message : (a->code ? v12_strerror(a->code) : "stored")));
    ack.duplicate = a->duplicate;
    ack.conversion = a->conversion;
    ack.stored_as = v12_pb_str((a->stored_as ? a->stored_as : ""));
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_ACK;
    env.ack = &ack;
    /* A failed write ends the connection from the loop (closed() then), not under our caller. */
    int r = v12_conn_send(c, &env);
    if (r && r != V12_E_PEER_DOWN) log_warn("%s: cannot answer: %s", v12_conn_name(c), v12_strerror(r));
    return r;
}

void v12_reply_ping(struct v12_conn *c, const Vmcs12d__V1__Ping *ping)
{
    if (ping->reply) return;
    Vmcs12d__V1__Ping pong;
    vmcs12d__v1__ping__init(&pong);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    pong.nonce = ping->nonce;
    pong.reply = true;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_PING;
    env.ping = &pong;
    if (v12_conn_send(c, &env) != 0) return; /* the transport ends the connection and says why */
}

int v12_check_names(const char *mig, const char *vm, struct v12_errmsg *msg)
{
    if (!v12_name_ok(mig))
        return v12_fail(msg, V12_E_INVALID_ARGUMENT,
                        "migration id '%.64s' is not allowed (1..63 of [A-Za-z0-9._:-], not starting with '.')", mig);
    if (!v12_name_ok(vm))
        return v12_fail(msg, V12_E_INVALID_ARGUMENT,
                        "vm name '%.64s' is not allowed (1..63 of [A-Za-z0-9._:-], not starting with '.')", vm);
    return 0;
}
