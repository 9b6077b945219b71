/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

int v12_log_level = V12_LOG_INFO;

void v12_log(int prio, const char *fmt, ...)
{
    if (prio > v12_log_level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    /* One write per line, so that concurrent writers never interleave within a line. */
    for (char *p = line; *p; p++)
        if (*p == '\n') *p = ' ';
    fprintf(stderr, "<%d>%s\n", prio, line);
}
