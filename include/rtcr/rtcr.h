/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * librtcr: the public C API. The rtcr command line tool is a thin client
 * of these functions. Every function returns 0 (or a documented
 * non-negative value) on success and a negative errno on failure; the
 * cause has then been logged and is available from rtcr_last_error().
 */
#ifndef RTCR_RTCR_H
#define RTCR_RTCR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RTCR_NAME_MAX 64

/* ---- logging ---- */
void rtcr_set_verbosity(int level); /* 0 errors, 1 warnings (default), 2 info, 3 debug */
const char *rtcr_last_error(void);

/* ---- run directory ---- */
/* $RTCR_RUNDIR, else /run/rtcr (root) or $XDG_RUNTIME_DIR/rtcr; created 0700. */
int rtcr_rundir(char *buf, size_t len);

/* ---- starting and restoring targets (this process becomes the parent) ---- */
struct rtcr_run_opts {
	const char *name;     /* NULL: derived from the program name */
	bool detach;	      /* return once the target runs; a daemon stays its parent */
	const char *log_file; /* also append the target's output here */
	char *const *argv;    /* program and arguments */
	const char *track;    /* dirty tracking: NULL/"off", "fault[:GRAN]", "async" */
};
/* Without detach: returns the target's exit status as a shell would
 * (code, or 128+signal). With detach: 0 once the target runs; the name is
 * printed on stdout. */
int rtcr_run(const struct rtcr_run_opts *o);

struct rtcr_restore_opts {
	const char *dir;  /* image directory */
	const char *name; /* NULL: the image's name, or NAME-2, NAME-3... if taken */
	bool detach;
	const char *log_file;
	bool ignore_cpu;   /* restore even if CPU features recorded in the image are missing */
	const char *track; /* dirty tracking of the restored target (as for run) */
};
int rtcr_restore(const struct rtcr_restore_opts *o);

/* ---- controlling a running target through its parent ---- */
struct rtcr_ckpt_req {
	const char *name;
	const char *dir; /* created if missing */
	bool kill;	 /* kill the target after capture (default: leave running) */
	bool dry_run;	 /* write nothing; report what would be refused */
	/* With dirty tracking (rtcr run --track), a checkpoint is incremental
	 * by default once an earlier image of this target was written: it
	 * holds only what changed since that image and refers to it. */
	bool incremental;    /* insist on an incremental image (error if not possible) */
	bool full;	     /* a full image even when an incremental one is possible */
	const char *parent;  /* the image it must build on (must be the last one written) */
	bool live;	     /* resume at once; copy memory after (copy-before-write) */
	unsigned allow_loss; /* RTCR_LOSS_*: what the image may go without (else refused) */
};
/* What a checkpoint refuses unless told it may give it up, because no
 * restore can bring it back (each is recorded in the image: rtcr show). */
#define RTCR_LOSS_UDP_QUEUE	(1u << 1) /* "udp-queue": datagrams queued on a UDP socket */
#define RTCR_LOSS_INOTIFY_QUEUE (1u << 2) /* "inotify-queue": inotify events not read yet */
#define RTCR_LOSS_KNOWN		"udp-queue, inotify-queue"
/* A comma-separated list of loss names into a mask of RTCR_LOSS_*; -EINVAL
 * (nothing logged) for an empty or unknown name. */
int rtcr_loss_parse(const char *list, unsigned *mask);
struct rtcr_ckpt_result {
	uint64_t pause_ns;    /* time the target was stopped */
	uint64_t capture_ns;  /* whole capture incl. the pause */
	uint64_t write_ns;    /* serializing and writing the image after the resume */
	uint64_t mem_bytes;   /* bytes of memory contents captured */
	uint64_t image_bytes; /* size of the image files */
	bool incremental;     /* the image is incremental */
	unsigned chain_depth; /* links above the full image (0: full) */
	char image_id[40];
	char parent_id[40]; /* incremental: the image it builds on */
	char summary[512];  /* one line for the user */
	char report[8192];  /* dry run: what would be refused, one per line ("" when nothing) */
	unsigned nlosses;   /* losses accepted (allow_loss) and recorded in the image */
	char losses[2048];  /* ... one per line: "pid 1: fd 3: udp-queue: 3 datagrams, 120 bytes" */
};
int rtcr_checkpoint(const struct rtcr_ckpt_req *r, struct rtcr_ckpt_result *res);

/* Compact a chain of incremental images (dirs[n-1] the newest; the others
 * are where to look for its ancestors, besides the paths recorded in the
 * images) into one full image in out_dir. */
int rtcr_image_merge(const char *const *dirs, int n, const char *out_dir);

struct rtcr_target_info {
	char name[RTCR_NAME_MAX + 1];
	pid_t parent_pid; /* the rtcr parent process */
	pid_t pid;	  /* the target, host pid */
	pid_t ns_pid;	  /* the target, pid in its namespace */
	char state[32];	  /* running, stopped, exited, ... */
	int status;	  /* exit status when exited (code or 128+signal) */
	char command[256];
	char origin[256];    /* "run" or "restore DIR" */
	uint64_t started_ns; /* CLOCK_REALTIME */
};
/* Fills up to max entries; returns the number of targets (may exceed max). */
int rtcr_list(struct rtcr_target_info *out, int max);
int rtcr_kill(const char *name, int sig);
/* ---- migration ---- */
struct rtcr_migrate_req {
	const char *name;
	const char *to;		   /* HOST:PORT of an rtcr serve */
	const char *key_file;	   /* the key both sides hold (rtcr keygen) */
	bool stop;		   /* stop-and-copy instead of pre-copy */
	unsigned max_downtime_ms;  /* pre-copy: rounds until the rest fits (default 50) */
	bool abort_on_no_converge; /* default: stop anyway */
	unsigned max_rounds;	   /* default 30 */
	int timeout_ms;		   /* any step of the other side (default 10000) */
	unsigned allow_loss;	   /* RTCR_LOSS_*, as for rtcr_checkpoint */
	/* progress, about every 250 ms (NULL: none) */
	void (*progress)(void *arg, const char *phase, unsigned round, uint64_t sent,
			 uint64_t round_bytes, uint64_t dirty, uint64_t rate);
	void *arg;
};
struct rtcr_migrate_result {
	uint64_t total_ns, downtime_ns, predicted_ns, bytes_sent, memory_bytes;
	unsigned rounds;
	bool converged;
	char mode[16];
	char dest_name[64];
};
int rtcr_migrate(const struct rtcr_migrate_req *r, struct rtcr_migrate_result *res);

struct rtcr_serve_opts {
	const char *listen;   /* HOST:PORT (":PORT": every address) */
	const char *key_file; /* peers must prove they hold it */
	bool detach;	      /* run in the background once listening */
	int timeout_ms;	      /* any step of a peer (default 10000) */
	const char *log_file; /* detached: where its messages go (default: nowhere) */
};
/* Accept migrations until killed; each restored target gets its own
 * parent on this node (rtcr ps, log, checkpoint... work as for any). */
int rtcr_serve(const struct rtcr_serve_opts *o);

/* Let a target that was restored frozen (a migration not yet handed over) run. */
int rtcr_thaw(const char *name);
/* Blocks until the target exits; returns its status (code, or 128+signal). */
int rtcr_wait(const char *name);
/* Copies what the target printed to fd. */
int rtcr_log(const char *name, int fd);

/* ---- images ---- */
int rtcr_show(const char *dir, FILE *out, bool json);

/* ---- this kernel ---- */
/* Prints each feature rtcr uses, present or not; returns 0 when the basics are there. */
int rtcr_check(FILE *out, bool json);

/* ---- keys for migration ---- */
/* Write a new random key file at path (mode 0600) for rtcr serve and
 * rtcr migrate. -EEXIST if path exists, unless replace: then it is
 * replaced atomically. */
int rtcr_keygen(const char *path, bool replace);

#ifdef __cplusplus
}
#endif
#endif
