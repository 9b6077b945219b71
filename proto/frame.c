/* SPDX-License-Identifier: MIT */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void v12_frame_reader_init(struct v12_frame_reader *r, uint32_t max)
{
    *r = (struct v12_frame_reader){.max = max && max <= V12_FRAME_MAX ? max : V12_FRAME_MAX};
}

void v12_frame_reader_done(struct v12_frame_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->hdr_have = 0;
    r->have = 0;
}

size_t v12_frame_reader_buffered(const struct v12_frame_reader *r)
{
    return r->buf ? r->len : 0;
}

/* A varint at p[*pos..end): 0, or -1 when it runs past the end or past 10 bytes. */
static int varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *ret)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*pos >= end) return -1;
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
        if (!(b & 0x80)) {
            *ret = v;
            return 0;
        }
    }
    return -1;
}

/*
 * protobuf-c hands a string field over NUL-terminated, so a NUL inside it would silently cut
 * the value ("vm\0../x" read as "vm"). Every string field of msg, nested messages included, is
 * looked at on the wire before unpacking: a NUL anywhere in one refuses the frame.
 */
static int check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len, unsigned depth)
{
    if (depth > 8) return V12_E_FRAME_MALFORMED; /* the schema nests three deep */
    size_t pos = 0;
    while (pos < len) {
        uint64_t tag, n;
        if (varint(p, len, &pos, &tag)) return V12_E_FRAME_MALFORMED;
        switch (tag & 7) {
        case 0:
            if (varint(p, len, &pos, &n)) return V12_E_FRAME_MALFORMED;
            break;
        case 1:
        case 5: {
            size_t w = (tag & 7) == 1 ? 8 : 4;
            if (len - pos < w) return V12_E_FRAME_MALFORMED;
            pos += w;
            break;
        }
        case 2: {
            if (varint(p, len, &pos, &n) || n > len - pos) return V12_E_FRAME_MALFORMED;
            const ProtobufCFieldDescriptor *f =
                tag >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3)) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p + pos, 0, (size_t)n)) return V12_E_STRING_NUL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int r = check_strings(f->descriptor, p + pos, (size_t)n, depth + 1);
                if (r) return r;
            }
            pos += (size_t)n;
            break;
        }
        default: return V12_E_FRAME_MALFORMED; /* groups (3, 4) and wire types 6, 7 */
        }
    }
    return 0;
}

static int unpack(const uint8_t *data, uint32_t len, V12Envelope **ret)
{
    int r = check_strings(&vmcs12d__v1__envelope__descriptor, data, len, 0);
    if (r) return r;
    V12Envelope *env = vmcs12d__v1__envelope__unpack(NULL, len, data);
    if (!env) return V12_E_FRAME_MALFORMED;
    if (env->msg_case == VMCS12D__V1__ENVELOPE__MSG__NOT_SET) {
        vmcs12d__v1__envelope__free_unpacked(env, NULL);
        return V12_E_FRAME_MALFORMED;
    }
    *ret = env;
    return 0;
}

int v12_frame_feed(struct v12_frame_reader *r, const uint8_t *data, size_t n, size_t *consumed, V12Envelope **ret_env,
                   uint32_t *ret_frame_len)
{
    size_t used = 0;
    while (r->hdr_have < 4) {
        if (used == n) {
            *consumed = used;
            return 0;
        }
        r->hdr[r->hdr_have++] = data[used++];
        if (r->hdr_have == 4) {
            r->len = (uint32_t)r->hdr[0] << 24 | (uint32_t)r->hdr[1] << 16 | (uint32_t)r->hdr[2] << 8 | r->hdr[3];
            if (r->len > r->max) {
                *consumed = used;
                return V12_E_FRAME_TOO_LARGE;
            }
            if (r->len == 0) {
                *consumed = used;
                return V12_E_FRAME_MALFORMED; /* an Envelope always carries a message */
            }
            r->have = 0;
        }
    }
    size_t want = r->len - r->have, avail = n - used;
    if (!r->buf && avail >= want) {
        /* The whole frame is in this chunk: decode in place, no copy. */
        int rc = unpack(data + used, r->len, ret_env);
        *consumed = used + want;
        if (ret_frame_len) *ret_frame_len = r->len;
        r->hdr_have = 0;
        return rc ? rc : 1;
    }
    if (!r->buf) {
        r->buf = malloc(r->len);
        if (!r->buf) return -ENOMEM;
    }
    size_t take = avail < want ? avail : want;
    memcpy(r->buf + r->have, data + used, take);
    r->have += (uint32_t)take;
    used += take;
    *consumed = used;
    if (r->have < r->len) return 0;
    int rc = unpack(r->buf, r->len, ret_env);
    if (ret_frame_len) *ret_frame_len = r->len;
    free(r->buf);
    r->buf = NULL;
    r->hdr_have = 0;
    return rc ? rc : 1;
}

void v12_envelope_free(V12Envelope *env)
{
    if (env) vmcs12d__v1__envelope__free_unpacked(env, NULL);
}

int v12_frame_pack(const V12Envelope *env, uint32_t max, uint8_t **ret_buf, size_t *ret_len)
{
    size_t len = vmcs12d__v1__envelope__get_packed_size(env);
    if (len > max || len > V12_FRAME_MAX) return V12_E_FRAME_TOO_LARGE;
    uint8_t *buf = malloc(len + V12_FRAME_HEADER);
    if (!buf) return -ENOMEM;
    buf[0] = (uint8_t)(len >> 24);
    buf[1] = (uint8_t)(len >> 16);
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    vmcs12d__v1__envelope__pack(env, buf + V12_FRAME_HEADER);
    *ret_buf = buf;
    *ret_len = len + V12_FRAME_HEADER;
    return 0;
}

int v12_frame_decode(const uint8_t *buf, size_t len, uint32_t max, V12Envelope **ret_env)
{
    struct v12_frame_reader r;
    v12_frame_reader_init(&r, max);
    size_t used;
    int rc = v12_frame_feed(&r, buf, len, &used, ret_env, NULL);
    v12_frame_reader_done(&r);
    if (rc == 1 && used == len) return 0;
    if (rc == 1) {
        v12_envelope_free(*ret_env);
        return V12_E_FRAME_MALFORMED; /* trailing bytes */
    }
    return rc ? rc : V12_E_FRAME_MALFORMED; /* truncated */
}
