/* SPDX-License-Identifier: MIT */
#ifndef V12_JSON_H
#define V12_JSON_H

/*
 * A pull reader for the JSON that QEMU writes as its VM description: no allocation, no
 * recursion beyond a fixed depth, every byte bounds-checked. The caller walks objects key by
 * key and arrays element by element, reads the values it needs and skips the rest. The first
 * error sticks (err, err_at) and makes every later call fail.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define V12_JSON_MAX_DEPTH 64

struct v12_json {
    const uint8_t *p;
    size_t len, off;
    const char *err; /* NULL, or what went wrong at err_at */
    size_t err_at;
};

void v12_json_init(struct v12_json *j, const uint8_t *p, size_t len);
bool v12_json_fail(struct v12_json *j, const char *why);

/* Objects: begin, then next() until it returns 0 ('}' read); 1 = a key was read and its ':',
 * the value must be read or skipped next; -1 = error. *first starts true. */
bool v12_json_obj_begin(struct v12_json *j);
int v12_json_obj_next(struct v12_json *j, bool *first, const uint8_t **key, size_t *key_len);
/* Arrays: the same, 1 = an element follows. */
bool v12_json_arr_begin(struct v12_json *j);
int v12_json_arr_next(struct v12_json *j, bool *first);

/* A string's raw bytes between the quotes (escapes left as they are; *escaped says if any). */
bool v12_json_string(struct v12_json *j, const uint8_t **s, size_t *len, bool *escaped);
/* A non-negative integer no larger than max. */
bool v12_json_uint(struct v12_json *j, uint64_t max, uint64_t *v);
/* Any value, checked for well-formedness. */
bool v12_json_skip(struct v12_json *j);
/* Only whitespace remains. */
bool v12_json_end(struct v12_json *j);

bool v12_json_key_is(const uint8_t *key, size_t len, const char *s);

#endif
