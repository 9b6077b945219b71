/* SPDX-License-Identifier: MIT */
/* What the C benchmarks share: a monotonic clock, a fixed-seed generator, pinning to CPU 0,
 * sized field accesses. */
#ifndef V12_BENCH_UTIL_H
#define V12_BENCH_UTIL_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any include (sched_setaffinity)"
#endif
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* xorshift64*: reproducible inputs from a fixed seed. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ull;
}

static inline void bench_pin_cpu0(void)
{
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    if (sched_setaffinity(0, sizeof(cpus), &cpus) != 0) perror("sched_setaffinity (continuing unpinned)");
}

/* A 2-, 4- or 8-byte access to a vmcs12 field (any alignment). */
static inline uint64_t load_sized(const uint8_t *p, unsigned size)
{
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;
    switch (size) {
    case 8: memcpy(&v64, p, 8); return v64;
    case 2: memcpy(&v16, p, 2); return v16;
    default: memcpy(&v32, p, 4); return v32;
    }
}

static inline void store_sized(uint8_t *p, unsigned size, uint64_t value)
{
    uint16_t v16 = (uint16_t)value;
    uint32_t v32 = (uint32_t)value;
    switch (size) {
    case 8: memcpy(p, &value, 8); break;
    case 2: memcpy(p, &v16, 2); break;
    default: memcpy(p, &v32, 4); break;
    }
}

#endif
