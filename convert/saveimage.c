/* SPDX-License-Identifier: MIT */
/* libvirt's save image: header and XML area, checked (include/v12/saveimage.h). */
#define _GNU_SOURCE /* memmem */
#include "v12/saveimage.h"

#include <stdio.h>
#include <string.h>

static const char magic_done[V12_SAVE_MAGIC_SIZE] = {'L', 'i', 'b', 'v', 'i', 'r', 't', 'Q',
                                                     'e', 'm', 'u', 'd', 'S', 'a', 'v', 'e'};
static const char magic_part[V12_SAVE_MAGIC_SIZE] = {'L', 'i', 'b', 'v', 'i', 'r', 't', 'Q',
                                                     'e', 'm', 'u', 'd', 'P', 'a', 'r', 't'};

static const char *const format_names[V12_SAVE_FORMAT_COUNT] = {"raw", "gzip", "bzip2", "xz", "lzop"};

const char *v12_save_format_name(uint32_t format)
{
    return format < V12_SAVE_FORMAT_COUNT ? format_names[format] : NULL;
}

bool v12_save_is_image(const uint8_t *p, size_t len)
{
    return len >= V12_SAVE_MAGIC_SIZE &&
           (memcmp(p, magic_done, V12_SAVE_MAGIC_SIZE) == 0 || memcmp(p, magic_part, V12_SAVE_MAGIC_SIZE) == 0);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t bswap32(uint32_t v)
{
    return v >> 24 | (v >> 8 & 0xff00u) | (v << 8 & 0xff0000u) | v << 24;
}

#define FAIL(...) return v12_fail(msg, V12_E_SAVE_IMAGE, __VA_ARGS__)

int v12_save_header_parse(const uint8_t *p, size_t len, struct v12_save_header *h, struct v12_errmsg *msg)
{
    if (len < V12_SAVE_HEADER_SIZE) FAIL("save image truncated: %zu of its %u header bytes", len, V12_SAVE_HEADER_SIZE);
    if (memcmp(p, magic_part, V12_SAVE_MAGIC_SIZE) == 0)
        FAIL("incomplete save image (magic 'LibvirtQemudPart' at offset 0: libvirt did not finish writing it)");
    if (memcmp(p, magic_done, V12_SAVE_MAGIC_SIZE) != 0) FAIL("not a libvirt save image (magic at offset 0)");
    uint32_t f[5];
    for (int i = 0; i < 5; i++) f[i] = le32(p + 16 + 4 * i);
    h->swapped = false;
    if (f[0] > 2) { /* libvirt's own rule: a version it cannot know means the other byte order */
        for (int i = 0; i < 5; i++) f[i] = bswap32(f[i]);
        h->swapped = true;
    }
    h->version = f[0];
    h->data_len = f[1];
    h->was_running = f[2];
    h->format = f[3];
    h->cookie_offset = f[4];
    if (h->version < 1 || h->version > 2)
        FAIL("save image version %u at offset 16 is not supported (1 or 2)", h->version);
    if (h->data_len == 0 || h->data_len > V12_SAVE_DATA_MAX)
        FAIL("save image XML area of %u bytes (data_len at offset 20) is not within 1..%u", h->data_len,
             V12_SAVE_DATA_MAX);
    if (h->was_running > 1) FAIL("save image was_running %u at offset 24 is neither 0 nor 1", h->was_running);
    if (h->version == 1) h->format = V12_SAVE_RAW; /* version 1 images were never compressed */
    else if (h->format >= V12_SAVE_FORMAT_COUNT)
        FAIL("save image compression %u at offset 28 is unknown (0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop)", h->format);
    if (h->cookie_offset >= h->data_len)
        FAIL("save image cookie offset %u at offset 32 is outside its %u-byte XML area", h->cookie_offset, h->data_len);
    for (unsigned i = 36; i < V12_SAVE_HEADER_SIZE; i++)
        if (p[i]) FAIL("save image header byte %u (unused) is 0x%02x, not zero", i, p[i]);
    return 0;
}

/* The text of the first <tag ...>TEXT</tag> in xml[0..len), and, with attr, that attribute's
 * value after it ("131072 KiB"), or with attr_only the attribute's value alone. Bounded,
 * copies at most size-1 bytes. */
static void element(const char *xml, size_t len, const char *tag, const char *attr, bool attr_only, char *out,
                    size_t size)
{
    out[0] = 0;
    size_t tl = strlen(tag);
    for (size_t i = 0; i + tl + 2 <= len; i++) {
        if (xml[i] != '<' || memcmp(xml + i + 1, tag, tl) != 0 || (xml[i + 1 + tl] != '>' && xml[i + 1 + tl] != ' '))
            continue;
        size_t j = i + 1 + tl, gt = j;
        while (gt < len && xml[gt] != '>') gt++;
        if (gt >= len) return;
        size_t e = gt + 1;
        while (e < len && xml[e] != '<') e++;
        size_t n = e - gt - 1 < size - 1 ? e - gt - 1 : size - 1;
        memcpy(out, xml + gt + 1, n);
        out[n] = 0;
        if (attr_only) out[0] = 0;
        if (attr) { /* attr='v' or attr="v" inside the start tag */
            size_t al = strlen(attr);
            for (size_t k = j; k + al + 2 < gt; k++)
                if (memcmp(xml + k, attr, al) == 0 && xml[k + al] == '=' &&
                    (xml[k + al + 1] == '\'' || xml[k + al + 1] == '"')) {
                    char q = xml[k + al + 1];
                    size_t v = k + al + 2, ve = v;
                    while (ve < gt && xml[ve] != q) ve++;
                    size_t have = strlen(out), sep = have ? 1 : 0;
                    if (have + sep + (ve - v) < size) {
                        if (sep) out[have] = ' ';
                        memcpy(out + have + sep, xml + v, ve - v);
                        out[have + sep + (ve - v)] = 0;
                    }
                    break;
                }
        }
        return;
    }
}

int v12_save_data_check(const uint8_t *data, size_t len, const struct v12_save_header *h, struct v12_save_summary *s,
                        struct v12_errmsg *msg)
{
    memset(s, 0, sizeof(*s));
    if (len != h->data_len) FAIL("save image XML area truncated: %zu of %u bytes", len, h->data_len);
    size_t xml_area = h->cookie_offset ? h->cookie_offset : len;
    const uint8_t *nul = memchr(data, 0, xml_area);
    if (!nul)
        FAIL("save image domain XML is not NUL-terminated within its %zu bytes (offset %u)", xml_area,
             V12_SAVE_HEADER_SIZE);
    size_t xml_len = (size_t)(nul - data), end = xml_len + 1;
    if (h->cookie_offset) {
        if (h->cookie_offset != end)
            FAIL("save image cookie at %u does not follow the XML (%zu bytes and its NUL)", h->cookie_offset, xml_len);
        const uint8_t *cn = memchr(data + end, 0, len - end);
        if (!cn) FAIL("save image cookie is not NUL-terminated within the XML area");
        s->cookie_len = (uint32_t)(cn - (data + end));
        end += s->cookie_len + 1u;
    }
    for (size_t i = end; i < len; i++)
        if (data[i])
            FAIL("save image XML area byte %zu (file offset %zu, after the XML) is 0x%02x, not zero", i,
                 i + V12_SAVE_HEADER_SIZE, data[i]);
    s->xml_len = (uint32_t)xml_len;
    s->padding = (uint32_t)(len - end);
    const char *xml = (const char *)data;
    if (!memmem(xml, xml_len, "<domain", 7)) FAIL("save image XML area holds no <domain> element");
    element(xml, xml_len, "name", NULL, false, s->name, sizeof(s->name));
    if (!s->name[0]) FAIL("save image domain XML has no <name>");
    element(xml, xml_len, "uuid", NULL, false, s->uuid, sizeof(s->uuid));
    element(xml, xml_len, "memory", "unit", false, s->memory, sizeof(s->memory));
    element(xml, xml_len, "vcpu", NULL, false, s->vcpus, sizeof(s->vcpus));
    element(xml, xml_len, "type", "machine", true, s->machine, sizeof(s->machine));
    return 0;
}
