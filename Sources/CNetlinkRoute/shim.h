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
#include <errno.h>
#include <linux/netlink.h>

// Macros from the kernel headers that Swift cannot import.
static inline unsigned int shoal_nlmsg_align(unsigned int len) { return NLMSG_ALIGN(len); }
static inline unsigned int shoal_nlmsg_hdrlen(void) { return NLMSG_HDRLEN; }

// setns/unshare need _GNU_SOURCE in glibc's headers; the raw syscalls do not.
static inline int shoal_setns_net(int fd) { return (int)syscall(SYS_setns, fd, 0x40000000 /* CLONE_NEWNET */); }
static inline int shoal_unshare_net(void) { return (int)syscall(SYS_unshare, 0x40000000 /* CLONE_NEWNET */); }

// recvmmsg needs _GNU_SOURCE too. Receives up to `count` datagrams (at most 64) into
// consecutive `segment`-sized slices of `buffer` in one system call: it blocks for the first
// only (MSG_WAITFORONE). For each: its length, whether it was truncated (MSG_TRUNC: it did not
// fit its slice) and whether it came from someone other than the kernel (a netlink sender with
// nl_pid != 0; such datagrams are to be ignored). Returns how many, or -errno captured here,
// before any other code can change errno.
struct shoal_mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; };
static inline int shoal_recv_many(int fd, unsigned char *buffer, size_t segment, unsigned int count,
                                  unsigned int *lengths, int *truncated, int *foreign) {
    struct shoal_mmsghdr messages[64];
    struct iovec vectors[64];
    struct sockaddr_nl senders[64];
    if (count > 64) count = 64;
    memset(messages, 0, sizeof(messages));
    memset(senders, 0, sizeof(senders));
    for (unsigned int i = 0; i < count; i++) {
        vectors[i].iov_base = buffer + i * segment;
        vectors[i].iov_len = segment;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &senders[i];
        messages[i].msg_hdr.msg_namelen = sizeof(senders[i]);
    }
    int received = (int)syscall(SYS_recvmmsg, fd, messages, count, 0x10000 /* MSG_WAITFORONE */, NULL);
    if (received < 0) return -errno;
    for (int i = 0; i < received; i++) {
        lengths[i] = messages[i].msg_len;
        truncated[i] = (messages[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
        foreign[i] = messages[i].msg_hdr.msg_namelen >= sizeof(struct sockaddr_nl)
            && senders[i].nl_family == AF_NETLINK && senders[i].nl_pid != 0;
    }
    return received;
}

// The size of the next datagram without taking it (MSG_PEEK|MSG_TRUNC), blocking until one
// is there; or -errno.
static inline long shoal_peek_length(int fd) {
    long length = (long)recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
    return length < 0 ? -errno : length;
}

// send(2) to the socket's default peer (the kernel for netlink), retrying EINTR; or -errno.
static inline long shoal_send(int fd, const void *bytes, size_t length) {
    for (;;) {
        long sent = (long)send(fd, bytes, length, 0);
        if (sent >= 0) return sent;
        if (errno != EINTR) return -errno;
    }
}

// A netlink socket of `protocol`, close-on-exec, bound with a port the kernel assigns
// (nl_pid 0), so no process-wide port table can run out; or -errno.
static inline int shoal_netlink_open(int protocol) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) return -errno;
    struct sockaddr_nl local;
    memset(&local, 0, sizeof(local));
    local.nl_family = AF_NETLINK;
    if (bind(fd, (struct sockaddr *)&local, sizeof(local)) != 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

#endif
