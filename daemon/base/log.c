/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "v12/errors.h"

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
    /* Names and messages quoted from the network end up here: escaped, a line stays one line
     * with one priority. One write per line, so that concurrent writers never interleave. */
    char out[sizeof(line) * 4];
    v12_escape(out, sizeof(out), line);
    fprintf(stderr, "<%d>%s\n", prio, out);
}
