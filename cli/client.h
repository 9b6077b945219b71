/* SPDX-License-Identifier: MIT */
#ifndef V12_CLI_CLIENT_H
#define V12_CLI_CLIENT_H

/* A blocking client of vmcs12d's control socket, with a deadline on every exchange. */
#include "frame.h"

#define V12_DEFAULT_SOCKET "/run/vmcs12d/control.sock"

/* Connect, send req, wait until deadline for one reply. Errors: -errno, TIMEOUT, FRAME_*; every
 * error return says what failed, and where, in err. */
int v12_client_call(const char *socket_path, const V12Envelope *req, unsigned timeout_ms, V12Envelope **ret_reply,
                    struct v12_errmsg *err) V12_MUST_USE;

#endif
