/* SPDX-License-Identifier: MIT */
/*
 * The stream parser fed the same stream in every way of splitting it: chunk sizes from 1 byte
 * up, and random splits. The output must equal the expected stream byte for byte each time.
 * usage: test_stream FROM_LAYOUT TO_LAYOUT INPUT EXPECTED
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
static uint8_t win[V12_QS_LOOKAHEAD + 65536];

/* Run the parser over in, delivering at most chunk(i) bytes per read; output into out. */
static size_t run(const struct v12_convert_opts *o, const uint8_t *in, size_t len, uint8_t *out, size_t (*chunk)(size_t),
                  uint64_t *seed_state)
{
    v12_qs_init(&qs, o);
    size_t s = 0, e = 0, fed = 0, olen = 0, reads = 0;
    for (;;) {
        size_t n;
        int r = v12_qs_step(&qs, win + s, e - s, fed == len, &n);
        if (r == V12_QS_FORWARD) {
            CHECK(n > 0 && n <= e - s);
            memcpy(out + olen, win + s, n);
            olen += n;
            s += n;
            continue;
        }
        if (r == V12_QS_END) break;
        if (r < 0) {
            fprintf(stderr, "parser error: %s\n", qs.msg);
            abort();
        }
        CHECK(n > e - s && n <= V12_QS_LOOKAHEAD);
        CHECK(fed < len); /* NEED at the end of the input would be a parser bug */
        memmove(win, win + s, e - s);
        e -= s;
        s = 0;
        size_t k = chunk(reads++);
        if (seed_state) k = 1 + test_rand(seed_state) % 9000;
        if (k > sizeof(win) - e) k = sizeof(win) - e;
        if (k > len - fed) k = len - fed;
        memcpy(win + e, in + fed, k);
        e += k;
        fed += k;
    }
    CHECK_EQ(fed, len);
    return olen;
}

static size_t fixed;
static size_t chunk_fixed(size_t i)
{
    return fixed;
}

int main(int argc, char **argv)
{
    CHECK(argc == 5);
    struct v12_convert_opts o;
    v12_convert_opts_init(&o);
    CHECK_OK(v12_layout_from_name(argv[2], &o.to));
    if (strcmp(argv[1], "auto") != 0) CHECK_OK(v12_layout_from_name(argv[1], &o.from));
    size_t len, elen;
    uint8_t *in = slurp(argv[3], &len), *exp = slurp(argv[4], &elen);
    uint8_t *out = malloc(len + 1);
    static const size_t sizes[] = {1, 2, 3, 5, 7, 8, 13, 21, 64, 100, 255, 1000, 4095, 4096, 4097, 8191, 8192, 8193, 8351, 16384, 65536};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        fixed = sizes[i];
        /* One byte at a time is slow on large streams: only the first 64 KiB then. */
        size_t l = fixed < 8 && len > 200000 ? 0 : len;
        if (!l) continue;
        size_t olen = run(&o, in, l, out, chunk_fixed, NULL);
        CHECK_EQ(olen, elen);
        CHECK_MEM(out, exp, elen);
    }
    for (uint64_t seed = 1; seed <= 40; seed++) {
        uint64_t st = seed * 0x9e3779b97f4a7c15ull;
        size_t olen = run(&o, in, len, out, chunk_fixed, &st);
        CHECK_EQ(olen, elen);
        CHECK_MEM(out, exp, elen);
    }
    printf("test_stream %s: %zu bytes, %u nested states, %u regions, identical output in every split\n", argv[3], len,
           qs.stats.nested_states, qs.stats.regions);
    free(in);
    free(exp);
    free(out);
    return 0;
}
