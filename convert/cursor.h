/* SPDX-License-Identifier: MIT */
#ifndef V12_CURSOR_H
#define V12_CURSOR_H

/*
 * A bounds-checked reader over bytes that may be incomplete. Every read either succeeds or
 * records how many bytes the buffer would have to hold for it to succeed (need) and makes every
 * later read fail too, so a record reader reads all of its fields first and asks once at the
 * end: cur_short() says "need more bytes", cur_need() how many. Nothing is read past len.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct v12_cur {
    const uint8_t *p;
    size_t len;  /* bytes available */
    size_t off;  /* the next byte */
    size_t need; /* 0, or the length the failed read needed */
};

static inline struct v12_cur cur_make(const uint8_t *p, size_t len, size_t off)
{
    struct v12_cur c = {p, len, off, 0};
    return c;
}

static inline bool cur_short(const struct v12_cur *c)
{
    return c->need != 0;
}

/* n bytes at the cursor, or NULL (and need set). */
static inline const uint8_t *cur_take(struct v12_cur *c, size_t n)
{
    if (c->need) return NULL;
    if (c->len - c->off < n) {
        c->need = n > SIZE_MAX - c->off ? SIZE_MAX : c->off + n;
        return NULL;
    }
    const uint8_t *q = c->p + c->off;
    c->off += n;
    return q;
}

static inline uint32_t v12_be16(const uint8_t *q)
{
    return (uint32_t)q[0] << 8 | q[1];
}
static inline uint32_t v12_be32(const uint8_t *q)
{
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}
static inline uint64_t v12_be64(const uint8_t *q)
{
    return (uint64_t)v12_be32(q) << 32 | v12_be32(q + 4);
}

static inline uint32_t cur_u8(struct v12_cur *c)
{
    const uint8_t *q = cur_take(c, 1);
    return q ? q[0] : 0;
}
static inline uint32_t cur_be16(struct v12_cur *c)
{
    const uint8_t *q = cur_take(c, 2);
    return q ? v12_be16(q) : 0;
}
static inline uint32_t cur_be32(struct v12_cur *c)
{
    const uint8_t *q = cur_take(c, 4);
    return q ? v12_be32(q) : 0;
}
static inline uint64_t cur_be64(struct v12_cur *c)
{
    const uint8_t *q = cur_take(c, 8);
    return q ? v12_be64(q) : 0;
}

/* The byte at the cursor without consuming it (0 and need set when absent). */
static inline uint32_t cur_peek(struct v12_cur *c)
{
    if (c->need) return 0;
    if (c->off >= c->len) {
        c->need = c->off + 1;
        return 0;
    }
    return c->p[c->off];
}

/* A length-prefixed name (u8 length, bytes): its bytes and length. */
static inline const uint8_t *cur_name8(struct v12_cur *c, size_t *len)
{
    *len = cur_u8(c);
    return cur_take(c, *len);
}

static inline bool cur_name_is(const uint8_t *name, size_t len, const char *s)
{
    size_t n = strlen(s);
    return name && len == n && memcmp(name, s, n) == 0;
}

#endif
