/* SPDX-License-Identifier: MIT */
#ifndef V12_CLI_IO_H
#define V12_CLI_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "v12/errors.h"

/* Exit codes shared by every subcommand. */
#define V12_EXIT_OK 0
#define V12_EXIT_INVALID 1 /* invalid input, I/O failure, refused conversion */
#define V12_EXIT_USAGE 2   /* unknown option, bad value, unknown profile */

/* The program name for messages: "vmcs12ctl convert". */
extern const char *v12_prog;

/* One line on stderr: "<prog>: <message>", escaped as v12_escape does. */
void v12_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One escaped line on f (the newline is added): for lines that quote names or messages. */
void v12_linef(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Read all of path ("-" = stdin) into a new buffer of at most max bytes. More than max is
 * INPUT_TOO_LARGE. Errors are -errno or V12_E_*; *ret_buf is malloc'ed on success.
 */
int v12_read_input(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len) V12_MUST_USE;

/*
 * Where an output goes. A regular file, or a path that does not exist yet, is written all or
 * nothing: a temporary file (0600) beside the final target (symbolic links followed, the links
 * themselves left in place), fsync, rename over the target, fsync the directory. A file that is
 * replaced keeps its mode (and, when run as root, its owner). A character or block device, a
 * FIFO or a unix socket is never renamed over: it is opened (connected) and written in place,
 * and only once the whole output is known, so that invalid input writes nothing there either.
 * "-" is standard output, written in place.
 *
 *   struct v12_out o;
 *   r = v12_out_begin(&o, path);        bytes are staged from here on
 *   r = v12_out_write(&o, data, len);   any number of times
 *   r = v12_out_commit(&o);             or v12_out_abort(&o): the target is untouched
 *
 * Every call returns 0 or a negative code (-errno, V12_E_*); after a failed call only
 * v12_out_abort is allowed, and commit/abort release everything.
 */
struct v12_out {
    const char *path;  /* as given, for messages */
    char target[4096]; /* regular: the final target, symbolic links resolved */
    bool direct;       /* device, FIFO, socket or stdout: written in place at commit */
    bool replace;      /* regular: an existing file is replaced */
    unsigned mode;     /* of the file replaced */
    unsigned uid, gid;
    int fd;         /* the staging file: beside target, or anonymous for a direct target */
    char tmp[4096]; /* the staging file's name, "" when anonymous */
};
int v12_out_begin(struct v12_out *o, const char *path) V12_MUST_USE;
int v12_out_write(struct v12_out *o, const void *data, size_t len) V12_MUST_USE;
int v12_out_commit(struct v12_out *o) V12_MUST_USE;
void v12_out_abort(struct v12_out *o);

/* All of data to fd, restarting on EINTR: 0 or -errno. */
int v12_write_all(int fd, const void *data, size_t len) V12_MUST_USE;

/* The whole of data to path, by the rules above. */
int v12_write_output(const char *path, const void *data, size_t len) V12_MUST_USE;

/* OUTPUT_IS_INPUT if both name the same existing file (or the same path), else 0. */
int v12_check_distinct(const char *in, const char *out) V12_MUST_USE;

/* "-" is shown as "<stdin>" / "<stdout>" in messages. */
const char *v12_in_name(const char *path);
const char *v12_out_name(const char *path);

/* Parse a whole unsigned decimal number within [min, max]; -EINVAL otherwise. */
int v12_parse_uint(const char *s, unsigned long long min, unsigned long long max, unsigned long long *ret) V12_MUST_USE;

#endif
