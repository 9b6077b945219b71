/* SPDX-License-Identifier: MIT */
#ifndef V12_TESTS_HANDLERS_ENV_H
#define V12_TESTS_HANDLERS_ENV_H

/*
 * A daemon for the handlers without a loop's sockets: hosta (encoded layout) with one peer,
 * hostb, max_inflight 2, streams to 127.0.0.1:5000 allowed; its PKI (a CA, hosta, hostb, and
 * hostx which names no configured peer) and spool in a fresh /tmp directory.
 */
#include <openssl/x509.h>

/* The rooms from inside: the tests read their state. */
#include "relay_internal.h"
#include "stream_internal.h"

extern struct v12_daemon D;
extern X509 *cert_hostb, *cert_hostx;
extern char spool[300];

void handlers_env_setup(void);
void handlers_env_teardown(void); /* stops the writer, frees the fakes, removes the directory */

#endif
