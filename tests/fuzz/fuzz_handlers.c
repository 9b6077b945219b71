/* SPDX-License-Identifier: MIT */
/*
 * The daemon's handlers fed frame sequences through the fake transport (tests/unit/fake_conn.c):
 * a control client, an inbound peer (certificate hostb) and the outbound link to hostb are open
 * at once, and the input is a list of operations on them: a frame of arbitrary bytes (decoded
 * as the transport decodes it: a frame that does not decode closes the connection), a well-formed
 * Hello or Blob with fuzzed fields, time passing, the spool's writers finishing, raw bytes on a
 * stream channel, the other side closing. Checked: nothing crashes or leaks, every byte a
 * handler writes on a frame connection is whole, decodable frames, and once everything is
 * closed no inbound connection is still counted (against the peer, or as unauthenticated).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "fake_conn.h"
#include "frame.h"
#include "handlers_env.h"
#include "log.h"

static uint8_t sample[2][16384];
static size_t sample_len[2];
static uint64_t now = 1000000;

static void load(int i, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", V12_SAMPLES_DIR, name);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    sample_len[i] = fread(sample[i], 1, sizeof(sample[0]), f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    v12_log_level = -1; /* quiet: the fuzzer's time goes to the handlers */
    handlers_env_setup();
    atexit(handlers_env_teardown);
    load(0, "vmx-l1-encoded.bin");
    load(1, "vmx-l1-legacy.bin");
    return 0;
}

struct in {
    const uint8_t *p;
    size_t n;
};

static unsigned byte(struct in *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static void drain_writer(void)
{
    /* fsync on a busy disk can take seconds: 30 s before calling it a hang. */
    for (int i = 0; i < 30000 && D.relay->writer.inflight; i++) {
        uv_run(D.uv, UV_RUN_NOWAIT);
        if (D.relay->writer.inflight) usleep(1000);
    }
    CHECK_EQ(D.relay->writer.inflight, 0);
}

static struct fake_conn *pick(struct in *in)
{
    unsigned open = 0;
    for (struct fake_conn *c = fake_conns; c; c = c->next) open += !c->closed;
    if (!open) return NULL;
    unsigned k = byte(in) % open;
    for (struct fake_conn *c = fake_conns; c; c = c->next)
        if (!c->closed && k-- == 0) return c;
    return NULL;
}

/* What the handler wrote on a frame connection must be whole frames (fake_take_frames checks). */
static void check_output(void)
{
    for (struct fake_conn *c = fake_conns; c; c = c->next) {
        if (c->raw) {
            c->out_len = 0;
            continue;
        }
        size_t n;
        (void)fake_take_frames(c, &n);
    }
}

/* As the transport hands a decoded frame over: this very message, unknown fields and all. */
static void deliver(struct fake_conn *c, const V12Envelope *env)
{
    if (c && !c->closed && !c->raw && c->ops && c->ops->frame) c->ops->frame(c->owner, (struct v12_conn *)c, env);
}

/* A message the harness built: through the wire format first (fake_frame packs and decodes). */
static void deliver_built(struct fake_conn *c, const V12Envelope *env)
{
    if (c && !c->closed && !c->raw && c->ops && c->ops->frame) fake_frame(c, env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    fake_set_clock(now);
    v12_control_accept(&D, -1);
    v12_peer_accept(&D, -1);
    fake_establish(fake_last(), cert_hostb);
    v12_link_start(&D.relay->links[0]);
    fake_establish(fake_last(), cert_hostb);
    check_output();

    for (unsigned ops = 0; in.n && ops < 64; ops++) {
        unsigned op = byte(&in);
        struct fake_conn *c = pick(&in);
        if (!c) break;
        switch (op % 8) {
        case 0:
        case 1: { /* a frame of arbitrary bytes, as the transport would decode it */
            size_t len = byte(&in) << 8 | byte(&in);
            if (len > in.n) len = in.n;
            uint8_t *buf = malloc(len + 4);
            CHECK(buf != NULL);
            buf[0] = 0, buf[1] = 0, buf[2] = (uint8_t)(len >> 8), buf[3] = (uint8_t)len;
            memcpy(buf + 4, in.p, len);
            in.p += len, in.n -= len;
            V12Envelope *env = NULL;
            int r = v12_frame_decode(buf, len + 4, V12_FRAME_MAX, &env);
            free(buf);
            if (r) {
                if (!c->raw) fake_peer_closes(c, r, v12_strerror(r));
            } else {
                deliver(c, env);
                v12_envelope_free(env);
            }
            break;
        }
        case 2: { /* a well-formed Hello: hostb (or another node), legacy or encoded */
            unsigned b = byte(&in);
            Vmcs12d__V1__Hello h;
            vmcs12d__v1__hello__init(&h);
            V12Envelope env;
            vmcs12d__v1__envelope__init(&env);
            h.protocol_version = b & 4 ? 2 : 1;
            h.node = v12_pb_str((b & 8 ? "hostz" : "hostb"));
            h.layout = b & 1 ? VMCS12D__V1__LAYOUT__LAYOUT_ENCODED : VMCS12D__V1__LAYOUT__LAYOUT_LEGACY;
            h.profile = v12_pb_str((b & 2 ? "linux-5.14" : "linux-6.18"));
            env.msg_case = VMCS12D__V1__ENVELOPE__MSG_HELLO;
            env.hello = &h;
            deliver_built(c, &env);
            break;
        }
        case 3: { /* a Blob: a valid sample (either layout), maybe cut or with one byte changed */
            unsigned b = byte(&in), cut = byte(&in), flip = byte(&in);
            int which = b & 1;
            static uint8_t buf[16384];
            size_t len = sample_len[which];
            memcpy(buf, sample[which], len);
            if (b & 2) len = len * cut / 256;
            if (b & 4 && len) buf[(flip * 17) % len] ^= (uint8_t)(b | 1);
            static char mig[8], vm[8];
            snprintf(mig, sizeof(mig), "m%u", (b >> 3) & 3);
            snprintf(vm, sizeof(vm), "v%u", (b >> 5) & 1);
            Vmcs12d__V1__Blob blob;
            vmcs12d__v1__blob__init(&blob);
            V12Envelope env;
            vmcs12d__v1__envelope__init(&env);
            blob.peer = v12_pb_str((b & 64 ? "hostb" : "nobody"));
            blob.migration_id = mig;
            blob.vm = vm;
            blob.vcpu = flip & 3;
            blob.seq = cut & 3;
            blob.data.data = len ? buf : NULL;
            blob.data.len = len;
            blob.timeout_ms = b & 128 ? 1000 : 0;
            env.msg_case = VMCS12D__V1__ENVELOPE__MSG_BLOB;
            env.blob = &blob;
            deliver_built(c, &env);
            break;
        }
        case 4: /* time passes: deadlines, backoff, keepalive */
            now += 1000u * (byte(&in) % 40);
            fake_set_clock(now);
            v12_link_tick(&D.relay->links[0], now);
            break;
        case 5: /* the spool's writers finish what they have */ drain_writer(); break;
        case 6: { /* raw bytes on a connection that carries them (a stream channel) */
            size_t len = byte(&in);
            if (len > in.n) len = in.n;
            if (c->raw && c->ops && c->ops->raw_buf) fake_raw(c, in.p, len);
            in.p += len, in.n -= len;
            break;
        }
        case 7: /* the other side closes */
            fake_peer_closes(c, byte(&in) & 1 ? V12_E_PEER_DOWN : 0, "closed by the other side");
            break;
        }
        check_output();
    }

    /* Everything ends: the other sides close, the writers finish, the link stops. */
    for (int round = 0; round < 4; round++) {
        for (struct fake_conn *c = fake_conns; c; c = c->next)
            if (!c->closed) fake_peer_closes(c, 0, "end of input");
        drain_writer();
    }
    v12_link_stop(&D.relay->links[0]);
    now += 600000;
    fake_set_clock(now);
    v12_link_tick(&D.relay->links[0], now); /* transfers of closed clients time out */
    for (struct fake_conn *c = fake_conns; c; c = c->next) CHECK(c->closed);
    CHECK_EQ(D.relay->links[0].inbound, 0);
    CHECK_EQ(D.relay->handshakes, 0);
    check_output();
    fake_reset();
    return 0;
}
