/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unix domain sockets: what sock_diag (NETLINK_SOCK_DIAG, UNIX_DIAG) says
 * about them: one socket by inode, or every socket (a dump) to find the
 * one bound to a socket file or the listener a connection waits in.
 */
#define LOG_PREFIX "unix: "
#include "sessions/fd-unix.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/log.h"

int diag_open(void)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (nl < 0)
		return pr_perror("netlink sock_diag socket");
	return nl;
}

static int diag_send(int nl, uint32_t ino, uint32_t show, uint32_t states, bool dump)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req r;
	} req;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
	req.nlh.nlmsg_seq = 1;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_states = states;
	req.r.udiag_ino = ino;
	req.r.udiag_show = show;
	req.r.udiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return pr_perror("send sock_diag request");
	return 0;
}

/* Receive one netlink datagram into a buffer of its size. */
static ssize_t diag_recv(int nl, char **buf, size_t *cap)
{
	ssize_t n;
	char *nb;

	for (;;) {
		n = recv(nl, NULL, 0, MSG_PEEK | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pr_perror("receive sock_diag reply");
		break;
	}
	if ((size_t)n > *cap) {
		nb = realloc(*buf, (size_t)n);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = (size_t)n;
	}
	do
		n = recv(nl, *buf, *cap, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return pr_perror("receive sock_diag reply");
	return n;
}

static void diag_parse(const struct nlmsghdr *h, struct udiag *d)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *a;
	int len;

	memset(d, 0, sizeof(*d));
	d->type = m->udiag_type;
	d->state = m->udiag_state;
	d->ino = m->udiag_ino;
	len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));
	for (a = (const struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		size_t pl = RTA_PAYLOAD(a);
		const void *p = RTA_DATA(a);

		/* the cases look alike, but each attribute has its own layout and
		 * fields: one copy per attribute is the plainest */
		switch (a->rta_type) {
		case UNIX_DIAG_NAME:
			d->namelen = pl < (size_t)SUN_PATH_LEN ? pl : (size_t)SUN_PATH_LEN;
			memcpy(d->name, p, d->namelen);
			break;
		case UNIX_DIAG_VFS:
			if (pl >= sizeof(struct unix_diag_vfs)) {
				const struct unix_diag_vfs *v = p;

				d->has_vfs = true;
				d->vfs_ino = v->udiag_vfs_ino;
				d->vfs_dev = v->udiag_vfs_dev;
			}
			break;
		case UNIX_DIAG_PEER:
			if (pl >= sizeof(uint32_t)) {
				d->has_peer = true;
				memcpy(&d->peer, p, sizeof(uint32_t));
			}
			break;
		case UNIX_DIAG_ICONS:
			d->nicons = (uint32_t)(pl / sizeof(uint32_t));
			d->icons_raw = p;
			break;
		case UNIX_DIAG_RQLEN:
			if (pl >= sizeof(struct unix_diag_rqlen)) {
				const struct unix_diag_rqlen *q = p;

				d->has_rqlen = true;
				d->rqueue = q->udiag_rqueue;
				d->wqueue = q->udiag_wqueue;
			}
			break;
		case UNIX_DIAG_SHUTDOWN:
			if (pl >= 1)
				d->shutdown = *(const uint8_t *)p;
			break;
		default:
			break;
		}
	}
}

#define SHOW_ALL                                                                                   \
	(UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN)

/* The unix socket with inode ino: 0, -ENOENT if there is none, or -errno (logged). */
int diag_get(int nl, uint32_t ino, struct udiag *d)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret;

	d->icons = NULL;
	ret = diag_send(nl, ino, SHOW_ALL /* and the shutdown state, always */, ~0U, false);
	if (ret)
		return ret;
	n = diag_recv(nl, &buf, &cap);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	ret = -ENOENT;
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
	     h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error)
				ret = e->error;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
			continue;
		diag_parse(h, d);
		ret = d->ino == ino ? 0 : -ENOENT;
		if (!ret && d->nicons) {
			/* the listener's waiting connections, out of the buffer */
			d->icons = malloc(d->nicons * sizeof(uint32_t));
			if (!d->icons)
				ret = -ENOMEM;
			else
				memcpy(d->icons, d->icons_raw, d->nicons * sizeof(uint32_t));
		}
		d->icons_raw = NULL;
		break;
	}
	if (ret && ret != -ENOENT)
		pr_err("sock_diag of socket:[%u]: %s", ino, strerror(-ret));
out:
	free(buf);
	return ret;
}

bool kdev_eq(uint32_t kdev, dev_t dev)
{
	return major(dev) == (kdev >> 20) && minor(dev) == (kdev & 0xfffff);
}

/* Every unix socket in one of the states (bits 1 << TCP_*), with what show
 * asks for: cb(d, arg) for each until it returns non-zero (its result). */
static int diag_dump(uint32_t show, uint32_t states, int (*cb)(const struct udiag *d, void *arg),
		     void *arg)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int nl, ret;
	bool done = false;

	nl = diag_open();
	if (nl < 0)
		return nl;
	ret = diag_send(nl, 0, show, states, true);
	while (!ret && !done) {
		n = diag_recv(nl, &buf, &cap);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): n >= 0: buf holds n bytes */
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n) && !ret;
		     h = NLMSG_NEXT(h, n)) {
			struct udiag d;

			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				ret = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error
					  ? e->error
					  : -EIO;
				pr_err("sock_diag dump: %s", strerror(-ret));
				break;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
				continue;
			diag_parse(h, &d);
			ret = cb(&d, arg);
		}
	}
	free(buf);
	close(nl);
	return ret;
}

struct file_key {
	dev_t dev;
	ino_t ino;
};

static int bound_cb(const struct udiag *d, void *arg)
{
	const struct file_key *k = arg;

	return d->has_vfs && d->vfs_ino == k->ino && kdev_eq(d->vfs_dev, k->dev);
}

int bound_to_file(dev_t dev, ino_t ino)
{
	struct file_key k = {dev, ino};

	return diag_dump(UDIAG_SHOW_VFS, ~0U, bound_cb, &k);
}

struct icon_key {
	uint32_t client, listener;
};

static int icon_cb(const struct udiag *d, void *arg)
{
	struct icon_key *k = arg;
	uint32_t v;

	for (uint32_t i = 0; i < d->nicons; i++) {
		memcpy(&v, d->icons_raw + i * sizeof(v), sizeof(v));
		if (v == k->client) {
			k->listener = d->ino;
			return 1;
		}
	}
	return 0;
}

int unix_find_listener(uint32_t client, uint32_t *listener)
{
	struct icon_key k = {client, 0};
	int ret;

	if (!client)
		return 0;
	ret = diag_dump(UDIAG_SHOW_ICONS, 1U << ST_LISTEN, icon_cb, &k);
	if (ret > 0)
		*listener = k.listener;
	return ret;
}
