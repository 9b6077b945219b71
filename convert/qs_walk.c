/* SPDX-License-Identifier: MIT */
/*
 * The device phase of a QEMU migration stream, walked by the stream's own description.
 *
 * The description (QEMU_VM_VMDESCRIPTION, after EOF) lists every FULL section of the device
 * phase in stream order with every field's exact wire size, and every subsection that was sent
 * (qemu-stream-exactness.md §1.3). The walk reads it once, front to back, and moves a cursor
 * through the held bytes in step: each section header must carry the described name, instance
 * and version; each subsection header the described name and version; each section must end in
 * its footer; and the last section must end exactly on the EOF byte. A field's bytes are
 * skipped by their described size and never looked at, so nothing a guest put in them can move
 * the walk. A `cpu/nested_state` subsection of a `cpu` section is the one place where bytes
 * are read: its layout is QEMU's fixed vmstate (qemu-migration-stream.md §4.1), bounded by the
 * size the description gives it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cursor.h"
#include "json.h"
#include "qs_internal.h"

#define MAX_SUB_DEPTH 4u
#define NAME_MAX_LEN 255u
#define SIZE_MAX_FIELD ((uint64_t)1 << 40)

static const char nested_name[] = "cpu/nested_state";
static const char vmx_name[] = "cpu/kvm_nested_state/vmx";
static const char svm_name[] = "cpu/kvm_nested_state/svm";
static const char vmcs12_name[] = "cpu/kvm_nested_state/vmx/vmcs12";
static const char shadow_name[] = "cpu/kvm_nested_state/vmx/shadow_vmcs12";

#define NESTED_HDR 8u /* be16 flags, be16 format, be32 size */
#define VMX_HDR 18u   /* be64 vmxon_pa, be64 vmcs12_pa, be16 smm flags */
#define SVM_HDR 8u    /* be64 vmcb_pa */

struct walk {
    struct v12_qs *qs;
    uint8_t *win;
    size_t end; /* the EOF byte */
    size_t at;  /* the cursor in win */
    struct v12_json j;
    size_t json_at; /* stream offset of the JSON text */
    bool convert;
    /* the device being walked */
    const uint8_t *dev_name;
    size_t dev_name_len;
    uint32_t section_id, instance_id, version;
    bool is_cpu;
    uint32_t fields;
    unsigned depth;      /* 0: the device's own fields; n: inside n subsections */
    bool nested_pending; /* nested_ev is to be reported after its subsection */
    struct v12_qs_event nested_ev;
};

static int walk_fail(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int walk_fail(struct walk *w, const char *fmt, ...)
{
    char what[360];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    v12__qs_fail(w->qs, w->qs->pos + w->at, "the VM description does not match the device state it describes: %s",
                 what);
    return V12_E_STREAM;
}

static int json_fail(struct walk *w)
{
    v12__qs_fail(w->qs, w->json_at + w->j.err_at, "the VM description is not valid JSON: %s",
                 w->j.err ? w->j.err : "?");
    return V12_E_STREAM;
}

static void emit(struct walk *w, enum v12_qs_event_kind kind, size_t at, size_t len, const char *what,
                 const uint8_t *name, size_t name_len)
{
    if (!w->convert || !w->qs->observe) return;
    struct v12_qs_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.offset = w->qs->pos + at;
    ev.length = len;
    ev.what = what;
    ev.name = (const char *)name;
    ev.name_len = name_len;
    ev.section_id = w->section_id;
    ev.instance_id = w->instance_id;
    ev.version = w->version;
    ev.count = w->fields;
    w->qs->observe(w->qs->observe_ctx, &ev);
}

/* A string value that is a name: at most 255 bytes, no escapes (QEMU's names have none). */
static bool json_name(struct walk *w, const uint8_t **s, size_t *n)
{
    bool esc;
    if (!v12_json_string(&w->j, s, n, &esc)) return false;
    if (esc) return v12_json_fail(&w->j, "escaped characters in a name");
    if (*n == 0 || *n > NAME_MAX_LEN) return v12_json_fail(&w->j, "a name of 0 or more than 255 bytes");
    return true;
}

/* Skip n described bytes: they must lie before the EOF byte. */
static int advance(struct walk *w, uint64_t n, const char *what)
{
    if (n > w->end - w->at)
        return walk_fail(w, "%s of %llu bytes runs past the end of the device phase (%zu bytes left)", what,
                         (unsigned long long)n, w->end - w->at);
    w->at += (size_t)n;
    return 0;
}

/* ---- fields ------------------------------------------------------------------------------- */

/* One field object: its wire size (size x array_len). */
static int field(struct walk *w)
{
    struct v12_json *j = &w->j;
    bool first = true, have_size = false, have_len = false;
    uint64_t size = 0, count = 1;
    const uint8_t *k, *name = NULL;
    size_t kl, name_len = 0;
    if (!v12_json_obj_begin(j)) return json_fail(w);
    int r;
    while ((r = v12_json_obj_next(j, &first, &k, &kl)) == 1) {
        if (v12_json_key_is(k, kl, "size")) {
            if (have_size) return v12_json_fail(j, "a field with two sizes"), json_fail(w);
            if (!v12_json_uint(j, SIZE_MAX_FIELD, &size)) return json_fail(w);
            have_size = true;
        } else if (v12_json_key_is(k, kl, "array_len")) {
            if (have_len) return v12_json_fail(j, "a field with two array lengths"), json_fail(w);
            if (!v12_json_uint(j, SIZE_MAX_FIELD, &count)) return json_fail(w);
            have_len = true;
        } else if (v12_json_key_is(k, kl, "name") && !name) {
            bool esc;
            if (!v12_json_string(j, &name, &name_len, &esc)) return json_fail(w);
        } else if (!v12_json_skip(j)) {
            return json_fail(w);
        }
    }
    if (r < 0) return json_fail(w);
    if (!have_size) return v12_json_fail(j, "a field without a size"), json_fail(w);
    if (count && size > SIZE_MAX_FIELD / count)
        return walk_fail(w, "field size %llu x %llu overflows", (unsigned long long)size, (unsigned long long)count);
    size_t start = w->at;
    int e = advance(w, size * count, "a field");
    if (e) return e;
    if (w->depth == 0) emit(w, V12_QS_EV_FIELD, start, w->at - start, "field", name, name_len);
    return 0;
}

static int fields(struct walk *w)
{
    bool first = true;
    int r;
    if (!v12_json_arr_begin(&w->j)) return json_fail(w);
    while ((r = v12_json_arr_next(&w->j, &first)) == 1) {
        int e = field(w);
        if (e) return e;
        if (w->depth == 0) w->fields++;
    }
    return r < 0 ? json_fail(w) : 0;
}

/* ---- nested state ------------------------------------------------------------------------- */

static size_t sub_header(const uint8_t *p, size_t n, const char *name)
{
    struct v12_cur c = cur_make(p, n, 0);
    size_t nl;
    if (cur_u8(&c) != QS_REC_SUB) return 0;
    const uint8_t *nm = cur_name8(&c, &nl);
    uint32_t version = cur_be32(&c);
    return !cur_short(&c) && cur_name_is(nm, nl, name) && version == 1 ? c.off : 0;
}

/*
 * The cpu/nested_state subsection's body, win[b0..b1): QEMU's kvm_nested_state vmstate
 * (be16 flags, be16 format, be32 size, then the vmx or svm subsection and the regions the size
 * says are there), which must fill the body exactly. With convert, the regions are converted
 * in place.
 */
/* For an observer (stream-inspect): the nested state at offset at, as found, before its conversion. */
static void nested_event(struct walk *w, uint64_t at, size_t n, uint32_t flags, uint32_t format, uint32_t size,
                         unsigned nregions, const size_t region_at[2])
{
    struct v12_qs_event ev;
    memset(&ev, 0, sizeof(ev));
    w->nested_pending = true;
    ev.kind = V12_QS_EV_NESTED;
    ev.offset = at;
    ev.length = n;
    ev.what = "nested state";
    ev.instance_id = w->instance_id;
    ev.section_id = w->section_id;
    ev.nested_flags = flags;
    ev.nested_format = format;
    ev.nested_size = size;
    ev.nregions = nregions;
    for (unsigned i = 0; i < nregions; i++) ev.revisions[i] = (uint32_t)v12_load_le(w->win + region_at[i], 4);
    w->nested_ev = ev;
}

static int nested_state(struct walk *w, size_t b0, size_t b1)
{
    struct v12_qs *qs = w->qs;
    const uint8_t *p = w->win + b0;
    size_t n = b1 - b0, off = NESTED_HDR, h;
    uint64_t at = qs->pos + b0;
    if (n < NESTED_HDR)
        return walk_fail(w, "vCPU %u: cpu/nested_state of %zu bytes is shorter than its %u-byte header", w->instance_id,
                         n, NESTED_HDR);
    uint32_t flags = v12_be16(p), format = v12_be16(p + 2), size = v12_be32(p + 4);
    uint32_t max = format == V12_FORMAT_SVM ? V12_BLOB_MAX_SVM : V12_BLOB_MAX_VMX;
    if (format > V12_FORMAT_SVM || size < V12_BLOB_HEADER_SIZE || size > max) {
        v12__qs_fail(qs, at, "vCPU %u: nested state size %u is outside 128..%u (format %u)", w->instance_id, size, max,
                     format);
        return V12_E_STREAM;
    }
    uint8_t *blob = qs->blob_in;
    memset(blob, 0, V12_BLOB_HEADER_SIZE);
    v12_store_le(blob + 0, 2, flags);
    v12_store_le(blob + 2, 2, format);
    v12_store_le(blob + 8, 8, V12_INVALID_GPA);
    v12_store_le(blob + 16, 8, V12_INVALID_GPA);
    size_t region_at[2] = {0, 0};
    unsigned nregions = 0;
    if (format == V12_FORMAT_VMX && off < n) {
        if (!(h = sub_header(p + off, n - off, vmx_name)) || n - off - h < VMX_HDR) goto malformed;
        v12_store_le(blob + 8, 8, v12_be64(p + off + h));
        v12_store_le(blob + 16, 8, v12_be64(p + off + h + 8));
        v12_store_le(blob + 24, 2, v12_be16(p + off + h + 16));
        off += h + VMX_HDR;
        const char *names[2] = {vmcs12_name, shadow_name};
        for (unsigned i = 0; i < 2 && off < n; i++) {
            if (!(h = sub_header(p + off, n - off, names[i])) || n - off - h < V12_REGION_SIZE) goto malformed;
            region_at[nregions++] = b0 + off + h;
            off += h + V12_REGION_SIZE;
        }
    } else if (format == V12_FORMAT_SVM && off < n) {
        if (!(h = sub_header(p + off, n - off, svm_name)) || n - off - h < SVM_HDR + V12_REGION_SIZE) goto malformed;
        v12_store_le(blob + 8, 8, v12_be64(p + off + h));
        region_at[nregions++] = b0 + off + h + SVM_HDR;
        off += h + SVM_HDR + V12_REGION_SIZE;
    }
    if (off != n) goto malformed;
    /* QEMU sends the regions exactly when size says there are some; its size may exceed what it
     * sends (KVM's cap), never fall short of it. */
    size_t len = V12_BLOB_HEADER_SIZE + nregions * V12_REGION_SIZE;
    unsigned expect = size > V12_BLOB_HEADER_SIZE + V12_REGION_SIZE ? 2 : size > V12_BLOB_HEADER_SIZE ? 1 : 0;
    if ((format == V12_FORMAT_VMX && nregions != expect) || size < len) goto malformed;
    if (!w->convert) return 0;

    v12_store_le(blob + 4, 4, len);
    for (unsigned i = 0; i < nregions; i++)
        memcpy(blob + V12_VMCS12_OFFSET + i * V12_REGION_SIZE, w->win + region_at[i], V12_REGION_SIZE);
    if (qs->observe) nested_event(w, at, n, flags, format, size, nregions, region_at);
    struct v12_diag d;
    struct v12_report rep;
    int r = v12_blob_convert(blob, len, qs->blob_out, sizeof(qs->blob_out), &qs->opts, &rep, &d);
    if (r) {
        struct v12_errmsg m = {""};
        (void)v12_diag_format(&d, &m);
        v12__qs_fail(qs, at, "vCPU %u (cpu section instance %u): nested state refused: %s", w->instance_id,
                     w->instance_id, m.text);
        return r;
    }
    if (format == V12_FORMAT_VMX)
        for (unsigned i = 0; i < nregions; i++)
            memcpy(w->win + region_at[i], qs->blob_out + V12_VMCS12_OFFSET + i * V12_REGION_SIZE, V12_REGION_SIZE);
    qs->stats.nested_states++;
    if (format == V12_FORMAT_VMX) qs->stats.regions += nregions;
    return 0;
malformed:
    v12__qs_fail(qs, at,
                 "vCPU %u: cpu/nested_state subsection is malformed (its %zu described bytes do not hold the "
                 "header, subsections and regions its size %u names)",
                 w->instance_id, n, size);
    return V12_E_STREAM;
}

/* ---- subsections ---------------------------------------------------------------------------- */

/* The wire header of a subsection at the cursor: 0x05, its name, its version. */
static int sub_check(struct walk *w, const uint8_t *name, size_t name_len, uint64_t version)
{
    struct v12_cur c = cur_make(w->win, w->end, w->at);
    size_t nl;
    uint32_t type = cur_u8(&c);
    const uint8_t *nm = cur_name8(&c, &nl);
    uint32_t v = cur_be32(&c);
    if (cur_short(&c) || type != QS_REC_SUB)
        return walk_fail(w,
                         "section '%.*s' (instance %u): no subsection header where the description puts "
                         "subsection '%.*s'",
                         (int)w->dev_name_len, w->dev_name, w->instance_id, (int)name_len, name);
    if (nl != name_len || memcmp(nm, name, nl) != 0 || v != version)
        return walk_fail(w,
                         "section '%.*s' (instance %u): subsection '%.*s' version %u where the description puts "
                         "'%.*s' version %llu",
                         (int)w->dev_name_len, w->dev_name, w->instance_id, (int)nl, nm, v, (int)name_len, name,
                         (unsigned long long)version);
    w->at = c.off;
    return 0;
}

static int subsections(struct walk *w, unsigned depth);

static int subsection(struct walk *w, unsigned depth)
{
    struct v12_json *j = &w->j;
    bool first = true, checked = false, have_version = false;
    const uint8_t *k, *name = NULL;
    size_t kl, name_len = 0, start = w->at, body = 0;
    uint64_t version = 0;
    int r, e;
    if (!v12_json_obj_begin(j)) return json_fail(w);
    while ((r = v12_json_obj_next(j, &first, &k, &kl)) == 1) {
        bool f = v12_json_key_is(k, kl, "fields"), s = v12_json_key_is(k, kl, "subsections");
        if (v12_json_key_is(k, kl, "vmsd_name")) {
            if (name || checked) return v12_json_fail(j, "a subsection named twice or late"), json_fail(w);
            if (!json_name(w, &name, &name_len)) return json_fail(w);
        } else if (v12_json_key_is(k, kl, "version")) {
            if (have_version || checked) return v12_json_fail(j, "a subsection versioned twice or late"), json_fail(w);
            if (!v12_json_uint(j, UINT32_MAX, &version)) return json_fail(w);
            have_version = true;
        } else if (f || s) {
            if (!checked) {
                if (!name || !have_version)
                    return v12_json_fail(j, "a subsection without name or version"), json_fail(w);
                if ((e = sub_check(w, name, name_len, version))) return e;
                checked = true;
                body = w->at;
            }
            w->depth = depth;
            if (f && (e = fields(w))) return e;
            if (f && w->is_cpu && depth == 1 && cur_name_is(name, name_len, nested_name) &&
                (e = nested_state(w, body, w->at)))
                return e;
            if (s && (e = subsections(w, depth + 1))) return e;
            w->depth = depth;
        } else if (!v12_json_skip(j)) {
            return json_fail(w);
        }
    }
    if (r < 0) return json_fail(w);
    if (!checked) {
        if (!name || !have_version) return v12_json_fail(j, "a subsection without name or version"), json_fail(w);
        if ((e = sub_check(w, name, name_len, version))) return e;
    }
    if (depth == 1) emit(w, V12_QS_EV_FIELD, start, w->at - start, "subsection", name, name_len);
    if (depth == 1 && w->nested_pending) {
        w->nested_pending = false;
        w->qs->observe(w->qs->observe_ctx, &w->nested_ev);
    }
    return 0;
}

static int subsections(struct walk *w, unsigned depth)
{
    bool first = true;
    int r;
    if (depth > MAX_SUB_DEPTH) return walk_fail(w, "subsections nested more than %u deep", MAX_SUB_DEPTH);
    if (!v12_json_arr_begin(&w->j)) return json_fail(w);
    while ((r = v12_json_arr_next(&w->j, &first)) == 1) {
        int e = subsection(w, depth);
        if (e) return e;
    }
    return r < 0 ? json_fail(w) : 0;
}

/* ---- devices -------------------------------------------------------------------------------- */

/* The FULL section header at the cursor must be the described device. */
static int section_check(struct walk *w, uint64_t instance, bool have_version, uint64_t version)
{
    struct v12_cur c = cur_make(w->win, w->end, w->at);
    size_t nl;
    uint32_t type = cur_u8(&c), id = cur_be32(&c);
    const uint8_t *nm = cur_name8(&c, &nl);
    uint32_t inst = cur_be32(&c), v = cur_be32(&c);
    if (cur_short(&c) || type != QS_REC_FULL)
        return walk_fail(w, "no FULL section header where the description puts device '%.*s' (instance %llu)",
                         (int)w->dev_name_len, w->dev_name, (unsigned long long)instance);
    if (nl != w->dev_name_len || memcmp(nm, w->dev_name, nl) != 0 || inst != instance || (have_version && v != version))
        return walk_fail(w,
                         "section '%.*s' instance %u version %u where the description puts '%.*s' instance %llu "
                         "version %llu",
                         (int)nl, nm, inst, v, (int)w->dev_name_len, w->dev_name, (unsigned long long)instance,
                         (unsigned long long)version);
    w->section_id = id;
    w->instance_id = inst;
    w->version = v;
    w->is_cpu = cur_name_is(nm, nl, "cpu");
    if (w->is_cpu && (v < 11 || v > 12)) {
        v12__qs_fail(w->qs, w->qs->pos + w->at, "cpu section version %u (11 or 12 are known)", v);
        return V12_E_STREAM;
    }
    emit(w, V12_QS_EV_DEVICE, w->at, 0, "device", nm, nl);
    w->at = c.off;
    return 0;
}

static int footer_check(struct walk *w)
{
    if (w->at < w->end && w->win[w->at] == QS_REC_FOOTER) {
        struct v12_cur c = cur_make(w->win, w->end, w->at + 1);
        uint32_t id = cur_be32(&c);
        if (cur_short(&c) || id != w->section_id)
            return walk_fail(w, "section '%.*s' (instance %u) ends in a footer for section %u, not %u",
                             (int)w->dev_name_len, w->dev_name, w->instance_id, id, w->section_id);
        w->at = c.off;
        return 0;
    }
    if (w->qs->footers)
        return walk_fail(w, "section '%.*s' (instance %u) has no footer where its description ends",
                         (int)w->dev_name_len, w->dev_name, w->instance_id);
    return 0;
}

static int device(struct walk *w)
{
    struct v12_json *j = &w->j;
    bool first = true, checked = false, have_instance = false, have_version = false;
    const uint8_t *k;
    size_t kl, start = w->at;
    uint64_t instance = 0, version = 0;
    int r, e;
    w->dev_name = NULL;
    w->dev_name_len = 0;
    w->fields = 0;
    if (!v12_json_obj_begin(j)) return json_fail(w);
    while ((r = v12_json_obj_next(j, &first, &k, &kl)) == 1) {
        bool f = v12_json_key_is(k, kl, "fields"), s = v12_json_key_is(k, kl, "subsections");
        if (v12_json_key_is(k, kl, "name")) {
            if (w->dev_name || checked) return v12_json_fail(j, "a device named twice or late"), json_fail(w);
            if (!json_name(w, &w->dev_name, &w->dev_name_len)) return json_fail(w);
        } else if (v12_json_key_is(k, kl, "instance_id")) {
            if (have_instance || checked) return v12_json_fail(j, "a device with two instance ids"), json_fail(w);
            if (!v12_json_uint(j, UINT32_MAX, &instance)) return json_fail(w);
            have_instance = true;
        } else if (v12_json_key_is(k, kl, "version")) {
            if (have_version || checked) return v12_json_fail(j, "a device versioned twice or late"), json_fail(w);
            if (!v12_json_uint(j, UINT32_MAX, &version)) return json_fail(w);
            have_version = true;
        } else if (f || s) {
            if (!checked) {
                if (!w->dev_name || !have_instance)
                    return v12_json_fail(j, "a device without name or instance"), json_fail(w);
                if ((e = section_check(w, instance, have_version, version))) return e;
                checked = true;
            }
            w->depth = 0;
            if (f && (e = fields(w))) return e;
            if (s && (e = subsections(w, 1))) return e;
            w->depth = 0;
        } else if (!v12_json_skip(j)) {
            return json_fail(w);
        }
    }
    if (r < 0) return json_fail(w);
    if (!checked) {
        if (!w->dev_name || !have_instance) return v12_json_fail(j, "a device without name or instance"), json_fail(w);
        if ((e = section_check(w, instance, have_version, version))) return e;
    }
    if ((e = footer_check(w))) return e;
    if (w->convert) {
        w->qs->stats.devices++;
        w->qs->stats.sections++;
        if (w->is_cpu) w->qs->stats.cpus++;
    }
    emit(w, V12_QS_EV_DEVICE_END, start, w->at - start, "device", w->dev_name, w->dev_name_len);
    return 0;
}

int v12__qs_walk(struct v12_qs *qs, uint8_t *win, size_t eof_at, const uint8_t *json, size_t json_len, bool convert)
{
    struct walk w;
    memset(&w, 0, sizeof(w));
    w.qs = qs;
    w.win = win;
    w.end = eof_at;
    w.convert = convert;
    w.json_at = qs->pos + (size_t)(json - win);
    v12_json_init(&w.j, json, json_len);
    struct v12_json *j = &w.j;
    bool first = true, have_devices = false;
    const uint8_t *k;
    size_t kl;
    uint32_t ndev = 0;
    int r, e;
    if (!v12_json_obj_begin(j)) return json_fail(&w);
    while ((r = v12_json_obj_next(j, &first, &k, &kl)) == 1) {
        if (v12_json_key_is(k, kl, "page_size")) {
            uint64_t ps;
            if (!v12_json_uint(j, UINT32_MAX, &ps)) return json_fail(&w);
            if (ps != QS_PAGE) return walk_fail(&w, "page size %llu (only 4096 is handled)", (unsigned long long)ps);
        } else if (v12_json_key_is(k, kl, "devices")) {
            bool f2 = true;
            if (have_devices) return v12_json_fail(j, "two device lists"), json_fail(&w);
            have_devices = true;
            if (!v12_json_arr_begin(j)) return json_fail(&w);
            while ((r = v12_json_arr_next(j, &f2)) == 1) {
                if ((e = device(&w))) return e;
                ndev++;
            }
            if (r < 0) return json_fail(&w);
        } else if (!v12_json_skip(j)) { /* "configuration" (8.2+) describes a record already walked */
            return json_fail(&w);
        }
    }
    if (r < 0 || !v12_json_end(j)) return json_fail(&w);
    if (!have_devices) return v12_json_fail(j, "no device list"), json_fail(&w);
    if (w.at != eof_at) return walk_fail(&w, "its %u devices end %zu bytes before the EOF record", ndev, eof_at - w.at);
    if (convert && qs->observe) {
        struct v12_qs_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.kind = V12_QS_EV_DESC;
        ev.offset = qs->pos + eof_at;
        ev.length = QS_DESC_FIXED + json_len;
        ev.what = "EOF + VM description";
        ev.count = ndev;
        qs->observe(qs->observe_ctx, &ev);
    }
    return 0;
}
