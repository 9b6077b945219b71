/* SPDX-License-Identifier: MIT */
/* Error names and messages, and the one-line rendering of a diagnostic. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "v12/convert.h"

const char *v12_strerror(int code)
{
    switch (code) {
#define XX(name, num, msg) \
    case -(num): return msg;
        V12_ERRNO_MAP(XX)
#undef XX
#define XX(name, num, msg) \
    case (num): return msg;
        V12_WARNING_MAP(XX)
#undef XX
    case 0: return "success";
    default: break;
    }
    const char *s = code < 0 ? strerrordesc_np(-code) : NULL;
    return s ? s : "unknown error";
}

const char *v12_err_name(int code)
{
    switch (code) {
#define XX(name, num, msg) \
    case -(num): return #name;
        V12_ERRNO_MAP(XX)
#undef XX
#define XX(name, num, msg) \
    case (num): return #name;
        V12_WARNING_MAP(XX)
#undef XX
    case 0: return "OK";
    default: break;
    }
    const char *s = code < 0 ? strerrorname_np(-code) : NULL;
    return s ? s : "UNKNOWN";
}

size_t v12_escape(char *dst, size_t size, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (!size) return 0;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        unsigned char c = *p;
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (n + 1 >= size) break;
            dst[n++] = (char)c;
        } else if (c == '\\') {
            if (n + 2 >= size) break;
            dst[n++] = '\\';
            dst[n++] = '\\';
        } else {
            if (n + 4 >= size) break;
            dst[n++] = '\\';
            dst[n++] = 'x';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        }
    }
    dst[n] = 0;
    return n;
}

static void vformat(struct v12_errmsg *m, bool append, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void vformat(struct v12_errmsg *m, bool append, const char *fmt, va_list ap)
{
    if (!m) return;
    size_t at = append ? strnlen(m->text, sizeof(m->text)) : 0;
    if (at < sizeof(m->text)) (void)vsnprintf(m->text + at, sizeof(m->text) - at, fmt, ap);
}

void v12_errmsg_set(struct v12_errmsg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(m, false, fmt, ap);
    va_end(ap);
}

void v12_errmsg_add(struct v12_errmsg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(m, true, fmt, ap);
    va_end(ap);
}

void v12_errmsg_vadd(struct v12_errmsg *m, const char *fmt, va_list ap)
{
    vformat(m, true, fmt, ap);
}

int v12_fail(struct v12_errmsg *m, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(m, false, fmt, ap);
    va_end(ap);
    return code;
}

int v12_diag_format(const struct v12_diag *d, struct v12_errmsg *m)
{
    const char *where = d->where ? d->where : "input";
    unsigned long long v = d->value, e = d->expected;

    if (d->flags & V12_DIAG_RANGE) {
        char blob[64] = "";
        if (d->base) snprintf(blob, sizeof(blob), " (input bytes %u..%u)", d->start, d->end - 1);
        v12_errmsg_add(m, "%s: %s, region bytes %u..%u%s: %u non-zero byte%s, the first at input offset %u is 0x%02llx",
                       v12_strerror(d->code), where, d->start - d->base, d->end - 1 - d->base, blob, d->count,
                       d->count == 1 ? "" : "s", d->offset, v);
        return d->code;
    }
    char expected[64] = "";
    if (d->flags & V12_DIAG_EXPECTED)
        snprintf(expected, sizeof(expected), (d->flags & V12_DIAG_DECIMAL) ? " (expected %llu)" : " (expected %#llx)",
                 e);
    v12_errmsg_add(m,
                   (d->flags & V12_DIAG_DECIMAL) ? "%s: %s at offset %u is %llu%s" : "%s: %s at offset %u is %#llx%s",
                   v12_strerror(d->code), where, d->offset, v, expected);
    return d->code;
}
