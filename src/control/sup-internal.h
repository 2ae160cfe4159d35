/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parent of a target, inside (see supervisor.h): the state shared by
 * its parts.
 *
 *   supervisor.c  the event loop, the target's processes, start and end
 *   sup-log.c     the target's output: NAME.log, the terminal, --log FILE
 *   sup-client.c  control-socket clients; info, kill, wait, thaw
 *   sup-ckpt.c    checkpoint requests and the image writer thread
 *   sup-mig.c     migration requests (the sending side's worker)
 *   sup-start.c   starting a target (run, restore), foreground or detached
 */
#ifndef RTCR_SUP_INTERNAL_H
#define RTCR_SUP_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ckpt/ckpt.h"
#include "control/control.h"
#include "migrate/mig.h"
#include "rtcr/rtcr.h"
#include "track/track.h"

#define READ_CHUNK	  65536
#define FWD_CAP		  (1 << 20) /* stop reading a LOG pipe while a forward holds this much */
#define INIT_GRACE_NS	  2000000000ULL	 /* target ended: init must follow within this */
#define DRAIN_GRACE_NS	  2000000000ULL	 /* init reaped: the LOG pipes must reach EOF within this */
#define FWD_GRACE_NS	  30000000000ULL /* detached: give up on a stalled --log reader */
#define CLIENT_TIMEOUT_NS 60000000000ULL /* a client that sends no full line for this long */

/* ---- bookkeeping ---- */

enum hkind { H_SIGNAL, H_LISTEN, H_SRC, H_FWD, H_CLIENT, H_CKPT, H_MIG };

struct handle {
	enum hkind kind;
};

/* Somewhere the target's output is copied to, besides NAME.log. */
struct fwd {
	struct handle h;
	int fd;
	const char *what;
	bool own;  /* our own open file description: close at the end */
	bool poll; /* non-blocking, buffered, EPOLLOUT when full */
	bool sock; /* a socket: send(MSG_DONTWAIT) */
	bool in_epoll;
	bool dead; /* failed (EPIPE...): NAME.log only from now on */
	char *buf;
	size_t off, len, alloc;
};

/* One LOG pipe (stdout or stderr of the target). */
struct src {
	struct handle h;
	int fd;
	const char *what;
	bool eof;
	bool in_epoll;
	struct fwd *to[2];
	int nto;
};

struct client {
	struct handle h;
	int fd;
	uid_t uid;
	char in[CTL_REQ_MAX];
	size_t inlen;
	char *out;
	size_t outoff, outlen;
	int pending_fd; /* received with SCM_RIGHTS, for the next request */
	bool rd_eof;	/* peer shut down its side; answer what was asked, then close */
	bool busy;	/* a request is answered later (wait, checkpoint) */
	bool waiting;	/* that request is `wait` */
	bool dead;	/* freed after the current batch of events */
	uint32_t ev;	/* events registered */
	uint64_t last_ns;
	struct client *next;
};

/* A checkpoint whose image is being written by a separate thread. */
struct ckpt_job {
	struct handle h;
	int efd; /* eventfd: the writer is done */
	bool running;
	pthread_t th;
	struct capture *cap;
	int dirfd;
	struct ckpt_stats st;
	int ret;
	char err[1024];
	struct client *client; /* who asked; NULL once it went away */
	/* the image being written, to become the parent of the next one */
	bool kill;
	char dir[PATH_MAX];
	struct track_last parent; /* valid: it is incremental on this one */
	char losses[1600];	  /* accepted losses in the image, one per line */
};

/* A migration (rtcr migrate): a worker thread streams; the pause and the
 * end of the target are done by the loop's thread (the tracer), on the
 * worker's request. */
struct mig_job {
	struct handle h;
	unsigned allow_loss; /* bits 1 << LossKind (the request's allow_loss) */
	int efd;	     /* the worker wants something, or is done */
	bool running;
	pthread_t th;
	struct mig_opts o;
	struct mig_progress pg;
	struct mig_result res;
	int ret;
	char err[1024];
	struct client *client;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum { MOP_NONE, MOP_CAPTURE, MOP_RELEASE } op;
	bool op_done, done;
	const char *parent_id; /* MOP_CAPTURE */
	struct capture *cap;
	struct ckpt_stats st;
	int op_ret;
	bool kill; /* MOP_RELEASE */
	bool own_tk;
	struct sup *s;
};

struct sup {
	struct target t;
	struct mig_job mig;
	bool detach;
	const char *log_file;
	char dir[PATH_MAX];
	char name[RTCR_NAME_MAX + 1];
	char command[256];

	int epfd, sigfd, lsock, logfd, ready_fd;
	bool sock_made, info_made;
	bool log_warned;
	struct handle sig_h, listen_h;
	struct src src[3];
	struct fwd fwd[3]; /* 0: our stdout, 1: our stderr, 2: --log FILE */
	struct client *clients;
	struct ckpt_job ck;
	struct tracker *tk; /* dirty tracking (rtcr run --track), or NULL */
	/* where the image the dirty state refers to is (track_get_last):
	 * the tracker knows no paths */
	char last_dir[PATH_MAX];

	bool group_stopped;
	bool ended; /* the target has ended (status known) */
	int raw_status;
	bool init_reaped;
	bool init_killed;
	uint64_t end_ns;    /* CLOCK_MONOTONIC when it ended */
	uint64_t reaped_ns; /* ... when init was reaped */
	bool fatal;
};
/* What is being started. */
struct start {
	bool restore;
	const struct rtcr_run_opts *run;
	const struct rtcr_restore_opts *rst;
	struct track_opts track; /* dirty tracking (TRACK_OFF: none), parsed before the start */
	const char *want;	 /* wanted name */
	bool explicit_name;
	char origin[256];
	struct img *im; /* restore a received image (rtcr serve), frozen */
	char *name_out; /* detached: the name, instead of printing it */
	size_t name_len;
};

/* ---- supervisor.c ---- */
uint64_t sup_mono_ns(void);
uint64_t sup_real_ns(void);
int sup_ep_add(struct sup *s, int fd, struct handle *h, uint32_t ev);
int sup_ep_mod(struct sup *s, int fd, struct handle *h, uint32_t ev);
void sup_ep_del(struct sup *s, int fd);
/* Reap and handle every ptrace stop and exit that is there. */
void sup_reap(struct sup *s);
/*
 * Be the parent of a new target until it ends. ready_fd >= 0 (detached):
 * report "ready NAME" or "error MESSAGE" there. Returns the target's
 * status (code or 128+signal) or -errno before it ran.
 */
int sup_supervise(const struct start *st, bool detach, const char *log_file, int ready_fd);

/* ---- sup-log.c ---- */
void sup_fwd_kill(struct sup *s, struct fwd *f, int err);
size_t sup_fwd_pending(const struct fwd *f);
void sup_fwd_flush(struct sup *s, struct fwd *f);
/* Register a LOG pipe in epoll only while its forwards keep up. */
void sup_src_update(struct sup *s, struct src *r);
/* Read one chunk; returns the number of bytes read (0 at EOF or when nothing is there). */
ssize_t sup_src_read(struct sup *s, struct src *r);
int sup_open_logs(struct sup *s);
void sup_wire_sources(struct sup *s);

/* ---- sup-client.c ---- */
void sup_client_close(struct sup *s, struct client *c);
void sup_client_flush(struct sup *s, struct client *c);
void sup_client_send(struct sup *s, struct client *c, const char *p, size_t n);
void sup_client_read(struct sup *s, struct client *c);
/* Answer the complete lines in c->in, one at a time, in order. */
void sup_client_process(struct sup *s, struct client *c);
void sup_reply_error(struct sup *s, struct client *c, const char *msg);
/* Reply built with a memstream: "ok" + fields, newline added here. */
void sup_reply_stream(struct sup *s, struct client *c, char *buf, size_t len);
void sup_reply_wait(struct sup *s, struct client *c);
void sup_accept_clients(struct sup *s);
void sup_free_dead_clients(struct sup *s, bool all);

/* ---- sup-ckpt.c ---- */
void sup_req_checkpoint(struct sup *s, struct client *c, int argc, char **argv);
/* The image writer is done (its eventfd). */
void sup_ckpt_done(struct sup *s);

/* ---- sup-mig.c ---- */
void sup_req_migrate(struct sup *s, struct client *c, int argc, char **argv);
void sup_req_migstat(struct sup *s, struct client *c, int argc, char **argv);
/* The migration worker asks for something, or is done (its eventfd). */
void sup_mig_event(struct sup *s);

/* ---- sup-start.c ---- */
/* Lock the run directory, choose the name and listen on its socket. */
int sup_reserve_name(struct sup *s, const struct start *st);
int sup_start_target(struct sup *s, const struct start *st);

#endif
