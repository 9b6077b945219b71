/* SPDX-License-Identifier: MIT */
/*
 * The daemon's handlers driven without a loop, through the fake transport (fake_conn.c): frames
 * and bytes in, frames and bytes out, closes, backpressure, deadlines. Each test plays the
 * other side of every connection the handler under test has.
 *
 *   test_handlers SAMPLES_DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "fake_conn.h"
#include "handlers_env.h"
#include "log.h"

static const char *samples;

static void read_file(const char *name, uint8_t **ret, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", samples, name);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    static uint8_t bufs[4][16384];
    static int next;
    uint8_t *b = bufs[next++ & 3];
    *len = fread(b, 1, sizeof(bufs[0]), f);
    fclose(f);
    *ret = b;
}

static V12Envelope **frames(struct fake_conn *c, size_t want)
{
    size_t n;
    V12Envelope **f = fake_take_frames(c, &n);
    CHECK_EQ(n, want);
    return f;
}

static void send_hello_as(struct fake_conn *c, const char *node, Vmcs12d__V1__Layout layout, const char *profile,
                          uint32_t version)
{
    Vmcs12d__V1__Hello h;
    vmcs12d__v1__hello__init(&h);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    h.protocol_version = version;
    h.node = v12_pb_str(node);
    h.layout = layout;
    h.profile = v12_pb_str(profile);
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_HELLO;
    env.hello = &h;
    fake_frame(c, &env);
}

static void send_hello(struct fake_conn *c, Vmcs12d__V1__Layout layout, const char *profile, uint32_t version)
{
    send_hello_as(c, "hostb", layout, profile, version);
}

/* The peer's Ack: stored. */
static void peer_acks(struct fake_conn *c, const char *mig, const char *vm, uint64_t seq)
{
    Vmcs12d__V1__Ack ack;
    vmcs12d__v1__ack__init(&ack);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    char stored[160];
    snprintf(stored, sizeof(stored), "%s/%s/vcpu-0.seq-%llu.bin", mig, vm, (unsigned long long)seq);
    ack.migration_id = v12_pb_str(mig);
    ack.vm = v12_pb_str(vm);
    ack.seq = seq;
    ack.stored_as = stored;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_ACK;
    env.ack = &ack;
    fake_frame(c, &env);
}

static void send_blob(struct fake_conn *c, const char *peer, const char *mig, const char *vm, uint64_t seq,
                      const uint8_t *data, size_t len, uint32_t timeout_ms)
{
    Vmcs12d__V1__Blob b;
    vmcs12d__v1__blob__init(&b);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    b.peer = v12_pb_str(peer);
    b.migration_id = v12_pb_str(mig);
    b.vm = v12_pb_str(vm);
    b.seq = seq;
    b.data.data = v12_pb_bytes(data);
    b.data.len = len;
    b.timeout_ms = timeout_ms;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_BLOB;
    env.blob = &b;
    fake_frame(c, &env);
}

static void send_simple(struct fake_conn *c, int which)
{
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    Vmcs12d__V1__StatusRequest st;
    vmcs12d__v1__status_request__init(&st);
    Vmcs12d__V1__Ping ping;
    vmcs12d__v1__ping__init(&ping);
    if (which == VMCS12D__V1__ENVELOPE__MSG_STATUS) {
        env.msg_case = which;
        env.status = &st;
    } else {
        ping.nonce = 77;
        env.msg_case = VMCS12D__V1__ENVELOPE__MSG_PING;
        env.ping = &ping;
    }
    fake_frame(c, &env);
}

static struct fake_conn *new_control(void)
{
    v12_control_accept(&D, -1);
    struct fake_conn *c = fake_last();
    CHECK(!c->tls && c->adopted);
    fake_establish(c, NULL);
    CHECK(c->ready);
    return c;
}

/* ---- control: status, ping, a bad frame, a message it does not take ------------------------------ */

static void control_basics(void)
{
    struct fake_conn *c = new_control();
    send_simple(c, VMCS12D__V1__ENVELOPE__MSG_STATUS);
    V12Envelope **f = frames(c, 1);
    CHECK_EQ(f[0]->msg_case, VMCS12D__V1__ENVELOPE__MSG_STATUS_REPLY);
    CHECK(strcmp(f[0]->status_reply->node, "hosta") == 0);
    CHECK_EQ(f[0]->status_reply->n_peers, 1);
    CHECK(strcmp(f[0]->status_reply->peers[0]->name, "hostb") == 0);
    send_simple(c, VMCS12D__V1__ENVELOPE__MSG_PING);
    f = frames(c, 1);
    CHECK(f[0]->msg_case == VMCS12D__V1__ENVELOPE__MSG_PING && f[0]->ping->reply && f[0]->ping->nonce == 77);
    /* A frame the transport could not decode: the client hears why. */
    c->ops->frame_error(c->owner, (struct v12_conn *)c, V12_E_FRAME_TOO_LARGE, "frame length exceeds the maximum");
    f = frames(c, 1);
    CHECK_EQ(f[0]->ack->code, V12_E_FRAME_TOO_LARGE);
    CHECK(strcmp(f[0]->ack->error, "FRAME_TOO_LARGE") == 0);
    /* Names outside the character set, an unknown peer: refused with their reasons, nothing relayed. */
    uint8_t *blob;
    size_t len;
    read_file("vmx-l1-encoded.bin", &blob, &len);
    send_blob(c, "hostb", "m1", "../etc", 0, blob, len, 1000);
    f = frames(c, 1);
    CHECK_EQ(f[0]->ack->code, V12_E_INVALID_ARGUMENT);
    CHECK(strstr(f[0]->ack->message, "vm name '../etc' is not allowed") != NULL);
    send_blob(c, "nobody", "m1", "vm", 0, blob, len, 1000);
    f = frames(c, 1);
    CHECK_EQ(f[0]->ack->code, V12_E_PEER_UNKNOWN);
    /* An empty blob (protobuf-c leaves its data NULL): refused before anything is copied. */
    send_blob(c, "hostb", "m1", "vm", 0, NULL, 0, 1000);
    f = frames(c, 1);
    CHECK_EQ(f[0]->ack->code, V12_E_BLOB_TRUNCATED);
    CHECK(strcmp(f[0]->ack->message, "blob is empty") == 0);
    CHECK(D.relay->links[0].transfers == NULL);
    /* A Hello on the control socket is a protocol violation: closed. */
    send_hello(c, VMCS12D__V1__LAYOUT__LAYOUT_ENCODED, "", 1);
    CHECK(c->closed);
    CHECK_EQ(c->close_code, V12_E_PROTOCOL);
}

/* ---- the relay's source side: control -> link -> peer's Ack -> control --------------------------- */

static void relay_source(void)
{
    v12_link_start(&D.relay->links[0]);
    struct fake_conn *L = fake_last();
    CHECK(strcmp(L->target, "127.0.0.1:7001") == 0 && L->tls);
    CHECK_EQ(D.relay->links[0].state, V12_LINK_CONNECTING);

    /* A send while the link is still coming up waits for it. */
    struct fake_conn *c = new_control();
    uint8_t *enc, *leg;
    size_t elen, llen;
    read_file("vmx-l1-encoded.bin", &enc, &elen);
    read_file("vmx-l1-legacy.bin", &leg, &llen);
    send_blob(c, "hostb", "m1", "vm1", 3, enc, elen, 5000);
    frames(c, 0);
    frames(L, 0);
    CHECK(D.relay->links[0].transfers != NULL && !D.relay->links[0].transfers->sent);

    /* TLS up, certificate names hostb: Hello goes out. */
    fake_establish(L, cert_hostb);
    V12Envelope **f = frames(L, 1);
    CHECK_EQ(f[0]->msg_case, VMCS12D__V1__ENVELOPE__MSG_HELLO);
    CHECK(strcmp(f[0]->hello->node, "hosta") == 0 && f[0]->hello->layout == VMCS12D__V1__LAYOUT__LAYOUT_ENCODED);
    /* hostb announces legacy linux-6.18: the waiting blob is converted for it and sent. */
    send_hello(L, VMCS12D__V1__LAYOUT__LAYOUT_LEGACY, "linux-6.18", 1);
    CHECK_EQ(D.relay->links[0].state, V12_LINK_READY);
    CHECK(L->ready);
    f = frames(L, 1);
    CHECK_EQ(f[0]->msg_case, VMCS12D__V1__ENVELOPE__MSG_BLOB);
    CHECK(strcmp(f[0]->blob->vm, "vm1") == 0 && f[0]->blob->seq == 3);
    CHECK_EQ(f[0]->blob->data.len, llen);
    CHECK_MEM(f[0]->blob->data.data, leg, llen); /* byte for byte the legacy golden sample */
    /* Backpressure: a client with max_inflight (2) blobs in flight is not read. */
    CHECK(fake_may_read(c));
    send_blob(c, "hostb", "m1", "vm2", 0, enc, elen, 5000);
    CHECK(!fake_may_read(c));
    frames(L, 1);

    /* hostb stored both: the client hears each Ack, with the conversion summary. */
    peer_acks(L, "m1", "vm1", 3);
    peer_acks(L, "m1", "vm2", 0);
    f = frames(c, 2);
    CHECK_EQ(f[0]->ack->code, 0);
    CHECK(strcmp(f[0]->ack->vm, "vm1") == 0);
    CHECK(strcmp(f[0]->ack->conversion->from, "encoded") == 0 && strcmp(f[0]->ack->conversion->to, "linux-6.18") == 0);
    CHECK_EQ(atomic_load(&D.stats.blobs_relayed), 2);
    CHECK(fake_may_read(c));
    /* Keepalive: the link pings on its tick. */
    L->ops->tick(L->owner, (struct v12_conn *)L);
    f = frames(L, 1);
    CHECK(f[0]->msg_case == VMCS12D__V1__ENVELOPE__MSG_PING && !f[0]->ping->reply);

    /* A blob on the wire when the link drops: failed (it may or may not have arrived). */
    send_blob(c, "hostb", "m1", "vm3", 0, enc, elen, 5000);
    frames(L, 1);
    fake_peer_closes(L, V12_E_TLS, "connection closed without TLS close_notify (truncated)");
    f = frames(c, 1);
    CHECK_EQ(f[0]->ack->code, V12_E_PEER_DOWN);
    CHECK(strstr(f[0]->ack->message, "lost before it acknowledged") != NULL);
    CHECK_EQ(D.relay->links[0].state, V12_LINK_BACKOFF);

    /* A send to a link waiting out its backoff connects now, and fails only at its deadline,
     * naming the last connection error. */
    size_t before = D.main.nconns;
    send_blob(c, "hostb", "m1", "vm4", 0, enc, elen, 2000);
    CHECK_EQ(D.relay->links[0].state, V12_LINK_CONNECTING);
    CHECK_EQ(D.main.nconns, before + 1);
    struct fake_conn *L2 = fake_last();
    fake_peer_closes(L2, -ECONNREFUSED, "cannot connect to 127.0.0.1:7001: Connection refused");
    frames(c, 0); /* still waiting */
    v12_link_tick(&D.relay->links[0], v12_clock_ms() + 1000);
    frames(c, 0);
    v12_link_tick(&D.relay->links[0], v12_clock_ms() + 3000); /* past the deadline (and the backoff: reconnects) */
    f = frames(c, 1);
    CHECK_EQ(f[0]->ack->code, V12_E_PEER_DOWN);
    CHECK(strstr(f[0]->ack->message, "did not connect in time") != NULL);
    CHECK(strstr(f[0]->ack->message, "Connection refused") != NULL);

    /* A certificate that names another peer than the one dialled: refused. */
    struct fake_conn *L3 = fake_last();
    CHECK(L3 != L2 && !L3->closed);
    fake_establish(L3, cert_hostx);
    CHECK(L3->closed);
    CHECK_EQ(L3->close_code, V12_E_PEER_UNKNOWN);
    CHECK(strstr(D.relay->links[0].last_error, "does not name peer hostb") != NULL);

    /* A write that fails because the connection died under the link (not yet reported): nothing
     * of the blob left, so it waits for the next connection instead of failing. */
    uint64_t t0 = v12_clock_ms();
    v12_link_tick(&D.relay->links[0], t0 + 60000); /* the backoff is over: connects */
    struct fake_conn *L4 = fake_last();
    CHECK(L4 != L3 && !L4->closed);
    fake_establish(L4, cert_hostb);
    frames(L4, 1); /* our Hello */
    send_hello(L4, VMCS12D__V1__LAYOUT__LAYOUT_LEGACY, "linux-6.18", 1);
    CHECK_EQ(D.relay->links[0].state, V12_LINK_READY);
    L4->fail_writes = -ECONNRESET;
    uint64_t converted = atomic_load(&D.stats.blobs_converted);
    send_blob(c, "hostb", "m1", "vm5", 0, enc, elen, 600000);
    frames(c, 0); /* no answer: not failed */
    CHECK(D.relay->links[0].transfers != NULL && !D.relay->links[0].transfers->sent);
    fake_peer_closes(L4, -ECONNRESET, "Connection reset by peer");
    frames(c, 0); /* still waiting: it was never on the wire */
    v12_link_tick(&D.relay->links[0], t0 + 120000);
    struct fake_conn *L5 = fake_last();
    CHECK(L5 != L4 && !L5->closed);
    fake_establish(L5, cert_hostb);
    send_hello(L5, VMCS12D__V1__LAYOUT__LAYOUT_LEGACY, "linux-6.18", 1);
    f = frames(L5, 2); /* our Hello, then the blob */
    CHECK_EQ(f[1]->msg_case, VMCS12D__V1__ENVELOPE__MSG_BLOB);
    CHECK(strcmp(f[1]->blob->vm, "vm5") == 0);
    CHECK_MEM(f[1]->blob->data.data, leg, llen);
    peer_acks(L5, "m1", "vm5", 0);
    f = frames(c, 1);
    CHECK_EQ(f[0]->ack->code, 0);
    CHECK(strcmp(f[0]->ack->vm, "vm5") == 0);
    CHECK_EQ(atomic_load(&D.stats.blobs_converted), converted + 1); /* converted twice, counted once */
    v12_link_stop(&D.relay->links[0]);
    fake_peer_closes(c, 0, "closed by the other side");
}

/* ---- an inbound peer: Hello, Blob -> spool -> Ack, refusals ------------------------------------------ */

static struct fake_conn *new_peer_in(void)
{
    v12_peer_accept(&D, -1);
    struct fake_conn *p = fake_last();
    CHECK(p->tls && p->adopted);
    fake_establish(p, cert_hostb);
    CHECK(!p->closed);
    return p;
}

/* Run the loop until the writer's completion arrives (the spool's threads, not the handler). */
static void wait_stored(void)
{
    for (int i = 0; i < 6000 && D.relay->writer.inflight; i++) { /* 30 s: fsync on a busy disk is slow */
        uv_run(D.uv, UV_RUN_NOWAIT);
        if (D.relay->writer.inflight) usleep(5000);
    }
    CHECK_EQ(D.relay->writer.inflight, 0);
}

static void peer_inbound(void)
{
    uint8_t *enc, *leg;
    size_t elen, llen;
    read_file("vmx-l1-encoded.bin", &enc, &elen);
    read_file("vmx-l1-legacy.bin", &leg, &llen);

    /* Nothing before Hello. */
    struct fake_conn *p = new_peer_in();
    send_blob(p, "", "m1", "vm", 0, enc, elen, 0);
    CHECK(p->closed && p->close_code == V12_E_PROTOCOL);
    CHECK(strstr(p->close_why, "expected hello") != NULL);
    /* A certificate naming no configured peer. */
    v12_peer_accept(&D, -1);
    struct fake_conn *x = fake_last();
    fake_establish(x, cert_hostx);
    CHECK(x->closed && x->close_code == V12_E_PEER_UNKNOWN);

    p = new_peer_in();
    send_hello(p, VMCS12D__V1__LAYOUT__LAYOUT_LEGACY, "linux-6.18", 1);
    V12Envelope **f = frames(p, 1);
    CHECK(f[0]->msg_case == VMCS12D__V1__ENVELOPE__MSG_HELLO && strcmp(f[0]->hello->node, "hosta") == 0);
    CHECK(p->ready);
    CHECK_EQ(D.relay->links[0].inbound, 1);
    /* Not in this host's layout (legacy, here encoded): refused, nothing stored. */
    send_blob(p, "", "m1", "vm", 1, leg, llen, 0);
    f = frames(p, 1);
    CHECK_EQ(f[0]->ack->code, V12_E_LAYOUT_MISMATCH);
    CHECK(strstr(f[0]->ack->message, "refused by hosta") != NULL);
    /* Truncated. */
    send_blob(p, "", "m1", "vm", 1, enc, 100, 0);
    f = frames(p, 1);
    CHECK_EQ(f[0]->ack->code, V12_E_BLOB_TRUNCATED);
    struct stat st;
    char path[512];
    snprintf(path, sizeof(path), "%s/m1", spool);
    CHECK(stat(spool, &st) == 0 && stat(path, &st) != 0); /* nothing stored */
    /* Valid: acknowledged only once it is durable. */
    send_blob(p, "", "m1", "vm", 2, enc, elen, 0);
    frames(p, 0);
    CHECK(!fake_may_read(p) || D.relay->writer.inflight);
    wait_stored();
    f = frames(p, 1);
    CHECK_EQ(f[0]->ack->code, 0);
    CHECK(strcmp(f[0]->ack->stored_as, "m1/vm/vcpu-0.seq-2.bin") == 0);
    snprintf(path, sizeof(path), "%s/m1/vm/vcpu-0.seq-2.bin", spool);
    CHECK(stat(path, &st) == 0 && (size_t)st.st_size == elen);
    /* The same again: a duplicate, stored once. */
    send_blob(p, "", "m1", "vm", 2, enc, elen, 0);
    wait_stored();
    f = frames(p, 1);
    CHECK(f[0]->ack->code == 0 && f[0]->ack->duplicate);
    /* A stream to a target stream_allow does not list: refused, closed. */
    Vmcs12d__V1__StreamOpen so;
    vmcs12d__v1__stream_open__init(&so);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    so.target = v12_pb_str("tcp:127.0.0.1:22");
    so.migration_id = v12_pb_str("m9");
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN;
    env.stream_open = &so;
    fake_frame(p, &env);
    CHECK(p->closed && p->close_code == V12_E_PEER_UNKNOWN);
    CHECK_EQ(D.relay->links[0].inbound, 0);
    /* A connection counts as unauthenticated from accept until its certificate is seen. */
    unsigned before = D.relay->handshakes;
    v12_peer_accept(&D, -1);
    struct fake_conn *u = fake_last();
    CHECK_EQ(D.relay->handshakes, before + 1);
    fake_peer_closes(u, V12_E_TIMEOUT, "TLS handshake or hello not completed in time");
    CHECK_EQ(D.relay->handshakes, before);
    u = new_peer_in();
    CHECK_EQ(D.relay->handshakes, before);
    fake_peer_closes(u, 0, "closed by the other side");
    CHECK_EQ(D.relay->handshakes, 0);
}

/* ---- stream mode, destination: StreamOpen, the target, bytes checked on their way --------------------- */

static struct fake_conn *open_stream(uint32_t channel, struct fake_conn **ret_local)
{
    struct fake_conn *p = new_peer_in();
    send_hello(p, VMCS12D__V1__LAYOUT__LAYOUT_LEGACY, "linux-6.18", 1);
    frames(p, 1);
    Vmcs12d__V1__StreamOpen so;
    vmcs12d__v1__stream_open__init(&so);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    so.target = v12_pb_str("tcp:127.0.0.1:5000");
    so.migration_id = v12_pb_str("mig-7");
    so.channel = channel;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN;
    env.stream_open = &so;
    fake_frame(p, &env);
    CHECK(!p->closed && p->raw);
    *ret_local = fake_last();
    CHECK(strcmp((*ret_local)->target, "127.0.0.1:5000") == 0 && !(*ret_local)->tls);
    return p;
}

static void stream_destination(void)
{
    struct fake_conn *local, *remote = open_stream(0, &local);
    /* Bytes before QEMU's side is connected wait in the window. */
    uint8_t data[100000];
    data[0] = 0x11, data[1] = 0x22, data[2] = 0x33, data[3] = 0x44; /* a multifd channel */
    for (size_t i = 4; i < sizeof(data); i++) data[i] = (uint8_t)(i * 7);
    fake_raw(remote, data, 5000);
    CHECK_EQ(local->out_len, 0);
    /* Small fixed buffers towards the local QEMU; on the link little unsent (the return path) and
     * a receive buffer sized to the link's bandwidth-delay product, not left to autotuning. */
    CHECK(local->bufs.sndbuf == 128 * 1024 && local->bufs.rcvbuf == 0 && local->bufs.bdp_rate == 0);
    CHECK(remote->bufs.notsent_lowat == 128 * 1024 && remote->bufs.sndbuf == 0);
    CHECK(remote->bufs.rcvbuf == 128 * 1024 && remote->bufs.bdp_rate == 4ull << 30);
    /* QEMU accepted: the source hears StreamOpen back, then the bytes flow, unchanged. */
    fake_establish(local, NULL);
    V12Envelope **f = frames(remote, 1);
    CHECK(f[0]->msg_case == VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN && f[0]->stream_open->channel == 0);
    CHECK_EQ(local->out_len, 5000);
    fake_raw(remote, data + 5000, sizeof(data) - 5000);
    CHECK_EQ(local->out_len, sizeof(data));
    CHECK_MEM(local->out, data, sizeof(data));
    /* Backpressure: QEMU not reading -> the peer's side is not read; drained -> read again. */
    CHECK(fake_may_read(remote));
    local->queued = D.cfg.conn_buffer_limit;
    CHECK(!fake_may_read(remote));
    unsigned updates = remote->reading_updates;
    local->queued = 0;
    local->ops->drained(local->owner, (struct v12_conn *)local);
    CHECK(remote->reading_updates > updates);
    CHECK(fake_may_read(remote));
    /* The return path goes back raw. */
    remote->out_len = 0;
    fake_raw(local, (const uint8_t *)"ack!", 4);
    CHECK(remote->out_len == 4 && memcmp(remote->out, "ack!", 4) == 0);
    /* The peer ends cleanly: QEMU's side closes after it, and the channel is gone. */
    fake_peer_closes(remote, 0, "closed by the other side (close_notify)");
    CHECK(local->closed && local->close_code == 0);
    CHECK_EQ(D.streams->nchannels, 0);

    /* A main channel whose stream cannot be checked: both sides closed, nothing past the check. */
    remote = open_stream(0, &local);
    fake_establish(local, NULL);
    frames(remote, 1);
    uint8_t bad[64] = {'Q', 'E', 'V', 'M', 0, 0, 0, 2}; /* file version 2 */
    fake_raw(remote, bad, sizeof(bad));
    CHECK(local->closed && remote->closed);
    CHECK_EQ(local->close_code, V12_E_STREAM);
    CHECK_EQ(local->out_len, 0);
    CHECK_EQ(D.streams->nchannels, 0);

    /* Neither a migration stream nor multifd: refused. */
    remote = open_stream(1, &local);
    fake_establish(local, NULL);
    frames(remote, 1);
    fake_raw(remote, (const uint8_t *)"GET / HTTP/1.0\r\n", 16);
    CHECK(local->closed && remote->closed);
}

/* ---- stream mode, destination: the device phase held until its description --------------------------- */

static size_t put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return 4;
}

/* A precopy stream: header, an empty ram section, one FULL device of body bytes (guest data),
 * EOF and, with desc, its description. Returns the length; *phase: where the device phase starts. */
static size_t small_stream(uint8_t *p, size_t body, bool desc, size_t *phase)
{
    size_t n = 0;
    n += put_be32(p + n, 0x5145564d);
    n += put_be32(p + n, 3);
    p[n++] = 0x01; /* START ram, id 2, instance 0, version 4 */
    n += put_be32(p + n, 2);
    p[n++] = 3;
    memcpy(p + n, "ram", 3), n += 3;
    n += put_be32(p + n, 0);
    n += put_be32(p + n, 4);
    memset(p + n, 0, 8), p[n + 7] = 0x04, n += 8; /* MEM_SIZE 0 */
    memset(p + n, 0, 8), p[n + 7] = 0x10, n += 8; /* EOS */
    p[n++] = 0x7e, n += put_be32(p + n, 2);
    *phase = n;
    p[n++] = 0x04; /* FULL dev, id 3 */
    n += put_be32(p + n, 3);
    p[n++] = 3;
    memcpy(p + n, "dev", 3), n += 3;
    n += put_be32(p + n, 0);
    n += put_be32(p + n, 1);
    for (size_t i = 0; i < body; i++) p[n++] = (uint8_t)(i * 13 + 7); /* guest bytes: never structure */
    p[n++] = 0x7e, n += put_be32(p + n, 3);
    p[n++] = 0x00; /* EOF */
    if (desc) {
        char j[300];
        int jl = snprintf(j, sizeof(j),
                          "{\"page_size\": 4096, \"devices\": [{\"name\": \"dev\", \"instance_id\": 0, "
                          "\"vmsd_name\": \"dev\", \"version\": 1, \"fields\": [{\"name\": \"data\", \"type\": "
                          "\"buffer\", \"size\": %zu}]}]}",
                          body);
        p[n++] = 0x06;
        n += put_be32(p + n, (uint32_t)jl);
        memcpy(p + n, j, (size_t)jl), n += (size_t)jl;
    }
    return n;
}

/* A stream channel whose QEMU side is connected: bytes flow from the first one. */
static struct fake_conn *open_flowing(struct fake_conn **local)
{
    struct fake_conn *remote = open_stream(0, local);
    fake_establish(*local, NULL);
    frames(remote, 1);
    return remote;
}

static void stream_hold(void)
{
    static uint8_t st[3u << 20];
    struct fake_conn *local, *remote;
    size_t phase;
    /* Described, larger than the first window: the window grows, then everything goes at once. */
    size_t n = small_stream(st, 600000, true, &phase);
    remote = open_flowing(&local);
    uint64_t switchovers = atomic_load(&D.stats.switchover_count);
    fake_raw(remote, st, phase + 1000);
    CHECK_EQ(local->out_len, phase); /* up to the device phase; that is held */
    CHECK(remote->alarm_ms != 0);
    local->queued = 1000; /* QEMU's socket does not take it all at once */
    for (size_t at = phase + 1000; at < n; at += 70000) fake_raw(remote, st + at, n - at < 70000 ? n - at : 70000);
    CHECK_EQ(local->out_len, n);
    CHECK_MEM(local->out, st, n);
    /* The switchover ends when the last of it is in QEMU's socket: counted once, then, and
     * timed from the first held byte, also when batches that bring nothing come in between. */
    CHECK_EQ(atomic_load(&D.stats.switchover_count), switchovers);
    uint64_t sum = atomic_load(&D.stats.switchover_sum_us);
    usleep(30000);
    fake_raw(remote, NULL, 0);
    local->queued = 0;
    local->ops->drained(local->owner, (struct v12_conn *)local);
    CHECK_EQ(atomic_load(&D.stats.switchover_count), switchovers + 1);
    CHECK(atomic_load(&D.stats.switchover_sum_us) - sum >= 30000);
    local->ops->drained(local->owner, (struct v12_conn *)local);
    CHECK_EQ(atomic_load(&D.stats.switchover_count), switchovers + 1);
    CHECK(!local->closed);
    fake_peer_closes(remote, 0, "closed by the other side (close_notify)");
    CHECK(local->closed && local->close_code == 0);

    /* The stream ends with the last of the device phase still queued for QEMU: the switchover
     * ends with the channel (the queue is flushed while closing). */
    n = small_stream(st, 300, true, &phase);
    remote = open_flowing(&local);
    local->queued = 1000;
    switchovers = atomic_load(&D.stats.switchover_count);
    fake_raw(remote, st, n);
    CHECK_EQ(local->out_len, n);
    CHECK_EQ(atomic_load(&D.stats.switchover_count), switchovers);
    fake_peer_closes(remote, 0, "closed by the other side (close_notify)");
    CHECK(local->closed && local->close_code == 0);
    CHECK_EQ(atomic_load(&D.stats.switchover_count), switchovers + 1);

    /* No description (suppress-vmdesc with a return path): the hold times out, nothing of the
     * device phase reaches QEMU, both sides close. */
    n = small_stream(st, 5000, false, &phase);
    remote = open_flowing(&local);
    fake_raw(remote, st, n);
    CHECK_EQ(local->out_len, phase);
    CHECK(!local->closed);
    fake_alarm(remote);
    CHECK(local->closed && remote->closed);
    CHECK_EQ(local->close_code, V12_E_STREAM);
    CHECK_EQ(local->out_len, phase);

    /* More than stream_hold_limit: refused, nothing of it forwarded. */
    size_t limit = D.cfg.stream_hold_limit;
    D.cfg.stream_hold_limit = 1u << 20;
    n = small_stream(st, 2u << 20, true, &phase);
    remote = open_flowing(&local);
    for (size_t at = 0; at < n && !remote->closed; at += 65536)
        fake_raw(remote, st + at, n - at < 65536 ? n - at : 65536);
    CHECK(local->closed && remote->closed);
    CHECK_EQ(local->close_code, V12_E_STREAM);
    CHECK_EQ(local->out_len, phase);
    D.cfg.stream_hold_limit = limit;

    /* Bytes after an accepted description: refused (a forgery is exposed by what follows it). */
    n = small_stream(st, 100, true, &phase);
    remote = open_flowing(&local);
    fake_raw(remote, st, n);
    CHECK_EQ(local->out_len, n);
    fake_raw(remote, st, 10);
    CHECK(local->closed && local->close_code == V12_E_STREAM);
    CHECK_EQ(D.streams->nchannels, 0);
}

/* ---- stream mode, source: QEMU's connection, the peer's Hello, ordered opens, bytes out ---------------- */

static void stream_source(void)
{
    D.relay->links[0].state = V12_LINK_IDLE;
    CHECK_OK(v12_stream_listen(&D));
    CHECK_EQ(D.streams->nlisteners, 1);
    struct v12_stream_listener *sl = &D.streams->listeners[0];
    /* Two QEMU connections (a main channel and a multifd one). */
    struct fake_conn *local[2], *remote[2];
    for (int i = 0; i < 2; i++) {
        sl->l.on_accept(&sl->l, -1);
        remote[i] = fake_last();
        local[i] = remote[i]->next;
        CHECK(local[i]->adopted && local[i]->raw && remote[i]->tls);
        CHECK(strcmp(remote[i]->target, "127.0.0.1:7001") == 0);
        CHECK(local[i]->bufs.rcvbuf == 128 * 1024 && local[i]->bufs.sndbuf == 0);
        CHECK(remote[i]->bufs.notsent_lowat == 128 * 1024 && remote[i]->bufs.sndbuf == 0 &&
              remote[i]->bufs.rcvbuf == 0);
        fake_establish(local[i], NULL);
        CHECK(!fake_may_read(local[i])); /* not read before the destination opened the stream */
    }
    /* The second channel's TLS comes up first: it waits for the first to be opened. */
    fake_establish(remote[1], cert_hostb);
    frames(remote[1], 1); /* Hello */
    send_hello(remote[1], VMCS12D__V1__LAYOUT__LAYOUT_ENCODED, "", 1);
    frames(remote[1], 0);
    fake_establish(remote[0], cert_hostb);
    frames(remote[0], 1);
    send_hello(remote[0], VMCS12D__V1__LAYOUT__LAYOUT_ENCODED, "", 1);
    V12Envelope **f = frames(remote[0], 1);
    CHECK(f[0]->msg_case == VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN && f[0]->stream_open->channel == 0);
    CHECK(strcmp(f[0]->stream_open->target, "tcp:127.0.0.1:5000") == 0);
    char mig[V12_NAME_MAX];
    snprintf(mig, sizeof(mig), "%s", f[0]->stream_open->migration_id);
    frames(remote[1], 0); /* still waiting for channel 0's acknowledgement */
    /* QEMU's bytes go out as they come. */
    CHECK(fake_may_read(local[0]));
    fake_raw(local[0], (const uint8_t *)"QEVM", 4);
    CHECK(remote[0]->out_len == 4 && memcmp(remote[0]->out, "QEVM", 4) == 0);
    remote[0]->out_len = 0;
    /* Channel 0 acknowledged: channel 1 opens, in the same migration. */
    Vmcs12d__V1__StreamOpen so;
    vmcs12d__v1__stream_open__init(&so);
    V12Envelope env;
    vmcs12d__v1__envelope__init(&env);
    so.channel = 0;
    env.msg_case = VMCS12D__V1__ENVELOPE__MSG_STREAM_OPEN;
    env.stream_open = &so;
    fake_frame(remote[0], &env);
    CHECK(remote[0]->raw);
    f = frames(remote[1], 1);
    CHECK(f[0]->stream_open->channel == 1 && strcmp(f[0]->stream_open->migration_id, mig) == 0);
    /* The return path, raw, back to QEMU. */
    fake_raw(remote[0], (const uint8_t *)"back", 4);
    CHECK(local[0]->out_len == 4 && memcmp(local[0]->out, "back", 4) == 0);
    /* The peer's side not draining: QEMU is not read. */
    remote[0]->queued = D.cfg.conn_buffer_limit;
    CHECK(!fake_may_read(local[0]));
    remote[0]->queued = 0;
    /* QEMU closes: the channel ends, the TLS side closes cleanly after it. */
    fake_peer_closes(local[0], 0, "closed by the other side");
    CHECK(remote[0]->closed && remote[0]->close_code == 0);
    fake_peer_closes(local[1], 0, "closed by the other side");
    CHECK(remote[1]->closed);
    CHECK_EQ(D.streams->nchannels, 0);
    /* A channel whose peer (hostb's certificate) says it is another node: ended, nothing opened. */
    sl->l.on_accept(&sl->l, -1);
    struct fake_conn *r = fake_last(), *l = r->next;
    fake_establish(l, NULL);
    fake_establish(r, cert_hostb);
    frames(r, 1); /* our Hello */
    send_hello_as(r, "hostz", VMCS12D__V1__LAYOUT__LAYOUT_ENCODED, "", 1);
    frames(r, 0); /* no StreamOpen */
    CHECK(r->closed && l->closed);
    CHECK(strcmp(r->close_why, "hello: its certificate names peer hostb but its hello says node 'hostz'") == 0);
    CHECK_EQ(D.streams->nchannels, 0);
    v12_stream_stop_listening(&D);
}

/* ---- endpoint ranges: ports, and numbered unix socket paths ------------------------------------------ */

static void endpoint_ranges(void)
{
    struct v12_endpoint r, one, t;
    CHECK_OK(v12_endpoint_parse_range("unix:/run/v12/mig-{8-11}.sock", 256, &r));
    CHECK(r.unix_socket && v12_endpoint_ports(&r) == 4);
    v12_endpoint_at(&r, 0, &one);
    CHECK(strcmp(one.path, "/run/v12/mig-8.sock") == 0 && strcmp(one.text, "unix:/run/v12/mig-8.sock") == 0);
    v12_endpoint_at(&r, 3, &one);
    CHECK(strcmp(one.path, "/run/v12/mig-11.sock") == 0 && one.port_lo == 11 && v12_endpoint_ports(&one) == 1);
    /* Expanded paths are in the range; everything around them is not. */
    CHECK_OK(v12_endpoint_parse("unix:/run/v12/mig-11.sock", &t));
    CHECK(v12_stream_allowed(&r, 1, &t));
    const char *outside[] = {
        "unix:/run/v12/mig-12.sock",     "unix:/run/v12/mig-7.sock",   "unix:/run/v12/mig-011.sock",
        "unix:/run/v12/mig-.sock",       "unix:/run/v12/mig-8.socket", "unix:/run/v12/mig-8-9.sock",
        "unix:/run/v12/mig-{8-11}.sock", "unix:/run/v1/mig-8.sock",    "unix:/run/v12/mig-+9.sock"};
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        CHECK_OK(v12_endpoint_parse(outside[i], &t));
        CHECK(!v12_stream_allowed(&r, 1, &t));
    }
    /* A single endpoint takes no range: the braces are part of its path. */
    CHECK_OK(v12_endpoint_parse("unix:/run/v12/mig-{8-11}.sock", &one));
    CHECK(v12_endpoint_ports(&one) == 1 && strcmp(one.path, "/run/v12/mig-{8-11}.sock") == 0);
    /* Ports, as before. */
    CHECK_OK(v12_endpoint_parse_range("tcp:127.0.0.1:49152-49215", 256, &r));
    v12_endpoint_at(&r, 63, &one);
    CHECK(v12_endpoint_ports(&r) == 64 && strcmp(one.text, "tcp:127.0.0.1:49215") == 0);
    CHECK(v12_endpoint_parse_range("unix:/run/v12/m-{0-256}.sock", 256, &r) == V12_E_INVALID_ARGUMENT);
    CHECK(v12_endpoint_parse_range("unix:/run/v12/m-{0-255}.sock", 256, &r) == 0 && v12_endpoint_ports(&r) == 256);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    samples = argv[1];
    v12_log_level = V12_LOG_ERR;
    handlers_env_setup();
    RUN(control_basics);
    RUN(relay_source);
    RUN(peer_inbound);
    RUN(stream_destination);
    RUN(stream_hold);
    RUN(stream_source);
    RUN(endpoint_ranges);
    handlers_env_teardown();
    printf("test_handlers: all passed\n");
    return 0;
}
