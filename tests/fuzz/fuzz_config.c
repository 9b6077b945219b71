/* SPDX-License-Identifier: MIT */
/* The configuration parser on any file: never a crash; every error is one line "FILE:LINE: ..." and
 * the file either loads or has at least one error. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    int fd = memfd_create("fuzz.ini", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    static struct v12_config cfg;
    static struct v12_config_errors errs;
    int r = v12_config_load(path, &cfg, &errs);
    close(fd);
    if ((r == 0) != (errs.n == 0)) abort();
    for (unsigned i = 0; i < errs.n && i < V12_CONFIG_MAX_ERRORS; i++) {
        if (strncmp(errs.line[i].text, path, strlen(path)) != 0 || strchr(errs.line[i].text, '\n')) abort();
    }
    return 0;
}
