/* SPDX-License-Identifier: MIT */
/*
 * bench_convert: the converter's speed against anchors measured in the same run.
 *
 *  1. One vmcs12 region legacy -> encoded, encoded -> legacy (strict padding check included),
 *     in ns per region and as a ratio to memcpy of 4096 bytes.
 *  2. encoding -> offset look-ups for random encodings: the encoded layout's arithmetic vs a
 *     KVM-style table indexed by ROL16(encoding, 6), as a ratio.
 *
 * Pinned to one core; each figure is the best of several rounds.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "v12/convert.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#define ROUNDS 7
#define barrier() __asm__ __volatile__("" ::: "memory")

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint8_t src[V12_REGION_SIZE] __attribute__((aligned(64)));
static uint8_t dst[V12_REGION_SIZE] __attribute__((aligned(64)));
static uint8_t back[V12_REGION_SIZE] __attribute__((aligned(64)));

typedef void (*body_fn)(long n);

static double best_ns_per_op(body_fn fn, long n)
{
    double best = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = bench_now_ns();
        fn(n);
        double t = (bench_now_ns() - t0) / (double)n;
        if (t < best) best = t;
    }
    return best;
}

static void do_memcpy(long n)
{
    for (long i = 0; i < n; i++) {
        memcpy(dst, src, sizeof(src));
        barrier();
    }
}

static struct v12_convert_opts to_enc, to_leg;

static void do_l2e(long n)
{
    for (long i = 0; i < n; i++) {
        if (v12_region_convert(src, dst, &to_enc, V12_REGION_PRIMARY, NULL, NULL)) abort();
        barrier();
    }
}

static void do_e2l(long n)
{
    for (long i = 0; i < n; i++) {
        if (v12_region_convert(dst, back, &to_leg, V12_REGION_PRIMARY, NULL, NULL)) abort();
        barrier();
    }
}

/* KVM-style: u16 offsets[ROL16(enc, 6)], 0 = no field. */
#define ROL16(v, n) ((uint16_t)(((v) << (n)) | ((v) >> (16 - (n)))))
static uint16_t kvm_table[65536];
static unsigned kvm_nr;
#define NLOOKUPS 4096
static uint32_t encs[NLOOKUPS];
static volatile uint32_t sink;

static inline int kvm_offset(uint32_t enc, uint32_t *ret)
{
    if (enc >> 15) return -1;
    unsigned idx = ROL16(enc, 6);
    if (idx >= kvm_nr) return -1;
    uint16_t off = kvm_table[idx];
    if (!off) return -1;
    *ret = off;
    return 0;
}

static void do_kvm_lookup(long n)
{
    uint32_t acc = 0;
    for (long i = 0; i < n; i++) {
        uint32_t off;
        if (kvm_offset(encs[i & (NLOOKUPS - 1)], &off)) abort();
        acc += off;
    }
    sink = acc;
}

/* Latency-bound: each look-up's encoding depends on the previous offset, as in one VMREAD. */
static void do_kvm_chain(long n)
{
    uint32_t off = 0;
    for (long i = 0; i < n; i++)
        if (kvm_offset(encs[(i + off) & (NLOOKUPS - 1)], &off)) abort();
    sink = off;
}

static void do_enc_chain(long n)
{
    uint32_t off = 0, size;
    for (long i = 0; i < n; i++)
        if (v12_encoded_offset_inline(encs[(i + off) & (NLOOKUPS - 1)], &off, &size)) abort();
    sink = off;
}

#if defined(__x86_64__)
/*
 * Cold cache: both tables flushed from every cache level before each look-up, as after a guest
 * exit that evicted them; each look-up timed alone with serialising TSC reads. Median of many.
 */
static void flush_tables(void)
{
    for (size_t i = 0; i < sizeof(kvm_table); i += 64) _mm_clflush((const char *)kvm_table + i);
    for (size_t i = 0; i < sizeof(v12_groups); i += 64) _mm_clflush((const char *)v12_groups + i);
    _mm_mfence();
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double cold_cycles(int use_kvm)
{
    enum { N = 20001 };
    static uint64_t t[N];
    unsigned aux;
    for (int i = 0; i < N; i++) {
        uint32_t e = encs[i & (NLOOKUPS - 1)], off = 0, size;
        flush_tables();
        uint64_t t0 = __rdtscp(&aux);
        int r = use_kvm ? kvm_offset(e, &off) : v12_encoded_offset_inline(e, &off, &size);
        sink = off;
        uint64_t t1 = __rdtscp(&aux);
        if (r) abort();
        t[i] = t1 - t0;
    }
    qsort(t, N, sizeof(t[0]), cmp_u64);
    return (double)t[N / 2];
}
#endif

static void do_enc_lookup(long n)
{
    uint32_t acc = 0;
    for (long i = 0; i < n; i++) {
        uint32_t off, size;
        if (v12_encoded_offset_inline(encs[i & (NLOOKUPS - 1)], &off, &size)) abort();
        acc += off;
    }
    sink = acc;
}

int main(void)
{
    bench_pin_cpu0();

    /* A realistic region: every linux-6.18 field random, padding zero (the full padding scan). */
    v12_store_le(src, 4, V12_REVISION_LEGACY);
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        uint16_t o = v12_field_offsets[V12_LAYOUT_LEGACY][f];
        if (o != V12_NO_OFFSET) v12_store_le(src + o, v12_fields[f].size, bench_rand(&rng));
    }
    v12_convert_opts_init(&to_enc);
    to_enc.from = V12_LAYOUT_LEGACY;
    to_enc.to = V12_LAYOUT_ENCODED;
    v12_convert_opts_init(&to_leg);
    to_leg.from = V12_LAYOUT_ENCODED;
    to_leg.to = V12_LAYOUT_LEGACY;
    if (v12_region_convert(src, dst, &to_enc, V12_REGION_PRIMARY, NULL, NULL) ||
        v12_region_convert(dst, back, &to_leg, V12_REGION_PRIMARY, NULL, NULL) || memcmp(src, back, sizeof(src)) != 0) {
        fprintf(stderr, "bench_convert: round trip failed\n");
        return 1;
    }

    const long n = 2000000;
    double mc = best_ns_per_op(do_memcpy, n);
    double l2e = best_ns_per_op(do_l2e, n);
    double e2l = best_ns_per_op(do_e2l, n);
    printf("region conversion, one core, strict padding check, best of %d x %ld:\n", ROUNDS, n);
    printf("  memcpy 4096 B (anchor)   %7.1f ns\n", mc);
    printf("  legacy -> encoded        %7.1f ns   %.2fx memcpy   (target <= 2.5x)\n", l2e, l2e / mc);
    printf("  encoded -> legacy        %7.1f ns   %.2fx memcpy   (target <= 2.5x)\n", e2l, e2l / mc);
    printf("  round trip (both)        %7.1f ns   %.2fx memcpy\n", l2e + e2l, (l2e + e2l) / mc);

    /* Look-ups: encodings KVM supports (FULL and, for 64-bit fields, HIGH), uniformly at random. */
    uint32_t pool[2 * V12_FIELD_COUNT];
    unsigned np = 0;
    for (int f = 0; f < V12_FIELD_COUNT; f++) {
        uint16_t o = v12_field_offsets[V12_LAYOUT_LEGACY][f];
        uint32_t e = v12_fields[f].encoding;
        if (o == V12_NO_OFFSET || (e >= 0x6008 && e <= 0x600e)) continue; /* KVM maps no CR3 targets */
        unsigned idx = ROL16(e, 6);
        kvm_table[idx] = o;
        if (idx + 1 > kvm_nr) kvm_nr = idx + 1;
        pool[np++] = e;
        if (v12_fields[f].width == V12_W64) {
            kvm_table[ROL16(e | 1, 6)] = (uint16_t)(o + 4);
            if (ROL16(e | 1, 6) + 1u > kvm_nr) kvm_nr = ROL16(e | 1, 6) + 1u;
            pool[np++] = e | 1;
        }
    }
    for (int i = 0; i < NLOOKUPS; i++) encs[i] = pool[bench_rand(&rng) % np];
    const long m = 50000000;
    double kvm = best_ns_per_op(do_kvm_lookup, m);
    double enc = best_ns_per_op(do_enc_lookup, m);
    printf("encoding -> offset, %u encodings (%u-entry ROL16 table), best of %d x %ld:\n", np, kvm_nr, ROUNDS, m);
    printf("  KVM ROL16 table (anchor) %7.2f ns\n", kvm);
    printf("  encoded arithmetic       %7.2f ns   %.2fx table   (target <= 1.0x)   [throughput]\n", enc, enc / kvm);
    double kvmc = best_ns_per_op(do_kvm_chain, m), encc = best_ns_per_op(do_enc_chain, m);
    printf("  KVM ROL16 table (anchor) %7.2f ns   [latency: each look-up waits for the previous]\n", kvmc);
    printf("  encoded arithmetic       %7.2f ns   %.2fx table   [latency]\n", encc, encc / kvmc);
#if defined(__x86_64__)
    double kc = cold_cycles(1), ec = cold_cycles(0);
    printf("  KVM ROL16 table (anchor) %7.0f TSC ticks   [cold cache: tables flushed before each look-up, median]\n",
           kc);
    printf("  encoded arithmetic       %7.0f TSC ticks   %.2fx table   [cold cache]\n", ec, ec / kc);
#endif
    return 0;
}
