/* SPDX-License-Identifier: MIT */
#ifndef V12_CLI_IO_H
#define V12_CLI_IO_H

#include <stddef.h>
#include <stdint.h>

#include "v12/errors.h"

/* Exit codes shared by every subcommand. */
#define V12_EXIT_OK 0
#define V12_EXIT_INVALID 1 /* invalid input, I/O failure, refused conversion */
#define V12_EXIT_USAGE 2   /* unknown option, bad value, unknown profile */

/* The program name for messages: "vmcs12ctl convert". */
extern const char *v12_prog;

/* One line on stderr: "<prog>: <message>". */
void v12_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Read all of path ("-" = stdin) into a new buffer of at most max bytes. More than max is
 * INPUT_TOO_LARGE. Errors are -errno or V12_E_*; *ret_buf is malloc'ed on success.
 */
int v12_read_input(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len) V12_MUST_USE;

/*
 * Write data to path ("-" = stdout) all or nothing: a temporary file beside path, fsync, rename
 * over path, fsync the directory. On failure path is untouched and the temporary removed.
 */
int v12_write_output(const char *path, const void *data, size_t len) V12_MUST_USE;

/* OUTPUT_IS_INPUT if both name the same existing file (or the same path), else 0. */
int v12_check_distinct(const char *in, const char *out) V12_MUST_USE;

/* "-" is shown as "<stdin>" / "<stdout>" in messages. */
const char *v12_in_name(const char *path);

/* Parse a whole unsigned decimal number within [min, max]; -EINVAL otherwise. */
int v12_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                   unsigned long long *ret) V12_MUST_USE;

#endif
