#ifndef SHOAL_CNETLINKROUTE_SHIM_H
#define SHOAL_CNETLINKROUTE_SHIM_H

#include <netlink/netlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/socket.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/neighbour.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/if_bridge.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string.h>
#include <sys/uio.h>

// Macros from the kernel headers that Swift cannot import.
static inline unsigned int shoal_nlmsg_align(unsigned int len) { return NLMSG_ALIGN(len); }
static inline unsigned int shoal_nlmsg_hdrlen(void) { return NLMSG_HDRLEN; }

// setns/unshare need _GNU_SOURCE in glibc's headers; the raw syscalls do not.
static inline int shoal_setns_net(int fd) { return (int)syscall(SYS_setns, fd, 0x40000000 /* CLONE_NEWNET */); }
static inline int shoal_unshare_net(void) { return (int)syscall(SYS_unshare, 0x40000000 /* CLONE_NEWNET */); }

// recvmmsg needs _GNU_SOURCE too. Receives up to `count` datagrams (at most 64) into
// consecutive `segment`-sized slices of `buffer` in one system call: it blocks for the first
// only (MSG_WAITFORONE). Stores each length in `lengths`; returns how many, or -1 and errno.
struct shoal_mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; };
static inline int shoal_recv_many(int fd, unsigned char *buffer, size_t segment, unsigned int count,
                                  unsigned int *lengths) {
    struct shoal_mmsghdr messages[64];
    struct iovec vectors[64];
    if (count > 64) count = 64;
    memset(messages, 0, sizeof(messages));
    for (unsigned int i = 0; i < count; i++) {
        vectors[i].iov_base = buffer + i * segment;
        vectors[i].iov_len = segment;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    int received = (int)syscall(SYS_recvmmsg, fd, messages, count, 0x10000 /* MSG_WAITFORONE */, NULL);
    for (int i = 0; i < received; i++) lengths[i] = messages[i].msg_len;
    return received;
}

#endif
