/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * inotify: the watches (watch descriptor, mask with IN_ONESHOT and
 * IN_EXCL_UNLINK, and the watched inode with its file handle, from
 * fdinfo) and the status flags.
 *
 * The watched inode is found again with its file handle
 * (open_by_handle_at on a mount of its filesystem), so a watched file that
 * was renamed is still found; its path at checkpoint is kept too and used
 * when the handle does not work (it must name the same inode).
 *
 * Restore, in the parent (an inotify instance is not tied to a process):
 * inotify_init1, then the watches in watch-descriptor order, each through
 * /proc/self/fd/N of the inode opened by handle. The kernel hands out watch
 * descriptors one after the other (cyclically), so a gap in the numbers is
 * recreated by adding and removing the watch until the next number is the
 * one it had; the IN_IGNORED events that makes are read away. Then it is
 * passed into the target.
 *
 * Events queued and not read yet cannot be queued again (only the kernel
 * makes them): refused, naming how many bytes, unless that loss
 * (inotify-queue) is accepted (ckpt_loss: recorded in the image). Lost: the kernel's "last watch
 * descriptor" when it is above the highest live one (new watches may reuse numbers of removed
 * ones); watch limits are charged to the user that runs rtcr.
 */
#define LOG_PREFIX "inotify: "
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/log.h"
#include "core/proc.h"
#include "sessions/fd-event.h"

#define INOTIFY_MAX_WATCHES 65536
#define INOTIFY_MASK_KEPT   (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK)
#define HANDLE_MAX	    128 /* MAX_HANDLE_SZ */
/* add/remove rounds allowed to skip over unused watch descriptors */
#define WD_SKIP_MAX (1 << 20)

static bool inotify_match(struct ckpt_ctx *c, const struct fd_info *fi)
{
	return ev_is_anon(fi, "inotify");
}

/* Undo the octal escapes of a mountinfo path (in place). */
static void unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/* Open the inode (dev, ino) by its file handle through some mount of dev
 * (O_PATH); -errno if no mount of ours finds it. */
static int open_handle(uint64_t dev, uint64_t ino, int type, const uint8_t *hb, size_t hlen)
{
	struct file_handle *fh;
	char *mi = NULL, *line, *save = NULL;
	int ret = -ENOENT;

	if (hlen == 0 || hlen > HANDLE_MAX)
		return -EINVAL;
	fh = malloc(sizeof(*fh) + hlen);
	if (!fh)
		return -ENOMEM;
	fh->handle_bytes = (unsigned int)hlen;
	fh->handle_type = type;
	memcpy(fh->f_handle, hb, hlen);
	if (read_file("/proc/self/mountinfo", &mi) < 0) {
		ret = pr_perror("read /proc/self/mountinfo");
		goto out;
	}
	for (line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned int maj, min;
		char mnt[PATH_MAX];
		struct stat st;
		int mfd, fd;

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3 ||
		    makedev(maj, min) != dev)
			continue;
		unescape(mnt);
		mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* not O_PATH: refused */
		if (mfd < 0)
			continue;
		if (fstat(mfd, &st) < 0 || st.st_dev != dev) {
			close(mfd); /* covered by another mount */
			continue;
		}
		fd = open_by_handle_at(mfd, fh, O_PATH | O_CLOEXEC);
		close(mfd);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (fstat(fd, &st) == 0 && st.st_ino == ino && st.st_dev == dev) {
			ret = fd;
			goto out;
		}
		close(fd);
		ret = -ESTALE;
	}
out:
	free(mi);
	free(fh);
	return ret;
}

static int open_watch(const Rtcr__InotifyWatch *w)
{
	struct stat st;
	int fd;

	fd = open_handle(w->dev, w->ino, w->handle_type, w->handle.data, w->handle.len);
	if (fd >= 0 || !w->path || !w->path[0])
		return fd;
	fd = open(w->path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_ino != w->ino || st.st_dev != w->dev) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static void describe(const Rtcr__InotifyWatch *w, char *buf, size_t len)
{
	snprintf(buf, len, "inode %" PRIu64 " on %u:%u%s%s", w->ino, major(w->dev), minor(w->dev),
		 w->path && w->path[0] ? ", " : "", w->path ? w->path : "");
}

static int parse_watch(const char *p, Rtcr__InotifyWatch *w)
{
	unsigned int wd, sdev, mask, ign, hbytes;
	int htype, n = 0;
	unsigned long ino;

	if (sscanf(p,
		   "%x ino:%lx sdev:%x mask:%x ignored_mask:%x fhandle-bytes:%x "
		   "fhandle-type:%x f_handle:%n",
		   &wd, &ino, &sdev, &mask, &ign, &hbytes, &htype, &n) != 7 ||
	    !n)
		return -ENOENT;
	if (!wd || wd > INT_MAX || !hbytes || hbytes > HANDLE_MAX)
		return -EINVAL;
	w->handle.data = malloc(hbytes);
	if (!w->handle.data)
		return -ENOMEM;
	p += n;
	for (unsigned int i = 0; i < hbytes; i++, p += 2) {
		char hex[3] = {p[0], p[0] ? p[1] : 0, 0};

		if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
			return -EINVAL;
		w->handle.data[i] = (uint8_t)strtoul(hex, NULL, 16);
	}
	w->has_handle = w->has_handle_type = w->has_wd = w->has_mask = w->has_ino = w->has_dev = 1;
	w->handle.len = hbytes;
	w->handle_type = htype;
	w->wd = (int32_t)wd;
	w->mask = mask;
	w->ino = ino;
	/* the kernel's dev_t: 12 bits major, 20 bits minor */
	w->dev = makedev(sdev >> 20, sdev & 0xfffff);
	return 0;
}

static int cmp_wd(const void *a, const void *b)
{
	const Rtcr__InotifyWatch *x = *(Rtcr__InotifyWatch *const *)a;
	const Rtcr__InotifyWatch *y = *(Rtcr__InotifyWatch *const *)b;

	return x->wd < y->wd ? -1 : x->wd > y->wd;
}

/* Events queued (bytes) are lost at restore: refused unless accepted.
 * An event is a struct inotify_event and its name (padded to that size):
 * bytes / 16 is the count when no event names a file, else more than it. */
static int inotify_queue_loss(struct ckpt_ctx *c, int fd, int queued)
{
	const uint64_t ev = sizeof(struct inotify_event);
	uint64_t n = (uint64_t)queued / ev;
	char what[128];

	if (queued <= 0)
		return 0;
	snprintf(what, sizeof(what), "inotify: up to %" PRIu64 " queued event%s, %d bytes", n,
		 n == 1 ? "" : "s", queued);
	return ckpt_loss(c, RTCR__LOSS_KIND__LOSS_INOTIFY_QUEUE, fd, n, (uint64_t)queued, what);
}

static int inotify_dump(struct ckpt_ctx *c, const struct fd_info *fi, Rtcr__File *f)
{
	Rtcr__InotifyFile *in;
	const char *p;
	char what[PATH_MAX + 64];
	int ours, queued = 0, ret;

	ret = ev_dump_flags(c, fi, "inotify");
	if (ret)
		return ret;
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	rtcr__inotify_file__init(in);
	f->inotify = in;
	for (p = ev_field(fi->fdinfo, "inotify wd:"); p; p = ev_field(p, "inotify wd:")) {
		Rtcr__InotifyWatch *w;
		char link[64], path[PATH_MAX];
		ssize_t n;
		int fd;

		if (in->n_watches >= INOTIFY_MAX_WATCHES)
			return ckpt_refuse(c, "pid %d: fd %d: inotify with more than %d watches",
					   c->ns_pid, fi->fd, INOTIFY_MAX_WATCHES);
		w = calloc(1, sizeof(*w));
		if (!w)
			return -ENOMEM;
		rtcr__inotify_watch__init(w);
		ret = pb_push((void ***)&in->watches, &in->n_watches, w);
		if (ret) {
			free(w);
			return ret;
		}
		ret = parse_watch(p, w);
		if (ret == -ENOMEM)
			return ret;
		if (ret)
			return ckpt_refuse(c,
					   "pid %d: fd %d: inotify watch '%.*s': no file handle "
					   "for the watched inode (its filesystem has none?)",
					   c->ns_pid, fi->fd, (int)strcspn(p, "\n"), p);
		if (w->mask & ~(uint32_t)INOTIFY_MASK_KEPT)
			return ckpt_refuse(c,
					   "pid %d: fd %d: inotify watch %d with mask 0x%x not "
					   "supported",
					   c->ns_pid, fi->fd, w->wd, w->mask);
		fd = open_handle(w->dev, w->ino, w->handle_type, w->handle.data, w->handle.len);
		if (fd < 0) {
			describe(w, what, sizeof(what));
			return ckpt_refuse(c,
					   "pid %d: fd %d: inotify watch %d: cannot open the "
					   "watched %s by its handle (%s)",
					   c->ns_pid, fi->fd, w->wd, what, strerror(-fd));
		}
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		close(fd);
		if (n > 0 && path[0] == '/') {
			struct stat st;

			path[n] = '\0';
			if (stat(path, &st) == 0 && st.st_ino == w->ino && st.st_dev == w->dev)
				w->path = xstrdup(path);
		}
	}
	qsort(in->watches, in->n_watches, sizeof(*in->watches), cmp_wd);
	ours = ev_take_fd(c, fi->fd);
	if (ours < 0)
		return ours;
	if (ioctl(ours, FIONREAD, &queued) < 0)
		queued = 0;
	close(ours);
	return inotify_queue_loss(c, fi->fd, queued);
}

static int inotify_prepare(struct rst_ctx *r, const Rtcr__File *f)
{
	const Rtcr__InotifyFile *in = f->inotify;
	char what[PATH_MAX + 64];
	int32_t last = 0;
	uint64_t skip = 0;
	int ret = ev_prepare_common(f, in, "inotify", O_RDONLY);

	if (ret)
		return ret;
	if (in->n_watches > INOTIFY_MAX_WATCHES) {
		pr_err("file %u: inotify with %zu watches (at most %d)", f->id, in->n_watches,
		       INOTIFY_MAX_WATCHES);
		return -EINVAL;
	}
	for (size_t i = 0; i < in->n_watches; i++) {
		const Rtcr__InotifyWatch *w = in->watches[i];
		int fd;

		if (!w || w->wd <= last) {
			pr_err("file %u: inotify watch %zu: missing, or its descriptor %d is not "
			       "above the previous one's",
			       f->id, i, w ? w->wd : 0);
			return -EINVAL;
		}
		skip += (uint64_t)(w->wd - last - 1);
		last = w->wd;
		if (!(w->mask & IN_ALL_EVENTS) || (w->mask & ~(uint32_t)INOTIFY_MASK_KEPT)) {
			pr_err("file %u: inotify watch %d: mask 0x%x", f->id, w->wd, w->mask);
			return -EINVAL;
		}
		if (w->handle.len > HANDLE_MAX || (!w->handle.len && (!w->path || !w->path[0]))) {
			pr_err("file %u: inotify watch %d: file handle of %zu bytes", f->id, w->wd,
			       w->handle.len);
			return -EINVAL;
		}
		if (w->path && w->path[0] && w->path[0] != '/') {
			pr_err("file %u: inotify watch %d: relative path", f->id, w->wd);
			return -EINVAL;
		}
		fd = open_watch(w);
		if (fd < 0) {
			describe(w, what, sizeof(what));
			pr_err("restore: inotify watch %d: the watched %s is gone (%s)", w->wd,
			       what, strerror(-fd));
			return fd;
		}
		close(fd);
	}
	if (skip > WD_SKIP_MAX) {
		pr_err("file %u: inotify watch descriptors up to %d with %" PRIu64 " unused below: "
		       "too many to skip (at most %d)",
		       f->id, last, skip, WD_SKIP_MAX);
		return -E2BIG;
	}
	return 0;
}

/* Read away the events restoring made (IN_IGNORED of the skipped numbers). */
static int drain(int fd)
{
	char buf[4096] __attribute__((aligned(8)));

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return pr_perror("read inotify events");
		return 0;
	}
}

static int add_watch(int in, const Rtcr__File *f, const Rtcr__InotifyWatch *w, int32_t prev)
{
	char path[64], what[PATH_MAX + 64];
	int fd, wd, ret = 0;

	fd = open_watch(w);
	if (fd < 0) {
		describe(w, what, sizeof(what));
		pr_err("restore: inotify watch %d: the watched %s is gone (%s)", w->wd, what,
		       strerror(-fd));
		return fd;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (int rounds = 0;; rounds++) {
		wd = inotify_add_watch(in, path, w->mask);
		if (wd < 0) {
			ret = pr_perror("file %u: inotify_add_watch (watch %d)", f->id, w->wd);
			break;
		}
		if (wd == w->wd)
			break;
		if (wd <= prev || wd > w->wd || rounds > WD_SKIP_MAX) {
			describe(w, what, sizeof(what));
			pr_err("file %u: inotify watch %d on %s got descriptor %d", f->id, w->wd,
			       what, wd);
			ret = -EINVAL;
			break;
		}
		if (inotify_rm_watch(in, wd) < 0) {
			ret = pr_perror("file %u: inotify_rm_watch %d", f->id, wd);
			break;
		}
		if (rounds % 4096 == 4095) {
			ret = drain(in);
			if (ret)
				break;
		}
	}
	close(fd);
	return ret;
}

static int inotify_open(struct rst_ctx *r, const Rtcr__File *f, int *ourfd, int *tfd)
{
	const Rtcr__InotifyFile *in = f->inotify;
	int fd, ret = 0;

	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return pr_perror("file %u: inotify_init1", f->id);
	for (size_t i = 0; i < in->n_watches && !ret; i++)
		ret = add_watch(fd, f, in->watches[i], i ? in->watches[i - 1]->wd : 0);
	if (!ret)
		ret = drain(fd);
	if (!ret)
		ret = ev_set_flags(r, f, fd, -1, !(f->flags & O_NONBLOCK));
	if (ret) {
		close(fd);
		return ret;
	}
	*ourfd = fd;
	return 0;
}

const struct fd_ops fd_inotify = {
    .name = "inotify",
    .kind = RTCR__FILE_KIND__FILE_INOTIFY,
    .match = inotify_match,
    .dump = inotify_dump,
    .prepare = inotify_prepare,
    .open = inotify_open,
};
