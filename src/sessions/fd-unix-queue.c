/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unix domain sockets: their receive queues (UnixSocketFile.queue) and the
 * descriptors in flight with the queued messages (SCM_RIGHTS sent, not
 * received yet). fd-unix.c has the sockets themselves.
 *
 * Checkpoint: the queue is read without consuming it, with SO_PEEK_OFF set
 * to each message's offset in turn, one MSG_PEEK per message (datagram,
 * seqpacket) or per piece of the stream, with SO_PASSCRED on for the while
 * so that each message's sender credentials come along; SO_PEEK_OFF and
 * SO_PASSCRED are then set back as they were.
 *
 * Descriptors in flight (SCM_RIGHTS sent, not received yet): peeking a
 * message installs its files into the parent, as new descriptors of the
 * same open file descriptions. Each is recorded with its message
 * (UnixMessage.fds): the File of a descriptor of the target's already
 * recorded (kcmp KCMP_FILE against c->fdrefs), else a descriptor (pid, fd)
 * of a process of the target not recorded yet (kcmp against each process's
 * table; its File is the one that Fd gets), else the file is only in
 * flight: a regular file is recorded as a File of its own (path, flags,
 * offset, identity; the same one twice in one queue is one File), so is a
 * pipe or FIFO end (its pipe's capacity and buffered data, fd-pipe.c, if
 * no other File of the pipe was recorded first: its other end may be held,
 * in flight too, or closed); anything else (a socket, an eventfd...) is
 * refused, naming its kind. On a stream the kernel hands the descriptors
 * out with the bytes before them from the same sender (a peek cannot tell
 * where the message that carried them began): they are restored with that
 * whole piece, so a reader that read exactly up to the message gets them
 * one read early.
 *
 * Restore: each message is sent again from the socket's peer (or an
 * unnamed socket) with its recorded sender credentials and, with
 * SCM_RIGHTS, the parent's descriptors of the Files in flight (parent_fd).
 */
#define LOG_PREFIX "unix: "
#include "sessions/fd-unix.h"

#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "core/proc.h"
#include "sessions/fd-socket.h"

/* ---------- checkpoint ---------- */

static int push_msg(Rtcr__UnixSocketFile *u, const void *data, size_t len, const struct ucred *cr,
		    const struct sockaddr_un *from, socklen_t fromlen)
{
	Rtcr__UnixMessage *m = calloc(1, sizeof(*m));
	size_t alen = fromlen > offsetof(struct sockaddr_un, sun_path)
			  ? fromlen - offsetof(struct sockaddr_un, sun_path)
			  : 0;
	int ret;

	if (!m)
		return -ENOMEM;
	rtcr__unix_message__init(m);
	ret = pb_push((void ***)&u->queue, &u->n_queue, m);
	if (ret) {
		free(m);
		return ret;
	}
	ret = unix_set_bytes(&m->data, &m->has_data, data, len);
	if (ret)
		return ret;
	if (cr) {
		m->has_pid = m->has_uid = m->has_gid = 1;
		m->pid = (uint32_t)cr->pid;
		m->uid = cr->uid;
		m->gid = cr->gid;
	}
	if (from && alen > (size_t)SUN_PATH_LEN)
		alen = (size_t)SUN_PATH_LEN;
	if (from && alen && !(from->sun_path[0] && alen == 1))
		ret = unix_set_bytes(&m->addr, &m->has_addr, from->sun_path, alen);
	return ret;
}

/* Files only in flight recorded while one queue is read: the parent's
 * descriptor of each (to know it again) and its File. */
struct flights {
	struct flight {
		int fd;
		uint32_t file_id;
	} * v;
	size_t n;
};

static void close_fds(int *fds, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		close(fds[i]);
	*n = 0;
}

static const char *flight_what(const struct stat *st, const char *link)
{
	if (S_ISSOCK(st->st_mode))
		return "socket";
	if (!strncmp(link, "pipe:", 5))
		return "pipe";
	if (S_ISFIFO(st->st_mode))
		return "FIFO";
	if (S_ISDIR(st->st_mode))
		return "directory";
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		return "device";
	if (!strncmp(link, "anon_inode:", 11))
		return link + 11;
	return "file of this kind";
}

static int flight_add(struct flights *fl, int x, uint32_t file_id, Rtcr__UnixPassedFd *m)
{
	struct flight *nv = realloc(fl->v, sizeof(*nv) * (fl->n + 1));

	if (!nv)
		return -ENOMEM;
	fl->v = nv;
	fl->v[fl->n].fd = x;
	fl->v[fl->n].file_id = file_id;
	fl->n++;
	m->has_file_id = 1;
	m->file_id = file_id;
	return 0;
}

/* A pipe or FIFO end in flight that no process holds: a File of its own
 * (its pipe's data and capacity: fd-pipe.c; the other end is another File
 * of the same pipe, held, in flight too, or none). */
static int flight_pipe(struct ckpt_ctx *c, int sockfd, int x, const struct stat *st,
		       const char *link, struct flights *fl, Rtcr__UnixPassedFd *m)
{
	Rtcr__FileKind kind =
	    !strncmp(link, "pipe:[", 6) ? RTCR__FILE_KIND__FILE_PIPE : RTCR__FILE_KIND__FILE_FIFO;
	struct fd_info fi;
	char path[64], *fdinfo = NULL, *p;
	Rtcr__File *f;
	int ret;

	if (kind == RTCR__FILE_KIND__FILE_FIFO && link[0] != '/')
		return ckpt_refuse(c,
				   "pid %d: fd %d: a FIFO in flight (%s) has no path: not "
				   "supported",
				   c->ns_pid, sockfd, link);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", x);
	if (read_file(path, &fdinfo) < 0)
		return pr_perror("read %s", path);
	memset(&fi, 0, sizeof(fi));
	fi.fd = sockfd;
	fi.link = link;
	fi.st = *st;
	fi.fdinfo = fdinfo;
	p = strstr(fdinfo, "flags:");
	fi.flags = (p ? (uint32_t)strtoul(p + 6, NULL, 8) : 0) & ~(uint32_t)O_CLOEXEC;
	ret = files_add(c, kind, link, fi.flags, 0, st, &f);
	if (!ret)
		ret = pipe_dump_flight(c, &fi, f, x);
	if (!ret)
		ret = flight_add(fl, x, f->id, m);
	free(fdinfo);
	return ret;
}

/*
 * A file in flight that no process of the target holds: recorded as a
 * File of its own (regular files: path, status flags, offset, identity, as
 * files.c records an open one); x stays open in fl until the queue is read.
 */
static int flight_file(struct ckpt_ctx *c, int sockfd, const char *desc, int x,
		       const struct stat *st, struct flights *fl, Rtcr__UnixPassedFd *m)
{
	char path[64], link[PATH_MAX];
	char *fdinfo = NULL, *p;
	struct stat now;
	Rtcr__File *f;
	uint32_t flags;
	ssize_t n;
	int ret;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", x);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return pr_perror("read %s", path);
	link[n] = '\0';
	if (S_ISFIFO(st->st_mode))
		return flight_pipe(c, sockfd, x, st, link, fl, m);
	if (!S_ISREG(st->st_mode))
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s: a %s (%s) is in flight (SCM_RIGHTS in its "
				   "receive queue) and no process of the target holds it: not "
				   "supported yet (only regular files, pipes and FIFOs)",
				   c->ns_pid, sockfd, desc, flight_what(st, link), link);
	if (strstr(link, " (deleted)") || st->st_nlink == 0)
		return ckpt_refuse(c,
				   "pid %d: fd %d: %s: the file %s in flight (SCM_RIGHTS) was "
				   "deleted: not supported yet",
				   c->ns_pid, sockfd, desc, link);
	if (link[0] != '/' || stat(link, &now) < 0 || now.st_ino != st->st_ino ||
	    now.st_dev != st->st_dev)
		return ckpt_refuse(
		    c,
		    "pid %d: fd %d: %s: the file %s in flight (SCM_RIGHTS) was moved "
		    "or replaced since it was opened (its path no longer names it)",
		    c->ns_pid, sockfd, desc, link);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", x);
	if (read_file(path, &fdinfo) < 0)
		return pr_perror("read %s", path);
	p = strstr(fdinfo, "flags:");
	flags = (p ? (uint32_t)strtoul(p + 6, NULL, 8) : 0) & ~(uint32_t)O_CLOEXEC;
	p = strstr(fdinfo, "pos:");
	ret = files_add(c, RTCR__FILE_KIND__FILE_REG, link, flags,
			p ? strtoull(p + 4, NULL, 10) : 0, st, &f);
	if (!ret)
		ret = flight_add(fl, x, f->id, m);
	free(fdinfo);
	return ret;
}

/*
 * Which open file description x (the parent's copy of a file in flight,
 * installed by the peek) is: a File already recorded (any process), one
 * only in flight recorded before in this queue, a descriptor of a process
 * of the target not recorded yet (pid, fd), or a new File only in flight.
 * *kept: x is kept in fl (else the caller closes it).
 */
static int passed_ref(struct ckpt_ctx *c, int sockfd, const char *desc, int x, const pid_t *pids,
		      size_t npids, struct flights *fl, Rtcr__UnixPassedFd *m, bool *kept)
{
	pid_t self = getpid();
	char dir[64];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int ret;

	*kept = false;
	if (fstat(x, &st) < 0)
		return pr_perror("pid %d: fd %d: stat a descriptor in flight", c->ns_pid, sockfd);
	for (size_t i = 0; i < c->nfdrefs; i++) {
		if (syscall(SYS_kcmp, self, c->fdrefs[i].pid, KCMP_FILE, x, c->fdrefs[i].fd) == 0) {
			m->has_file_id = 1;
			m->file_id = c->fdrefs[i].file_id;
			return 0;
		}
	}
	for (size_t i = 0; i < fl->n; i++) {
		if (syscall(SYS_kcmp, self, self, KCMP_FILE, x, fl->v[i].fd) == 0) {
			m->has_file_id = 1;
			m->file_id = fl->v[i].file_id;
			return 0;
		}
	}
	for (size_t i = 0; i < npids; i++) {
		pid_t ns = pids[i] == c->pid ? c->ns_pid : proc_ns_pid(pids[i]);
		bool found = false;
		long tfd = -1;

		snprintf(dir, sizeof(dir), "/proc/%d/fd", pids[i]);
		if (ns <= 0 || !(d = opendir(dir)))
			continue;
		while (!found && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			tfd = strtol(de->d_name, NULL, 10);
			found = syscall(SYS_kcmp, self, pids[i], KCMP_FILE, x, tfd) == 0;
		}
		closedir(d);
		if (found) {
			m->has_pid = m->has_fd = 1;
			m->pid = (uint32_t)ns;
			m->fd = (uint32_t)tfd;
			return 0;
		}
	}
	ret = flight_file(c, sockfd, desc, x, &st, fl, m);
	*kept = !ret;
	return ret;
}

/* Record the descriptors in flight with message m (got[], closed or kept). */
static int record_fds(struct ckpt_ctx *c, int sockfd, const char *desc, Rtcr__UnixMessage *m,
		      int *got, size_t *ngot, const pid_t *pids, size_t npids, struct flights *fl)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < *ngot && !ret; i++) {
		Rtcr__UnixPassedFd *pf = calloc(1, sizeof(*pf));
		bool kept = false;

		if (!pf) {
			ret = -ENOMEM;
			break;
		}
		rtcr__unix_passed_fd__init(pf);
		ret = pb_push((void ***)&m->fds, &m->n_fds, pf);
		if (ret) {
			free(pf);
			break;
		}
		ret = passed_ref(c, sockfd, desc, got[i], pids, npids, fl, pf, &kept);
		if (!kept)
			close(got[i]);
	}
	for (; i < *ngot; i++)
		close(got[i]);
	*ngot = 0;
	return ret;
}

/* The control messages of one peeked message: the files in flight (got[],
 * installed here by the peek), the sender's credentials (*cr: true). */
static bool peek_cmsgs(struct ckpt_ctx *c, struct msghdr *mh, int *got, size_t *ngot,
		       struct peeked *pk, struct ucred *cr, const pid_t *pids, size_t npids)
{
	bool has_cr = false;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_RIGHTS) {
			size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < nfd; i++) {
				int x;

				memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*ngot < PASS_MAX) {
					got[(*ngot)++] = x;
				} else {
					close(x);
					pk->ctrunc = true;
				}
			}
		} else if (cm->cmsg_type == SCM_CREDENTIALS &&
			   cm->cmsg_len >= CMSG_LEN(sizeof(*cr))) {
			memcpy(cr, CMSG_DATA(cm), sizeof(*cr));
			cr->pid = unix_target_view(c, pids, npids, cr->pid);
			has_cr = true;
		}
	}
	return has_cr;
}

/*
 * Read the receive queue of sk without consuming it (see the top). The
 * credentials' pid is mapped to the target's namespace: the target itself
 * becomes its ns pid, anything else 0 (outside it).
 */
int unix_peek_queue(struct ckpt_ctx *c, int fd, const char *desc, int sk, uint32_t type,
		    Rtcr__UnixSocketFile *u, struct peeked *pk, const pid_t *pids, size_t npids)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 256)]
	    __attribute__((aligned(8)));
	int peek_off = -1, passcred = 0, one = 1, off = 0, ret = 0;
	socklen_t len = sizeof(int);
	size_t cap = 64 * 1024, ngot = 0;
	struct flights fl = {NULL, 0};
	char *buf = NULL, *nb;
	int got[256];

	if (getsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &peek_off, &len) < 0)
		return pr_perror("pid %d: fd %d: SO_PEEK_OFF", c->ns_pid, fd);
	len = sizeof(int);
	if (getsockopt(sk, SOL_SOCKET, SO_PASSCRED, &passcred, &len) < 0)
		return pr_perror("pid %d: fd %d: SO_PASSCRED", c->ns_pid, fd);
	if (!passcred && setsockopt(sk, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		return pr_perror("pid %d: fd %d: set SO_PASSCRED", c->ns_pid, fd);
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		struct sockaddr_un from;
		struct ucred cr, *crp = NULL;
		struct msghdr mh;
		struct iovec iov = {buf, cap};
		ssize_t n;

		if (setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) < 0) {
			ret = pr_perror("pid %d: fd %d: set SO_PEEK_OFF", c->ns_pid, fd);
			goto out;
		}
		memset(&mh, 0, sizeof(mh));
		memset(&from, 0, sizeof(from));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		if (type == SOCK_DGRAM) {
			mh.msg_name = &from;
			mh.msg_namelen = sizeof(from);
		}
		n = recvmsg(sk, &mh,
			    MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC |
				(type == SOCK_STREAM ? 0 : MSG_TRUNC));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			ret = pr_perror("pid %d: fd %d: read the receive queue", c->ns_pid, fd);
			goto out;
		}
		if (peek_cmsgs(c, &mh, got, &ngot, pk, &cr, pids, npids))
			crp = &cr;
		if (mh.msg_flags & MSG_CTRUNC)
			pk->ctrunc = true;
		if (pk->ctrunc || (type == SOCK_STREAM && n == 0) ||
		    (type != SOCK_STREAM && (size_t)n > cap))
			close_fds(got, &ngot); /* not recorded: read again or refused */
		if (pk->ctrunc)
			break;
		if (type != SOCK_STREAM && (size_t)n > cap) {
			if ((size_t)n > UNIX_QUEUE_MAX) {
				ret = -EFBIG;
				break;
			}
			nb = realloc(buf, (size_t)n);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = (size_t)n;
			continue; /* again, from the same offset */
		}
		if (type == SOCK_STREAM && n == 0)
			break;
		pk->bytes += (uint64_t)n;
		if (pk->bytes > UNIX_QUEUE_MAX || u->n_queue >= UNIX_QUEUE_MSGS) {
			ret = -EFBIG;
			break;
		}
		ret = push_msg(u, buf, (size_t)n, crp, type == SOCK_DGRAM ? &from : NULL,
			       type == SOCK_DGRAM ? mh.msg_namelen : 0);
		if (!ret && ngot)
			ret = record_fds(c, fd, desc, u->queue[u->n_queue - 1], got, &ngot, pids,
					 npids, &fl);
		if (ret)
			goto out;
		if (type == SOCK_DGRAM && u->queue[u->n_queue - 1]->has_addr)
			pk->named++;
		off += (int)n;
	}
out:
	close_fds(got, &ngot);
	for (size_t i = 0; i < fl.n; i++)
		close(fl.v[i].fd);
	free(fl.v);
	free(buf);
	/* put back what the target had */
	if (setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof(peek_off)) < 0 && !ret)
		ret = pr_perror("pid %d: fd %d: set SO_PEEK_OFF back", c->ns_pid, fd);
	if (!passcred && setsockopt(sk, SOL_SOCKET, SO_PASSCRED, &passcred, sizeof(passcred)) < 0 &&
	    !ret)
		ret = pr_perror("pid %d: fd %d: set SO_PASSCRED back", c->ns_pid, fd);
	return ret;
}

/* ---------- restore ---------- */

static const Rtcr__Process *proc_by_pid(const Rtcr__Image *img, uint32_t pid)
{
	for (size_t i = 0; i < img->n_processes; i++)
		if (img->processes[i] && img->processes[i]->pid == pid)
			return img->processes[i];
	return NULL;
}

/* The File a descriptor in flight names (-EINVAL, -ENOENT if none; quiet). */
static int passed_file(const Rtcr__Image *img, const Rtcr__UnixPassedFd *pf, uint32_t *id)
{
	const Rtcr__Process *p;
	size_t hops = 0;
	bool found = false;

	if (!pf)
		return -EINVAL;
	if (pf->has_file_id && !pf->has_pid && !pf->has_fd) {
		*id = pf->file_id;
		return files_by_id(img, *id) ? 0 : -ENOENT;
	}
	if (pf->has_file_id || !pf->has_pid || !pf->has_fd)
		return -EINVAL;
	p = proc_by_pid(img, pf->pid);
	while (p && p->has_fdtable_of && p->fdtable_of && hops++ < img->n_processes)
		p = proc_by_pid(img, p->fdtable_of);
	for (size_t i = 0; p && i < p->n_fds && !found; i++) {
		if (p->fds[i] && p->fds[i]->fd == pf->fd) {
			*id = p->fds[i]->file_id;
			found = true;
		}
	}
	return found && files_by_id(img, *id) ? 0 : -ENOENT;
}

/* Does a process of the image hold File id? */
static bool file_held(const Rtcr__Image *img, uint32_t id)
{
	for (size_t i = 0; i < img->n_processes; i++) {
		const Rtcr__Process *p = img->processes[i];

		for (size_t j = 0; p && j < p->n_fds; j++)
			if (p->fds[j] && p->fds[j]->file_id == id)
				return true;
	}
	return false;
}

bool unix_queue_has_fds(const Rtcr__UnixSocketFile *u)
{
	for (size_t i = 0; i < u->n_queue; i++)
		if (u->queue[i]->n_fds)
			return true;
	return false;
}

static int check_passed(const Rtcr__Image *img, const Rtcr__File *f, size_t i,
			const Rtcr__UnixMessage *m)
{
	const Rtcr__File *pf;
	uint32_t id = 0;

	if (m->n_fds > PASS_MAX) {
		pr_err("file %u: queued message %zu: %zu descriptors in flight (at most %d)", f->id,
		       i, m->n_fds, PASS_MAX);
		return -EINVAL;
	}
	for (size_t k = 0; k < m->n_fds; k++) {
		if (passed_file(img, m->fds[k], &id)) {
			pr_err(
			    "file %u: queued message %zu: descriptor in flight %zu names no File "
			    "of the image",
			    f->id, i, k);
			return -EINVAL;
		}
		pf = files_by_id(img, id);
		if (!file_held(img, id) && pf->kind != RTCR__FILE_KIND__FILE_REG &&
		    pf->kind != RTCR__FILE_KIND__FILE_PIPE &&
		    pf->kind != RTCR__FILE_KIND__FILE_FIFO) {
			pr_err(
			    "file %u: queued message %zu: file %u in flight is neither held by a "
			    "process nor a regular file, pipe or FIFO",
			    f->id, i, id);
			return -EINVAL;
		}
	}
	return 0;
}

int unix_check_queue(const Rtcr__Image *img, const Rtcr__File *f, const Rtcr__UnixSocketFile *u)
{
	uint64_t total = 0;
	int ret;

	if (u->n_queue && u->state == ST_LISTEN) {
		pr_err("file %u: listening socket with a receive queue", f->id);
		return -EINVAL;
	}
	if (u->n_queue && u->state == ST_CLOSE && u->type != SOCK_DGRAM) {
		pr_err("file %u: unconnected %s socket with a receive queue", f->id,
		       unix_type_name(u->type));
		return -EINVAL;
	}
	if (u->n_queue > UNIX_QUEUE_MSGS) {
		pr_err("file %u: more than %u messages queued", f->id, UNIX_QUEUE_MSGS);
		return -EFBIG;
	}
	for (size_t i = 0; i < u->n_queue; i++) {
		const Rtcr__UnixMessage *m = u->queue[i];

		if (!m) {
			pr_err("file %u: queued message %zu missing", f->id, i);
			return -EINVAL;
		}
		total += m->data.len;
		if (m->data.len > UNIX_QUEUE_MAX || total > UNIX_QUEUE_MAX) {
			pr_err("file %u: more than %u MiB queued", f->id, UNIX_QUEUE_MAX >> 20);
			return -EFBIG;
		}
		if (u->type == SOCK_STREAM && !m->data.len) {
			pr_err("file %u: empty piece of a stream's queue", f->id);
			return -EINVAL;
		}
		if ((m->has_uid && m->uid == UINT32_MAX) || (m->has_gid && m->gid == UINT32_MAX)) {
			pr_err("file %u: queued message %zu: invalid credentials", f->id, i);
			return -EINVAL;
		}
		if (m->has_addr && m->addr.len > (size_t)SUN_PATH_LEN) {
			pr_err("file %u: queued message %zu: sender address of %zu bytes", f->id, i,
			       m->addr.len);
			return -EINVAL;
		}
		ret = check_passed(img, f, i, m);
		if (ret)
			return ret;
	}
	return 0;
}

/* Send one queued message from `from` (to `to` if given), with its credentials. */
static int send_one(struct rst_ctx *r, int from, const struct sockaddr_un *to, socklen_t tolen,
		    const Rtcr__UnixMessage *m, bool stream, const int *fds, size_t nfds)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * PASS_MAX)]
	    __attribute__((aligned(8)));
	const char *p = (const char *)m->data.data;
	size_t left = m->data.len;
	struct ucred cr;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	ssize_t n;

	cr.pid = getpid(); /* outside the target: it sees pid 0 */
	if (m->has_pid && m->pid) {
		/* one of the target's processes: its new host pid */
		if (r->shared) {
			for (size_t i = 0; i < r->shared->nprocs; i++)
				if (r->shared->procs[i].proc &&
				    r->shared->procs[i].proc->pid == m->pid &&
				    r->shared->procs[i].pid > 0)
					cr.pid = r->shared->procs[i].pid;
		} else if (r->proc && m->pid == r->proc->pid && r->pid > 0) {
			cr.pid = r->pid;
		}
	}
	cr.uid = m->has_uid ? m->uid : getuid();
	cr.gid = m->has_gid ? m->gid : getgid();
	do {
		memset(&mh, 0, sizeof(mh));
		memset(cbuf, 0, sizeof(cbuf));
		iov.iov_base = (void *)p;
		iov.iov_len = left;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_name = (void *)to;
		mh.msg_namelen = to ? tolen : 0;
		mh.msg_control = cbuf;
		mh.msg_controllen =
		    CMSG_SPACE(sizeof(cr)) + (nfds ? CMSG_SPACE(sizeof(int) * nfds) : 0);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_CREDENTIALS;
		cm->cmsg_len = CMSG_LEN(sizeof(cr));
		memcpy(CMSG_DATA(cm), &cr, sizeof(cr));
		if (nfds) {
			/* the files in flight go with the (first part of the) message */
			cm = CMSG_NXTHDR(&mh, cm);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		}
		n = sendmsg(from, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ESRCH && cr.pid != getpid()) {
			cr.pid = getpid();
			continue;
		}
		if (n < 0)
			return -errno;
		if (!stream && (size_t)n != left)
			return -EMSGSIZE;
		if (!n && left)
			return -EIO;
		nfds = 0;
		p += n;
		left -= (size_t)n;
	} while (left);
	return 0;
}

/* Room in the sender for the whole queue: its SO_SNDBUF raised for the while. */
static int sndbuf_raise(int sk, const Rtcr__UnixSocketFile *u, int *saved)
{
	uint64_t want = 1 << 20;
	socklen_t len = sizeof(*saved);

	for (size_t i = 0; i < u->n_queue; i++)
		want += u->queue[i]->data.len + 4096;
	if (want > INT_MAX / 2)
		want = INT_MAX / 2;
	if (getsockopt(sk, SOL_SOCKET, SO_SNDBUF, saved, &len) < 0)
		return pr_perror("SO_SNDBUF");
	if ((uint64_t)*saved >= want)
		return 0;
	return sk_set_buf(sk, SO_SNDBUF, (uint32_t)want);
}

/*
 * A descriptor of the parent's on File id, to send in flight: the one the
 * parent keeps for the processes that hold it (files.c: shared->file_ours),
 * a copy taken from the process it was made in (*own: close it after), or,
 * not made yet, made now (by its kind) and kept in file_ours for the
 * processes that install it later (restore.c closes those before the
 * target runs). A File made in this process's target is taken back and
 * closed there (files.c installs it from the parent's copy).
 */
static int parent_fd(struct rst_ctx *r, uint32_t id, int *fd, bool *own)
{
	struct rst_shared *S = r->shared;
	const Rtcr__File *f = files_by_id(r->img, id);
	const struct fd_ops *ops = f ? fd_kind_ops(f->kind) : NULL;
	int ours = -1, tfd = -1, pidfd, ret = -EINVAL;

	*own = false;
	if (!S || !f || id >= S->nfiles || !ops || !ops->open) {
		pr_err("file %u: cannot be sent in flight here", id);
		return -EINVAL;
	}
	if (S->file_ours[id] >= 0) {
		*fd = S->file_ours[id];
		return 0;
	}
	if (S->file_tpid[id] > 0) {
		pidfd = (int)syscall(__NR_pidfd_open, S->file_tpid[id], 0);
		ours = pidfd >= 0 ? (int)syscall(__NR_pidfd_getfd, pidfd, S->file_tfd[id], 0) : -1;
		if (ours < 0)
			ret = pr_perror("file %u: take it from pid %d", id, S->file_tpid[id]);
		if (pidfd >= 0)
			close(pidfd);
		if (ours < 0)
			return ret;
		*fd = ours;
		*own = true;
		return 0;
	}
	ret = ops->open(r, f, &ours, &tfd);
	if (ret)
		return ret;
	if (ours < 0) {
		pidfd = (int)syscall(__NR_pidfd_open, r->pid, 0);
		ours = pidfd >= 0 ? (int)syscall(__NR_pidfd_getfd, pidfd, tfd, 0) : -1;
		if (ours < 0)
			ret = pr_perror("file %u: take it from pid %d", id, r->pid);
		if (pidfd >= 0)
			close(pidfd);
		if (ours < 0)
			return ret;
		ret = inject_call(&r->ij, NULL, "close", __NR_close, (uint64_t)tfd, 0, 0, 0, 0, 0);
		if (ret) {
			close(ours);
			return ret;
		}
	}
	S->file_ours[id] = ours;
	*fd = ours;
	return 0;
}

/* Send queued message m from `from`, with its descriptors in flight. */
static int send_msg(struct rst_ctx *r, int from, const struct sockaddr_un *to, socklen_t tolen,
		    const Rtcr__UnixMessage *m, bool stream)
{
	int fds[PASS_MAX];
	bool own[PASS_MAX] = {false};
	size_t n = 0;
	uint32_t id = 0;
	int ret = 0;

	for (size_t k = 0; k < m->n_fds && k < PASS_MAX && !ret; k++) {
		ret = passed_file(r->img, m->fds[k], &id); /* checked at prepare */
		if (!ret)
			ret = parent_fd(r, id, &fds[n], &own[n]);
		if (!ret)
			n++;
	}
	if (!ret)
		ret = send_one(r, from, to, tolen, m, stream, fds, n);
	for (size_t k = 0; k < n; k++)
		if (own[k])
			close(fds[k]);
	return ret;
}

/* Refill the receive queue of File f from sender `from` (to its address if
 * `to`), keeping the sender's send buffer size. */
int unix_refill(struct rst_ctx *r, const Rtcr__File *f, int from, const struct sockaddr_un *to,
		socklen_t tolen)
{
	const Rtcr__UnixSocketFile *u = f->unix_sk;
	int saved = 0, ret;

	if (!u->n_queue)
		return 0;
	ret = sndbuf_raise(from, u, &saved);
	if (ret)
		return ret;
	for (size_t i = 0; i < u->n_queue; i++) {
		ret = send_msg(r, from, to, tolen, u->queue[i], u->type == SOCK_STREAM);
		if (ret) {
			pr_err("restore: refill the receive queue of file %u: message %zu of %zu "
			       "(%zu bytes): %s",
			       f->id, i + 1, u->n_queue, u->queue[i]->data.len, strerror(-ret));
			return ret;
		}
	}
	return sk_set_buf(from, SO_SNDBUF, (uint32_t)saved);
}
