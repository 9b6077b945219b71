/* SPDX-License-Identifier: MIT */
/*
 * bench_locality: the seed's cache-locality and dirty-bitmap claims, under KVM's own access
 * patterns (kvm_paths.def: the vmcs12 fields each nested-VMX path touches).
 *
 *  1. Distinct 64-byte cache lines each path's fields occupy, in every legacy profile and in
 *     the encoded layout (computed).
 *  2. A timed cold-cache pass over each path's fields: the region's 64 lines flushed from every
 *     cache level before each pass, then one load per field; median TSC ticks and ns, legacy
 *     (the newest profile) and encoded interleaved pass by pass; mean of the middle half.
 *  3. A one-bit-per-slot dirty bitmap at 0x080..0x0ff (1024 bits): bits per group, whether every
 *     catalogued field fits, and the cache lines a "copy only what changed" entry path would
 *     touch in the scenarios below (computed).
 *
 * Usage: bench_locality [--no-timing]   (--no-timing prints the computed tables only)
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "kvm_paths.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#define LINE 64u
#define NLINES (V12_REGION_SIZE / LINE)
#define BITMAP_START 0x080u
#define BITMAP_BITS 1024u

struct fset {
    const char *name;
    const char *what;
    bool has[V12_FIELD_COUNT];
    uint16_t order[V12_FIELD_COUNT]; /* first-touch order */
    unsigned count;
};

static void fset_add(struct fset *s, unsigned f)
{
    if (s->has[f]) return;
    s->has[f] = true;
    s->order[s->count++] = (uint16_t)f;
}

static const struct kvm_path *path_by_id(const char *id)
{
    for (int i = 0; i < KVM_PATH_COUNT; i++)
        if (strcmp(kvm_paths[i].id, id) == 0) return &kvm_paths[i];
    fprintf(stderr, "bench_locality: no path '%s' in kvm_paths.def\n", id);
    exit(2);
}

/* Every path once, then the unions KVM runs together. */
static const struct {
    const char *name;
    const char *what;
    const char *paths[6];
} unions[] = {
    {"ENTRY", "every nested VM-entry: _early + prepare_vmcs02", {"entry_early", "entry"}},
    {"ENTRY+RARE", "nested VM-entry with a dirty vmcs12", {"entry_early", "entry", "entry_rare"}},
    {"EXIT", "every nested VM-exit: sync + prepare_vmcs12 + host state", {"exit_sync", "exit_prepare", "exit_host"}},
    {"EXIT+ENTRY",
     "one exit to L1 and the next entry to L2",
     {"exit_sync", "exit_prepare", "exit_host", "entry_early", "entry"}},
};
#define NUNIONS (int)(sizeof(unions) / sizeof(unions[0]))
static struct fset sets[KVM_PATH_COUNT + NUNIONS];
static int nsets;

static void build_sets(void)
{
    for (int i = 0; i < KVM_PATH_COUNT; i++) {
        const struct kvm_path *p = &kvm_paths[i];
        struct fset *s = &sets[nsets++];
        s->name = p->id;
        s->what = p->func;
        for (unsigned k = 0; k < p->count; k++) {
            if (s->has[p->fields[k]]) {
                fprintf(stderr, "bench_locality: kvm_paths.def: %s lists %s twice\n", p->id,
                        v12_fields[p->fields[k]].name);
                exit(2);
            }
            fset_add(s, p->fields[k]);
        }
    }
    for (int u = 0; u < NUNIONS; u++) {
        struct fset *s = &sets[nsets++];
        s->name = unions[u].name;
        s->what = unions[u].what;
        for (int k = 0; unions[u].paths[k]; k++) {
            const struct kvm_path *p = path_by_id(unions[u].paths[k]);
            for (unsigned i = 0; i < p->count; i++) fset_add(s, p->fields[i]);
        }
    }
}

/* Lines a set occupies in a layout; fields the layout lacks are counted in *missing. */
static unsigned set_lines(const struct fset *s, enum v12_layout l, unsigned *missing, unsigned *bytes)
{
    bool line[NLINES] = {false};
    unsigned n = 0, miss = 0, b = 0;
    for (unsigned i = 0; i < s->count; i++) {
        unsigned f = s->order[i];
        uint16_t o = v12_field_offsets[l][f];
        if (o == V12_NO_OFFSET) {
            miss++;
            continue;
        }
        b += v12_fields[f].size;
        for (unsigned x = o / LINE; x <= (o + v12_fields[f].size - 1u) / LINE; x++)
            if (!line[x]) line[x] = true, n++;
    }
    if (missing) *missing = miss;
    if (bytes) *bytes = b;
    return n;
}

static void print_lines_table(void)
{
    printf("1. Distinct 64-byte cache lines per KVM path (fields from kvm_paths.def)\n\n");
    printf("| path | KVM function(s) | fields | bytes | ideal |");
    for (int l = 0; l < V12_LAYOUT_COUNT; l++) printf(" %s |", v12_layout_name((enum v12_layout)l));
    printf(" encoded / %s |\n|---|---|---|---|---|", v12_layout_name(V12_LAYOUT_LEGACY));
    for (int l = 0; l <= V12_LAYOUT_COUNT; l++) printf("---|");
    printf("\n");
    for (int i = 0; i < nsets; i++) {
        const struct fset *s = &sets[i];
        unsigned bytes, miss;
        set_lines(s, V12_LAYOUT_ENCODED, NULL, &bytes);
        printf("| %s | %s | %u | %u | %u |", s->name, s->what, s->count, bytes, (bytes + LINE - 1) / LINE);
        for (int l = 0; l < V12_LAYOUT_COUNT; l++) {
            unsigned n = set_lines(s, (enum v12_layout)l, &miss, NULL);
            if (miss) printf(" %u (%u absent) |", n, miss);
            else printf(" %u |", n);
        }
        unsigned e = set_lines(s, V12_LAYOUT_ENCODED, NULL, NULL), g = set_lines(s, V12_LAYOUT_LEGACY, NULL, NULL);
        printf(" %.2f× |\n", (double)e / (double)g);
    }
    printf("\n\"ideal\" = the fields' bytes packed into as few lines as possible; \"absent\" = fields\n"
           "the profile's kernels do not have (not counted).\n\n");
}

/* ---- 2. cold-cache passes ---------------------------------------------------------------- */

#if defined(__x86_64__)
static uint8_t *region;
static volatile uint64_t sink;

struct access {
    uint16_t off;
    uint8_t size;
};

static unsigned accesses_of(const struct fset *s, enum v12_layout l, struct access *a)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->count; i++) {
        uint16_t o = v12_field_offsets[l][s->order[i]];
        if (o == V12_NO_OFFSET) continue;
        a[n].off = o;
        a[n].size = v12_fields[s->order[i]].size;
        n++;
    }
    return n;
}

static void flush_region(void)
{
    for (unsigned i = 0; i < V12_REGION_SIZE; i += LINE) _mm_clflush(region + i);
    _mm_mfence();
    _mm_lfence();
}

static uint64_t one_pass(const struct access *a, unsigned n, bool cold)
{
    unsigned aux;
    if (cold) flush_region();
    uint64_t t0 = __rdtscp(&aux);
    uint64_t acc = 0;
    for (unsigned i = 0; i < n; i++) acc += load_sized(region + a[i].off, a[i].size);
    sink = acc;
    uint64_t t1 = __rdtscp(&aux);
    _mm_lfence();
    return t1 - t0;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static double tsc_ghz(void)
{
    struct timespec a, b;
    unsigned aux;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint64_t t0 = __rdtscp(&aux);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec) < 2e8);
    uint64_t t1 = __rdtscp(&aux);
    return (double)(t1 - t0) / ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec));
}

#define PASSES 100001
static uint64_t tl[PASSES], te[PASSES], tz[PASSES];

/* The TSC here ticks in steps (26 on the development machine): the mean of the middle half of
 * the sorted passes resolves finer than the median. */
static double mid_mean(uint64_t *t, int n)
{
    qsort(t, (size_t)n, sizeof(t[0]), cmp_u64);
    double sum = 0;
    for (int i = n / 4; i < n - n / 4; i++) sum += (double)t[i];
    return sum / (double)(n - 2 * (n / 4));
}

static void print_cold_table(void)
{
    static struct access al[V12_FIELD_COUNT], ae[V12_FIELD_COUNT];
    double ghz = tsc_ghz();
    printf("2. Cold-cache pass over each path's fields: 64 lines flushed before each pass, one load\n"
           "   per field; mean of the middle half of %d passes, %s and encoded interleaved;\n"
           "   TSC %.3f GHz\n\n",
           PASSES, v12_layout_name(V12_LAYOUT_LEGACY), ghz);
    printf("| path | lines %s | lines encoded | %s ticks | encoded ticks | %s ns | encoded ns | "
           "encoded / %s | empty pass (ticks) |\n|---|---|---|---|---|---|---|---|---|\n",
           v12_layout_name(V12_LAYOUT_LEGACY), v12_layout_name(V12_LAYOUT_LEGACY), v12_layout_name(V12_LAYOUT_LEGACY),
           v12_layout_name(V12_LAYOUT_LEGACY));
    for (int i = 0; i < nsets; i++) {
        const struct fset *s = &sets[i];
        unsigned nl = accesses_of(s, V12_LAYOUT_LEGACY, al), ne = accesses_of(s, V12_LAYOUT_ENCODED, ae);
        for (int k = 0; k < 200; k++) one_pass(al, nl, true), one_pass(ae, ne, true);
        for (int k = 0; k < PASSES; k++) {
            tl[k] = one_pass(al, nl, true);
            te[k] = one_pass(ae, ne, true);
            tz[k] = one_pass(ae, 0, true);
        }
        double ml = mid_mean(tl, PASSES), me = mid_mean(te, PASSES), mz = mid_mean(tz, PASSES);
        printf("| %s | %u | %u | %.0f | %.0f | %.0f | %.0f | %.2f× | %.0f |\n", s->name,
               set_lines(s, V12_LAYOUT_LEGACY, NULL, NULL), set_lines(s, V12_LAYOUT_ENCODED, NULL, NULL), ml, me,
               ml / ghz, me / ghz, me / ml, mz);
    }
    printf("\nThe loads of a pass are independent, so misses overlap (as in KVM's straight-line\n"
           "copies); the hardware prefetchers are left on. \"empty pass\" is the timing overhead.\n\n");
}
#endif

/* ---- 3. the dirty bitmap ----------------------------------------------------------------- */

/* Bit of a slot: groups in offset order, each group's slots consecutive. */
static unsigned group_first_bit[16];
static unsigned bitmap_bits_used;

static void build_bitmap(void)
{
    int order[16], n = 0;
    for (int g = 0; g < 16; g++)
        if (v12_group_capacity(&v12_groups[g])) order[n++] = g;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v12_groups[order[j]].base < v12_groups[order[j - 1]].base; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    unsigned bit = 0;
    for (int i = 0; i < n; i++) {
        group_first_bit[order[i]] = bit;
        bit += v12_group_capacity(&v12_groups[order[i]]);
    }
    bitmap_bits_used = bit;
}

static unsigned group_of(unsigned f)
{
    uint32_t e = v12_fields[f].encoding;
    return ((e >> 13) & 3u) * 4u + ((e >> 10) & 3u);
}

static unsigned field_bit(unsigned f)
{
    return group_first_bit[group_of(f)] + v12_encoding_index(v12_fields[f].encoding);
}

static const char *const width_names[4] = {"16-bit", "64-bit", "32-bit", "natural"};
static const char *const type_names[4] = {"control", "exit info", "guest", "host"};

static void print_bitmap_table(void)
{
    printf("3. A dirty bitmap at 0x%03x..0x%03x (%u bits), one bit per slot of the encoded layout\n\n", BITMAP_START,
           BITMAP_START + BITMAP_BITS / 8 - 1, BITMAP_BITS);
    printf("| group | slots at | capacity | bits | catalogued fields | in %s | highest index |\n"
           "|---|---|---|---|---|---|---|\n",
           v12_layout_name(V12_LAYOUT_LEGACY));
    unsigned total = 0, fit = 0;
    for (int g = 0; g < 16; g++) {
        const struct v12_group *gr = &v12_groups[g];
        unsigned cap = v12_group_capacity(gr);
        unsigned nf = 0, nl = 0, hi = 0;
        for (unsigned f = 0; f < V12_FIELD_COUNT; f++) {
            if (group_of(f) != (unsigned)g) continue;
            nf++;
            if (v12_field_offsets[V12_LAYOUT_LEGACY][f] != V12_NO_OFFSET) nl++;
            unsigned idx = v12_encoding_index(v12_fields[f].encoding);
            if (idx > hi) hi = idx;
            if (idx < cap && field_bit(f) < BITMAP_BITS) fit++;
        }
        total += nf;
        if (!cap) {
            printf("| %s %s | — | 0 | — | %u | %u | — |\n", width_names[g / 4], type_names[g % 4], nf, nl);
            continue;
        }
        printf("| %s %s | 0x%03x..0x%03x | %u | %u..%u | %u | %u | %u |\n", width_names[g / 4], type_names[g % 4],
               gr->base, gr->base + cap * gr->slot - 1, cap, group_first_bit[g], group_first_bit[g] + cap - 1, nf, nl,
               hi);
    }
    printf("\nBits used: %u of %u (%u spare). Catalogued fields: %u, with a bit: %u (%s).\n\n", bitmap_bits_used,
           BITMAP_BITS, BITMAP_BITS - bitmap_bits_used, total, fit,
           fit == total ? "every catalogued field fits" : "NOT every field fits");
}

/* Bitmap lines holding the bits of a set, and the data lines of its dirty subset. */
static unsigned bitmap_lines(const struct fset *s)
{
    bool line[2] = {false, false};
    for (unsigned i = 0; i < s->count; i++) line[field_bit(s->order[i]) / 512u] = true;
    return (unsigned)line[0] + (unsigned)line[1];
}

struct scenario {
    const char *name;
    const char *copied; /* which path's copy the scenario is about */
    const char *fields[40];
};

/* Assumptions, not KVM data: what L1 writes between one exit and the next entry. */
static const struct scenario scenarios[] = {
    {"typical exit (CPUID, I/O, EPT violation): L1 advances RIP",
     "ENTRY",
     {"guest_rip", "guest_interruptibility_info"}},
    {"L1 injects an exception into L2",
     "ENTRY",
     {"guest_rip", "vm_entry_intr_info_field", "vm_entry_exception_error_code", "vm_entry_instruction_len"}},
    {"L1 changes one MSR field (SYSENTER_ESP)", "entry_rare", {"guest_sysenter_esp"}},
    {"L1 reloads CS (mode or task-switch emulation)",
     "entry_rare",
     {"guest_cs_selector", "guest_cs_base", "guest_cs_limit", "guest_cs_ar_bytes"}},
    {"L1 writes the PDPTRs (PAE L2 under EPT)",
     "entry_rare",
     {"guest_pdptr0", "guest_pdptr1", "guest_pdptr2", "guest_pdptr3"}},
    {"VMPTRLD of another vmcs12 (every field dirty)", "entry_rare", {NULL}},
};

static const struct fset *set_by_name(const char *name)
{
    for (int i = 0; i < nsets; i++)
        if (strcmp(sets[i].name, name) == 0) return &sets[i];
    abort();
}

static void print_scenarios(void)
{
    printf("   Lines a \"copy only what changed\" entry touches, against today's copy of the whole set\n"
           "   (bitmap lines = the 64-byte lines of 0x080..0x0ff holding the set's bits)\n\n");
    printf("| what L1 wrote | set copied | dirty fields in it | today, %s | today, encoded | with bitmap, "
           "encoded (bitmap + data) |\n|---|---|---|---|---|---|\n",
           v12_layout_name(V12_LAYOUT_LEGACY));
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        const struct scenario *sc = &scenarios[i];
        const struct fset *whole = set_by_name(sc->copied);
        struct fset dirty;
        memset(&dirty, 0, sizeof(dirty));
        if (!sc->fields[0]) {
            dirty = *whole;
        } else {
            for (int k = 0; sc->fields[k]; k++) {
                enum v12_field_id f;
                if (v12_field_by_name(sc->fields[k], &f)) abort();
                if (whole->has[f]) fset_add(&dirty, f);
            }
        }
        unsigned bl = bitmap_lines(whole), dl = set_lines(&dirty, V12_LAYOUT_ENCODED, NULL, NULL);
        printf("| %s | %s | %u | %u | %u | %u (%u + %u) |\n", sc->name, sc->copied, dirty.count,
               set_lines(whole, V12_LAYOUT_LEGACY, NULL, NULL), set_lines(whole, V12_LAYOUT_ENCODED, NULL, NULL),
               bl + dl, bl, dl);
    }
    printf("\nToday KVM runs prepare_vmcs02_rare only when vmcs12 is dirty (a VMPTRLD, or a VMWRITE of a\n"
           "field that is not shadowed) and then copies the whole set; the rows on ENTRY ask what\n"
           "the every-entry copy would touch if it, too, were driven by the bitmap.\n");
}

int main(int argc, char **argv)
{
    bool timing = !(argc > 1 && strcmp(argv[1], "--no-timing") == 0);
    if (argc > 2 || (argc == 2 && timing)) {
        fprintf(stderr, "usage: bench_locality [--no-timing]\n");
        return 2;
    }
    build_sets();
    build_bitmap();
    print_lines_table();
#if defined(__x86_64__)
    if (timing) {
        bench_pin_cpu0();
        region = aligned_alloc(V12_REGION_SIZE, V12_REGION_SIZE);
        if (!region) return 1;
        for (unsigned i = 0; i < V12_REGION_SIZE; i++) region[i] = (uint8_t)(i * 37u);
        print_cold_table();
        free(region);
    }
#else
    if (timing) printf("2. (cold-cache timing needs x86-64: skipped)\n\n");
#endif
    print_bitmap_table();
    print_scenarios();
    return 0;
}
