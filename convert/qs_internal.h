/* SPDX-License-Identifier: MIT */
#ifndef V12_QS_INTERNAL_H
#define V12_QS_INTERNAL_H

/* Shared by the stream parser's record reader (qemu_stream.c) and its device-phase walk
 * (qs_walk.c). The wire constants of QEMU's stream format, named once. */
#include "v12/qemu_stream.h"

enum {
    QS_REC_EOF = 0x00,
    QS_REC_START = 0x01,
    QS_REC_PART = 0x02,
    QS_REC_END = 0x03,
    QS_REC_FULL = 0x04,
    QS_REC_SUB = 0x05,
    QS_REC_DESC = 0x06,
    QS_REC_CONFIG = 0x07,
    QS_REC_COMMAND = 0x08,
    QS_REC_FOOTER = 0x7e,
};

/* Sizes on the wire. */
#define QS_FILE_HEADER 8u   /* be32 magic, be32 version */
#define QS_SECTION_ID 5u    /* u8 type, be32 section id (PART, END, and a footer) */
#define QS_FULL_FIXED 14u   /* u8 type, be32 id, u8 len, be32 instance, be32 version + name */
#define QS_SUB_FIXED 6u     /* u8 0x05, u8 len, be32 version + name */
#define QS_DESC_FIXED 6u    /* u8 0x00 (EOF), u8 0x06, be32 JSON length */
#define QS_COMMAND_FIXED 5u /* u8 0x08, be16 command, be16 length */
#define QS_CONFIG_FIXED 5u  /* u8 0x07, be32 name length */
#define QS_PAGE 4096u       /* x86 target page */

void v12__qs_fail(struct v12_qs *qs, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Walk the held device phase win[0..eof_at) by the description json[0..json_len): every
 * section, subsection and footer where the description puts them and EOF at eof_at. With
 * convert, the nested state is converted in place (run it only after a walk without). 0, or an
 * error with qs->msg set. */
int v12__qs_walk(struct v12_qs *qs, uint8_t *win, size_t eof_at, const uint8_t *json, size_t json_len, bool convert);

#endif
