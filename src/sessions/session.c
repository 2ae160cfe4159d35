/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kinds' kit (session.h): what every resource kind calls, apart from
 * the drivers in src/ckpt/ that walk the kinds. Checkpoint side: refuse a
 * resource, push a record, copy a string, reserve capture memory. Restore
 * side: put bytes into the target's scratch area, pass a descriptor in,
 * make the target clone a stopped process or thread.
 */
#define LOG_PREFIX "checkpoint: "
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sessions/session.h"
#include "base/log.h"
#include "base/scm.h"

/* ---------- checkpoint ---------- */

int pb_push(void ***arr, size_t *n, void *item)
{
	void **na;

	if (!item)
		return -ENOMEM;
	/* grow at powers of two */
	if ((*n & (*n - 1)) == 0) {
		na = realloc(*arr, sizeof(void *) * (*n ? *n * 2 : 1));
		if (!na)
			return -ENOMEM;
		*arr = na;
	}
	(*arr)[(*n)++] = item;
	return 0;
}

char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

int ckpt_refuse(struct ckpt_ctx *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t l;
	char *nr;

	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): started above; clang-tidy 14 FP */
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->refusals++;
	if (!c->dry_run) {
		pr_err("%s", line);
		return -ENOTSUP;
	}
	l = strlen(line);
	nr = realloc(c->report, c->report_len + l + 2);
	if (!nr)
		return -ENOMEM;
	c->report = nr;
	memcpy(c->report + c->report_len, line, l);
	c->report_len += l;
	c->report[c->report_len++] = '\n';
	c->report[c->report_len] = '\0';
	return 0;
}

const char *ckpt_loss_name(Rtcr__LossKind kind, char *buf, size_t len)
{
	const ProtobufCEnumValue *ev =
	    protobuf_c_enum_descriptor_get_value(&rtcr__loss_kind__descriptor, (int)kind);
	const char *n;
	size_t i;

	if (!ev || strncmp(ev->name, "LOSS_", 5) || !len)
		return "?";
	n = ev->name + 5;
	for (i = 0; n[i] && i + 1 < len; i++)
		buf[i] = n[i] == '_' ? '-' : (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
	buf[i] = '\0';
	return buf;
}

int ckpt_loss(struct ckpt_ctx *c, Rtcr__LossKind kind, int fd, uint64_t count, uint64_t bytes,
	      const char *what)
{
	char name[32];
	Rtcr__Loss *l;

	ckpt_loss_name(kind, name, sizeof(name));
	if (!(c->allow_loss & (1u << kind)))
		return ckpt_refuse(
		    c,
		    "pid %d: fd %d: %s: lost at restore (it cannot be brought back); "
		    "refused unless the loss '%s' is accepted",
		    c->ns_pid, fd, what, name);
	if (c->dry_run)
		return 0;
	pr_warn("pid %d: fd %d: %s: not saved, lost at restore (loss '%s' accepted)", c->ns_pid, fd,
		what, name);
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	rtcr__loss__init(l);
	l->has_kind = l->has_pid = l->has_fd = l->has_count = l->has_bytes = 1;
	l->kind = kind;
	l->pid = (uint32_t)c->ns_pid;
	l->fd = fd;
	l->count = count;
	l->bytes = bytes;
	l->what = strndup(what, 255);
	if (!l->what) {
		free(l);
		return -ENOMEM;
	}
	if (pb_push((void ***)&c->img->losses, &c->img->n_losses, l)) {
		free(l->what);
		free(l);
		return -ENOMEM;
	}
	return 0;
}

/* ---------- restore ---------- */

#undef LOG_PREFIX
#define LOG_PREFIX "restore: "

int rst_scratch_put(struct rst_ctx *r, uint64_t off, const void *buf, size_t len, uint64_t *raddr)
{
	if (!r->ij.scratch || off > RST_SCRATCH_LEN || len > RST_SCRATCH_LEN - off) {
		pr_err("%zu bytes do not fit the scratch area", len);
		return -E2BIG;
	}
	if (raddr)
		*raddr = r->ij.scratch + off;
	if (!len)
		return 0;
	return remote_write(r->pid, r->ij.scratch + off, buf, len);
}

int rst_install_fd(struct rst_ctx *r, int ourfd, int fd, bool cloexec)
{
	int newfd = -1, ret;

	ret = rst_pass_fd(r, ourfd, &newfd);
	if (ret)
		return ret;
	if (newfd == fd) {
		if (!cloexec)
			return inject_call(&r->ij, NULL, "fcntl F_SETFD", __NR_fcntl, (uint64_t)fd,
					   F_SETFD, 0, 0, 0, 0);
		return 0;
	}
	ret = inject_call(&r->ij, NULL, "dup3", __NR_dup3, (uint64_t)newfd, (uint64_t)fd,
			  cloexec ? O_CLOEXEC : 0, 0, 0, 0);
	if (ret)
		return ret;
	return inject_call(&r->ij, NULL, "close", __NR_close, (uint64_t)newfd, 0, 0, 0, 0, 0);
}

/* Pass an open file of ours into the target; *tfd is its number there
 * (the lowest free one, close-on-exec). */
int rst_pass_fd(struct rst_ctx *r, int ourfd, int *tfd)
{
	struct {
		struct msghdr mh;
		struct iovec iov;
		char data[8];
		char cbuf[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8)));
	} remote;
	char cbuf[CMSG_SPACE(sizeof(int))] __attribute__((aligned(8)));
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	char c = 'f';
	uint64_t base = r->ij.scratch + 4096;
	long got;
	int newfd, ret;

	/* send it */
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = &c;
	iov.iov_len = 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	scm_attach(&mh, cbuf, sizeof(cbuf), SCM_RIGHTS, &ourfd, sizeof(int));
	if (sendmsg(r->sock, &mh, 0) != 1)
		return pr_perror("pass a descriptor to the target");
	/* receive it in the target */
	memset(&remote, 0, sizeof(remote));
	remote.iov.iov_base = (void *)(uintptr_t)(base + offsetof(__typeof__(remote), data));
	remote.iov.iov_len = sizeof(remote.data);
	remote.mh.msg_iov = (void *)(uintptr_t)(base + offsetof(__typeof__(remote), iov));
	remote.mh.msg_iovlen = 1;
	remote.mh.msg_control = (void *)(uintptr_t)(base + offsetof(__typeof__(remote), cbuf));
	remote.mh.msg_controllen = sizeof(remote.cbuf);
	ret = rst_scratch_put(r, 4096, &remote, sizeof(remote), NULL);
	if (ret)
		return ret;
	ret = inject_call(&r->ij, &got, "receive a descriptor", __NR_recvmsg, (uint64_t)r->xfer_fd,
			  base, MSG_CMSG_CLOEXEC, 0, 0, 0);
	if (ret)
		return ret;
	ret = remote_read(r->pid, base, &remote, sizeof(remote));
	if (ret)
		return ret;
	cm = (struct cmsghdr *)remote.cbuf;
	if (remote.mh.msg_controllen < CMSG_LEN(sizeof(int)) || cm->cmsg_type != SCM_RIGHTS) {
		pr_err("the target received no descriptor");
		return -EIO;
	}
	memcpy(&newfd, CMSG_DATA(cm), sizeof(int));
	*tfd = newfd;
	return 0;
}

int rst_clone_stopped(struct rst_ctx *r, uint64_t flags, uint64_t exit_signal, uint32_t want,
		      const char *what, pid_t *host)
{
	struct clone_args_k {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
		    set_tid, set_tid_size, cgroup;
	} ca;
	uint64_t addr;
	long res;
	int st, ret;

	memset(&ca, 0, sizeof(ca));
	ca.flags = flags;
	ca.exit_signal = exit_signal;
	ret = rst_scratch_put(r, 256, &want, sizeof(uint32_t), &addr);
	if (ret)
		return ret;
	ca.set_tid = addr;
	ca.set_tid_size = 1;
	ret = rst_scratch_put(r, 0, &ca, sizeof(ca), &addr);
	if (ret)
		return ret;
	r->ij.event_msg = 0;
	ret = inject_call(&r->ij, &res, "clone3", __NR_clone3, addr, sizeof(ca), 0, 0, 0, 0);
	if (ret) {
		pr_err("%s %u: cannot be created with its id", what, want);
		return ret;
	}
	*host = (pid_t)r->ij.event_msg;
	if (*host <= 0) {
		pr_err("%s %u: created but not traced", what, want);
		return -ECHILD;
	}
	while (waitpid(*host, &st, __WALL) < 0) {
		if (errno != EINTR)
			return pr_perror("wait for new %s %d", what, *host);
	}
	if (!WIFSTOPPED(st)) {
		pr_err("%s %u ended at once", what, want);
		return -ECHILD;
	}
	return 0;
}
