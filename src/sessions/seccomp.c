/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Seccomp: strict mode, or the stack of BPF filters (read with
 * PTRACE_SECCOMP_GET_FILTER, newest first) re-installed oldest first.
 * While rtcr injects system calls, seccomp is suspended for the target
 * (PTRACE_O_SUSPEND_SECCOMP), so a filter never sees rtcr's own calls;
 * on restore the filters go in last, after everything else.
 */
#define LOG_PREFIX "seccomp: "
#include <linux/filter.h>
#include <linux/ptrace.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sessions/session.h"
#include "base/log.h"
#include "core/proc.h"

/* glibc's <sys/ptrace.h> clashes with <linux/ptrace.h>: call ptrace directly */
static long xptrace(long req, pid_t pid, unsigned long addr, void *data)
{
	return syscall(SYS_ptrace, req, pid, addr, data);
}

#define MAX_FILTERS 512

static int seccomp_dump(struct ckpt_ctx *c)
{
	Rtcr__Process *p = c->proc;
	char path[64], val[32], *status = NULL;
	Rtcr__SeccompFilter **fl = NULL, **nfl;
	size_t n = 0;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", c->pid);
	if (read_file(path, &status) < 0)
		return pr_perror("read %s", path);
	if (proc_status_field(status, "Seccomp", val, sizeof(val)) == 0) {
		p->has_seccomp_mode = 1;
		p->seccomp_mode = (uint32_t)atoi(val);
	}
	free(status);
	if (p->seccomp_mode != SECCOMP_MODE_FILTER)
		return 0;
	for (unsigned long i = 0; i < MAX_FILTERS; i++) {
		struct seccomp_metadata md = {.filter_off = i, .flags = 0};
		Rtcr__SeccompFilter *f;
		long cnt = xptrace(PTRACE_SECCOMP_GET_FILTER, c->pid, i, NULL);

		if (cnt < 0) {
			if (errno == ENOENT)
				break;
			ret = pr_perror("pid %d: read seccomp filter %lu", c->ns_pid, i);
			goto out;
		}
		f = calloc(1, sizeof(*f));
		if (!f) {
			ret = -ENOMEM;
			goto out;
		}
		rtcr__seccomp_filter__init(f);
		nfl = realloc(fl, sizeof(*fl) * (n + 1));
		if (!nfl) {
			free(f);
			ret = -ENOMEM;
			goto out;
		}
		fl = nfl;
		fl[n++] = f;
		f->has_prog = 1;
		f->prog.len = (size_t)cnt * sizeof(struct sock_filter);
		f->prog.data = malloc(f->prog.len);
		if (!f->prog.data) {
			ret = -ENOMEM;
			goto out;
		}
		if (xptrace(PTRACE_SECCOMP_GET_FILTER, c->pid, i, f->prog.data) != cnt) {
			ret = pr_perror("pid %d: read seccomp filter %lu", c->ns_pid, i);
			goto out;
		}
		if (xptrace(PTRACE_SECCOMP_GET_METADATA, c->pid, sizeof(md), &md) >= 0) {
			f->has_flags = 1;
			f->flags = (uint32_t)md.flags;
		}
	}
out:
	/* the image holds them oldest first */
	for (size_t i = n; i-- > 0;) {
		if (!ret)
			ret = pb_push((void ***)&p->seccomp_filters, &p->n_seccomp_filters, fl[i]);
		else
			rtcr__seccomp_filter__free_unpacked(fl[i], NULL);
	}
	free(fl);
	return ret;
}

static int seccomp_restore_thread(struct rst_ctx *r, struct inject *ij);

static int seccomp_restore(struct rst_ctx *r)
{
	int ret;

	for (size_t t = 0; t < (r->nthr ? r->nthr : 1); t++) {
		ret = seccomp_restore_thread(r, rst_thread_ij(r, t));
		if (ret)
			return ret;
	}
	return 0;
}

/* Seccomp state is per thread; every thread gets the main thread's. */
static int seccomp_restore_thread(struct rst_ctx *r, struct inject *ij)
{
	const Rtcr__Process *p = r->proc;
	uint64_t addr;
	int ret;

	if (p->seccomp_mode == SECCOMP_MODE_STRICT)
		return inject_call(ij, NULL, "enter seccomp strict mode", __NR_prctl,
				   PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0, 0);
	for (size_t i = 0; i < p->n_seccomp_filters; i++) {
		const Rtcr__SeccompFilter *f = p->seccomp_filters[i];
		struct {
			struct sock_fprog fp;
			char pad[16 - sizeof(struct sock_fprog) % 16];
		} hdr;

		if (!f->prog.len || f->prog.len % sizeof(struct sock_filter) ||
		    f->prog.len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
			pr_err("pid %u: seccomp filter %zu is malformed", p->pid, i);
			return -EINVAL;
		}
		ret = rst_scratch_put(r, 4096, f->prog.data, f->prog.len, &addr);
		if (ret)
			return ret;
		memset(&hdr, 0, sizeof(hdr));
		hdr.fp.len = (unsigned short)(f->prog.len / sizeof(struct sock_filter));
		hdr.fp.filter = (struct sock_filter *)(uintptr_t)addr;
		ret = rst_scratch_put(r, 0, &hdr.fp, sizeof(hdr.fp), &addr);
		if (ret)
			return ret;
		ret = inject_call(ij, NULL, "install a seccomp filter", __NR_seccomp,
				  SECCOMP_SET_MODE_FILTER, f->flags & SECCOMP_FILTER_FLAG_LOG, addr,
				  0, 0, 0);
		if (ret)
			return ret;
	}
	return 0;
}

const struct session_ops session_seccomp = {
    .name = "seccomp",
    .dump = seccomp_dump,
    .restore = seccomp_restore,
    .phase = RST_LAST,
};
