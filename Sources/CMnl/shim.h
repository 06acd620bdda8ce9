#ifndef SHOAL_CMNL_SHIM_H
#define SHOAL_CMNL_SHIM_H

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <sys/socket.h>

// Macros that Swift cannot import.
static inline size_t shoal_mnl_socket_buffer_size(void) { return MNL_SOCKET_BUFFER_SIZE; }
static inline unsigned int shoal_nlmsg_align(unsigned int len) { return NLMSG_ALIGN(len); }
static inline unsigned int shoal_nla_align(unsigned int len) { return NLA_ALIGN(len); }
static inline unsigned int shoal_genl_hdrlen(void) { return GENL_HDRLEN; }

#endif
