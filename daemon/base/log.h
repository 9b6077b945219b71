/* SPDX-License-Identifier: MIT */
#ifndef V12_LOG_H
#define V12_LOG_H

/*
 * One line per event on stderr, prefixed "<N>" with the syslog priority, which journald reads
 * as the line's priority. Key material is never passed here.
 */
#define V12_LOG_ERR 3
#define V12_LOG_WARNING 4
#define V12_LOG_NOTICE 5
#define V12_LOG_INFO 6
#define V12_LOG_DEBUG 7

extern int v12_log_level;

void v12_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) v12_log(V12_LOG_ERR, __VA_ARGS__)
#define log_warn(...) v12_log(V12_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) v12_log(V12_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) v12_log(V12_LOG_INFO, __VA_ARGS__)
#define log_debug(...) v12_log(V12_LOG_DEBUG, __VA_ARGS__)

#endif
