/* SPDX-License-Identifier: MIT */
/*
 * What the kernel knows of a socket's path, for sizing its buffers (conn.c). In a file of its
 * own: the kernel's struct tcp_info (linux/tcp.h, which has tcpi_min_rtt) cannot share a
 * translation unit with glibc's older one, which libuv's headers include.
 */
#pragma once

#include <stdint.h>

/* The connection's minimum RTT in microseconds: 0, or -errno; -EAGAIN when none was measured yet. */
int v12_tcp_min_rtt_us(int fd, uint32_t *ret);
/* The most SO_RCVBUF may set without CAP_NET_ADMIN (net.core.rmem_max, asked of a throwaway socket):
 * 0, or -errno. */
int v12_rmem_max(uint64_t *ret);
