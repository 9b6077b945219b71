/* SPDX-License-Identifier: MIT */
/* The pull JSON reader (json.h): RFC 8259 values, bounded depth, no allocation. */
#include "json.h"

#include <string.h>

void v12_json_init(struct v12_json *j, const uint8_t *p, size_t len)
{
    j->p = p;
    j->len = len;
    j->off = 0;
    j->err = NULL;
    j->err_at = 0;
}

bool v12_json_fail(struct v12_json *j, const char *why)
{
    if (!j->err) {
        j->err = why;
        j->err_at = j->off;
    }
    return false;
}

static void ws(struct v12_json *j)
{
    while (j->off < j->len) {
        uint8_t c = j->p[j->off];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        j->off++;
    }
}

/* The next significant byte, or -1 at the end. */
static int peek(struct v12_json *j)
{
    ws(j);
    return j->off < j->len ? j->p[j->off] : -1;
}

static bool expect(struct v12_json *j, uint8_t c, const char *why)
{
    if (j->err) return false;
    if (peek(j) != c) return v12_json_fail(j, why);
    j->off++;
    return true;
}

bool v12_json_obj_begin(struct v12_json *j)
{
    return expect(j, '{', "expected an object");
}

bool v12_json_arr_begin(struct v12_json *j)
{
    return expect(j, '[', "expected an array");
}

/* After '{' or '[' or an element: ',' then more, or the closing byte. */
static int next(struct v12_json *j, bool *first, uint8_t close)
{
    if (j->err) return -1;
    int c = peek(j);
    if (c == close) {
        j->off++;
        return 0;
    }
    if (!*first) {
        if (c != ',') return v12_json_fail(j, "expected ',' or the end of the container"), -1;
        j->off++;
    }
    *first = false;
    return 1;
}

int v12_json_obj_next(struct v12_json *j, bool *first, const uint8_t **key, size_t *key_len)
{
    int r = next(j, first, '}');
    if (r <= 0) return r;
    bool esc;
    if (!v12_json_string(j, key, key_len, &esc)) return -1;
    if (!expect(j, ':', "expected ':' after a key")) return -1;
    return 1;
}

int v12_json_arr_next(struct v12_json *j, bool *first)
{
    return next(j, first, ']');
}

bool v12_json_string(struct v12_json *j, const uint8_t **s, size_t *len, bool *escaped)
{
    if (!expect(j, '"', "expected a string")) return false;
    size_t start = j->off;
    *escaped = false;
    while (j->off < j->len) {
        uint8_t c = j->p[j->off];
        if (c == '"') {
            *s = j->p + start;
            *len = j->off - start;
            j->off++;
            return true;
        }
        if (c < 0x20) return v12_json_fail(j, "control byte inside a string");
        if (c == '\\') {
            *escaped = true;
            if (j->off + 1 >= j->len) break;
            uint8_t e = j->p[j->off + 1];
            if (e == 'u') {
                if (j->off + 6 > j->len) break;
                for (size_t k = 2; k < 6; k++) {
                    uint8_t h = j->p[j->off + k];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                        return v12_json_fail(j, "bad \\u escape");
                }
                j->off += 6;
                continue;
            }
            if (!memchr("\"\\/bfnrt", e, 8)) return v12_json_fail(j, "bad escape");
            j->off += 2;
            continue;
        }
        j->off++;
    }
    return v12_json_fail(j, "unterminated string");
}

bool v12_json_uint(struct v12_json *j, uint64_t max, uint64_t *v)
{
    if (j->err) return false;
    int c = peek(j);
    if (c < '0' || c > '9') return v12_json_fail(j, "expected a non-negative integer");
    uint64_t x = 0;
    size_t digits = 0;
    while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9') {
        unsigned d = (unsigned)(j->p[j->off] - '0');
        if (digits == 1 && x == 0) return v12_json_fail(j, "integer with a leading zero");
        if (x > (max - d) / 10) return v12_json_fail(j, "integer out of range");
        x = x * 10 + d;
        j->off++;
        digits++;
    }
    if (j->off < j->len && (j->p[j->off] == '.' || j->p[j->off] == 'e' || j->p[j->off] == 'E'))
        return v12_json_fail(j, "expected an integer, not a fraction");
    *v = x;
    return true;
}

static bool number(struct v12_json *j)
{
    size_t start = j->off;
    if (j->off < j->len && j->p[j->off] == '-') j->off++;
    size_t d0 = j->off;
    while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9') j->off++;
    if (j->off == d0) return v12_json_fail(j, "bad number");
    if (j->off < j->len && j->p[j->off] == '.') {
        j->off++;
        size_t f0 = j->off;
        while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9') j->off++;
        if (j->off == f0) return v12_json_fail(j, "bad number");
    }
    if (j->off < j->len && (j->p[j->off] == 'e' || j->p[j->off] == 'E')) {
        j->off++;
        if (j->off < j->len && (j->p[j->off] == '+' || j->p[j->off] == '-')) j->off++;
        size_t e0 = j->off;
        while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9') j->off++;
        if (j->off == e0) return v12_json_fail(j, "bad number");
    }
    return j->off > start;
}

static bool literal(struct v12_json *j, const char *s)
{
    size_t n = strlen(s);
    if (j->len - j->off < n || memcmp(j->p + j->off, s, n) != 0) return v12_json_fail(j, "unknown literal");
    j->off += n;
    return true;
}

/* Iterative: a bit per open container (1 = object), so depth is bounded without recursion. */
bool v12_json_skip(struct v12_json *j)
{
    uint64_t stack = 0;
    unsigned depth = 0;
    bool first = true, want_value = true;
    for (;;) {
        if (j->err) return false;
        if (want_value) {
            int c = peek(j);
            bool esc;
            const uint8_t *s;
            size_t n;
            switch (c) {
            case '{':
            case '[':
                if (depth == V12_JSON_MAX_DEPTH) return v12_json_fail(j, "nested too deep");
                j->off++;
                stack = stack << 1 | (c == '{');
                depth++;
                first = true;
                want_value = false;
                continue;
            case '"':
                if (!v12_json_string(j, &s, &n, &esc)) return false;
                break;
            case 't': literal(j, "true"); break;
            case 'f': literal(j, "false"); break;
            case 'n': literal(j, "null"); break;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) number(j);
                else return v12_json_fail(j, "expected a value");
            }
            if (j->err) return false;
            if (depth == 0) return true;
            want_value = false;
            continue;
        }
        /* inside a container: the next member or its end */
        bool obj = stack & 1;
        int r = next(j, &first, obj ? '}' : ']');
        if (r < 0) return false;
        if (r == 0) {
            stack >>= 1;
            depth--;
            if (depth == 0) return true;
            first = false;
            continue;
        }
        if (obj) {
            const uint8_t *k;
            size_t kl;
            bool esc;
            if (!v12_json_string(j, &k, &kl, &esc) || !expect(j, ':', "expected ':' after a key")) return false;
        }
        want_value = true;
    }
}

bool v12_json_end(struct v12_json *j)
{
    if (j->err) return false;
    if (peek(j) != -1) return v12_json_fail(j, "bytes after the end of the JSON text");
    return true;
}

bool v12_json_key_is(const uint8_t *key, size_t len, const char *s)
{
    size_t n = strlen(s);
    return len == n && memcmp(key, s, n) == 0;
}
