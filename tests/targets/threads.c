/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * threads: a pool of 8 workers sharing a mutex and a condition variable,
 * each with a thread-local counter; one thread asleep in nanosleep for an
 * hour, one blocked in a futex wait on a condition nobody signals; per
 * thread: a name, a signal mask, a scheduling policy. On SIGUSR1 the main
 * thread checks that every thread still has its tid, name, mask and
 * policy, that pthread_kill reaches the sleeper and wakes it, that the
 * waiter wakes on its condition, stops the pool, joins every thread and
 * compares the work done with the per-thread (TLS) counters.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "tgt.h"

#define NW 8

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static long work, total, per[NW];
static int stop, waiter_go;
static __thread long mine;
static pid_t tids[NW + 2];
static volatile sig_atomic_t sleeper_woken;

static void on_usr2(int sig)
{
	(void)sig;
	sleeper_woken = 1;
}

static void *worker(void *arg)
{
	long i = (long)arg;
	char name[16];
	sigset_t m;

	tids[i] = (pid_t)syscall(SYS_gettid);
	snprintf(name, sizeof(name), "worker%ld", i);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	if (i % 2)
		sigaddset(&m, SIGHUP); /* odd workers also block SIGHUP */
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	if (i == 3)
		setpriority(PRIO_PROCESS, 0, 7); /* per-thread nice */
	for (;;) {
		pthread_mutex_lock(&mu);
		while (!work && !stop)
			pthread_cond_wait(&cv, &mu);
		if (!work && stop) {
			pthread_mutex_unlock(&mu);
			break;
		}
		work--;
		total++;
		pthread_mutex_unlock(&mu);
		mine++;
		per[i] = mine;
	}
	return (void *)mine;
}

static void *sleeper(void *arg)
{
	struct timespec ts = {3600, 0};
	sigset_t m;

	(void)arg;
	tids[NW] = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "sleeper");
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	while (!sleeper_woken)
		nanosleep(&ts, &ts);
	return NULL;
}

static void *waiter(void *arg)
{
	sigset_t m;

	(void)arg;
	tids[NW + 1] = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "waiter");
	sigfillset(&m);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	pthread_mutex_lock(&mu);
	while (!waiter_go)
		pthread_cond_wait(&never, &mu);
	pthread_mutex_unlock(&mu);
	return (void *)42L;
}

static int thread_nice(pid_t tid)
{
	errno = 0;
	return getpriority(PRIO_PROCESS, (id_t)tid);
}

int main(void)
{
	pthread_t t[NW], ts, tw;
	struct sigaction sa;
	pid_t before[NW + 2];
	void *ret;
	long sum = 0;

	tgt_install_usr1();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	SETUP(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
	for (long i = 0; i < NW; i++)
		SETUP(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "pthread_create");
	SETUP(pthread_create(&ts, NULL, sleeper, NULL) == 0, "pthread_create");
	SETUP(pthread_create(&tw, NULL, waiter, NULL) == 0, "pthread_create");
	while (!tids[NW + 1] || !tids[NW] || !tids[NW - 1])
		tgt_sleep_ms(10);
	tgt_sleep_ms(50);
	memcpy(before, tids, sizeof(before));
	say("READY");
	while (!tgt_usr1) {
		pthread_mutex_lock(&mu);
		work += 20;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		tgt_sleep_ms(20);
	}
	/* every thread still there, with its tid and name */
	for (int i = 0; i < NW + 2; i++) {
		char path[64], name[32] = "";
		FILE *f;

		CHECK(tids[i] == before[i], "thread %d: tid %d became %d", i, before[i], tids[i]);
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tids[i]);
		f = fopen(path, "r");
		CHECK(f != NULL, "thread %d (tid %d) is gone", i, tids[i]);
		if (f) {
			if (fgets(name, sizeof(name), f))
				name[strcspn(name, "\n")] = '\0';
			fclose(f);
			if (i < NW) {
				char want[16];

				snprintf(want, sizeof(want), "worker%d", i);
				CHECK(!strcmp(name, want), "thread %d: name '%s', want '%s'", i,
				      name, want);
			}
		}
		if (i < NW) {
			char path2[64], *line = NULL, *p;
			size_t cap = 0;
			unsigned long long blk = 0;

			snprintf(path2, sizeof(path2), "/proc/self/task/%d/status", tids[i]);
			f = fopen(path2, "r");
			while (f && getline(&line, &cap, f) > 0)
				if ((p = strstr(line, "SigBlk:")))
					blk = strtoull(p + 7, NULL, 16);
			if (f)
				fclose(f);
			free(line);
			unsigned long long want = (1ULL << (SIGUSR1 - 1)) | ((i % 2) ? 1ULL : 0);
			CHECK(blk == want, "thread %d: blocked mask %llx, want %llx", i, blk, want);
		}
	}
	CHECK(thread_nice(tids[3]) == 7, "worker3: nice %d, want 7", thread_nice(tids[3]));
	CHECK(thread_nice(tids[2]) == 0, "worker2: nice %d, want 0", thread_nice(tids[2]));
	/* the sleeper wakes on pthread_kill */
	CHECK(pthread_kill(ts, SIGUSR2) == 0, "pthread_kill");
	CHECK(pthread_join(ts, NULL) == 0, "join the sleeper");
	/* the waiter wakes on its condition */
	pthread_mutex_lock(&mu);
	waiter_go = 1;
	pthread_cond_broadcast(&never);
	pthread_mutex_unlock(&mu);
	CHECK(pthread_join(tw, &ret) == 0 && ret == (void *)42L, "join the waiter");
	/* stop the pool; the work done equals the TLS counters */
	pthread_mutex_lock(&mu);
	stop = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < NW; i++) {
		CHECK(pthread_join(t[i], &ret) == 0, "join worker %d", i);
		CHECK((long)ret == per[i], "worker %d: TLS counter %ld, shared %ld", i, (long)ret,
		      per[i]);
		sum += (long)ret;
	}
	CHECK(sum == total && total > 0, "work: %ld by the threads, %ld counted", sum, total);
	tgt_finish();
}
