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

// Macros from the kernel headers that Swift cannot import.
static inline unsigned int shoal_nlmsg_align(unsigned int len) { return NLMSG_ALIGN(len); }
static inline unsigned int shoal_nlmsg_hdrlen(void) { return NLMSG_HDRLEN; }

// setns/unshare need _GNU_SOURCE in glibc's headers; the raw syscalls do not.
static inline int shoal_setns_net(int fd) { return (int)syscall(SYS_setns, fd, 0x40000000 /* CLONE_NEWNET */); }
static inline int shoal_unshare_net(void) { return (int)syscall(SYS_unshare, 0x40000000 /* CLONE_NEWNET */); }

#endif
