/* SPDX-License-Identifier: MIT */
#ifndef V12_FRAME_H
#define V12_FRAME_H

/*
 * Framing: a 4-byte big-endian length, then that many bytes of a protobuf Envelope. The
 * reader is a loop-free state machine fed bytes in any split; the length is checked against
 * the maximum before anything is allocated or decoded.
 */
#include <stddef.h>
#include <stdint.h>

#include "v12/errors.h"
#include "vmcs12d.pb-c.h"

/*
 * protobuf-c's string fields are char * although packing only reads them: the one place where
 * a const string is handed to one, so that -Wcast-qual stays on everywhere else.
 */
static inline char *v12_pb_str(const char *s)
{
    union {
        const char *in;
        char *out;
    } u = {.in = s};
    return u.out;
}

/* The same for bytes fields (uint8_t *data). */
static inline uint8_t *v12_pb_bytes(const void *p)
{
    union {
        const void *in;
        uint8_t *out;
    } u = {.in = p};
    return u.out;
}

#define V12_PROTOCOL_VERSION 1u
#define V12_FRAME_MAX 65536u /* default and hard ceiling; a blob frame is ~8.5 KiB */
#define V12_FRAME_HEADER 4u

typedef Vmcs12d__V1__Envelope V12Envelope;

struct v12_frame_reader {
    uint32_t max; /* largest accepted frame */
    uint8_t hdr[4];
    uint8_t hdr_have;
    uint32_t len; /* of the frame in progress, once hdr_have == 4 */
    uint32_t have;
    uint8_t *buf; /* allocated for the frame in progress only: idle readers hold nothing */
};

void v12_frame_reader_init(struct v12_frame_reader *r, uint32_t max);
void v12_frame_reader_done(struct v12_frame_reader *r);
/* Bytes held for an incomplete frame (for memory accounting). */
size_t v12_frame_reader_buffered(const struct v12_frame_reader *r);

/*
 * Consume bytes from data[0, n). Returns 1 with *ret_env set when a frame is complete (the
 * caller frees it with v12_envelope_free; *consumed says how much of data was used), 0 when all
 * of data was consumed and more is needed, or FRAME_TOO_LARGE / FRAME_MALFORMED / -ENOMEM.
 * After an error the reader is unusable: the connection must close.
 */
int v12_frame_feed(struct v12_frame_reader *r, const uint8_t *data, size_t n, size_t *consumed, V12Envelope **ret_env,
                   uint32_t *ret_frame_len) V12_MUST_USE;

void v12_envelope_free(V12Envelope *env);

/* Pack env behind its 4-byte length into a new buffer (malloc); FRAME_TOO_LARGE past max. */
int v12_frame_pack(const V12Envelope *env, uint32_t max, uint8_t **ret_buf, size_t *ret_len) V12_MUST_USE;

/* Decode one whole frame (header included) from a buffer: for tests and the blocking client. */
int v12_frame_decode(const uint8_t *buf, size_t len, uint32_t max, V12Envelope **ret_env) V12_MUST_USE;

#endif
