/* SPDX-License-Identifier: MIT */
#include "tcpinfo.h"

#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int v12_tcp_min_rtt_us(int fd, uint32_t *ret)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -errno;
    if (len < offsetof(struct tcp_info, tcpi_min_rtt) + sizeof(ti.tcpi_min_rtt)) return -ENOTSUP; /* kernel < 4.6 */
    if (ti.tcpi_min_rtt == 0 || ti.tcpi_min_rtt == UINT32_MAX) return -EAGAIN;
    *ret = ti.tcpi_min_rtt;
    return 0;
}

/* Asked of a throwaway socket, as /proc/sys may be hidden (systemd's ProcSubset=pid): the kernel
 * caps SO_RCVBUF at rmem_max and reports twice what it kept. */
int v12_rmem_max(uint64_t *ret)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int v = INT32_MAX / 2, r = 0;
    socklen_t len = sizeof(v);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) != 0)
        r = -errno;
    close(fd);
    if (!r) *ret = (uint64_t)v / 2;
    return r;
}
