/* SPDX-License-Identifier: MIT */
#ifndef V12_TESTS_CHECK_H
#define V12_TESTS_CHECK_H

/* Assertions that print the expression, both values and file:line, then abort. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                                                                \
    do {                                                                                                              \
        long long _a = (long long)(a), _b = (long long)(b);                                                           \
        if (_a != _b) {                                                                                               \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld (%#llx) != %lld (%#llx)\n", __FILE__, __LINE__, #a, \
                    #b, _a, (unsigned long long)_a, _b, (unsigned long long)_b);                                      \
            abort();                                                                                                  \
        }                                                                                                             \
    } while (0)

#define CHECK_OK(expr) CHECK_EQ((expr), 0)

#define CHECK_MEM(a, b, n)                                                                                           \
    do {                                                                                                             \
        const unsigned char *_p = (const unsigned char *)(a), *_q = (const unsigned char *)(b);                      \
        for (size_t _i = 0; _i < (size_t)(n); _i++)                                                                  \
            if (_p[_i] != _q[_i]) {                                                                                  \
                fprintf(stderr, "%s:%d: CHECK_MEM(%s, %s) differ at byte %zu: %#x != %#x\n", __FILE__, __LINE__, #a, \
                        #b, _i, _p[_i], _q[_i]);                                                                     \
                abort();                                                                                             \
            }                                                                                                        \
    } while (0)

/* A small deterministic PRNG (xorshift64*), so failures reproduce from the printed seed. */
static inline uint64_t test_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

#define RUN(test)                         \
    do {                                  \
        fprintf(stderr, "  %s\n", #test); \
        test();                           \
    } while (0)

#endif
