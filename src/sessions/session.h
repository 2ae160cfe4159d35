/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kit that resource kinds ("sessions") use: the state of one
 * checkpoint (ckpt_ctx) and one restore (rst_ctx) of a process, the
 * session_ops each kind exports, and the helpers kinds call (refuse a
 * resource, push a record, put bytes into the target's scratch area, pass
 * a descriptor in). Each kind lives in one file of src/sessions/ with its
 * checkpoint side (dump: read the state while the target is paused, into
 * the image metadata) and its restore side next to each other; the
 * drivers in src/ckpt/ walk the kinds in session_kinds[] (registry.c).
 */
#ifndef RTCR_CTX_H
#define RTCR_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "core/inject.h"
#include "track/track.h"
#include "core/target.h"
#include "image/image.h"
#include "mem/mem.h"
#include "proto/rtcr.pb-c.h"

/* What the memory session read before the pause (smaps VmFlags, sizes). */
struct premap {
	uint64_t start, end;
	char vmflags[128];
};

struct ckpt_ctx {
	struct target *t;
	pid_t pid; /* host pid of the process being dumped */
	pid_t ns_pid;
	struct inject ij;    /* injection into its main thread */
	struct tstop *stops; /* every thread's stop */
	int nstops;
	Rtcr__Image *img;
	Rtcr__Process *proc;
	struct capture *cap;
	bool dry_run;
	bool kill;	     /* the target is killed after the capture (no snapshot then) */
	struct tracker *tk;  /* dirty tracking, or NULL */
	bool incremental;    /* store only what changed since the last image */
	bool live;	     /* tracked memory is copied after the resume */
	unsigned allow_loss; /* bits 1 << Rtcr__LossKind: losses accepted (ckpt_loss) */
	const struct track_last *parent; /* incremental: the image it builds on */
	char *report;			 /* dry run: what would be refused, one per line */
	size_t report_len;
	int refusals;
	struct premap *pre; /* memory: smaps read before the pause */
	size_t npre;
	uint64_t est_bytes;
	/* every descriptor already recorded (any process), to find shared ones */
	struct fdref {
		uint32_t file_id;
		pid_t pid;
		int fd;
	} * fdrefs;
	size_t nfdrefs;
};

/* A thread of the process being restored (index 0: the main thread, which
 * uses rst_ctx.ij). */
struct rst_thread {
	pid_t tid; /* host tid */
	struct inject ij;
	const Rtcr__Thread *th;
	struct user_regs_struct final_regs;
	uint64_t final_sigmask;
	bool ready; /* final_regs/final_sigmask set */
};

struct rst_ctx {
	struct img *im;
	const Rtcr__Image *img;
	const Rtcr__Process *proc;
	struct target *t;
	pid_t pid; /* host pid of the process being rebuilt */
	struct inject ij;
	int sock;     /* our end of the fd-passing socket */
	int xfer_fd;  /* the target's end, its fd number there */
	int log_w[3]; /* write ends of the new LOG pipes */
	bool ignore_cpu;
	uint64_t vdso_ip; /* a syscall instruction in the vDSO (follows it when moved) */
	bool verified;	  /* a verifier thread checks page checksums (restore.c) */
	int *shmem_tfd;	  /* memfd objects: their fd in this process (-1), by Shmem id */
	size_t nshmem_tfd;
	void **fd_state;	   /* per descriptor kind (by FileKind), owned by that kind,
				    * shared by all processes of the restore (-> shared->fd_state) */
	struct rst_shared *shared; /* what all processes of one restore share */
	size_t index;		   /* this process's index in shared->procs */
	/* set by the thread session, applied as the very last step */
	struct user_regs_struct final_regs;
	uint64_t final_sigmask;
	bool have_final;
	struct rst_thread *thr; /* every thread; thr[0] is the main thread */
	size_t nthr;
};

/* State of one restore that all its processes share. */
struct rst_shared {
	void **fd_state;       /* fd_nkinds (registry.h) entries, by FileKind */
	struct rst_ctx *procs; /* one per process of the image, parents first */
	size_t nprocs;
	/* Shmem objects: the process that created it (index, -1: none yet), its
	 * descriptor there (memfd) or its first mapping (MAP_SHARED anonymous) */
	int *shmem_owner;
	int *shmem_owner_tfd;
	uint64_t *shmem_owner_start, *shmem_owner_end, *shmem_owner_pgoff;
	/* Files: a parent-side descriptor kept for the next process that has
	 * the same open file description (-1), or the process/fd where a
	 * target-created one first went */
	int *file_ours;
	pid_t *file_tpid;
	int *file_tfd;
	size_t nfiles; /* arrays by File id, ids < nfiles */
};

enum rst_phase {
	RST_MEMORY = 0, /* address space: VMAs, contents, mm fields */
	RST_TASKS,	/* threads created (with their tids), while still privileged */
	RST_FILES,	/* descriptor table */
	RST_PROCESS,	/* process-wide attributes */
	RST_SIGNALS,	/* handlers, itimers, pending signals: last before threads */
	RST_THREADS,	/* per-thread state, registers */
	RST_LAST,	/* what would stop the injected calls: seccomp */
	RST_NPHASES,
};

struct session_ops {
	const char *name;
	/* While the target is paused: read state into c->proc / c->img.
	 * In a dry run, report what would be refused with ckpt_refuse(). */
	int (*dump)(struct ckpt_ctx *c);
	/* Before the restore creates anything: check the image part against
	 * this machine (files exist and are unchanged...). */
	int (*prepare)(struct rst_ctx *r);
	/* Recreate the state in the stub. */
	int (*restore)(struct rst_ctx *r);
	enum rst_phase phase;
	/* Restore done or failed: free what the kind keeps in the parent
	 * (the target is running or gone). Optional. */
	void (*cleanup)(struct rst_ctx *r);
};

/* Every kind is one line of session_kinds[] (registry.c, registry.h). */

/* Record that a resource cannot be checkpointed: logs an error (or, in a
 * dry run, appends a line to the report) and returns -ENOTSUP. */
int ckpt_refuse(struct ckpt_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Something the image goes without because no restore can bring it back
 * (what: "UDP socket 127.0.0.1:5000: 3 datagrams, 120 bytes"; count and
 * bytes: 0 when not known). Accepted when c->allow_loss has the bit
 * 1 << kind: recorded in the image (Image.losses) and warned about;
 * otherwise refused with ckpt_refuse, naming it. 0 or -errno. */
int ckpt_loss(struct ckpt_ctx *c, Rtcr__LossKind kind, int fd, uint64_t count, uint64_t bytes,
	      const char *what);
/* The name of a loss kind, as the user spells it ("udp-queue"). */
const char *ckpt_loss_name(Rtcr__LossKind kind, char *buf, size_t len);

/*
 * Save the contents of a shared memory object or file that fd (the
 * parent's descriptor on it) reaches, as a Shmem object of the image (page
 * runs with its id); an object already saved (same inode) is not saved
 * twice. memory.c
 */
int mem_capture_object(struct ckpt_ctx *c, int fd, uint64_t ino, bool memfd, const char *name,
		       uint32_t *shmem_id);
/* Before the pause: read c->pid's smaps into c->pre (memory.c), and
 * prepare the capture's buffers for bytes of pages. */
int mem_read_smaps(struct ckpt_ctx *c);
int mem_prealloc(struct ckpt_ctx *c, uint64_t bytes);
/* A zombie's ids, from its status text (process.c). */
int proc_dump_ids(struct ckpt_ctx *c, const char *status);
/* Register the membarrier commands (process.c), before threads exist. */
int process_register_membarrier(struct rst_ctx *r);

/* The injection context of thread i (0: the main thread). */
static inline struct inject *rst_thread_ij(struct rst_ctx *r, size_t i)
{
	return i == 0 ? &r->ij : &r->thr[i].ij;
}

/* Restore helpers (session.c) */
/* The scratch area every process of a restore has (the drivers map it). */
#define RST_SCRATCH_LEN (1ULL << 20)
/* Write a buffer into the target's scratch area at offset off, return its remote address. */
int rst_scratch_put(struct rst_ctx *r, uint64_t off, const void *buf, size_t len, uint64_t *raddr);
/* Pass an open file of ours into the target as fd number `fd`. */
int rst_install_fd(struct rst_ctx *r, int ourfd, int fd, bool cloexec);
/* ... or at whatever number it gets there (*tfd; close-on-exec). */
int rst_pass_fd(struct rst_ctx *r, int ourfd, int *tfd);
/* Make r's main thread create a process or thread (clone3 with set_tid =
 * want, in its pid namespace); it is auto-attached and stopped at its
 * first stop; *host is its host pid. */
int rst_clone_stopped(struct rst_ctx *r, uint64_t flags, uint64_t exit_signal, uint32_t want,
		      const char *what, pid_t *host);

/* protobuf helpers (session.c) */
int pb_push(void ***arr, size_t *n, void *item);
char *xstrdup(const char *s);

#endif
