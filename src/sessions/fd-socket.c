/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the socket kinds (fd-unix.c, fd-inet.c): taking a socket of the
 * paused target into the parent (pidfd_getfd), and socket options.
 *
 * Options (SockOpts, proto/fd-socket.proto) are one table: each entry says
 * which sockets it applies to, how it is read and set, and which field of
 * SockOpts holds it (found by name in the message descriptor, so the table
 * is the only list). At checkpoint each applicable option of the target's
 * socket is compared with the same option of a new socket of the same
 * family, type and protocol made in the parent; only those that differ are
 * recorded (IPV6_V6ONLY always: its default is a sysctl). At restore they
 * are checked (an option that does not apply to the socket, a value out of
 * range, an interface that does not exist here) before anything is
 * created, then set on the new socket before it is bound.
 */
#define LOG_PREFIX "socket: "
#include "sessions/fd-socket.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/if_ether.h>
#include <unistd.h>

#include "core/compat.h"
#include "base/log.h"

/* ---------- taking the target's socket ---------- */

int sk_take(pid_t pid, pid_t ns_pid, int fd)
{
	int pidfd, sk, ret;

	pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
	if (pidfd < 0)
		return pr_perror("pidfd_open %d", pid);
	sk = (int)syscall(__NR_pidfd_getfd, pidfd, fd, 0);
	if (sk < 0) {
		ret = pr_perror("pid %d: fd %d: take the socket (pidfd_getfd)", ns_pid, fd);
		close(pidfd);
		return ret;
	}
	close(pidfd);
	return sk;
}

int sk_family_of(pid_t pid, int fd)
{
	int pidfd, sk, family = 0, ret;
	socklen_t len = sizeof(family);

	pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	sk = (int)syscall(__NR_pidfd_getfd, pidfd, fd, 0);
	ret = -errno;
	close(pidfd);
	if (sk < 0)
		return ret;
	ret = getsockopt(sk, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0 ? -errno : family;
	close(sk);
	return ret;
}

/* ---------- naming a socket no kind takes ---------- */

static const char *netlink_proto(int p)
{
	static const char *const n[] = {
	    [0] = "NETLINK_ROUTE",	 [1] = "NETLINK_UNUSED",
	    [2] = "NETLINK_USERSOCK",	 [3] = "NETLINK_FIREWALL",
	    [4] = "NETLINK_SOCK_DIAG",	 [5] = "NETLINK_NFLOG",
	    [6] = "NETLINK_XFRM",	 [7] = "NETLINK_SELINUX",
	    [8] = "NETLINK_ISCSI",	 [9] = "NETLINK_AUDIT",
	    [10] = "NETLINK_FIB_LOOKUP", [11] = "NETLINK_CONNECTOR",
	    [12] = "NETLINK_NETFILTER",	 [13] = "NETLINK_IP6_FW",
	    [14] = "NETLINK_DNRTMSG",	 [15] = "NETLINK_KOBJECT_UEVENT",
	    [16] = "NETLINK_GENERIC",	 [18] = "NETLINK_SCSITRANSPORT",
	    [19] = "NETLINK_ECRYPTFS",	 [20] = "NETLINK_RDMA",
	    [21] = "NETLINK_CRYPTO",	 [22] = "NETLINK_SMC",
	};

	return p >= 0 && (size_t)p < sizeof(n) / sizeof(n[0]) && n[p] ? n[p] : NULL;
}

static const char *family_name(int f)
{
	switch (f) {
	case AF_INET:
		return "AF_INET";
	case AF_INET6:
		return "AF_INET6";
	case AF_NETLINK:
		return "AF_NETLINK";
	case AF_PACKET:
		return "AF_PACKET";
	case AF_VSOCK:
		return "AF_VSOCK";
	case AF_ALG:
		return "AF_ALG";
	case AF_BLUETOOTH:
		return "AF_BLUETOOTH";
	case AF_CAN:
		return "AF_CAN";
	case AF_TIPC:
		return "AF_TIPC";
	case AF_XDP:
		return "AF_XDP";
	case AF_KEY:
		return "AF_KEY";
	case AF_RDS:
		return "AF_RDS";
	case AF_QIPCRTR:
		return "AF_QIPCRTR";
	case AF_SMC:
		return "AF_SMC";
	case AF_MCTP:
		return "AF_MCTP";
	default:
		return NULL;
	}
}

static const char *type_name(int t)
{
	switch (t) {
	case SOCK_STREAM:
		return "SOCK_STREAM";
	case SOCK_DGRAM:
		return "SOCK_DGRAM";
	case SOCK_RAW:
		return "SOCK_RAW";
	case SOCK_SEQPACKET:
		return "SOCK_SEQPACKET";
	case SOCK_RDM:
		return "SOCK_RDM";
	default:
		return NULL;
	}
}

/* The ethernet protocol of packet socket inode ino of process pid (its
 * /proc/PID/net/packet line: SO_PROTOCOL says 0 for packet sockets), or -1. */
static int packet_proto(pid_t pid, unsigned long ino)
{
	char path[64], line[256];
	unsigned proto;
	unsigned long i;
	FILE *f;
	int ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/net/packet", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (ret < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*x %*d %*d %x %*d %*d %*u %*u %lu", &proto, &i) == 2 && i == ino)
			ret = (int)proto;
	fclose(f);
	return ret;
}

/* "netlink ", "packet "... or "" (the family name says it) */
static const char *kind_word(int family, int type)
{
	if (family == AF_NETLINK)
		return "netlink ";
	if (family == AF_PACKET)
		return "packet ";
	if (family == AF_VSOCK)
		return "vsock ";
	if (family == AF_ALG)
		return "kernel crypto (AF_ALG) ";
	if ((family == AF_INET || family == AF_INET6) && type == SOCK_RAW)
		return "raw IP ";
	return "";
}

int sk_describe(pid_t pid, int fd, char *buf, size_t len)
{
	int pidfd, sk, family = -1, type = -1, proto = -1;
	struct stat st;
	socklen_t l;
	char fb[32], tb[32], pb[48];
	const char *fn, *tn, *pn = NULL;

	pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	sk = (int)syscall(__NR_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (sk < 0)
		return -errno;
	l = sizeof(family);
	getsockopt(sk, SOL_SOCKET, SO_DOMAIN, &family, &l);
	l = sizeof(type);
	getsockopt(sk, SOL_SOCKET, SO_TYPE, &type, &l);
	l = sizeof(proto);
	getsockopt(sk, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
	if (family == AF_PACKET && fstat(sk, &st) == 0)
		proto = packet_proto(pid, st.st_ino);
	close(sk);
	fn = family_name(family);
	if (!fn) {
		snprintf(fb, sizeof(fb), "family %d", family);
		fn = fb;
	}
	tn = type_name(type);
	if (!tn) {
		snprintf(tb, sizeof(tb), "type %d", type);
		tn = tb;
	}
	if (family == AF_NETLINK)
		pn = netlink_proto(proto);
	else if (family == AF_PACKET && proto >= 0) {
		snprintf(pb, sizeof(pb), "protocol 0x%04x%s", proto,
			 proto == ETH_P_ALL ? " (ETH_P_ALL)" : "");
		pn = pb;
	}
	if (!pn) {
		snprintf(pb, sizeof(pb), "protocol %d", proto);
		pn = pb;
	}
	snprintf(buf, len, "%s%s (%s, %s, %s)", kind_word(family, type), "socket", fn, tn, pn);
	return 0;
}

bool sk_kind_init(struct sk_kind *k, int family, int type, int protocol)
{
	k->family = family;
	k->type = type;
	k->protocol = protocol;
	k->mask = 0;
	if (family == AF_UNIX) {
		if (type == SOCK_STREAM || type == SOCK_DGRAM || type == SOCK_SEQPACKET)
			k->mask = SKF_UNIX;
		return k->mask != 0;
	}
	if (family != AF_INET && family != AF_INET6)
		return false;
	if (type == SOCK_STREAM && protocol == IPPROTO_TCP)
		k->mask = SKF_TCP;
	else if (type == SOCK_DGRAM && protocol == IPPROTO_UDP)
		k->mask = SKF_UDP;
	else
		return false;
	k->mask |= family == AF_INET ? SKF_V4 : SKF_V6;
	return true;
}

/* ---------- options ---------- */

enum opt_how {
	OPT_BOOL,   /* int, 0 or 1 */
	OPT_INT,    /* int */
	OPT_BUF,    /* SO_RCVBUF/SO_SNDBUF: as reported, set with ..FORCE at half */
	OPT_LINGER, /* struct linger: seconds when on */
	OPT_DEV,    /* SO_BINDTODEVICE: interface name */
};

struct opt_desc {
	const char *field; /* SockOpts field */
	int level, name;
	unsigned mask; /* SKF_*: the protocols it applies to; the families, if any given */
	enum opt_how how;
	bool always;	  /* recorded even when it is the default */
	int64_t min, max; /* OPT_INT: accepted values */
};

#define SKF_INET (SKF_TCP | SKF_UDP)
#define SKF_ALL	 (SKF_UNIX | SKF_TCP | SKF_UDP)
#define SKF_FAMS (SKF_V4 | SKF_V6)

static const struct opt_desc opts[] = {
    {"passcred", SOL_SOCKET, SO_PASSCRED, SKF_UNIX, OPT_BOOL, false, 0, 1},
    {"passsec", SOL_SOCKET, SO_PASSSEC, SKF_UNIX, OPT_BOOL, false, 0, 1},
    {"rcvbuf", SOL_SOCKET, SO_RCVBUF, SKF_ALL, OPT_BUF, false, 0, INT_MAX},
    {"sndbuf", SOL_SOCKET, SO_SNDBUF, SKF_ALL, OPT_BUF, false, 0, INT_MAX},
    {"rcvlowat", SOL_SOCKET, SO_RCVLOWAT, SKF_ALL, OPT_INT, false, 0, INT_MAX},
    {"peek_off", SOL_SOCKET, SO_PEEK_OFF, SKF_ALL, OPT_INT, false, -1, INT_MAX},
    {"reuseaddr", SOL_SOCKET, SO_REUSEADDR, SKF_INET, OPT_BOOL, false, 0, 1},
    {"reuseport", SOL_SOCKET, SO_REUSEPORT, SKF_INET, OPT_BOOL, false, 0, 1},
    {"keepalive", SOL_SOCKET, SO_KEEPALIVE, SKF_TCP, OPT_BOOL, false, 0, 1},
    {"broadcast", SOL_SOCKET, SO_BROADCAST, SKF_UDP, OPT_BOOL, false, 0, 1},
    {"oobinline", SOL_SOCKET, SO_OOBINLINE, SKF_TCP, OPT_BOOL, false, 0, 1},
    {"priority", SOL_SOCKET, SO_PRIORITY, SKF_INET, OPT_INT, false, 0, INT_MAX},
    {"mark", SOL_SOCKET, SO_MARK, SKF_INET, OPT_INT, false, 0, UINT32_MAX},
    {"linger", SOL_SOCKET, SO_LINGER, SKF_TCP, OPT_LINGER, false, 0, INT_MAX},
    {"bindtodevice", SOL_SOCKET, SO_BINDTODEVICE, SKF_INET, OPT_DEV, false, 0, 0},
    {"nodelay", IPPROTO_TCP, TCP_NODELAY, SKF_TCP, OPT_BOOL, false, 0, 1},
    {"keepidle", IPPROTO_TCP, TCP_KEEPIDLE, SKF_TCP, OPT_INT, false, 1, 32767},
    {"keepintvl", IPPROTO_TCP, TCP_KEEPINTVL, SKF_TCP, OPT_INT, false, 1, 32767},
    {"keepcnt", IPPROTO_TCP, TCP_KEEPCNT, SKF_TCP, OPT_INT, false, 1, 127},
    {"user_timeout", IPPROTO_TCP, TCP_USER_TIMEOUT, SKF_TCP, OPT_INT, false, 0, INT_MAX},
    {"defer_accept", IPPROTO_TCP, TCP_DEFER_ACCEPT, SKF_TCP, OPT_INT, false, 0, INT_MAX},
    {"fastopen", IPPROTO_TCP, TCP_FASTOPEN, SKF_TCP, OPT_INT, false, 0, INT_MAX},
    {"v6only", IPPROTO_IPV6, IPV6_V6ONLY, SKF_INET | SKF_V6, OPT_BOOL, true, 0, 1},
    {"freebind", IPPROTO_IP, IP_FREEBIND, SKF_INET | SKF_FAMS, OPT_BOOL, false, 0, 1},
    {"transparent", IPPROTO_IP, IP_TRANSPARENT, SKF_INET | SKF_FAMS, OPT_BOOL, false, 0, 1},
    {"tos", IPPROTO_IP, IP_TOS, SKF_INET | SKF_V4, OPT_INT, false, 0, 255},
    {"tos", IPPROTO_IPV6, IPV6_TCLASS, SKF_INET | SKF_V6, OPT_INT, false, 0, 255},
    {"ttl", IPPROTO_IP, IP_TTL, SKF_INET | SKF_V4, OPT_INT, false, 1, 255},
    {"ttl", IPPROTO_IPV6, IPV6_UNICAST_HOPS, SKF_INET | SKF_V6, OPT_INT, false, 1, 255},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static bool applies(const struct opt_desc *d, const struct sk_kind *k)
{
	if (!(d->mask & k->mask & SKF_ALL))
		return false;
	return !(d->mask & SKF_FAMS) || (d->mask & k->mask & SKF_FAMS);
}

static const ProtobufCFieldDescriptor *opt_field(const char *name)
{
	return protobuf_c_message_descriptor_get_field_by_name(&rtcr__sock_opts__descriptor, name);
}

/* The has_ flag and the 4-byte value of a scalar field (bool, int32, uint32). */
static protobuf_c_boolean *field_has(Rtcr__SockOpts *o, const ProtobufCFieldDescriptor *fd)
{
	return (protobuf_c_boolean *)((char *)o + fd->quantifier_offset);
}

static void *field_ptr(Rtcr__SockOpts *o, const ProtobufCFieldDescriptor *fd)
{
	return (char *)o + fd->offset;
}

static bool field_present(const Rtcr__SockOpts *o, const ProtobufCFieldDescriptor *fd)
{
	if (fd->type == PROTOBUF_C_TYPE_STRING)
		return *(char *const *)((const char *)o + fd->offset) != NULL;
	return *(const protobuf_c_boolean *)((const char *)o + fd->quantifier_offset);
}

static int32_t field_get(const Rtcr__SockOpts *o, const ProtobufCFieldDescriptor *fd)
{
	int32_t v;

	memcpy(&v, (const char *)o + fd->offset, sizeof(v));
	return v;
}

/* One option's value: v (numbers), dev (OPT_DEV). Returns 0, or -errno. */
static int opt_read(int sk, const struct opt_desc *d, int32_t *v, char *dev, size_t devlen)
{
	struct linger lg;
	socklen_t len;
	int val = 0;

	switch (d->how) {
	case OPT_LINGER:
		len = sizeof(lg);
		memset(&lg, 0, sizeof(lg));
		if (getsockopt(sk, d->level, d->name, &lg, &len) < 0)
			return -errno;
		*v = lg.l_onoff ? lg.l_linger : -1;
		return 0;
	case OPT_DEV:
		len = (socklen_t)devlen - 1;
		memset(dev, 0, devlen);
		if (getsockopt(sk, d->level, d->name, dev, &len) < 0)
			return -errno;
		dev[len < devlen ? len : devlen - 1] = '\0';
		return 0;
	default:
		len = sizeof(val);
		if (getsockopt(sk, d->level, d->name, &val, &len) < 0)
			return -errno;
		*v = d->how == OPT_BOOL ? val != 0 : val;
		return 0;
	}
}

int sk_opts_dump(int sk, const struct sk_kind *k, Rtcr__SockOpts **out)
{
	Rtcr__SockOpts *o;
	char dev[IFNAMSIZ + 1] = "", dev0[IFNAMSIZ + 1]; /* dev: set by opt_read for OPT_DEV */
	bool any = false;
	int fresh, ret = 0;

	*out = NULL;
	fresh = socket(k->family, k->type | SOCK_CLOEXEC, k->family == AF_UNIX ? 0 : k->protocol);
	if (fresh < 0)
		return pr_perror("socket(%d, %d) to compare options", k->family, k->type);
	o = calloc(1, sizeof(*o));
	if (!o) {
		ret = -ENOMEM;
		goto out;
	}
	rtcr__sock_opts__init(o);
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_desc *d = &opts[i];
		const ProtobufCFieldDescriptor *fd = opt_field(d->field);
		int32_t v = 0, v0 = 0;

		if (!applies(d, k) || !fd)
			continue;
		if (opt_read(sk, d, &v, dev, sizeof(dev)) < 0)
			continue; /* not on this kernel: nothing to restore */
		if (opt_read(fresh, d, &v0, dev0, sizeof(dev0)) < 0)
			v0 = ~v;
		if (d->how == OPT_DEV) {
			if (!dev[0] || !strcmp(dev, dev0))
				continue;
			o->bindtodevice = strdup(dev);
			if (!o->bindtodevice) {
				ret = -ENOMEM;
				goto out;
			}
			any = true;
			continue;
		}
		if (d->how == OPT_LINGER && v < 0)
			continue; /* off, as on a new socket */
		if (v == v0 && !d->always)
			continue;
		*field_has(o, fd) = 1;
		memcpy(field_ptr(o, fd), &v, sizeof(v));
		any = true;
	}
out:
	close(fresh);
	if (ret || !any) {
		if (o)
			rtcr__sock_opts__free_unpacked(o, NULL);
		return ret;
	}
	*out = o;
	return 0;
}

int sk_opts_validate(const Rtcr__SockOpts *o, const struct sk_kind *k, uint32_t file_id)
{
	const ProtobufCMessageDescriptor *md = &rtcr__sock_opts__descriptor;

	if (!o)
		return 0;
	for (unsigned i = 0; i < md->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &md->fields[i];
		const struct opt_desc *d = NULL;
		int64_t v;

		if (!field_present(o, fd))
			continue;
		for (size_t j = 0; j < NOPTS && !d; j++)
			if (!strcmp(opts[j].field, fd->name) && applies(&opts[j], k))
				d = &opts[j];
		if (!d) {
			pr_err("file %u: socket option %s does not apply to this kind of socket",
			       file_id, fd->name);
			return -EINVAL;
		}
		if (d->how == OPT_DEV) {
			size_t l = strlen(o->bindtodevice);

			if (!l || l >= IFNAMSIZ || strchr(o->bindtodevice, '/')) {
				pr_err("file %u: bad interface name in SO_BINDTODEVICE", file_id);
				return -EINVAL;
			}
			if (!if_nametoindex(o->bindtodevice)) {
				pr_err(
				    "restore: network interface %s (SO_BINDTODEVICE of a socket) "
				    "does not exist here",
				    o->bindtodevice);
				return -ENODEV;
			}
			continue;
		}
		v = fd->type == PROTOBUF_C_TYPE_UINT32 ? (int64_t)(uint32_t)field_get(o, fd)
						       : (int64_t)field_get(o, fd);
		if (d->how == OPT_BOOL)
			continue;
		if (v < d->min || v > d->max) {
			pr_err("file %u: socket option %s: value %lld out of range", file_id,
			       fd->name, (long long)v);
			return -EINVAL;
		}
	}
	return 0;
}

int sk_set_buf(int sk, int opt, uint32_t val)
{
	int force = opt == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE;
	int half = (int)(val / 2);

	if (setsockopt(sk, SOL_SOCKET, force, &half, sizeof(half)) < 0)
		return pr_perror("set %s to %u", opt == SO_RCVBUF ? "SO_RCVBUF" : "SO_SNDBUF", val);
	return 0;
}

int sk_opts_apply(int sk, const Rtcr__SockOpts *o, const struct sk_kind *k)
{
	if (!o)
		return 0;
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_desc *d = &opts[i];
		const ProtobufCFieldDescriptor *fd = opt_field(d->field);
		struct linger lg;
		int v, ret;

		if (!fd || !applies(d, k) || !field_present(o, fd))
			continue;
		v = field_get(o, fd);
		switch (d->how) {
		case OPT_BUF:
			ret = sk_set_buf(sk, d->name, (uint32_t)v);
			if (ret)
				return ret;
			continue;
		case OPT_LINGER:
			lg.l_onoff = 1;
			lg.l_linger = v;
			ret = setsockopt(sk, d->level, d->name, &lg, sizeof(lg));
			break;
		case OPT_DEV:
			ret = setsockopt(sk, d->level, d->name, o->bindtodevice,
					 (socklen_t)strlen(o->bindtodevice));
			break;
		default:
			ret = setsockopt(sk, d->level, d->name, &v, sizeof(v));
			break;
		}
		if (ret < 0)
			return pr_perror("set socket option %s to %d", d->field, v);
	}
	return 0;
}
