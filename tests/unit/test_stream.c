/* SPDX-License-Identifier: MIT */
/*
 * The stream parser fed the same stream in every way of splitting it: chunk sizes from 1 byte
 * up, and random splits, each once as a file reader feeds it (the end known only at EOF) and
 * once as the daemon does (every read's end a point of rest, where a description may end). The
 * output must equal the expected stream byte for byte each time.
 *
 * With "forged" the stream carries descriptions forged in guest data: a read that happens to end
 * exactly where a forgery ends may then make the parser accept it, but then what follows it
 * must be refused; the parser may never succeed with other bytes than the expected ones. With
 * forged=OFFSET (where a forged description that walks ends), a read is made to end there: at
 * rest the parser must accept the forgery and then refuse what follows it; read as a file, the
 * stream must come out right.
 * usage: test_stream FROM_LAYOUT TO_LAYOUT INPUT EXPECTED [forged[=OFFSET]]
 */
#include <sys/stat.h>

#include "../check.h"
#include "v12/qemu_stream.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    struct stat st;
    CHECK(fstat(fileno(f), &st) == 0);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    CHECK(fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
    fclose(f);
    *len = (size_t)st.st_size;
    return buf;
}

static struct v12_qs qs;
static uint8_t *win;
static size_t win_cap;

struct split {
    size_t fixed;       /* bytes per read, or 0: random */
    size_t small_until; /* large streams: fixed-size reads only in the first and last bytes */
    uint64_t seed;
    bool rest;    /* every read's end is a point of rest */
    size_t first; /* non-zero: the first read ends here */
};

static size_t next_chunk(struct split *sp, size_t fed, size_t len)
{
    if (sp->first) return fed < sp->first ? sp->first - fed : 4096;
    if (!sp->fixed) return 1 + test_rand(&sp->seed) % 9000;
    if (sp->small_until && fed >= sp->small_until && fed + sp->small_until < len) return 65536;
    return sp->fixed;
}

/* Run the parser over in; output into out. Returns the parser's final result. */
static int run(const struct v12_convert_opts *o, const uint8_t *in, size_t len, uint8_t *out, size_t *olen,
               struct split *sp)
{
    v12_qs_init(&qs, o);
    size_t s = 0, e = 0, fed = 0;
    *olen = 0;
    for (;;) {
        size_t n;
        unsigned flags = fed == len ? V12_QS_EOF : sp->rest ? V12_QS_REST : 0;
        int r = v12_qs_step(&qs, win + s, e - s, flags, &n);
        if (r == V12_QS_FORWARD) {
            CHECK(n > 0 && n <= e - s);
            memcpy(out + *olen, win + s, n);
            *olen += n;
            s += n;
            continue;
        }
        if (r == V12_QS_END) {
            CHECK_EQ(fed, len);
            return r;
        }
        if (r < 0) return r;
        CHECK(n > e - s);
        CHECK(n <= (v12_qs_holding(&qs) ? qs.hold_limit : V12_QS_LOOKAHEAD));
        CHECK(fed < len); /* NEED at the end of the input would be a parser bug */
        memmove(win, win + s, e - s);
        e -= s;
        s = 0;
        size_t k = next_chunk(sp, fed, len);
        if (k > win_cap - e) k = win_cap - e;
        if (k > len - fed) k = len - fed;
        CHECK(k > 0);
        memcpy(win + e, in + fed, k);
        e += k;
        fed += k;
    }
}

static unsigned ok_runs, refused_forgeries;

static void check_run(const struct v12_convert_opts *o, const uint8_t *in, size_t len, const uint8_t *exp, size_t elen,
                      uint8_t *out, struct split *sp, bool forged)
{
    size_t olen;
    int r = run(o, in, len, out, &olen, sp);
    if (r == V12_QS_END) {
        CHECK_EQ(olen, elen);
        CHECK_MEM(out, exp, elen);
        ok_runs++;
        return;
    }
    if (forged && sp->rest && strstr(qs.msg.text, "follow the VM description")) {
        refused_forgeries++;
        return;
    }
    fprintf(stderr, "parser error (chunk %zu, seed %llu, %s): %s\n", sp->fixed, (unsigned long long)sp->seed,
            sp->rest ? "rest at every read" : "file", qs.msg.text);
    abort();
}

int main(int argc, char **argv)
{
    CHECK(argc == 5 || argc == 6);
    bool forged = argc == 6 && strncmp(argv[5], "forged", 6) == 0;
    size_t forged_end = argc == 6 && argv[5][6] == '=' ? (size_t)strtoull(argv[5] + 7, NULL, 10) : 0;
    struct v12_convert_opts o;
    v12_convert_opts_init(&o);
    CHECK_OK(v12_layout_from_name(argv[2], &o.to));
    if (strcmp(argv[1], "auto") != 0) CHECK_OK(v12_layout_from_name(argv[1], &o.from));
    size_t len, elen;
    uint8_t *in = slurp(argv[3], &len), *exp = slurp(argv[4], &elen);
    uint8_t *out = malloc(len + 1);
    win_cap = len + V12_QS_LOOKAHEAD;
    win = malloc(win_cap);
    static const size_t sizes[] = {1,    2,    3,    5,    7,    8,    13,   21,   64,    100,  255,
                                   1000, 4095, 4096, 4097, 8191, 8192, 8193, 8351, 16384, 65536};
    for (int rest = 0; rest < 2; rest++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            /* One byte at a time is slow on large streams: then only the first and the last
             * 256 KiB (the header and the device phase) go in reads of that size. */
            struct split sp = {sizes[i], sizes[i] < 8 && len > 600000 ? 256u << 10 : 0, 0, rest != 0, 0};
            check_run(&o, in, len, exp, elen, out, &sp, forged);
        }
        for (uint64_t seed = 1; seed <= 40; seed++) {
            struct split sp = {0, 0, seed * 0x9e3779b97f4a7c15ull, rest != 0, 0};
            check_run(&o, in, len, exp, elen, out, &sp, forged);
        }
    }
    if (forged_end) {
        CHECK(forged_end < len);
        struct split at_rest = {1, 0, 0, true, forged_end};
        size_t olen;
        CHECK(run(&o, in, len, out, &olen, &at_rest) == V12_E_STREAM);
        CHECK(strstr(qs.msg.text, "follow the VM description") != NULL);
        CHECK_EQ(qs.stats.bytes, forged_end); /* accepted up to its end, nothing after it */
        printf("test_stream %s: the forged description ending at %zu was accepted at rest, then refused: %s\n", argv[3],
               forged_end, qs.msg.text);
        struct split as_file = {1, 0, 0, false, forged_end};
        check_run(&o, in, len, exp, elen, out, &as_file, false);
    }
    printf("test_stream %s: %zu bytes, %u devices, %u nested states, %u regions; identical output in %u splits%s\n",
           argv[3], len, qs.stats.devices, qs.stats.nested_states, qs.stats.regions, ok_runs,
           refused_forgeries ? ", a forgery at a read's end refused in the others" : "");
    CHECK(ok_runs > 0);
    free(in);
    free(exp);
    free(out);
    free(win);
    return 0;
}
