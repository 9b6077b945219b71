/* SPDX-License-Identifier: MIT */
#ifndef V12_SAVEIMAGE_H
#define V12_SAVEIMAGE_H

/*
 * libvirt's save image: what `virsh save`, `managedsave` and the memory part of an external
 * snapshot write (libvirt 9.0, Debian 12): a 92-byte header, an area holding the domain XML
 * and libvirt's save cookie (each NUL-terminated, then zeros: libvirt leaves 64 KiB of room to
 * edit the XML in place), then QEMU's migration stream, compressed as a whole by gzip, bzip2,
 * xz or lzop when the header says so. Pure: no I/O, no allocation.
 *
 *   offset  size  field
 *        0    16  magic "LibvirtQemudSave" ("LibvirtQemudPart" while libvirt is still writing)
 *       16     4  version (2; 1 from old libvirt, never compressed)
 *       20     4  data_len: bytes of the XML area that follows the header
 *       24     4  was_running (0 or 1): resume the guest after restore
 *       28     4  compressed: 0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop
 *       32     4  cookieOffset: where in the area the cookie starts, 0 = none
 *       36    56  unused (zero)
 * The integers are in the writing host's byte order; a version above 2 means the other order.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "v12/errors.h"

#define V12_SAVE_HEADER_SIZE 92u
#define V12_SAVE_MAGIC_SIZE 16u
#define V12_SAVE_DATA_MAX (16u << 20) /* the XML area: libvirt's is the XML + 64 KiB */

enum v12_save_format {
    V12_SAVE_RAW = 0,
    V12_SAVE_GZIP = 1,
    V12_SAVE_BZIP2 = 2,
    V12_SAVE_XZ = 3,
    V12_SAVE_LZOP = 4,
    V12_SAVE_FORMAT_COUNT
};

struct v12_save_header {
    uint32_t version;
    uint32_t data_len;
    uint32_t was_running;
    uint32_t format; /* enum v12_save_format; raw for version 1 */
    uint32_t cookie_offset;
    bool swapped; /* written by a host of the other byte order */
};

/* What the XML area holds. Strings are copied out, NUL-terminated, cut to their buffer. */
struct v12_save_summary {
    uint32_t xml_len;    /* the XML's bytes, without its NUL */
    uint32_t cookie_len; /* the cookie's bytes, without its NUL; 0 = none */
    uint32_t padding;    /* the zero bytes after them */
    char name[128];
    char uuid[40];
    char memory[40]; /* "131072 KiB" */
    char vcpus[16];
    char machine[64];
};

/* Do these bytes (at least 16) start a save image, complete or not? */
bool v12_save_is_image(const uint8_t *p, size_t len);

/*
 * The header of p[0..len). 0, or SAVE_IMAGE with msg naming the field, its value and offset:
 * too short, still being written (the Part magic), an unknown version, a data_len of 0 or above
 * V12_SAVE_DATA_MAX, was_running other than 0/1, an unknown compression, a cookie offset
 * outside the area, unused bytes that are not zero.
 */
int v12_save_header_parse(const uint8_t *p, size_t len, struct v12_save_header *h, struct v12_errmsg *msg) V12_MUST_USE;

/*
 * The XML area (h->data_len bytes): the XML NUL-terminated within the area (or before the
 * cookie), the cookie NUL-terminated after it, nothing but zeros after them, and a <domain>
 * element with a <name>. Fills *s. 0, or SAVE_IMAGE with msg naming what and where.
 */
int v12_save_data_check(const uint8_t *data, size_t len, const struct v12_save_header *h, struct v12_save_summary *s,
                        struct v12_errmsg *msg) V12_MUST_USE;

/* "raw", "gzip", "bzip2", "xz", "lzop"; NULL for another value. */
const char *v12_save_format_name(uint32_t format);

#endif
