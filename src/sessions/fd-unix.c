/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unix domain sockets (File.unix_sk, proto/fd-socket.proto).
 *
 * Checkpoint (the target is paused): the socket is taken into the parent
 * (pidfd_getfd) and described by sock_diag (UNIX_DIAG: type, state, own
 * address, the socket file's inode, the peer's inode, listen backlog and
 * connections waiting in it, receive queue length, shutdown state). Its
 * identity is its inode (UnixSocketFile.ino) and its peer's (peer_ino), so
 * that the two ends of a connection are paired again at restore, also
 * (later) across processes. Options that differ from a new socket's are
 * recorded (fd-socket.c). The receive queue is read without consuming it,
 * with the descriptors in flight in it: fd-unix-queue.c.
 *
 * A listener's connections not accept()ed yet (UNIX_DIAG_ICONS: their
 * clients' inodes, oldest first) are recorded as UnixSocketFile.pending;
 * each client, a connected socket without a peer inode, finds its listener
 * by a sock_diag dump (fd-unix-diag.c) and records it (listener_ino).
 *
 * Refused, with a message naming the socket: a peer outside the target (a
 * daemon, /dev/log: the message names the peer's address), a connection
 * not accept()ed yet whose client is outside the target or closed, or
 * whose client sent data (it waits in the connection's own queue, which
 * nothing can read before accept()), files only in flight that are not
 * regular files, pipes or FIFOs (a socket...), a stream whose
 * queue cannot be read whole (out-of-band data), and unix sockets of
 * another type.
 *
 * Restore: all unix Files of the image are indexed by inode and checked at
 * prepare, and the addresses they bind are checked on this machine: a path
 * that exists must be a socket file that no live socket is bound to (a
 * stale one is unlinked at restore, as CRIU does), an abstract name must be
 * free; else the restore fails before anything is created. Sockets are made
 * in the parent, on the first open of one of their Files, and passed in:
 *  - both ends of a connection in the image, or a connected socket whose
 *    peer was closed: socketpair(); each end's receive queue is refilled
 *    by sending from the other end, message by message with the recorded
 *    sender credentials (the target's own pid is mapped to its new host
 *    pid, others become rtcr's, which the target sees as pid 0), then the
 *    shutdown state is set and, if the peer was closed, the other end is
 *    closed (the reader sees the data, then EOF);
 *  - a datagram socket connected to another one that is not connected back
 *    (both in the image): socket(), bind, queue, then connect() to the
 *    peer's address (the peer is made first);
 *  - listening sockets: socket(), bind() (the socket file gets back its
 *    mode and owner), listen() with the recorded backlog; then, for each
 *    connection not accept()ed yet, in order, a new socket connects to it
 *    and is that client's File (a path removed after bind is removed only
 *    then), so that accept() returns them as before;
 *  - unconnected sockets (also streams never connected): socket(), bind()
 *    if named; datagrams queued on
 *    them are sent again from an unnamed socket (their senders' addresses
 *    are lost: a warning at checkpoint says so).
 * A socket made for another File than the one being opened (the other end
 * of a pair, the peer a datagram socket connects to) waits in the parent
 * until that File is opened, also by another process of the target.
 * A queue with descriptors in flight (for a pair: either queue) is refilled,
 * and the shutdown state set, the peer closed again, the datagram socket
 * connected, in the post step instead (unix_post, struct qjob), when this
 * process's descriptors are all in place: each message is sent with
 * SCM_RIGHTS of the parent's descriptors of its Files (see parent_fd: the
 * parent's copy files.c keeps for the processes holding it, one taken back
 * from the target with pidfd_getfd, or the File opened now, ahead of the
 * process that holds it, and kept for it; a regular file only in flight is
 * opened at its path, flags and offset). The parent keeps none of them
 * once the target runs.
 *
 * Limits: sockets are created by rtcr, so their owner credentials
 * (SO_PEERCRED seen by the other end of a pair, by clients of a listener)
 * are rtcr's (pid 0 inside the target, uid 0), not the target's; the
 * addresses of connected stream/seqpacket sockets (an accept()ed socket
 * shares its listener's) are not restored (getsockname() gives an unnamed
 * address); a socket bound to a relative path is bound again to the
 * absolute path it resolved to at checkpoint (from the target's working
 * directory then).
 */
#define LOG_PREFIX "unix: "
#include "sessions/files.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "core/proc.h"
#include "sessions/fd-socket.h"
#include "sessions/fd-unix.h"

const char *unix_type_name(uint32_t type)
{
	switch (type) {
	case SOCK_STREAM:
		return "stream";
	case SOCK_DGRAM:
		return "dgram";
	case SOCK_SEQPACKET:
		return "seqpacket";
	default:
		return "unknown-type";
	}
}

/* An address for messages: a path, "@name" for an abstract one, "an
 * unnamed socket" for none. */
static const char *addr_str(const uint8_t *name, size_t len, char *buf, size_t blen)
{
	size_t o = 0;

	if (!len) {
		snprintf(buf, blen, "an unnamed socket");
		return buf;
	}
	if (name[0]) {
		snprintf(buf, blen, "%.*s", (int)len, (const char *)name);
		return buf;
	}
	buf[o++] = '@';
	for (size_t i = 1; i < len && o + 5 < blen; i++) {
		if (isprint(name[i]) && name[i] != '\\')
			buf[o++] = (char)name[i];
		else
			o += (size_t)snprintf(buf + o, blen - o, "\\x%02x", name[i]);
	}
	buf[o] = '\0';
	return buf;
}

/* ---------- checkpoint ---------- */

static bool unix_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return S_ISSOCK(fi->st.st_mode) && sk_family_of(c->pid, fi->fd) == AF_UNIX;
}

/* The target's processes (host pids): every descendant of its init. */
static int target_pids(struct ckpt_ctx *c, pid_t **out, size_t *n)
{
	pid_t *ps;
	int np = 0, ret;

	*out = NULL;
	*n = 0;
	if (!c->t || c->t->init_pid <= 0) {
		ps = malloc(sizeof(*ps));
		if (!ps)
			return -ENOMEM;
		ps[0] = c->pid;
		*out = ps;
		*n = 1;
		return 0;
	}
	ret = proc_descendants(c->t->init_pid, out, &np);
	if (!ret)
		*n = (size_t)np;
	return ret;
}

/* Does a process of the target hold socket:[ino]? */
static bool target_holds(const pid_t *pids, size_t npids, uint32_t ino)
{
	char dir[64], path[384], link[64], want[40];
	struct dirent *de;
	bool found = false;
	DIR *d;
	ssize_t n;

	snprintf(want, sizeof(want), "socket:[%u]", ino);
	for (size_t i = 0; i < npids && !found; i++) {
		snprintf(dir, sizeof(dir), "/proc/%d/fd", pids[i]);
		d = opendir(dir);
		if (!d)
			continue;
		while (!found && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			found = !strcmp(link, want);
		}
		closedir(d);
	}
	return found;
}

/* A sender's pid as the target sees it: its pid in the target's namespace
 * if it is one of the target's processes, else 0. */
pid_t unix_target_view(struct ckpt_ctx *c, const pid_t *pids, size_t npids, pid_t pid)
{
	pid_t ns;

	if (pid == c->pid)
		return c->ns_pid;
	for (size_t i = 0; i < npids; i++) {
		if (pids[i] == pid) {
			ns = proc_ns_pid(pid);
			return ns > 0 ? ns : 0;
		}
	}
	return 0;
}

int unix_set_bytes(ProtobufCBinaryData *b, protobuf_c_boolean *has, const void *p, size_t len)
{
	b->data = malloc(len ? len : 1);
	if (!b->data)
		return -ENOMEM;
	if (len)
		memcpy(b->data, p, len);
	b->len = len;
	*has = 1;
	return 0;
}

/*
 * The own address of a socket: abstract names as they are; a path is made
 * absolute (relative to the target's cwd) and checked to still name the
 * socket's file (else file_gone); its mode and owner are recorded.
 */
static int dump_name(struct ckpt_ctx *c, const struct fd_info *fi, const struct udiag *d,
		     Rtcr__UnixSocketFile *u)
{
	char path[PATH_MAX], cwd[PATH_MAX], shown[PATH_MAX + 64];
	size_t len = d->namelen;
	struct stat st;
	ssize_t n;

	if (!len)
		return 0;
	if (!d->name[0]) {
		if (len < 2)
			return 0;
		return unix_set_bytes(&u->name, &u->has_name, d->name, len);
	}
	while (len && !d->name[len - 1])
		len--;
	if (!len || memchr(d->name, 0, len))
		return ckpt_refuse(c, "pid %d: fd %d: unix socket with a malformed address",
				   c->ns_pid, fi->fd);
	if (d->name[0] == '/') {
		snprintf(path, sizeof(path), "%.*s", (int)len, (const char *)d->name);
	} else {
		snprintf(shown, sizeof(shown), "/proc/%d/cwd", c->pid);
		n = readlink(shown, cwd, sizeof(cwd) - 1);
		if (n < 0)
			return pr_perror("readlink %s", shown);
		cwd[n] = '\0';
		if ((size_t)snprintf(path, sizeof(path), "%s/%.*s", strcmp(cwd, "/") ? cwd : "",
				     (int)len, (const char *)d->name) >= sizeof(path) ||
		    strlen(path) >= (size_t)SUN_PATH_LEN)
			return ckpt_refuse(c,
					   "pid %d: fd %d: unix socket bound to the relative path "
					   "%.*s: its absolute path is too long for an address",
					   c->ns_pid, fi->fd, (int)len, (const char *)d->name);
	}
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && d->has_vfs && st.st_ino == d->vfs_ino &&
	    kdev_eq(d->vfs_dev, st.st_dev)) {
		u->has_file_mode = u->has_file_uid = u->has_file_gid = 1;
		u->file_mode = st.st_mode & 07777;
		u->file_uid = st.st_uid;
		u->file_gid = st.st_gid;
	} else {
		/* removed (a relative path: or bound from another directory) */
		u->has_file_gone = 1;
		u->file_gone = 1;
	}
	return unix_set_bytes(&u->name, &u->has_name, path, strlen(path));
}

/* A listener's connections not accept()ed yet (u->pending), each from a
 * client socket in the target. */
static int dump_pending(struct ckpt_ctx *c, const struct fd_info *fi, const struct udiag *d,
			Rtcr__UnixSocketFile *u, const char *own, const pid_t *pids, size_t npids)
{
	uint32_t n = d->icons ? d->nicons : 0;

	if (d->has_rqlen && d->rqueue != n)
		return ckpt_refuse(
		    c,
		    "pid %d: fd %d: unix %s socket listening on %s: %u connection(s) "
		    "not accept()ed yet, %u of them with a client: not supported",
		    c->ns_pid, fi->fd, unix_type_name(d->type), own, d->rqueue, n);
	if (!n)
		return 0;
	u->pending = calloc(n, sizeof(*u->pending));
	if (!u->pending)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (!d->icons[i])
			return ckpt_refuse(
			    c,
			    "pid %d: fd %d: unix %s socket listening on %s: a "
			    "connection not accept()ed yet whose client was closed: not "
			    "supported yet",
			    c->ns_pid, fi->fd, unix_type_name(d->type), own);
		if (!target_holds(pids, npids, d->icons[i]))
			return ckpt_refuse(
			    c,
			    "pid %d: fd %d: unix %s socket listening on %s: a "
			    "connection not accept()ed yet from socket:[%u] outside the "
			    "target: not supported yet",
			    c->ns_pid, fi->fd, unix_type_name(d->type), own, d->icons[i]);
		u->pending[u->n_pending++] = d->icons[i];
	}
	return 0;
}

/* A connected stream or seqpacket socket without a peer inode: its peer was
 * closed, or it waits in a listener's backlog (u->listener_ino). */
static int dump_waiting(struct ckpt_ctx *c, const struct fd_info *fi, int sk, const struct udiag *d,
			Rtcr__UnixSocketFile *u, const char *desc, const pid_t *pids, size_t npids)
{
	char peer[SUN_PATH_LEN * 4 + 8];
	struct sockaddr_un pa;
	uint32_t lino = 0;
	socklen_t len;
	int ret;

	ret = unix_find_listener(d->ino, &lino);
	if (ret < 0)
		return ret;
	if (!ret && u->shutdown == SHUT_BITS)
		return 0; /* the peer was closed (closing shuts this end down) */
	len = sizeof(pa);
	memset(&pa, 0, sizeof(pa));
	if (getpeername(sk, (struct sockaddr *)&pa, &len) < 0)
		len = 0;
	len = len > offsetof(struct sockaddr_un, sun_path)
		  ? len - (socklen_t)offsetof(struct sockaddr_un, sun_path)
		  : 0;
	addr_str((const uint8_t *)pa.sun_path, len, peer, sizeof(peer));
	if (!ret || !target_holds(pids, npids, lino))
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s connected to %s, which has not accept()ed "
				   "the connection yet: not supported yet",
				   c->ns_pid, fi->fd, desc, peer);
	/* what it sent waits in the connection's own queue, which nothing can
	 * read before accept() */
	if (d->has_rqlen && d->wqueue)
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s connected to %s, which has not accept()ed "
				   "the connection yet, with data sent: not supported (it cannot "
				   "be read before accept())",
				   c->ns_pid, fi->fd, desc, peer);
	u->has_listener_ino = 1;
	u->listener_ino = lino;
	return 0;
}

/* The state of a socket: connected, listening or neither. */
static int dump_state(struct ckpt_ctx *c, const struct fd_info *fi, int sk, const struct udiag *d,
		      Rtcr__UnixSocketFile *u, const char *desc, const char *own, const pid_t *pids,
		      size_t npids)
{
	switch (d->state) {
	case ST_CONNECTED:
		/* a datagram socket others connected to is "established" too,
		 * without a peer of its own */
		u->state = d->type == SOCK_DGRAM && !d->has_peer ? ST_CLOSE : ST_CONNECTED;
		break;
	case ST_LISTEN:
	case ST_CLOSE:
		u->state = d->state;
		break;
	default:
		return ckpt_refuse(c, "pid %d: fd %d: %s in state %u not supported", c->ns_pid,
				   fi->fd, desc, d->state);
	}
	if (u->state == ST_LISTEN) {
		u->has_backlog = 1;
		u->backlog = d->has_rqlen ? d->wqueue : 0;
		return dump_pending(c, fi, d, u, own, pids, npids);
	}
	if (u->state == ST_CONNECTED) {
		u->has_peer_ino = 1;
		u->peer_ino = d->has_peer ? d->peer : 0;
	}
	if (u->state == ST_CONNECTED && !u->peer_ino && d->type != SOCK_DGRAM)
		return dump_waiting(c, fi, sk, d, u, desc, pids, npids);
	return 0;
}

/* The peer of a connected socket (pd): in the target, and connected back
 * (or a named datagram socket). */
static int dump_peer(struct ckpt_ctx *c, const struct fd_info *fi, int nl, const struct udiag *d,
		     struct udiag *pd, Rtcr__UnixSocketFile *u, const char *desc, const pid_t *pids,
		     size_t npids)
{
	char peer[SUN_PATH_LEN * 4 + 8];
	int ret;

	ret = diag_get(nl, (uint32_t)u->peer_ino, pd);
	if (ret == -ENOENT)
		return ckpt_refuse(
		    c, "pid %d: fd %d: %s: its peer socket:[%" PRIu64 "] cannot be found",
		    c->ns_pid, fi->fd, desc, u->peer_ino);
	if (ret)
		return ret;
	addr_str(pd->name, pd->namelen, peer, sizeof(peer));
	if (pd->namelen) {
		ret = unix_set_bytes(&u->peer_name, &u->has_peer_name, pd->name, pd->namelen);
		if (ret)
			return ret;
	}
	if (!target_holds(pids, npids, (uint32_t)u->peer_ino))
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s connected to %s (socket:[%" PRIu64
				   "]) outside the target: not supported yet",
				   c->ns_pid, fi->fd, desc, peer, u->peer_ino);
	/* not connected back: only a datagram socket connected to a named one
	 * that is not connected itself (connected in any order at restore) */
	if (!(pd->has_peer && pd->peer == d->ino) &&
	    (d->type != SOCK_DGRAM || pd->namelen < 2 || pd->has_peer))
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s connected to %s (socket:[%" PRIu64 "]), "
				   "which is connected elsewhere: not supported",
				   c->ns_pid, fi->fd, desc, peer, u->peer_ino);
	return 0;
}

/* The receive queue, and what makes it impossible to restore. */
static int dump_queue(struct ckpt_ctx *c, const struct fd_info *fi, int sk, const struct udiag *d,
		      const struct udiag *pd, Rtcr__UnixSocketFile *u, const char *desc,
		      const pid_t *pids, size_t npids)
{
	struct peeked pk;
	int ret;

	if (u->state == ST_CLOSE && d->type != SOCK_DGRAM) {
		/* never connected (or its connection failed): nothing can be
		 * queued, and a peek would fail with EINVAL */
		if (d->has_rqlen && d->rqueue)
			return ckpt_refuse(c,
					   "pid %d: fd %d: %s: unconnected, with %u bytes queued: "
					   "not supported",
					   c->ns_pid, fi->fd, desc, d->rqueue);
		return 0;
	}
	memset(&pk, 0, sizeof(pk));
	ret = unix_peek_queue(c, fi->fd, desc, sk, d->type, u, &pk, pids, npids);
	if (ret == -EFBIG)
		return ckpt_refuse(c, "pid %d: fd %d: %s: more than %u MiB or %u messages queued",
				   c->ns_pid, fi->fd, desc, UNIX_QUEUE_MAX >> 20, UNIX_QUEUE_MSGS);
	if (ret)
		return ret;
	if (pk.ctrunc)
		return ckpt_refuse(
		    c,
		    "pid %d: fd %d: %s: a message of its receive queue carries more "
		    "descriptors in flight (SCM_RIGHTS) than can be read: not supported",
		    c->ns_pid, fi->fd, desc);
	if (d->type != SOCK_DGRAM && d->has_rqlen && pk.bytes != d->rqueue)
		return ckpt_refuse(
		    c,
		    "pid %d: fd %d: %s: only %" PRIu64 " of the %u bytes of its "
		    "receive queue can be read (out-of-band data?): not supported yet",
		    c->ns_pid, fi->fd, desc, pk.bytes, d->rqueue);
	if (u->n_queue && !u->peer_ino && u->state == ST_CONNECTED)
		return 0; /* the peer was closed: refilled from a new pair */
	if (u->n_queue && (!u->peer_ino || !(pd->has_peer && pd->peer == d->ino))) {
		/* refilled from an unnamed socket, to its address */
		if (!u->has_name)
			return ckpt_refuse(c,
					   "pid %d: fd %d: %s: %zu datagram(s) queued on an "
					   "unnamed socket without a peer to send them: not "
					   "supported",
					   c->ns_pid, fi->fd, desc, u->n_queue);
		if (pk.named)
			pr_warn("pid %d: fd %d: %s: the sender addresses of %zu queued datagram(s) "
				"are not restored (they come from an unnamed socket after a "
				"restore)",
				c->ns_pid, fi->fd, desc, pk.named);
	}
	return 0;
}

/* Each step may refuse (in a dry run: ret 0, one more refusal): the
 * socket's other steps are skipped then. */
#define REFUSED(c, before) ((c)->refusals != (before))

static int unix_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	Rtcr__UnixSocketFile *u;
	struct udiag d, pd;
	struct sk_kind k;
	struct ucred pc;
	socklen_t len;
	char own[SUN_PATH_LEN * 4 + 8], desc[SUN_PATH_LEN * 4 + 40];
	pid_t *pids = NULL;
	size_t npids = 0;
	int sk = -1, nl = -1, before = c->refusals, ret;

	memset(&d, 0, sizeof(d));
	memset(&pd, 0, sizeof(pd));
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	rtcr__unix_socket_file__init(u);
	f->unix_sk = u;
	sk = sk_take(c->pid, c->ns_pid, fi->fd);
	if (sk < 0)
		return sk;
	ret = target_pids(c, &pids, &npids);
	if (ret)
		goto out;
	nl = diag_open();
	if (nl < 0) {
		ret = nl;
		goto out;
	}
	ret = diag_get(nl, (uint32_t)fi->st.st_ino, &d);
	if (ret) {
		if (ret == -ENOENT)
			pr_err("pid %d: fd %d: socket:[%lu] is not known to sock_diag", c->ns_pid,
			       fi->fd, (unsigned long)fi->st.st_ino);
		goto out;
	}
	if (!sk_kind_init(&k, AF_UNIX, d.type, 0)) {
		ret = ckpt_refuse(c, "pid %d: fd %d: unix socket of type %u not supported",
				  c->ns_pid, fi->fd, d.type);
		goto out;
	}
	u->has_type = u->has_state = u->has_ino = u->has_shutdown = 1;
	u->type = d.type;
	u->ino = d.ino;
	u->shutdown = d.shutdown & SHUT_BITS;
	addr_str(d.name, d.namelen, own, sizeof(own));
	/* "unix stream socket", "unix dgram socket /run/x.sock" */
	snprintf(desc, sizeof(desc), "unix %s socket%s%s", unix_type_name(d.type),
		 d.namelen ? " " : "", d.namelen ? own : "");
	ret = dump_state(c, fi, sk, &d, u, desc, own, pids, npids);
	if (!ret && !REFUSED(c, before) && u->peer_ino)
		ret = dump_peer(c, fi, nl, &d, &pd, u, desc, pids, npids);
	/* own address: bound again, unless the socket is a connected stream
	 * (an accept()ed socket shares its listener's) */
	if (!ret && !REFUSED(c, before) && (u->state != ST_CONNECTED || d.type == SOCK_DGRAM))
		ret = dump_name(c, fi, &d, u);
	if (ret || REFUSED(c, before))
		goto out;
	len = sizeof(pc);
	if (getsockopt(sk, SOL_SOCKET, SO_PEERCRED, &pc, &len) == 0 && pc.pid > 0) {
		u->has_peercred_pid = u->has_peercred_uid = u->has_peercred_gid = 1;
		u->peercred_pid = (uint32_t)unix_target_view(c, pids, npids, pc.pid);
		u->peercred_uid = pc.uid;
		u->peercred_gid = pc.gid;
	}
	ret = sk_opts_dump(sk, &k, &u->opts);
	if (!ret && u->state != ST_LISTEN)
		ret = dump_queue(c, fi, sk, &d, &pd, u, desc, pids, npids);
out:
	if (nl >= 0)
		close(nl);
	close(sk);
	free(pids);
	free(d.icons);
	free(pd.icons);
	return ret;
}

/* ---------- restore ---------- */

/*
 * Refilling the receive queue of a socket made in the parent (and setting
 * its shutdown state, connecting it): done at once, or, when its queue (or,
 * for a pair, its peer's) holds descriptors in flight, in the post step
 * (unix_post), when every File they name has a descriptor in the parent.
 * a, b: the parent's own copies, closed when done.
 */
struct qjob {
	bool pending;
	bool pair;    /* a: this end, b: the other end (p; NULL: closed again after) */
	bool connect; /* else: b sends the queue to this socket's address (-1: nothing
		       * queued), then a connects to p's address if connect */
	int a, b;
	struct usk *p;
};

struct usk {
	uint64_t ino;
	const Rtcr__File *f;
	int fd;	   /* the parent's descriptor of the socket, until it is handed out */
	bool made; /* the socket exists */
	struct qjob job;
};

struct unix_state {
	struct usk *sk; /* every unix File of the image, by inode */
	size_t n;
	bool failed; /* the index could not be built */
};

static int cmp_usk(const void *a, const void *b)
{
	const struct usk *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static struct usk *usk_find(struct unix_state *st, uint64_t ino)
{
	struct usk key = {.ino = ino};

	if (!st || !st->n)
		return NULL;
	return bsearch(&key, st->sk, st->n, sizeof(*st->sk), cmp_usk);
}

static int state_get(struct rst_ctx *r, struct unix_state **out)
{
	struct unix_state *st = r->fd_state[RTCR__FILE_KIND__FILE_UNIX];
	size_t n = 0;

	if (st) {
		*out = st;
		return st->failed ? -EINVAL : 0;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	r->fd_state[RTCR__FILE_KIND__FILE_UNIX] = st;
	*out = st;
	for (size_t i = 0; i < r->img->n_files; i++)
		if (r->img->files[i]->kind == RTCR__FILE_KIND__FILE_UNIX)
			n++;
	st->sk = calloc(n ? n : 1, sizeof(*st->sk));
	if (!st->sk) {
		st->failed = true;
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->img->n_files; i++) {
		const Rtcr__File *f = r->img->files[i];

		if (f->kind != RTCR__FILE_KIND__FILE_UNIX)
			continue;
		if (!f->unix_sk || !f->unix_sk->has_ino || !f->unix_sk->ino) {
			pr_err("file %u: unix socket without its socket part or inode", f->id);
			st->failed = true;
			return -EINVAL;
		}
		st->sk[st->n++] = (struct usk){
		    .ino = f->unix_sk->ino, .f = f, .fd = -1, .job = {.a = -1, .b = -1}};
	}
	qsort(st->sk, st->n, sizeof(*st->sk), cmp_usk);
	for (size_t i = 1; i < st->n; i++) {
		if (st->sk[i].ino == st->sk[i - 1].ino) {
			pr_err("file %u: socket:[%" PRIu64 "] is also file %u", st->sk[i].f->id,
			       st->sk[i].ino, st->sk[i - 1].f->id);
			st->failed = true;
			return -EINVAL;
		}
	}
	return 0;
}

static const char *name_str(const Rtcr__UnixSocketFile *u, char *buf, size_t len)
{
	return addr_str(u->name.data, u->has_name ? u->name.len : 0, buf, len);
}

static bool is_path(const Rtcr__UnixSocketFile *u)
{
	return u->has_name && u->name.len && u->name.data[0];
}

/* Is the socket bound to its address again at restore? */
static bool binds(const Rtcr__UnixSocketFile *u)
{
	return u->has_name && u->name.len && (u->state != ST_CONNECTED || u->type == SOCK_DGRAM);
}

static socklen_t make_addr(const Rtcr__UnixSocketFile *u, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, u->name.data, u->name.len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + u->name.len +
			   (u->name.data[0] ? 1 : 0));
}

/* The address is free on this machine, or held by a stale socket file. */
static int check_address(const Rtcr__File *f, const Rtcr__UnixSocketFile *u)
{
	char shown[SUN_PATH_LEN * 4 + 8], dir[SUN_PATH_LEN * 4 + 8];
	struct sockaddr_un sa;
	struct stat st;
	socklen_t alen;
	int probe, ret;

	name_str(u, shown, sizeof(shown));
	if (!is_path(u)) {
		probe = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
		if (probe < 0)
			return pr_perror("socket");
		alen = make_addr(u, &sa);
		ret = bind(probe, (struct sockaddr *)&sa, alen) < 0 ? -errno : 0;
		close(probe);
		if (ret == -EADDRINUSE) {
			pr_err("restore: unix socket %s is in use (is the original still running?)",
			       shown);
			return ret;
		}
		if (ret)
			pr_err("restore: unix socket %s: cannot bind: %s", shown, strerror(-ret));
		return ret;
	}
	snprintf(dir, sizeof(dir), "%s", shown);
	if (stat(dirname(dir), &st) < 0 || !S_ISDIR(st.st_mode)) {
		pr_err("restore: unix socket %s: its directory %s does not exist", shown, dir);
		return -ENOENT;
	}
	if (lstat(shown, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return pr_perror("restore: unix socket %s", shown);
	}
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("restore: %s exists and is not a socket (a unix socket of the target was "
		       "bound there)",
		       shown);
		return -EEXIST;
	}
	ret = bound_to_file(st.st_dev, st.st_ino);
	if (ret < 0)
		return ret;
	if (ret) {
		pr_err("restore: unix socket %s is in use (is the original still running?)", shown);
		return -EADDRINUSE;
	}
	if (u->has_file_gone && u->file_gone) {
		pr_err("restore: %s exists, but the unix socket bound there at checkpoint had been "
		       "removed from it",
		       shown);
		return -EEXIST;
	}
	return 0;
}

#define PENDING_MAX 4096U /* connections not accept()ed yet, per listener */

/* A listener's connections not accept()ed yet, and a client waiting in one:
 * they name each other (each client once), type and state agree. */
static int check_pending(struct unix_state *st, const Rtcr__File *f, const Rtcr__UnixSocketFile *u)
{
	const Rtcr__UnixSocketFile *o;
	struct usk *p;
	size_t k;

	if (u->n_pending && (u->state != ST_LISTEN || !binds(u) || u->n_pending > PENDING_MAX ||
			     u->n_pending > (size_t)u->backlog + 1)) {
		pr_err("file %u: %zu connection(s) not accept()ed yet on a socket that does not "
		       "listen, is unnamed or has a backlog of %u",
		       f->id, u->n_pending, u->backlog);
		return -EINVAL;
	}
	for (size_t i = 0; i < u->n_pending; i++) {
		p = usk_find(st, u->pending[i]);
		o = p ? p->f->unix_sk : NULL;
		for (k = 0; k < i && u->pending[k] != u->pending[i]; k++)
			;
		if (!o || k < i || o->type != u->type || o->state != ST_CONNECTED || o->peer_ino ||
		    o->listener_ino != u->ino) {
			pr_err("file %u: connection %zu not accept()ed yet: socket:[%" PRIu64
			       "] is not a File of the image waiting in it (once)",
			       f->id, i, u->pending[i]);
			return -EINVAL;
		}
	}
	if (!u->listener_ino)
		return 0;
	p = usk_find(st, u->listener_ino);
	o = p ? p->f->unix_sk : NULL;
	for (k = 0; o && k < o->n_pending && o->pending[k] != u->ino; k++)
		;
	if (!o || k == o->n_pending || u->state != ST_CONNECTED || u->peer_ino || u->n_queue) {
		pr_err("file %u: waits in listener socket:[%" PRIu64 "], which does not list it, "
		       "or it is not a connected socket with an empty queue",
		       f->id, u->listener_ino);
		return -EINVAL;
	}
	return 0;
}

static int unix_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__UnixSocketFile *u = f->unix_sk, *pu;
	struct unix_state *st;
	struct sk_kind k;
	struct usk *p;
	int ret;

	ret = state_get(r, &st);
	if (ret)
		return ret;
	if (!u->has_type || !sk_kind_init(&k, AF_UNIX, (int)u->type, 0)) {
		pr_err("file %u: unix socket of unknown type %u", f->id, u->type);
		return -EINVAL;
	}
	if (!u->has_state ||
	    (u->state != ST_LISTEN && u->state != ST_CONNECTED && u->state != ST_CLOSE) ||
	    (u->state == ST_LISTEN && u->type == SOCK_DGRAM)) {
		pr_err("file %u: unix %s socket in invalid state %u", f->id,
		       unix_type_name(u->type), u->state);
		return -EINVAL;
	}
	if (u->shutdown & ~(uint32_t)SHUT_BITS || u->backlog > INT_MAX ||
	    (u->has_file_mode && u->file_mode & ~07777U) ||
	    (u->has_file_uid && u->file_uid == UINT32_MAX) ||
	    (u->has_file_gid && u->file_gid == UINT32_MAX)) {
		pr_err("file %u: unix socket with invalid shutdown, backlog or file owner", f->id);
		return -EINVAL;
	}
	if (u->has_name && u->name.len) {
		bool path = u->name.data[0] != 0;

		if (u->name.len > (size_t)SUN_PATH_LEN - (path ? 1 : 0) ||
		    (!path && u->name.len < 2) ||
		    (path && (u->name.data[0] != '/' || memchr(u->name.data, 0, u->name.len)))) {
			pr_err("file %u: unix socket with an invalid address (%zu bytes)", f->id,
			       u->name.len);
			return -EINVAL;
		}
	}
	if (u->has_peer_name && u->peer_name.len > (size_t)SUN_PATH_LEN) {
		pr_err("file %u: unix socket with an invalid peer address", f->id);
		return -EINVAL;
	}
	if (u->state != ST_CONNECTED && u->peer_ino) {
		pr_err("file %u: unconnected unix socket with a peer", f->id);
		return -EINVAL;
	}
	if (u->state == ST_CONNECTED && u->peer_ino) {
		p = usk_find(st, u->peer_ino);
		if (!p || p->ino == u->ino) {
			pr_err("file %u: unix socket connected to socket:[%" PRIu64 "], which is "
			       "not in the image",
			       f->id, u->peer_ino);
			return -EINVAL;
		}
		pu = p->f->unix_sk;
		if (pu->type != u->type || pu->state == ST_LISTEN) {
			pr_err("file %u: unix socket connected to file %u of another type or state",
			       f->id, p->f->id);
			return -EINVAL;
		}
		if (pu->peer_ino != u->ino &&
		    (u->type != SOCK_DGRAM || !binds(pu) || pu->state != ST_CLOSE)) {
			pr_err("file %u: unix socket connected to file %u, which is unnamed or "
			       "connected elsewhere",
			       f->id, p->f->id);
			return -EINVAL;
		}
	}
	/* queued datagrams not sent by a peer go to the socket's address */
	if (u->n_queue && u->state != ST_LISTEN &&
	    !(u->state == ST_CONNECTED &&
	      (!u->peer_ino || usk_find(st, u->peer_ino)->f->unix_sk->peer_ino == u->ino)) &&
	    !binds(u)) {
		pr_err("file %u: datagrams queued on an unnamed socket", f->id);
		return -EINVAL;
	}
	ret = check_pending(st, f, u);
	if (ret)
		return ret;
	ret = unix_check_queue(r->img, f, u);
	if (ret)
		return ret;
	ret = sk_opts_validate(u->opts, &k, f->id);
	if (ret)
		return ret;
	return binds(u) ? check_address(f, u) : 0;
}

/* Bind a new socket to the File's address (see check_address). */

/* The socket file just bound gets its recorded mode and owner, through a
 * descriptor of the file itself: never through a symlink someone put in
 * its place since the bind. */
static int set_file_owner_mode(const Rtcr__UnixSocketFile *u, const char *shown)
{
	char self[64];
	struct stat st;
	int fd, ret = 0;

	if (!u->has_file_mode && !(u->has_file_uid && u->has_file_gid))
		return 0;
	fd = open(shown, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return pr_perror("restore: open the socket file %s", shown);
	if (fstat(fd, &st) < 0) {
		ret = pr_perror("restore: stat the socket file %s", shown);
		goto out;
	}
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("restore: %s is no longer the socket just bound (mode %06o): not changed",
		       shown, (unsigned)st.st_mode);
		ret = -EEXIST;
		goto out;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (u->has_file_mode && chmod(self, u->file_mode & 07777) < 0) {
		ret = pr_perror("restore: chmod %s", shown);
		goto out;
	}
	if (u->has_file_uid && u->has_file_gid &&
	    fchownat(fd, "", u->file_uid, u->file_gid, AT_EMPTY_PATH) < 0)
		ret = pr_perror("restore: chown %s", shown);
out:
	close(fd);
	return ret;
}

static int bind_name(int sk, const Rtcr__File *f, const Rtcr__UnixSocketFile *u)
{
	char shown[SUN_PATH_LEN * 4 + 8];
	struct sockaddr_un sa;
	socklen_t alen = make_addr(u, &sa);
	struct stat st;
	int ret;

	name_str(u, shown, sizeof(shown));
	if (is_path(u) && lstat(shown, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			pr_err(
			    "restore: %s exists and is not a socket (a unix socket of the target "
			    "was bound there)",
			    shown);
			return -EEXIST;
		}
		ret = bound_to_file(st.st_dev, st.st_ino);
		if (ret < 0)
			return ret;
		if (!ret && unlink(shown) < 0)
			return pr_perror("restore: remove the stale socket file %s", shown);
	}
	if (bind(sk, (struct sockaddr *)&sa, alen) < 0) {
		ret = -errno;
		if (ret == -EADDRINUSE)
			pr_err("restore: unix socket %s is in use (is the original still running?)",
			       shown);
		else
			pr_err("restore: bind a unix socket to %s: %s", shown, strerror(-ret));
		return ret;
	}
	if (!is_path(u))
		return 0;
	if (u->has_file_gone && u->file_gone) {
		if (u->n_pending)
			return 0; /* its clients connect first (connect_pending) */
		if (unlink(shown) < 0)
			return pr_perror("restore: remove %s (it had been removed)", shown);
		return 0;
	}
	return set_file_owner_mode(u, shown);
}

static int apply_shutdown(int sk, const Rtcr__File *f)
{
	uint32_t b = f->unix_sk->shutdown & SHUT_BITS;
	int how = b == 3 ? SHUT_RDWR : b == 1 ? SHUT_RD : SHUT_WR;

	if (b && shutdown(sk, how) < 0)
		return pr_perror("restore: file %u: shutdown", f->id);
	return 0;
}

static int new_socket(const Rtcr__File *f, int *out)
{
	const Rtcr__UnixSocketFile *u = f->unix_sk;
	struct sk_kind k;
	int sk, ret;

	sk_kind_init(&k, AF_UNIX, (int)u->type, 0);
	sk = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return pr_perror("restore: unix %s socket", unix_type_name(u->type));
	ret = sk_opts_apply(sk, u->opts, &k);
	if (!ret && binds(u))
		ret = bind_name(sk, f, u);
	if (ret) {
		close(sk);
		return ret;
	}
	*out = sk;
	return 0;
}

static int make_socket(struct rst_ctx *r, struct unix_state *st, struct usk *e);

static void job_close(struct qjob *j)
{
	if (j->a >= 0)
		close(j->a);
	if (j->b >= 0)
		close(j->b);
	j->a = j->b = -1;
	j->pending = false;
}

/* The queue(s), connection and shutdown state of the socket of entry e. */
static int run_job(struct rst_ctx *r, struct usk *e)
{
	struct qjob *j = &e->job;
	struct sockaddr_un sa;
	socklen_t alen;
	int ret = 0;

	j->pending = false;
	if (j->pair) {
		ret = unix_refill(r, e->f, j->b, NULL, 0);
		if (!ret && j->p)
			ret = unix_refill(r, j->p->f, j->a, NULL, 0);
		if (!ret)
			ret = apply_shutdown(j->a, e->f);
		if (!ret && j->p)
			ret = apply_shutdown(j->b, j->p->f);
		job_close(j);
		return ret;
	}
	if (j->b >= 0) {
		alen = make_addr(e->f->unix_sk, &sa);
		ret = unix_refill(r, e->f, j->b, &sa, alen);
	}
	if (!ret && j->connect) {
		alen = make_addr(j->p->f->unix_sk, &sa);
		if (connect(j->a, (struct sockaddr *)&sa, alen) < 0)
			ret = pr_perror("restore: file %u: connect to file %u", e->f->id,
					j->p->f->id);
	}
	if (!ret)
		ret = apply_shutdown(j->a, e->f);
	job_close(j);
	return ret;
}

/* Both ends of a connection (p == NULL: the peer was closed). */
static int make_pair(struct rst_ctx *r, struct unix_state *st, struct usk *e, struct usk *p)
{
	const Rtcr__UnixSocketFile *u = e->f->unix_sk;
	struct sk_kind k;
	int sv[2], ret;

	sk_kind_init(&k, AF_UNIX, (int)u->type, 0);
	if (socketpair(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0, sv) < 0)
		return pr_perror("restore: unix %s socketpair", unix_type_name(u->type));
	e->fd = sv[0];
	e->made = true;
	if (p) {
		p->fd = sv[1];
		p->made = true;
	}
	ret = sk_opts_apply(sv[0], u->opts, &k);
	if (!ret && p)
		ret = sk_opts_apply(sv[1], p->f->unix_sk->opts, &k);
	if (!ret && binds(u))
		ret = bind_name(sv[0], e->f, u);
	if (!ret && p && binds(p->f->unix_sk))
		ret = bind_name(sv[1], p->f, p->f->unix_sk);
	if (ret) {
		if (!p)
			close(sv[1]);
		return ret;
	}
	/* the queues, shutdown states; the peer is gone again after (b is
	 * its only descriptor then) */
	e->job.pair = true;
	e->job.p = p;
	e->job.b = p ? fcntl(sv[1], F_DUPFD_CLOEXEC, 0) : sv[1];
	e->job.a = fcntl(sv[0], F_DUPFD_CLOEXEC, 0);
	if (e->job.a < 0 || e->job.b < 0) {
		ret = pr_perror("restore: file %u: dup", e->f->id);
		job_close(&e->job);
		return ret;
	}
	if (unix_queue_has_fds(u) || (p && unix_queue_has_fds(p->f->unix_sk))) {
		e->job.pending = true; /* unix_post */
		return 0;
	}
	return run_job(r, e);
}

/* The connections not accept()ed yet of listener e (listening now): a new
 * socket connects for each, in order, and is the client's File. */
static int connect_pending(struct unix_state *st, struct usk *e)
{
	const Rtcr__UnixSocketFile *u = e->f->unix_sk;
	char shown[SUN_PATH_LEN * 4 + 8];
	struct sockaddr_un sa;
	socklen_t alen = make_addr(u, &sa);
	struct usk *c;
	int sk = -1, ret = 0; /* set by new_socket when it returns 0 */

	name_str(u, shown, sizeof(shown));
	for (size_t i = 0; i < u->n_pending && !ret; i++) {
		c = usk_find(st, u->pending[i]); /* checked at prepare */
		if (!c || c->made)
			return -EINVAL;
		ret = new_socket(c->f, &sk);
		if (ret)
			return ret;
		c->fd = sk;
		c->made = true;
		/* never blocks: a full backlog fails */
		if (fcntl(sk, F_SETFL, O_NONBLOCK) < 0 ||
		    connect(sk, (struct sockaddr *)&sa, alen) < 0 || fcntl(sk, F_SETFL, 0) < 0)
			return pr_perror("restore: file %u: connect to %s (connection %zu of %zu "
					 "not accept()ed yet)",
					 c->f->id, shown, i + 1, u->n_pending);
		ret = apply_shutdown(sk, c->f);
	}
	if (!ret && u->n_pending && is_path(u) && u->has_file_gone && u->file_gone &&
	    unlink(shown) < 0)
		ret = pr_perror("restore: remove %s (it had been removed)", shown);
	return ret;
}

/* Make the socket of entry e (and what it needs: its peer) in the parent. */
static int make_socket(struct rst_ctx *r, struct unix_state *st, struct usk *e)
{
	const Rtcr__UnixSocketFile *u = e->f->unix_sk;
	char shown[SUN_PATH_LEN * 4 + 8];
	struct usk *p;
	int sk = -1, ret;

	if (u->state == ST_CONNECTED && u->listener_ino) {
		/* waits in a listener's backlog: made with it */
		p = usk_find(st, u->listener_ino);
		if (!p)
			return -EINVAL; /* checked at prepare */
		ret = p->made ? 0 : make_socket(r, st, p);
		if (!ret && !e->made) {
			pr_err("file %u: not made with its listener, file %u", e->f->id, p->f->id);
			ret = -EINVAL;
		}
		return ret;
	}
	if (u->state == ST_CONNECTED) {
		if (!u->peer_ino)
			return make_pair(r, st, e, NULL);
		p = usk_find(st, u->peer_ino);
		if (!p)
			return -EINVAL; /* checked at prepare */
		if (p->f->unix_sk->peer_ino == u->ino)
			return make_pair(r, st, e, p);
	}
	ret = new_socket(e->f, &sk);
	if (ret)
		return ret;
	e->fd = sk;
	e->made = true;
	if (u->state == ST_LISTEN) {
		if (listen(sk, (int)u->backlog) < 0)
			return pr_perror("restore: listen on unix socket %s",
					 name_str(u, shown, sizeof(shown)));
		ret = apply_shutdown(sk, e->f);
		return ret ? ret : connect_pending(st, e);
	}
	/* unconnected, or a datagram socket connected to a peer that is not
	 * connected back: queued datagrams come from an unnamed socket, then
	 * it connects */
	if (u->state == ST_CONNECTED) {
		p = usk_find(st, u->peer_ino);
		if (!p->made) {
			ret = make_socket(r, st, p);
			if (ret)
				return ret;
		}
		e->job.p = p;
		e->job.connect = true;
	}
	e->job.a = fcntl(sk, F_DUPFD_CLOEXEC, 0);
	if (e->job.a < 0)
		return pr_perror("restore: file %u: dup", e->f->id);
	if (u->n_queue) {
		e->job.b = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (e->job.b < 0) {
			ret = pr_perror("restore: unix socket");
			job_close(&e->job);
			return ret;
		}
	}
	if (unix_queue_has_fds(u)) {
		e->job.pending = true; /* unix_post */
		return 0;
	}
	return run_job(r, e);
}

/* The restore's entry of File f. */
static int file_usk(struct rst_ctx *r, const Rtcr__File *f, struct unix_state **st, struct usk **e)
{
	int ret = state_get(r, st);

	if (ret)
		return ret;
	*e = usk_find(*st, f->unix_sk->ino);
	return *e ? 0 : -EINVAL;
}

static int unix_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	struct unix_state *st;
	struct usk *e;
	int ret;

	ret = file_usk(r, f, &st, &e);
	if (ret)
		return ret;
	if (!e->made) {
		ret = make_socket(r, st, e);
		if (ret)
			return ret;
	}
	if (e->fd < 0) {
		pr_err("file %u: its socket was handed out already", f->id);
		return -EINVAL;
	}
	if ((f->flags & O_NONBLOCK) && fcntl(e->fd, F_SETFL, O_NONBLOCK) < 0)
		return pr_perror("restore: file %u: set O_NONBLOCK", f->id);
	/* files.c passes it in (and keeps it for other processes holding the
	 * same File); the parent has no other copy */
	*ourfd = e->fd;
	e->fd = -1;
	return 0;
}

/* Restore, after every descriptor of this process is in place: a queue
 * with descriptors in flight (see struct qjob). */
static int unix_post(struct rst_ctx *r, const Rtcr__File *f)
{
	struct unix_state *st;
	struct usk *e;
	int ret;

	ret = file_usk(r, f, &st, &e);
	if (ret)
		return ret;
	return e->job.pending ? run_job(r, e) : 0;
}

static void close_all(struct unix_state *st)
{
	for (size_t i = 0; i < st->n; i++) {
		if (st->sk[i].fd >= 0)
			close(st->sk[i].fd);
		st->sk[i].fd = -1;
		job_close(&st->sk[i].job);
	}
}

static void unix_cleanup(struct rst_ctx *r)
{
	struct unix_state *st = r->fd_state[RTCR__FILE_KIND__FILE_UNIX];

	if (!st)
		return;
	if (st->sk)
		close_all(st);
	free(st->sk);
	free(st);
	r->fd_state[RTCR__FILE_KIND__FILE_UNIX] = NULL;
}

const struct fd_ops fd_unix = {
    .name = "unix socket",
    .kind = RTCR__FILE_KIND__FILE_UNIX,
    .match = unix_match,
    .dump = unix_dump,
    .prepare = unix_prepare,
    .open = unix_open,
    .post = unix_post,
    .cleanup = unix_cleanup,
};
