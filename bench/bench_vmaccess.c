/* SPDX-License-Identifier: MIT */
/*
 * bench_vmaccess: VMREAD/VMWRITE emulation into a 4 KiB vmcs12, the legacy way against the
 * encoded way, with memcpy of 4 KiB as the anchor measured in the same run.
 *
 *   legacy   KVM's way: a u16 offset table indexed by ROL16(encoding, 6); bit 15 set, index
 *            past the table or a zero entry mean "no such field"; the index clamped with a
 *            branch-free mask as array_index_nospec() does; the access width from encoding
 *            bits 14:13 (a high access is 32-bit); then a 2/4/8-byte load or store.
 *   encoded  the formula: base[width][type] + index * slot with its one capacity/reserved-bit
 *            test (v12_encoded_offset_inline), then a 2/4/8-byte load or store.
 *
 * Accesses: every field of the newest legacy profile (both layouts hold them), FULL encodings,
 * (a) in random order (fresh permutations back to back), (b) in the order KVM's nested VM-exit
 * path touches fields (sync_vmcs02_to_vmcs12, prepare_vmcs12, load_vmcs12_host_state, from
 * kvm_paths.def), and (c) random, each look-up's encoding chosen by the value the previous one
 * read (latency). Pinned to CPU 0; per figure the median of ROUNDS runs, min..max beside it.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "kvm_paths.h"

#define ROUNDS 15
#define NACC 4096u /* accesses per sequence (power of two) */
#define REPS 2048  /* sequence repetitions per timed run */

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint8_t region[V12_REGION_SIZE] __attribute__((aligned(4096)));
static uint8_t copy_dst[V12_REGION_SIZE] __attribute__((aligned(4096)));
static volatile uint64_t sink;

/* ---- the legacy way ---------------------------------------------------------------------- */
#define ROL16(v, n) ((uint16_t)(((v) << (n)) | ((v) >> (16 - (n)))))
static uint16_t legacy_table[65536];
static unsigned legacy_nr;

static inline unsigned long index_nospec(unsigned long index, unsigned long size)
{
    /* ~0 when index < size, else 0, without a branch (the generic array_index_mask_nospec). */
    unsigned long mask = (unsigned long)(~(long)(index | (size - 1ul - index)) >> (sizeof(long) * 8 - 1));
    return index & mask;
}

static inline long legacy_offset(unsigned long field)
{
    if (field >> 15) return -1;
    unsigned long index = ROL16((uint16_t)field, 6);
    if (index >= legacy_nr) return -1;
    index = index_nospec(index, legacy_nr);
    uint16_t offset = legacy_table[index];
    if (offset == 0) return -1;
    return offset;
}

static inline unsigned legacy_width(unsigned long field)
{
    if (field & 1ul) return V12_W32; /* a high access */
    return (field >> 13) & 3u;
}

/* KVM's way of sizing an access: natural and 64-bit 8 bytes, a high access 4. */
static const uint8_t legacy_width_size[4] = {[V12_W16] = 2, [V12_W64] = 8, [V12_W32] = 4, [V12_WNAT] = 8};

static inline int legacy_read(const uint8_t *vmcs12, unsigned long field, uint64_t *value)
{
    long off = legacy_offset(field);
    if (__builtin_expect(off < 0, 0)) return -1;
    *value = load_sized(vmcs12 + off, legacy_width_size[legacy_width(field)]);
    return 0;
}

static inline int legacy_write(uint8_t *vmcs12, unsigned long field, uint64_t value)
{
    long off = legacy_offset(field);
    if (__builtin_expect(off < 0, 0)) return -1;
    store_sized(vmcs12 + off, legacy_width_size[legacy_width(field)], value);
    return 0;
}

/* ---- the encoded way --------------------------------------------------------------------- */
static inline int encoded_read(const uint8_t *vmcs12, uint32_t field, uint64_t *value)
{
    uint32_t off, size;
    if (__builtin_expect(v12_encoded_offset_inline(field, &off, &size) != 0, 0)) return -1;
    *value = load_sized(vmcs12 + off, size);
    return 0;
}

static inline int encoded_write(uint8_t *vmcs12, uint32_t field, uint64_t value)
{
    uint32_t off, size;
    if (__builtin_expect(v12_encoded_offset_inline(field, &off, &size) != 0, 0)) return -1;
    store_sized(vmcs12 + off, size, value);
    return 0;
}

/* ---- sequences and timed bodies ---------------------------------------------------------- */
static uint32_t seq_random[NACC], seq_exit[NACC];
static const uint32_t *seq;

#define BODY_READ(name, readfn)                          \
    static __attribute__((noinline)) void name(void)     \
    {                                                    \
        uint64_t acc = 0;                                \
        for (int r = 0; r < REPS; r++)                   \
            for (unsigned i = 0; i < NACC; i++) {        \
                uint64_t v;                              \
                if (readfn(region, seq[i], &v)) abort(); \
                acc += v;                                \
            }                                            \
        sink = acc;                                      \
    }
#define BODY_WRITE(name, writefn)                                                              \
    static __attribute__((noinline)) void name(void)                                           \
    {                                                                                          \
        for (int r = 0; r < REPS; r++)                                                         \
            for (unsigned i = 0; i < NACC; i++)                                                \
                if (writefn(region, seq[i], (uint64_t)r * 0x9e3779b97f4a7c15ull + i)) abort(); \
        __asm__ __volatile__("" : : "r"(region) : "memory");                                   \
    }
/* Latency: the next encoding is picked by the value just read. */
#define BODY_CHAIN(name, readfn)                                                       \
    static __attribute__((noinline)) void name(void)                                   \
    {                                                                                  \
        uint64_t v = 0;                                                                \
        for (int r = 0; r < REPS; r++)                                                 \
            for (unsigned i = 0; i < NACC; i++)                                        \
                if (readfn(region, seq[(i + (unsigned)v) & (NACC - 1u)], &v)) abort(); \
        sink = v;                                                                      \
    }
BODY_READ(read_legacy, legacy_read)
BODY_READ(read_encoded, encoded_read)
BODY_WRITE(write_legacy, legacy_write)
BODY_WRITE(write_encoded, encoded_write)
BODY_CHAIN(chain_legacy, legacy_read)
BODY_CHAIN(chain_encoded, encoded_read)

static __attribute__((noinline)) void do_memcpy(void)
{
    for (int r = 0; r < REPS * 8; r++) {
        memcpy(copy_dst, region, V12_REGION_SIZE);
        __asm__ __volatile__("" : : "r"(copy_dst) : "memory"); /* the copy escapes: kept */
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct figure {
    double med, min, max;
};

/* ns per unit; the bodies of one comparison interleaved round by round. */
static void measure(void (*fns[])(void), int nfns, const double units[], struct figure out[])
{
    double t[8][ROUNDS];
    for (int k = 0; k < nfns; k++) fns[k]();
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < nfns; k++) {
            double t0 = bench_now_ns();
            fns[k]();
            t[k][r] = (bench_now_ns() - t0) / units[k];
        }
    for (int k = 0; k < nfns; k++) {
        qsort(t[k], ROUNDS, sizeof(double), cmp_double);
        out[k].med = t[k][ROUNDS / 2];
        out[k].min = t[k][0];
        out[k].max = t[k][ROUNDS - 1];
    }
}

static void shuffle(uint32_t *a, unsigned n)
{
    for (unsigned i = n - 1; i > 0; i--) {
        unsigned j = (unsigned)(bench_rand(&rng) % (i + 1u));
        uint32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int main(void)
{
    bench_pin_cpu0();

    /* The legacy table: every FULL and HIGH access of the newest profile, KVM-style. */
    uint32_t fields[V12_FIELD_COUNT];
    unsigned nfields = 0;
    for (unsigned f = 0; f < V12_FIELD_COUNT; f++) {
        uint16_t o = v12_field_offsets[V12_LAYOUT_LEGACY][f];
        if (o == V12_NO_OFFSET) continue;
        uint32_t e = v12_fields[f].encoding;
        fields[nfields++] = e;
        unsigned idx = ROL16((uint16_t)e, 6);
        legacy_table[idx] = o;
        if (idx + 1 > legacy_nr) legacy_nr = idx + 1;
        if (v12_fields[f].width == V12_W64) {
            idx = ROL16((uint16_t)(e | 1u), 6);
            legacy_table[idx] = (uint16_t)(o + 4u);
            if (idx + 1 > legacy_nr) legacy_nr = idx + 1;
        }
    }
    /* Both ways must agree on what each access reads: same values stored at both layouts'
     * offsets would not show it, so check the look-ups against the catalogue directly. */
    for (unsigned i = 0; i < nfields; i++) {
        enum v12_field_id f;
        uint32_t off, size;
        if (v12_field_by_encoding(fields[i], &f) ||
            legacy_offset(fields[i]) != v12_field_offsets[V12_LAYOUT_LEGACY][f] ||
            v12_encoded_offset_inline(fields[i], &off, &size) || off != v12_field_offsets[V12_LAYOUT_ENCODED][f] ||
            size != v12_fields[f].size) {
            fprintf(stderr, "bench_vmaccess: look-up disagrees with the catalogue for 0x%04x\n", fields[i]);
            return 1;
        }
    }
    for (unsigned i = 0; i < V12_REGION_SIZE; i++) region[i] = (uint8_t)bench_rand(&rng);

    for (unsigned i = 0; i < NACC; i += nfields) {
        uint32_t perm[V12_FIELD_COUNT];
        memcpy(perm, fields, nfields * sizeof(perm[0]));
        shuffle(perm, nfields);
        for (unsigned k = 0; k < nfields && i + k < NACC; k++) seq_random[i + k] = perm[k];
    }
    const char *exit_paths[] = {"exit_sync", "exit_prepare", "exit_host"};
    uint32_t exit_order[3 * V12_FIELD_COUNT];
    unsigned nexit = 0;
    for (int p = 0; p < 3; p++)
        for (int k = 0; k < KVM_PATH_COUNT; k++) {
            if (strcmp(kvm_paths[k].id, exit_paths[p]) != 0) continue;
            for (unsigned j = 0; j < kvm_paths[k].count; j++)
                if (v12_field_offsets[V12_LAYOUT_LEGACY][kvm_paths[k].fields[j]] != V12_NO_OFFSET)
                    exit_order[nexit++] = v12_fields[kvm_paths[k].fields[j]].encoding;
        }
    for (unsigned i = 0; i < NACC; i++) seq_exit[i] = exit_order[i % nexit];

    const double per_access = (double)REPS * NACC, per_copy = (double)REPS * 8;
    printf("bench_vmaccess: %u fields (%s, FULL encodings), legacy table %u entries; %d rounds,\n"
           "median [min..max] ns per access; the exit order is %u accesses of KVM's nested VM-exit\n\n",
           nfields, v12_layout_name(V12_LAYOUT_LEGACY), legacy_nr, ROUNDS, nexit);
    printf("| accesses | legacy (ROL16 table) | encoded (formula) | encoded / legacy | memcpy 4096 B | "
           "legacy / memcpy | encoded / memcpy |\n|---|---|---|---|---|---|---|\n");

    struct {
        const char *name;
        const uint32_t *seq;
        void (*legacy)(void), (*encoded)(void);
    } rows[] = {
        {"VMREAD, random order", seq_random, read_legacy, read_encoded},
        {"VMWRITE, random order", seq_random, write_legacy, write_encoded},
        {"VMREAD, KVM exit order", seq_exit, read_legacy, read_encoded},
        {"VMWRITE, KVM exit order", seq_exit, write_legacy, write_encoded},
        {"VMREAD, random, dependent (latency)", seq_random, chain_legacy, chain_encoded},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        seq = rows[i].seq;
        void (*fns[3])(void) = {rows[i].legacy, rows[i].encoded, do_memcpy};
        const double units[3] = {per_access, per_access, per_copy};
        struct figure fig[3];
        measure(fns, 3, units, fig);
        printf("| %s | %.2f [%.2f..%.2f] | %.2f [%.2f..%.2f] | %.2f× | %.1f [%.1f..%.1f] | %.4f | %.4f |\n",
               rows[i].name, fig[0].med, fig[0].min, fig[0].max, fig[1].med, fig[1].min, fig[1].max,
               fig[1].med / fig[0].med, fig[2].med, fig[2].min, fig[2].max, fig[0].med / fig[2].med,
               fig[1].med / fig[2].med);
    }
    printf("\nAnchor: memcpy of one 4096-byte region, measured in the same rounds; \"/ memcpy\" is one\n"
           "access as a fraction of that copy.\n");
    return 0;
}
